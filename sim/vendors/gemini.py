"""Gemini wire protocol: `POST /{v1,v1beta}/models/{model}:generateContent`."""

import uuid
from typing import Any

from sim.engine import Defaults
from sim.exchange import Exchange, Failure, Message, Reply, SchemaCheck, ToolSpec
from sim.http import Endpoint, HttpVendor, Json, WireError, serve_http

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
EMPTY_PARAMETERS = {"type": "OBJECT", "properties": {}}
OPAQUE = {"args", "response", "responseJsonSchema", "parametersJsonSchema", "example", "default", "enum", "required"}


def _camel_name(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_case(value: Any, parent: str = "") -> Any:
    """The API parses proto JSON, which accepts snake_case field names too (the SDK sends `property_ordering`
    and `min_length` inside schemas): normalize them, leaving property names and free-form values alone."""
    if isinstance(value, list):
        return [camel_case(item, parent) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = key if parent == "properties" else _camel_name(key)
        opaque = name in OPAQUE and parent != "properties"
        out[name] = item if opaque else camel_case(item, name)
    return out


def _content(content: Json) -> Message:
    parts = content.get("parts") or []
    text = "\n".join(part["text"] for part in parts if "text" in part)
    results = sum(1 for part in parts if "functionResponse" in part)
    role = content.get("role", "user")
    return Message("assistant" if role == "model" else "user", text, tool_results=results)


def _tools(exchange: Exchange, tools: list[Json]) -> None:
    for t, tool in enumerate(tools):
        for f, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{t}].function_declarations[{f}]"
            if "parametersJsonSchema" in declaration:
                schema, dialect, where = (
                    declaration["parametersJsonSchema"],
                    "gemini_json_schema",
                    f"{where}.parameters_json_schema",
                )
            else:
                schema, dialect, where = declaration.get("parameters"), "gemini_response_schema", f"{where}.parameters"
            exchange.tools.append(ToolSpec(declaration["name"], schema if schema is not None else EMPTY_PARAMETERS))
            if schema is not None:
                exchange.checks.append(SchemaCheck(dialect, schema, where))


def _tool_config(exchange: Exchange, config: Json | None) -> None:
    calling = (config or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    allowed = calling.get("allowedFunctionNames") or []
    if mode == "NONE":
        exchange.tool_choice = "none"
    elif mode in ("ANY", "VALIDATED") and len(allowed) == 1:
        exchange.forced_tool = allowed[0]
    elif mode == "ANY":
        exchange.tool_choice = "required"
        if allowed:
            exchange.tools = [tool for tool in exchange.tools if tool.name in allowed]


def _generation_config(exchange: Exchange, config: Json) -> None:
    mime = config.get("responseMimeType", "text/plain")
    has_schema = "responseSchema" in config, "responseJsonSchema" in config
    if all(has_schema):
        raise WireError("response_schema and response_json_schema cannot both be set", "generation_config")
    if any(has_schema) and mime != "application/json":
        raise WireError(
            f"response_mime_type must be application/json when a response schema is set, not {mime!r}",
            "generation_config.response_mime_type",
        )
    if mime == "application/json":
        exchange.structured = True
    if "responseSchema" in config:
        exchange.output_schema = config["responseSchema"]
        exchange.checks.append(
            SchemaCheck("gemini_response_schema", exchange.output_schema, "generation_config.response_schema")
        )
    elif "responseJsonSchema" in config:
        exchange.output_schema = config["responseJsonSchema"]
        exchange.checks.append(
            SchemaCheck("gemini_json_schema", exchange.output_schema, "generation_config.response_json_schema")
        )


def generate_request(body: Json, params: dict[str, str]) -> Exchange:
    body = camel_case(body)
    if not body.get("contents"):
        raise WireError("* GenerateContentRequest.contents: contents is not specified", "contents")
    system = body.get("systemInstruction")
    messages = [Message("system", _content(system).text)] if system else []
    messages += [_content(content) for content in body["contents"]]
    exchange = Exchange("gemini", params["model"].removeprefix("models/"), messages)
    _tools(exchange, body.get("tools") or [])
    _tool_config(exchange, body.get("toolConfig"))
    _generation_config(exchange, body.get("generationConfig") or {})
    return exchange


def _parts(reply: Reply) -> list[Json]:
    """functionCall args must be an object: scripted malformed arguments come back as a text part instead."""
    parts: list[Json] = [{"text": reply.text}] if reply.text is not None else []
    for call in reply.tool_calls:
        arguments = call.arguments_object()
        if arguments is None:
            parts.append({"text": call.arguments})
        else:
            parts.append({"functionCall": {"id": f"fc_{call.id}", "name": call.name, "args": arguments}})
    return parts


def generate_reply(reply: Reply, exchange: Exchange) -> Json:
    candidate: dict[str, Any]
    if reply.refusal is not None:
        rating = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        candidate = {"finishReason": "SAFETY", "index": 0, "safetyRatings": [rating]}
    else:
        candidate = {"content": {"role": "model", "parts": _parts(reply)}, "finishReason": "STOP", "index": 0}
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": reply.input_tokens,
            "candidatesTokenCount": reply.output_tokens,
            "totalTokenCount": reply.total_tokens,
        },
        "modelVersion": exchange.model,
        "responseId": uuid.uuid4().hex[:22],
    }


def error_body(failure: Failure) -> Json:
    status = STATUS_NAMES.get(failure.status, "UNAVAILABLE" if failure.status >= 500 else "FAILED_PRECONDITION")
    details: list[Json] = []
    if failure.kind == "auth":
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        )
    if failure.retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{failure.retry_after:g}s"})
    return {"error": {"code": failure.status, "message": failure.message, "status": status, "details": details}}


VENDOR = HttpVendor(
    "gemini",
    tuple(
        Endpoint(f"/{version}/models/{{model}}:generateContent", generate_request, generate_reply)
        for version in ("v1", "v1beta")
    ),
    error_body,
)


def serve(host: str, port: int, defaults: Defaults) -> None:
    serve_http(VENDOR, host, port, defaults)
