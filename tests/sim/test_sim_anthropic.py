"""The Anthropic simulator through the official anthropic SDK (messages, tool_use, output_config)."""

import json
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel, Field

LEAD = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["name", "score"],
    "additionalProperties": False,
}
OUTPUT = {"format": {"type": "json_schema", "schema": LEAD}}
TOOLS = [
    {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "get_time",
        "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
]


class Lead(BaseModel):
    name: str
    score: int


@pytest.fixture(scope="module")
def client(sims: dict[str, str]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"http://{sims['anthropic']}", api_key="sim", max_retries=0, timeout=10)


def ask(client: anthropic.Anthropic, *texts: str, **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": text} for text in texts]
    return client.messages.create(model="claude-sim-1", max_tokens=256, messages=messages, **kwargs)  # type: ignore[arg-type]


def test_plain_text_with_system_prompt_is_deterministic(client: anthropic.Anthropic) -> None:
    first = ask(client, "hello", system="Be brief.")
    assert first.content[0].text == ask(client, "hello", system="Be brief.").content[0].text
    assert first.stop_reason == "end_turn" and first.model == "claude-sim-1"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0


def test_native_structured_output_is_json_in_a_text_block(client: anthropic.Anthropic) -> None:
    reply = ask(client, "a lead", output_config=OUTPUT)
    Lead.model_validate_json(reply.content[0].text)


def test_forced_tool_reply_is_a_tool_use_whose_input_is_the_instance(client: anthropic.Anthropic) -> None:
    tool = {"name": "emit_lead", "input_schema": LEAD}
    reply = ask(client, "a lead", tools=[tool], tool_choice={"type": "tool", "name": "emit_lead"})
    assert reply.stop_reason == "tool_use"
    Lead.model_validate(reply.content[0].input)


def test_forced_tool_with_malformed_arguments_answers_text_instead(client: anthropic.Anthropic) -> None:
    tool = {"name": "emit_lead", "input_schema": LEAD}
    reply = ask(client, "#sim malformed=1", tools=[tool], tool_choice={"type": "tool", "name": "emit_lead"})
    assert reply.stop_reason == "end_turn" and reply.content[0].type == "text"
    with pytest.raises(ValueError):
        json.loads(reply.content[0].text)


def test_tool_use_round_trip_with_two_parallel_calls(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather and time?"}]
    first = client.messages.create(model="claude-sim-1", max_tokens=256, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"] and all(u.id.startswith("toolu_") for u in uses)
    messages.append({"role": "assistant", "content": [u.model_dump(exclude_none=True) for u in uses]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": "ok"} for u in uses]}
    )
    second = client.messages.create(model="claude-sim-1", max_tokens=256, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert second.stop_reason == "end_turn" and second.content[0].text


@pytest.mark.parametrize(
    ("directive", "error", "status"),
    [
        ("status=429 retry_after=2", anthropic.RateLimitError, 429),
        ("status=500", anthropic.InternalServerError, 500),
        ("status=503", anthropic.InternalServerError, 503),
        ("status=529", anthropic.OverloadedError, 529),
        ("auth", anthropic.AuthenticationError, 401),
        ("bad_request", anthropic.BadRequestError, 400),
    ],
)
def test_error_directives_raise_the_sdk_exception(
    client: anthropic.Anthropic, directive: str, error: type, status: int
) -> None:
    with pytest.raises(error) as caught:
        ask(client, f"#sim {directive}")
    assert caught.value.status_code == status and caught.value.body["type"] == "error"
    if "retry_after" in directive:
        assert caught.value.response.headers["retry-after"] == "2"


def test_hang_ends_in_the_sdk_timeout(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APITimeoutError):
        ask(client.with_options(timeout=0.3), "#sim hang")


def test_malformed_attempt_counting_with_the_directive_in_the_system_prompt(client: anthropic.Anthropic) -> None:
    first = ask(client, "a lead", system="#sim malformed=1", output_config=OUTPUT)
    with pytest.raises(ValueError):
        json.loads(first.content[0].text)
    second = ask(client, "a lead", "not JSON, again", system="#sim malformed=1", output_config=OUTPUT)
    Lead.model_validate_json(second.content[0].text)


def test_refusal_has_the_refusal_stop_reason(client: anthropic.Anthropic) -> None:
    reply = ask(client, "#sim refuse")
    assert reply.stop_reason == "refusal" and reply.content == []


def test_numeric_bounds_in_native_output_schema_are_rejected(client: anthropic.Anthropic) -> None:
    bounded = {**LEAD, "properties": {**LEAD["properties"], "score": {"type": "integer", "minimum": 0}}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(client, "a lead", output_config={"format": {"type": "json_schema", "schema": bounded}})
    message = caught.value.body["error"]["message"]
    assert "no_numeric_bounds" in message and "#/properties/score" in message


def test_unforced_tools_with_loose_schemas_are_accepted(client: anthropic.Anthropic) -> None:
    bounded = {"name": "t", "input_schema": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}}
    assert ask(client, "go", tools=[bounded]).stop_reason == "tool_use"


class Constrained(BaseModel):
    age: int = Field(ge=18, le=99, multiple_of=7)
    tags: list[str] = Field(min_length=3, max_length=4)
    name: str = Field(min_length=10)


def test_constraints_moved_into_descriptions_by_the_sdk_are_followed(client: anthropic.Anthropic) -> None:
    reply = client.messages.parse(
        model="claude-sim-1", max_tokens=256, messages=[{"role": "user", "content": "one"}], output_format=Constrained
    )
    assert isinstance(reply.parsed_output, Constrained)
