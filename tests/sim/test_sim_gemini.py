"""The Gemini simulator through the official google-genai SDK (v1 and v1beta generateContent)."""

import json
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel


class Address(BaseModel):
    street: str


class Lead(BaseModel):
    name: str
    score: int
    address: Address | None
    tags: list[str]


WEATHER = types.FunctionDeclaration(
    name="get_weather",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]),
)
TIME = types.FunctionDeclaration(
    name="get_time",
    parameters_json_schema={"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.fixture(scope="module")
def client(sims: dict[str, str]) -> genai.Client:
    return genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=f"http://{sims['gemini']}", timeout=10_000)
    )


def ask(client: genai.Client, contents: Any, **config: Any) -> types.GenerateContentResponse:
    return client.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=types.GenerateContentConfig(**config) if config else None
    )


def json_config(**schema: Any) -> dict[str, Any]:
    return {"response_mime_type": "application/json", **schema}


def test_plain_text_on_v1_and_v1beta(client: genai.Client, sims: dict[str, str]) -> None:
    reply = ask(client, "hello")
    assert "hello" in reply.text and reply.usage_metadata.total_token_count > 0
    assert ask(client, "hello", system_instruction="be brief").text
    beta = genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=f"http://{sims['gemini']}", api_version="v1beta")
    )
    assert beta.models.generate_content(model="gemini-2.5-flash", contents="hello").text == reply.text


def test_response_schema_from_a_pydantic_model_parses(client: genai.Client) -> None:
    reply = ask(client, "a lead", **json_config(response_schema=Lead))
    assert isinstance(reply.parsed, Lead)


def test_response_json_schema_parses(client: genai.Client) -> None:
    reply = ask(client, "a lead", **json_config(response_json_schema=Lead.model_json_schema()))
    Lead.model_validate_json(reply.text)


def test_function_calls_round_trip(client: genai.Client) -> None:
    config: dict[str, Any] = {
        "tools": [types.Tool(function_declarations=[WEATHER, TIME])],
        "automatic_function_calling": NO_AFC,
    }
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="weather and time?")])]
    first = ask(client, contents, **config)
    assert [c.name for c in first.function_calls] == ["get_weather", "get_time"]
    assert first.function_calls[0].args == {"city": "city"}
    contents.append(first.candidates[0].content)
    results = [types.Part.from_function_response(name=c.name, response={"result": "ok"}) for c in first.function_calls]
    contents.append(types.Content(role="user", parts=results))
    second = ask(client, contents, **config)
    assert not second.function_calls and second.text


def test_forced_function_with_any_mode(client: genai.Client) -> None:
    calling = types.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_time"])
    reply = ask(
        client,
        "time?",
        tools=[types.Tool(function_declarations=[WEATHER, TIME])],
        tool_config=types.ToolConfig(function_calling_config=calling),
        automatic_function_calling=NO_AFC,
    )
    assert [c.name for c in reply.function_calls] == ["get_time"]


@pytest.mark.parametrize(
    ("directive", "error", "status", "code"),
    [
        ("status=429 retry_after=2", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        ("status=500", errors.ServerError, 500, "INTERNAL"),
        ("status=503", errors.ServerError, 503, "UNAVAILABLE"),
        ("status=529", errors.ServerError, 529, "UNAVAILABLE"),
        ("auth", errors.ClientError, 401, "UNAUTHENTICATED"),
        ("bad_request", errors.ClientError, 400, "INVALID_ARGUMENT"),
    ],
)
def test_error_directives_raise_the_sdk_exception(
    client: genai.Client, directive: str, error: type, status: int, code: str
) -> None:
    with pytest.raises(error) as caught:
        ask(client, f"#sim {directive}")
    assert caught.value.code == status and caught.value.status == code
    if "retry_after" in directive:
        assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"} in caught.value.details[
            "error"
        ]["details"]


def test_hang_ends_in_the_raw_httpx2_timeout(sims: dict[str, str]) -> None:
    impatient = genai.Client(
        api_key="sim", http_options=types.HttpOptions(base_url=f"http://{sims['gemini']}", timeout=300)
    )
    with pytest.raises(httpx2.TimeoutException):
        ask(impatient, "#sim hang")


def test_invalid_once_then_valid(client: genai.Client) -> None:
    config = json_config(response_json_schema=Lead.model_json_schema())
    first = ask(client, "#sim invalid=1", **config)
    assert "name" not in json.loads(first.text)
    turns = [
        types.Content(role="user", parts=[types.Part(text="#sim invalid=1")]),
        types.Content(role="model", parts=[types.Part(text=first.text)]),
        types.Content(role="user", parts=[types.Part(text="fix it")]),
    ]
    Lead.model_validate_json(ask(client, turns, **config).text)


def test_refusal_is_a_safety_finish_without_content(client: genai.Client) -> None:
    reply = ask(client, "#sim refuse")
    assert reply.candidates[0].finish_reason == types.FinishReason.SAFETY and reply.text is None


def test_response_schema_with_json_schema_keywords_is_rejected(client: genai.Client) -> None:
    schema = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "additionalProperties": False}
    with pytest.raises(errors.ClientError) as caught:
        ask(client, "x", **json_config(response_schema=schema))
    assert caught.value.code == 400 and "gemini_known_fields" in caught.value.message and "at #" in caught.value.message


def test_free_form_object_in_response_schema_is_rejected(client: genai.Client) -> None:
    schema = {"type": "OBJECT", "properties": {"meta": {"type": "OBJECT"}}}
    with pytest.raises(errors.ClientError, match="gemini_object_has_properties"):
        ask(client, "x", **json_config(response_schema=schema))


def test_schema_without_json_mime_type_is_rejected(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError, match="response_mime_type"):
        ask(client, "x", response_json_schema=Lead.model_json_schema())
