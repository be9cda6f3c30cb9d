"""OpenAI wire protocol: `POST /v1/chat/completions` and `POST /v1/responses`."""

import time
import uuid
from typing import Any, cast

from sim.engine import Defaults
from sim.exchange import Exchange, Failure, Message, Reply, SchemaCheck, ToolChoice, ToolSpec
from sim.http import Endpoint, HttpVendor, Json, WireError, serve_http

ERROR_TYPES = {
    "bad_request": ("invalid_request_error", None),
    "invalid_schema": ("invalid_request_error", "invalid_json_schema"),
    "auth": ("invalid_request_error", "invalid_api_key"),
    "permission": ("invalid_request_error", "unsupported_country_region_territory"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "rate_limited": ("requests", "rate_limit_exceeded"),
    "server_error": ("server_error", None),
    "overloaded": ("server_error", None),
    "unavailable": ("server_error", None),
}


def _text(content: Any) -> str:
    """Chat content is a string or a list of parts; Responses content parts carry `text` too."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content if isinstance(part, dict) and "text" in part)


def _response_format(exchange: Exchange, fmt: Json | None, where: str) -> None:
    """Chat `response_format` and Responses `text.format` (the latter has the json_schema fields inline)."""
    if not fmt or fmt.get("type") == "text":
        return
    exchange.structured = True
    if fmt.get("type") == "json_object":
        return
    if fmt.get("type") != "json_schema":
        raise WireError(
            f"Invalid value: {fmt.get('type')!r}. Supported values are: 'text', 'json_object' and 'json_schema'.", where
        )
    spec = fmt.get("json_schema", fmt)
    if "schema" not in spec:
        raise WireError("Missing required parameter: 'schema'.", where)
    exchange.output_schema = spec["schema"]
    if spec.get("strict"):
        exchange.checks.append(SchemaCheck("openai_strict", spec["schema"], f"{where} '{spec.get('name', '')}'"))


def _tool_choice(exchange: Exchange, choice: Any) -> None:
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise WireError(f"Invalid value for 'tool_choice': {choice!r}.", "tool_choice")
        exchange.tool_choice = cast(ToolChoice, choice)
    elif isinstance(choice, dict):
        exchange.forced_tool = (choice.get("function") or choice)["name"]


def _add_tool(exchange: Exchange, function: Json) -> None:
    name = function["name"]
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    exchange.tools.append(ToolSpec(name, schema))
    if function.get("strict"):
        exchange.checks.append(SchemaCheck("openai_strict", schema, f"function '{name}'"))


def _no_stream(body: Json) -> None:
    if body.get("stream"):
        raise WireError("The simulator does not stream: call without stream=true.", "stream")


def chat_request(body: Json, _params: dict[str, str]) -> Exchange:
    _no_stream(body)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise WireError("Missing required parameter: 'messages'.", "messages")
    messages = []
    for message in body["messages"]:
        role = message["role"]
        if role in ("tool", "function"):
            messages.append(Message("tool", _text(message.get("content")), tool_results=1))
        else:
            messages.append(Message("system" if role == "developer" else role, _text(message.get("content"))))
    exchange = Exchange("openai", body["model"], messages, parallel_tool_calls=body.get("parallel_tool_calls", True))
    for tool in body.get("tools") or []:
        _add_tool(exchange, tool["function"])
    _tool_choice(exchange, body.get("tool_choice"))
    _response_format(exchange, body.get("response_format"), "response_format")
    return exchange


def _hex(n: int = 24) -> str:
    return uuid.uuid4().hex[:n]


def _usage_chat(reply: Reply) -> Json:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def chat_reply(reply: Reply, exchange: Exchange) -> Json:
    message: Json = {"role": "assistant", "content": reply.text, "refusal": reply.refusal, "annotations": []}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{c.id}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{_hex()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": exchange.model,
        "system_fingerprint": "fp_sim",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage_chat(reply),
    }


def _input_item(item: Json) -> Message:
    kind = item.get("type", "message")
    if kind == "function_call_output":
        return Message("tool", _text(item.get("output")), tool_results=1)
    if kind == "function_call":
        return Message("assistant", "")
    if kind != "message":
        raise WireError(
            f"Invalid input item type {kind!r} (the simulator knows message, function_call, function_call_output).",
            "input",
        )
    role = item["role"]
    return Message("system" if role == "developer" else role, _text(item.get("content")))


def responses_request(body: Json, _params: dict[str, str]) -> Exchange:
    _no_stream(body)
    raw = body.get("input")
    if raw is None:
        raise WireError("Missing required parameter: 'input'.", "input")
    messages = [Message("system", body["instructions"])] if body.get("instructions") else []
    messages += [Message("user", raw)] if isinstance(raw, str) else [_input_item(item) for item in raw]
    exchange = Exchange("openai", body["model"], messages, parallel_tool_calls=body.get("parallel_tool_calls", True))
    for tool in body.get("tools") or []:
        if tool.get("type") != "function":
            raise WireError(f"The simulator supports only function tools, not {tool.get('type')!r}.", "tools")
        _add_tool(exchange, tool)
    _tool_choice(exchange, body.get("tool_choice"))
    _response_format(exchange, (body.get("text") or {}).get("format"), "text.format")
    return exchange


def responses_reply(reply: Reply, exchange: Exchange) -> Json:
    output: list[Json] = [
        {
            "type": "function_call",
            "id": f"fc_{c.id}",
            "call_id": f"call_{c.id}",
            "name": c.name,
            "arguments": c.arguments,
            "status": "completed",
        }
        for c in reply.tool_calls
    ]
    if reply.refusal is not None:
        content: list[Json] = [{"type": "refusal", "refusal": reply.refusal}]
    else:
        content = [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}]
    if reply.text is not None or reply.refusal is not None:
        output.append(
            {"type": "message", "id": f"msg_{_hex()}", "status": "completed", "role": "assistant", "content": content}
        )
    return {
        "id": f"resp_{_hex()}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": exchange.model,
        "output": output,
        "parallel_tool_calls": exchange.parallel_tool_calls,
        "tool_choice": exchange.tool_choice,
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "total_tokens": reply.total_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def error_body(failure: Failure) -> Json:
    error_type, code = ERROR_TYPES.get(failure.kind, ("invalid_request_error", None))
    param = failure.where.split(" ")[0] if failure.where else None
    return {"error": {"message": failure.message, "type": error_type, "param": param, "code": code}}


VENDOR = HttpVendor(
    "openai",
    (
        Endpoint("/v1/chat/completions", chat_request, chat_reply),
        Endpoint("/v1/responses", responses_request, responses_reply),
    ),
    error_body,
    lambda: {"x-request-id": f"req_{_hex(32)}"},
)


def serve(host: str, port: int, defaults: Defaults) -> None:
    serve_http(VENDOR, host, port, defaults)
