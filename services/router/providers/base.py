"""What every adapter shares: the recorded wire exchange, one error-kind mapping, tool names on the wire.

Exact bodies: the three HTTP SDKs get an httpx2 client whose event hooks copy the request bytes and the
response text into the Exchange of the current call (a context variable, so concurrent calls on one
shared client never mix). xai records its request and response protos itself.

Tool names: the wire name is the bare tool name, which every vendor accepts if it matches
^[a-zA-Z0-9_-]{1,64}$; the version stays on our side and is put back on each ToolCall from the
request's tool list. A name outside that pattern is refused before any call; two versions of one tool
in one request would be ambiguous on the way back, and every vendor rejects duplicate names (bad_request).

Error kinds: the HTTP status decides (429 rate_limited, 401/403 auth, 408 timeout, other 4xx bad_request,
5xx/529 unavailable); without a status, SDK and httpx2 timeouts are timeout and connection failures
unavailable. A provider rejecting a wire schema is bad_request, not schema_invalid: repair cannot fix
a schema, and schema_invalid stays the router's verdict on a reply that fails validation.
"""

import json
import re
import uuid
from abc import abstractmethod
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx2

from agentmesh.v1 import common_pb2
from services.router.provider import ModelReply, ModelRequest, Provider, ProviderError
from services.router.schema import to_wire_schema

WIRE_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
STATUS_KINDS = {429: "rate_limited", 401: "auth", 403: "auth", 408: "timeout"}


@dataclass
class Exchange:
    """The bytes of one provider call as they crossed the wire, and the status that came back."""

    request_body: str = ""
    response_body: str = ""
    status: int | None = None
    retry_after_s: float | None = None


_current: ContextVar[Exchange] = ContextVar("provider_exchange")


async def _record_request(request: httpx2.Request) -> None:
    _current.get().request_body = request.content.decode()


async def _record_response(response: httpx2.Response) -> None:
    exchange = _current.get()
    exchange.response_body, exchange.status = (await response.aread()).decode(), response.status_code
    exchange.retry_after_s = retry_after(response.headers.get("retry-after"))


WIRE_HOOKS = {"request": [_record_request], "response": [_record_response]}


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After value; an HTTP date (rare from LLM APIs) counts as unknown."""
    return float(value) if value and value.replace(".", "", 1).isdigit() else None


def given(**fields: Any) -> dict[str, Any]:
    """The fields that are set: absent parameters (None, empty) stay off the wire rather than go as null or ""."""
    return {key: value for key, value in fields.items() if value not in (None, "", [], {})}


def tool_versions(tools: list[common_pb2.ToolDefinition]) -> dict[str, str]:
    """Wire name -> version of each offered tool (see the module docstring)."""
    if bad := [t.name for t in tools if not WIRE_TOOL_NAME.match(t.name)]:
        raise ProviderError("bad_request", f"tools: names must match {WIRE_TOOL_NAME.pattern}: {bad}")
    return {t.name: t.version for t in tools}


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
    return ModelReply(text, calls, usage, finish, request_body="", response_body="")


class WireProvider(Provider):
    """An adapter making one SDK call per complete(), recording the exchange, failing only as ProviderError."""

    def __init__(self, api_key: str, sim_addr: str | None = None) -> None:
        self.simulated = sim_addr is not None
        self.client = self.connect(api_key, sim_addr)

    @abstractmethod
    def connect(self, api_key: str, sim_addr: str | None) -> Any:
        """The SDK's async client (retries off): the real service, or the simulator at sim_addr (host:port)."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        token = _current.set(wire := Exchange())
        try:
            versions = tool_versions(request.tools)
            schema = None if request.output_schema is None else to_wire_schema(self.name, request.output_schema)
            answer = await self.call(request, schema, wire)
        except Exception as exc:
            kind = exc.kind if isinstance(exc, ProviderError) else self.error_kind(exc, wire)
            message = exc.message if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
            raise ProviderError(kind, message, wire.request_body, wire.response_body, wire.retry_after_s) from exc
        finally:
            _current.reset(token)
        for call in answer.tool_calls:
            call.version = versions.get(call.name, "")
        answer.request_body, answer.response_body = wire.request_body, wire.response_body
        return answer

    @abstractmethod
    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: Exchange) -> ModelReply:
        """The SDK call (schema: the output schema in this provider's dialect) and the reply's translation.

        Raise ProviderError("refused", ...) on a refusal."""

    async def aclose(self) -> None:
        await self.client.close()

    def error_kind(self, exc: Exception, exchange: Exchange) -> str:
        """Kind of a failed HTTP SDK call (see the module docstring); 2xx means the reply was unreadable."""
        if (status := exchange.status) is not None:
            return STATUS_KINDS.get(status, "bad_request" if 400 <= status < 500 else "unavailable")
        failure = next((e for e in (exc, exc.__cause__) if isinstance(e, httpx2.TransportError)), None)  # SDKs wrap it
        if failure is None:
            return "bad_request"
        return "timeout" if isinstance(failure, httpx2.TimeoutException) else "unavailable"
