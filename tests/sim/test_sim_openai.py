"""The OpenAI simulator through the official openai SDK (chat completions and responses)."""

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
        },
    },
]
LEAD = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["name", "score"],
    "additionalProperties": False,
}
LEAD_FORMAT = {"type": "json_schema", "json_schema": {"name": "Lead", "schema": LEAD, "strict": True}}


class Lead(BaseModel):
    name: str
    score: int


@pytest.fixture(scope="module")
def client(sims: dict[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://{sims['openai']}/v1", api_key="sim", max_retries=0, timeout=10)


def ask(client: openai.OpenAI, *texts: str, **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": text} for text in texts]
    return client.chat.completions.create(model="gpt-4o", messages=messages, **kwargs)  # type: ignore[arg-type]


def test_plain_text_is_deterministic_and_reports_usage(client: openai.OpenAI) -> None:
    first, second = ask(client, "hello there"), ask(client, "hello there")
    assert first.choices[0].message.content == second.choices[0].message.content
    assert "hello there" in first.choices[0].message.content
    assert first.model == "gpt-4o" and first.choices[0].finish_reason == "stop"
    assert (
        first.usage.prompt_tokens > 0
        and first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    )


def test_chat_structured_output_parses_into_the_model(client: openai.OpenAI) -> None:
    reply = client.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": "a lead"}], response_format=Lead
    )
    assert isinstance(reply.choices[0].message.parsed, Lead)


def test_responses_text_and_structured_output(client: openai.OpenAI) -> None:
    assert "hi" in client.responses.create(model="gpt-4o", input="hi").output_text
    parsed = client.responses.parse(model="gpt-4o", input="a lead", text_format=Lead)
    assert isinstance(parsed.output_parsed, Lead) and parsed.usage.input_tokens > 0


def test_default_round_calls_every_offered_tool_in_parallel_then_answers(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather and time?"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.id.startswith("call_") for c in calls) and len({c.id for c in calls}) == 2
    assert json.loads(calls[0].function.arguments) == {"city": "city"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].message.tool_calls is None and second.choices[0].message.content


def test_responses_scripted_tool_rounds(client: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "name": t["function"]["name"], "parameters": t["function"]["parameters"]} for t in TOOLS
    ]
    items: list[Any] = [{"role": "user", "content": "#sim tools=get_time;get_weather"}]
    for expected in ("get_time", "get_weather"):
        reply = client.responses.create(model="gpt-4o", input=items, tools=tools)  # type: ignore[arg-type]
        calls = [item for item in reply.output if item.type == "function_call"]
        assert [c.name for c in calls] == [expected]
        items += [c.model_dump(exclude_none=True) for c in calls]
        items += [{"type": "function_call_output", "call_id": c.call_id, "output": "ok"} for c in calls]
    final = client.responses.create(model="gpt-4o", input=items, tools=tools)  # type: ignore[arg-type]
    assert final.output_text and not [i for i in final.output if i.type == "function_call"]


@pytest.mark.parametrize(
    ("directive", "error", "status"),
    [
        ("status=429 retry_after=2", openai.RateLimitError, 429),
        ("status=500", openai.InternalServerError, 500),
        ("status=503", openai.InternalServerError, 503),
        ("status=529", openai.InternalServerError, 529),
        ("auth", openai.AuthenticationError, 401),
        ("bad_request", openai.BadRequestError, 400),
    ],
)
def test_error_directives_raise_the_sdk_exception(
    client: openai.OpenAI, directive: str, error: type, status: int
) -> None:
    with pytest.raises(error) as caught:
        ask(client, f"#sim {directive}")
    assert caught.value.status_code == status
    assert caught.value.body["message"]
    if "retry_after" in directive:
        assert caught.value.response.headers["retry-after"] == "2"


def test_hang_ends_in_the_sdk_timeout(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        ask(client.with_options(timeout=0.3), "#sim hang")


def test_malformed_once_then_valid_after_one_repair_prompt(client: openai.OpenAI) -> None:
    first = ask(client, "#sim malformed=1\nA lead please.", response_format=LEAD_FORMAT)
    with pytest.raises(ValueError):
        json.loads(first.choices[0].message.content)
    repaired = ask(
        client, "#sim malformed=1\nA lead please.", "That was not JSON, try again.", response_format=LEAD_FORMAT
    )
    Lead.model_validate_json(repaired.choices[0].message.content)


def test_invalid_twice_breaks_the_schema_on_the_first_two_attempts(client: openai.OpenAI) -> None:
    texts = ["#sim invalid=2", "repair 1", "repair 2"]
    outcomes = []
    for n in range(1, 4):
        content = ask(client, *texts[:n], response_format=LEAD_FORMAT).choices[0].message.content
        try:
            Lead.model_validate_json(content)
            outcomes.append("valid")
        except ValueError:
            json.loads(content)  # well-formed JSON, just not a Lead
            outcomes.append("invalid")
    assert outcomes == ["invalid", "invalid", "valid"]


def test_refusal(client: openai.OpenAI) -> None:
    message = ask(client, "#sim refuse", response_format=LEAD_FORMAT).choices[0].message
    assert message.refusal and message.content is None


def test_strict_schema_breaking_the_dialect_is_rejected_naming_rule_and_pointer(client: openai.OpenAI) -> None:
    loose = {**LEAD, "properties": {**LEAD["properties"], "tags": {"type": "array"}}, "required": ["name", "score"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "Lead", "schema": loose, "strict": True}}
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "a lead", response_format=fmt)
    assert caught.value.body["code"] == "invalid_json_schema"
    assert caught.value.body["param"] == "response_format"
    assert "all_properties_required" in caught.value.body["message"] and "at #" in caught.value.body["message"]
    non_strict = {"type": "json_schema", "json_schema": {"name": "Lead", "schema": loose, "strict": False}}
    assert ask(client, "a lead", response_format=non_strict).choices[0].message.content


def test_strict_tool_schema_is_checked_too(client: openai.OpenAI) -> None:
    tool = {"type": "function", "function": {**TOOLS[0]["function"], "strict": True}}
    with pytest.raises(openai.BadRequestError, match="additional_properties_false"):
        ask(client, "weather", tools=[tool])


def test_directive_scoped_to_another_provider_or_model_is_ignored(client: openai.OpenAI) -> None:
    assert ask(client, "#sim@anthropic status=500\n#sim@openai:gpt-4o-mini status=500").choices[0].message.content
    with pytest.raises(openai.InternalServerError):
        ask(client, "#sim@openai:gpt-4o status=500")
