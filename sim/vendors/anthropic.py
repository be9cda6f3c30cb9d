"""Anthropic wire protocol: `POST /v1/messages` (text, tool_use, output_config json_schema, forced tools)."""

import uuid
from typing import Any

from sim.engine import Defaults
from sim.exchange import Exchange, Failure, Message, Reply, SchemaCheck, ToolSpec
from sim.http import Endpoint, HttpVendor, Json, WireError, serve_http

ERROR_TYPES = {
    "bad_request": "invalid_request_error",
    "invalid_schema": "invalid_request_error",
    "auth": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "too_large": "request_too_large",
    "rate_limited": "rate_limit_error",
    "server_error": "api_error",
    "unavailable": "api_error",
    "overloaded": "overloaded_error",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(block.get("text", "") for block in content or [] if block.get("type") == "text")


def _message(message: Json) -> Message:
    content = message["content"]
    results = 0 if isinstance(content, str) else sum(1 for block in content if block.get("type") == "tool_result")
    return Message(message["role"], _text(content), tool_results=results)


def _output_format(exchange: Exchange, body: Json) -> None:
    """`output_config.format` (current) or the beta `output_format`: `{"type": "json_schema", "schema": ...}`."""
    where = "output_config.format"
    fmt = (body.get("output_config") or {}).get("format")
    if fmt is None and body.get("output_format") is not None:
        fmt, where = body["output_format"], "output_format"
    if fmt is None:
        return
    if fmt.get("type") != "json_schema" or "schema" not in fmt:
        raise WireError(f"{where}: expected {{'type': 'json_schema', 'schema': {{...}}}}", where)
    exchange.structured = True
    exchange.output_schema = fmt["schema"]
    exchange.checks.append(SchemaCheck("anthropic_native", fmt["schema"], f"{where}.schema"))


def _tool_choice(exchange: Exchange, choice: Json | None) -> None:
    if not choice:
        return
    kind = choice.get("type")
    if kind == "tool":
        exchange.forced_tool = choice["name"]
    elif kind in ("auto", "none", "any"):
        exchange.tool_choice = "required" if kind == "any" else kind
    else:
        raise WireError(
            f"tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not {kind!r}", "tool_choice"
        )
    exchange.parallel_tool_calls = not choice.get("disable_parallel_tool_use", False)


def messages_request(body: Json, _params: dict[str, str]) -> Exchange:
    if body.get("stream"):
        raise WireError("stream: the simulator does not stream; call without stream=true", "stream")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise WireError(f"{field}: Field required", field)
    messages = [Message("system", _text(body["system"]))] if body.get("system") else []
    messages += [_message(m) for m in body["messages"]]
    exchange = Exchange("anthropic", body["model"], messages)
    for index, tool in enumerate(body.get("tools") or []):
        if "input_schema" not in tool:
            raise WireError(f"tools.{index}.input_schema: Field required", "tools")
        exchange.tools.append(ToolSpec(tool["name"], tool["input_schema"]))
        if tool.get("strict"):
            exchange.checks.append(SchemaCheck("anthropic_native", tool["input_schema"], f"tools.{index}.input_schema"))
    _tool_choice(exchange, body.get("tool_choice"))
    _output_format(exchange, body)
    return exchange


def _blocks(reply: Reply) -> list[Json]:
    """A tool_use input must be an object: scripted malformed arguments come back as text instead."""
    blocks: list[Json] = [{"type": "text", "text": reply.text}] if reply.text is not None else []
    for call in reply.tool_calls:
        arguments = call.arguments_object()
        if arguments is None:
            blocks.append({"type": "text", "text": call.arguments})
        else:
            blocks.append({"type": "tool_use", "id": f"toolu_{call.id}", "name": call.name, "input": arguments})
    return blocks


def messages_reply(reply: Reply, exchange: Exchange) -> Json:
    blocks = [] if reply.refusal is not None else _blocks(reply)
    if reply.refusal is not None:
        stop_reason = "refusal"
    else:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": exchange.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": {"type": "refusal", "category": None, "explanation": reply.refusal} if reply.refusal else None,
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def error_body(failure: Failure) -> Json:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(failure.kind, "api_error"), "message": failure.message},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


VENDOR = HttpVendor(
    "anthropic",
    (Endpoint("/v1/messages", messages_request, messages_reply),),
    error_body,
    lambda: {"request-id": f"req_{uuid.uuid4().hex[:24]}"},
)


def serve(host: str, port: int, defaults: Defaults) -> None:
    serve_http(VENDOR, host, port, defaults)
