"""What the adapters share on the wire: the recording hooks of the HTTP SDKs, tool declarations and calls,
and replies normalized (see services/router/provider.py for the exchange, tool names and error kinds)."""

import json
import uuid
from typing import Any

import httpx2

from agentmesh.v1 import common_pb2
from services.router.provider import ModelReply, current_exchange


async def _record_request(request: httpx2.Request) -> None:
    current_exchange.get().request_body = request.content.decode()


async def _record_response(response: httpx2.Response) -> None:
    exchange = current_exchange.get()
    exchange.response_body = (await response.aread()).decode()
    exchange.status = response.status_code
    exchange.retry_after_s = retry_after(response.headers.get("retry-after"))


WIRE_HOOKS = {"request": [_record_request], "response": [_record_response]}


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After value; an HTTP date (rare from LLM APIs) counts as unknown."""
    return float(value) if value and value.replace(".", "", 1).isdigit() else None


def given(**fields: Any) -> dict[str, Any]:
    """The fields that are set: absent parameters (None, empty) stay off the wire rather than go as null or ""."""
    return {key: value for key, value in fields.items() if value not in (None, "", [], {})}


def declaration(tool: common_pb2.ToolDefinition, schema_key: str) -> dict[str, Any]:
    """A tool as vendors declare it: name, description and the input JSON schema under schema_key."""
    return {"name": tool.name, "description": tool.description, schema_key: json.loads(tool.input_schema_json or "{}")}


def tool_call(call_id: str | None, name: str | None, arguments: Any) -> common_pb2.ToolCall:
    """A ToolCall from the wire; arguments is JSON text or a parsed object. A vendor that omits the call id
    (Gemini may) gets one minted: the mesh dispatches and deduplicates tool calls by id."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return common_pb2.ToolCall(call_id=call_id or f"call_{uuid.uuid4().hex}", name=name or "", arguments_json=text)


def reply(text: str, calls: list[common_pb2.ToolCall], finish: str, *tokens: int | None) -> ModelReply:
    """A reply without its wire bodies yet; tokens: input (cached included), output, cached input."""
    tokens_in, out, cached = (n or 0 for n in tokens)
    usage = common_pb2.Usage(input_tokens=tokens_in, output_tokens=out, cached_input_tokens=cached)
    return ModelReply(text, calls, usage, finish)
