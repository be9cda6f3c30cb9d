"""Each provider adapter through its official SDK against its wire-protocol simulator (sim/)."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import jsonschema
import pytest
from conftest import free_port
from pydantic import BaseModel, Field

from agentmesh.v1 import common_pb2
from services.common.config import Settings
from services.router.provider import ModelRequest, Provider, ProviderError
from services.router.providers import build_providers
from services.router.schema import to_wire_schema

PROVIDERS = ("openai", "anthropic", "gemini", "xai")
MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-5-5", "gemini": "gemini-2.5-flash", "xai": "grok-4"}

LEAD = {
    "type": "object",
    "properties": {
        "company": {"type": "string"},
        "employees": {"type": "integer"},
        "tier": {"type": "string", "enum": ["gold", "silver"]},
    },
    "required": ["company", "employees", "tier"],
    "additionalProperties": False,
}


def tool(name: str, version: str, description: str, argument: str) -> common_pb2.ToolDefinition:
    schema = {"type": "object", "properties": {argument: {"type": "string"}}, "required": [argument]}
    schema_json = json.dumps({**schema, "additionalProperties": False})
    return common_pb2.ToolDefinition(name=name, version=version, description=description, input_schema_json=schema_json)


LOOKUP = tool("lookup_company", "1.2.0", "Find a company by name.", "name")
WEATHER = tool("get_weather", "2.0.0", "Weather for a city.", "city")


def msg(role: str, content: str = "", **fields: object) -> common_pb2.Message:
    return common_pb2.Message(role=role, content=content, **fields)


def ask(provider: str, text: str, **fields: object) -> ModelRequest:
    messages = [msg("system", "You qualify sales leads."), msg("user", text)]
    return ModelRequest(model=MODEL[provider], messages=messages, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def providers(sims: dict[str, str]) -> AsyncIterator[dict[str, Provider]]:
    addrs = {f"{name}_sim_addr": addr for name, addr in sims.items()}
    keys = {f"{name}_api_key": "" for name in PROVIDERS}  # empty keys count as unset: simulators
    built = build_providers(Settings(**addrs, **keys))  # type: ignore[arg-type]
    yield built
    for provider in built.values():
        await provider.aclose()


async def test_an_api_key_switches_a_provider_from_its_simulator_to_the_real_service() -> None:
    keys = {"openai_api_key": "sk-test", "anthropic_api_key": "", "gemini_api_key": "g-test", "xai_api_key": ""}
    built = build_providers(Settings(**keys))  # type: ignore[arg-type]
    assert {name: p.simulated for name, p in built.items()} == {
        "openai": False,
        "anthropic": True,
        "gemini": False,
        "xai": True,
    }
    for provider in built.values():
        await provider.aclose()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_text_reply_carries_usage_finish_reason_and_exact_bodies(
    providers: dict[str, Provider], provider: str
) -> None:
    reply = await providers[provider].complete(ask(provider, "Summarise ACME Corp in one line.", temperature=0.2))

    assert reply.text and not reply.tool_calls
    assert reply.finish_reason
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    named_model = reply.response_body if provider == "gemini" else reply.request_body  # gemini: the model is in the URL
    assert MODEL[provider] in named_model
    assert "Summarise ACME Corp in one line." in reply.request_body
    assert "You qualify sales leads." in reply.request_body
    assert json.dumps(reply.text)[1:-1] in reply.response_body
    json.loads(reply.request_body), json.loads(reply.response_body)  # the bodies are the JSON that crossed the wire


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_concurrent_calls_on_one_client_each_keep_their_own_wire_bodies(
    providers: dict[str, Provider], provider: str
) -> None:
    prompts = [f"Qualify lead number {n}." for n in range(8)]
    replies = await asyncio.gather(*(providers[provider].complete(ask(provider, p)) for p in prompts))

    for prompt, reply in zip(prompts, replies, strict=True):
        assert prompt in reply.request_body and prompt in reply.response_body
        assert sum(p in reply.request_body for p in prompts) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_structured_output_sends_the_schema_and_returns_json_that_fits_it(
    providers: dict[str, Provider], provider: str
) -> None:
    request = ask(provider, "Qualify ACME Corp.", output_schema=LEAD, output_name="lead")
    reply = await providers[provider].complete(request)

    jsonschema.validate(json.loads(reply.text), LEAD)
    assert "employees" in reply.request_body and "silver" in reply.request_body


def wire_schema(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """Where each vendor's request body carries the output schema."""
    if provider == "openai":
        return body["response_format"]["json_schema"]["schema"]
    if provider == "anthropic":
        return body["output_config"]["format"]["schema"]
    if provider == "gemini":
        return body["generationConfig"]["responseJsonSchema"]
    return json.loads(body["responseFormat"]["schema"])


class Contact(BaseModel):
    name: str = Field(min_length=2)
    email: str | None = None


class Lead(BaseModel):
    company: str
    tier: Literal["gold", "silver"] = "silver"
    contacts: list[Contact]


class Scores(BaseModel):
    by_signal: dict[str, int]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_pydantic_schema_goes_out_in_the_provider_dialect_and_the_reply_validates(
    providers: dict[str, Provider], provider: str
) -> None:
    """Raw, this schema breaks the dialects ($defs and $ref, optional fields, defaults, length bounds)."""
    schema = Lead.model_json_schema()
    reply = await providers[provider].complete(ask(provider, "Qualify ACME.", output_schema=schema, output_name="lead"))

    Lead.model_validate_json(reply.text)
    assert wire_schema(provider, json.loads(reply.request_body)) == to_wire_schema(provider, schema)


async def test_openai_carries_a_free_form_object_in_non_strict_mode(providers: dict[str, Provider]) -> None:
    request = ask("openai", "Score ACME.", output_schema=Scores.model_json_schema(), output_name="scores")
    reply = await providers["openai"].complete(request)

    Scores.model_validate_json(reply.text)
    assert json.loads(reply.request_body)["response_format"]["json_schema"]["strict"] is False


@pytest.mark.parametrize("provider", ["anthropic", "xai"])
async def test_a_schema_the_dialect_cannot_carry_is_refused_before_any_call(
    providers: dict[str, Provider], provider: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        await providers[provider].complete(ask(provider, "Score ACME.", output_schema=Scores.model_json_schema()))

    assert raised.value.kind == "bad_request" and "free-form" in raised.value.message
    assert raised.value.request_body == ""


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tool_calls_round_trip_with_versions_and_results_fed_back(
    providers: dict[str, Provider], provider: str
) -> None:
    request = ask(provider, "Look up ACME and the weather in Paris.\n#sim tools=lookup_company,get_weather")
    request = ModelRequest(**{**request.__dict__, "tools": [LOOKUP, WEATHER]})
    first = await providers[provider].complete(request)

    assert [(c.name, c.version) for c in first.tool_calls] == [("lookup_company", "1.2.0"), ("get_weather", "2.0.0")]
    assert all(c.call_id for c in first.tool_calls) and len({c.call_id for c in first.tool_calls}) == 2
    for call in first.tool_calls:
        assert isinstance(json.loads(call.arguments_json), dict)
    assert "lookup_company" in first.request_body and "1.2.0" not in first.request_body

    results = [
        msg("tool", json.dumps({"result": f"{c.name} done"}), tool_call_id=c.call_id, name=c.name)
        for c in first.tool_calls
    ]
    assistant = msg("assistant", first.text, tool_calls=first.tool_calls)
    second = await providers[provider].complete(
        ModelRequest(**{**request.__dict__, "messages": [*request.messages, assistant, *results]})
    )

    assert second.text and not second.tool_calls
    for call in first.tool_calls:
        assert call.call_id in second.request_body
    assert "get_weather done" in second.request_body


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tool_choice_none_keeps_the_tools_declared_and_gets_an_answer_instead_of_calls(
    providers: dict[str, Provider], provider: str
) -> None:
    request = ask(provider, "Qualify ACME.\n#sim tools=lookup_company", tools=[LOOKUP], output_schema=LEAD)
    reply = await providers[provider].complete(ModelRequest(**{**request.__dict__, "tool_choice": "none"}))

    assert not reply.tool_calls and "lookup_company" in reply.request_body
    jsonschema.validate(json.loads(reply.text), LEAD)
    assert wire_tool_choice(provider, json.loads(reply.request_body)) == NO_TOOL_CALLS[provider]


NO_TOOL_CALLS = {"openai": "none", "anthropic": {"type": "none"}, "gemini": "NONE", "xai": "TOOL_MODE_NONE"}


def wire_tool_choice(provider: str, body: dict[str, Any]) -> Any:
    """Where each vendor's request body carries the tool choice."""
    if provider == "gemini":
        return body["toolConfig"]["functionCallingConfig"]["mode"]
    return body["toolChoice"]["mode"] if provider == "xai" else body["tool_choice"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_tool_choice_goes_on_the_wire_without_tools(providers: dict[str, Provider], provider: str) -> None:
    """Vendors refuse a tool choice without tools (OpenAI: 'only allowed when tools are specified')."""
    reply = await providers[provider].complete(ask(provider, "Qualify ACME.", tool_choice="none"))

    body = json.loads(reply.request_body)
    assert not {"tool_choice", "toolChoice", "toolConfig"} & set(body) and reply.text


ERRORS = [
    ("#sim status=429 retry_after=7", "rate_limited"),
    ("#sim status=500", "unavailable"),
    ("#sim status=503", "unavailable"),
    ("#sim status=529", "unavailable"),
    ("#sim auth", "auth"),
    ("#sim bad_request", "bad_request"),
    ("#sim refuse", "refused"),
    ("#sim hang", "timeout"),
]
CASES = [(p, d, k) for p in PROVIDERS for d, k in ERRORS if (p, k) != ("xai", "refused")]  # xai: see below


@pytest.mark.parametrize(("provider", "directive", "kind"), CASES, ids=[f"{p}-{k}:{d[5:]}" for p, d, k in CASES])
async def test_each_failure_maps_to_its_error_kind_with_the_wire_bodies(
    providers: dict[str, Provider], provider: str, directive: str, kind: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        await providers[provider].complete(ask(provider, f"Qualify ACME.\n{directive}", timeout_s=0.5))

    error = raised.value
    assert error.kind == kind, error.message
    assert "Qualify ACME." in error.request_body
    if kind != "timeout":
        assert error.response_body
    if "retry_after" in directive:
        assert error.retry_after_s == 7


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_tool_name_the_vendors_would_reject_is_refused_before_any_call(
    providers: dict[str, Provider], provider: str
) -> None:
    bad = common_pb2.ToolDefinition(name="lookup company@1", version="1.0.0", input_schema_json="{}")
    with pytest.raises(ProviderError) as raised:
        await providers[provider].complete(ask(provider, "hi", tools=[bad]))

    assert raised.value.kind == "bad_request" and "lookup company@1" in raised.value.message
    assert raised.value.request_body == ""


async def test_an_xai_refusal_arrives_as_plain_text_since_the_api_has_no_refusal_signal(
    providers: dict[str, Provider],
) -> None:
    reply = await providers["xai"].complete(ask("xai", "Qualify ACME.\n#sim refuse", output_schema=LEAD))

    assert reply.finish_reason == "REASON_STOP" and "can't help" in reply.text  # the router's validation catches it


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_that_cannot_be_reached_is_unavailable(provider: str) -> None:
    settings = Settings(**{f"{provider}_sim_addr": f"127.0.0.1:{free_port()}", f"{provider}_api_key": ""})
    adapter = build_providers(settings)[provider]
    try:
        with pytest.raises(ProviderError) as raised:
            await adapter.complete(ask(provider, "Qualify ACME.", timeout_s=5))
    finally:
        await adapter.aclose()

    assert raised.value.kind == "unavailable", raised.value.message
