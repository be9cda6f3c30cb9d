"""The xAI simulator through the official xai-sdk (gRPC xai_api.Chat)."""

import json

import grpc
import pytest
from pydantic import BaseModel
from xai_sdk import Client
from xai_sdk.chat import required_tool, tool, tool_result, user
from xai_sdk.proto import chat_pb2

NO_RETRIES = [("grpc.enable_retries", 0)]
TOOLS = [
    tool(
        "get_weather", "weather", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    ),
    tool("get_time", "time", {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}),
]


class Lead(BaseModel):
    name: str
    score: int


@pytest.fixture(scope="module")
def client(sims: dict[str, str]) -> Client:
    return Client(
        api_key="sim", api_host=sims["xai"], use_insecure_channel=True, timeout=10, channel_options=NO_RETRIES
    )


def sample(client: Client, *texts: str, **create: object):  # type: ignore[no-untyped-def]
    chat = client.chat.create(model="grok-4", **create)  # type: ignore[arg-type]
    for text in texts:
        chat.append(user(text))
    return chat.sample()


def test_plain_text_is_deterministic(client: Client) -> None:
    first = sample(client, "hello")
    assert first.content == sample(client, "hello").content and "hello" in first.content
    assert first.finish_reason == "REASON_STOP" and first.usage.total_tokens > 0


def test_structured_output_from_response_format(client: Client) -> None:
    Lead.model_validate_json(sample(client, "a lead", response_format=Lead).content)
    _, lead = client.chat.create(model="grok-4", messages=[user("a lead")]).parse(Lead)
    assert isinstance(lead, Lead)


def test_tool_calls_round_trip_and_forced_tool(client: Client) -> None:
    chat = client.chat.create(model="grok-4", tools=TOOLS)
    chat.append(user("weather and time?"))
    first = chat.sample()
    assert first.finish_reason == "REASON_TOOL_CALLS"
    assert [c.function.name for c in first.tool_calls] == ["get_weather", "get_time"]
    assert json.loads(first.tool_calls[0].function.arguments) == {"city": "city"}
    chat.append(first)
    for call in first.tool_calls:
        chat.append(tool_result("ok", call.id))
    second = chat.sample()
    assert not second.tool_calls and second.content
    forced = sample(client, "time", tools=TOOLS, tool_choice=required_tool("get_time"))
    assert [c.function.name for c in forced.tool_calls] == ["get_time"]


@pytest.mark.parametrize(
    ("directive", "code"),
    [
        ("status=429 retry_after=2", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("status=500", grpc.StatusCode.INTERNAL),
        ("status=503", grpc.StatusCode.UNAVAILABLE),
        ("status=529", grpc.StatusCode.UNAVAILABLE),
        ("auth", grpc.StatusCode.UNAUTHENTICATED),
        ("bad_request", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_error_directives_raise_rpc_errors(client: Client, directive: str, code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        sample(client, f"#sim {directive}")
    assert caught.value.code() == code  # type: ignore[attr-defined]
    if "retry_after" in directive:
        assert ("retry-after", "2") in [(m.key, m.value) for m in caught.value.trailing_metadata()]  # type: ignore[attr-defined]


def test_hang_ends_in_deadline_exceeded(sims: dict[str, str]) -> None:
    impatient = Client(
        api_key="sim", api_host=sims["xai"], use_insecure_channel=True, timeout=0.3, channel_options=NO_RETRIES
    )
    with pytest.raises(grpc.RpcError) as caught:
        sample(impatient, "#sim hang")
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]


def test_malformed_rate_one_is_always_malformed_and_zero_never(client: Client) -> None:
    with pytest.raises(ValueError):
        json.loads(sample(client, "#sim malformed_rate=1", response_format=Lead).content)
    Lead.model_validate_json(sample(client, "#sim malformed_rate=0", response_format=Lead).content)


def test_refusal_is_assistant_content(client: Client) -> None:
    reply = sample(client, "#sim refuse", response_format=Lead)
    assert "can't help" in reply.content and reply.finish_reason == "REASON_STOP"


def test_multi_entry_all_of_is_rejected(client: Client) -> None:
    schema = {
        "type": "object",
        "allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "string"}}}],
    }
    fmt = chat_pb2.ResponseFormat(format_type=chat_pb2.FORMAT_TYPE_JSON_SCHEMA, schema=json.dumps(schema))
    with pytest.raises(grpc.RpcError) as caught:
        sample(client, "x", response_format=fmt)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "all_of_single_entry" in caught.value.details()  # type: ignore[attr-defined]


def test_streaming_returns_the_same_answer(client: Client) -> None:
    chat = client.chat.create(model="grok-4")
    chat.append(user("hello"))
    chunks = list(chat.stream())
    assert chunks[-1][0].content == sample(client, "hello").content
