"""The provider interface every adapter implements: one SDK call per complete(), the exact wire exchange
recorded, every failure raised as a ProviderError of one of the kinds failover decides on.

Exact bodies: the three HTTP SDKs get an httpx2 client whose event hooks (providers/base.py) copy the request
bytes and the response text into the Exchange of the current call (a context variable, so concurrent calls on
one shared client never mix). xai records its request and response protos itself.

Tool names: the wire name is the bare tool name, which every vendor accepts if it matches
^[a-zA-Z0-9_-]{1,64}$; the version stays on our side and is put back on each ToolCall from the
request's tool list. A name outside that pattern is refused before any call; two versions of one tool
in one request would be ambiguous on the way back, and every vendor rejects duplicate names (bad_request).

Error kinds: the HTTP status decides (429 rate_limited, 401/403 auth, 408 timeout, other 4xx bad_request,
5xx/529 unavailable); without a status, SDK and httpx2 timeouts are timeout and connection failures
unavailable. A provider rejecting a wire schema is bad_request, not schema_invalid: repair cannot fix
a schema, and schema_invalid stays the router's verdict on a reply that fails validation.
"""

import re
from abc import ABC, abstractmethod
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from agentmesh.v1 import common_pb2
from services.router.schema import to_wire_schema

# Failover moves on for these kinds; the others end the request (or go to repair, for schema_invalid).
FAILOVER_KINDS = frozenset({"rate_limited", "unavailable", "timeout"})
WIRE_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
STATUS_KINDS = {429: "rate_limited", 401: "auth", 403: "auth", 408: "timeout"}


@dataclass(frozen=True)
class ModelRequest:
    """What the router asks one provider:model for. output_schema is the caller's JSON schema (not yet in
    the provider's dialect); the adapter applies its dialect transformer. tool_choice "none" keeps the tools
    declared (vendors refuse tool-use history without them) but forbids calling them: a repair wants JSON only."""

    model: str
    messages: list[common_pb2.Message]
    tools: list[common_pb2.ToolDefinition] = field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    output_name: str = "output"
    temperature: float | None = None
    seed: int | None = None
    max_output_tokens: int = 1024
    timeout_s: float = 30.0
    tool_choice: Literal["auto", "none"] = "auto"


@dataclass
class ModelReply:
    """One provider answer, normalized, with the exact wire bodies kept for the run log."""

    text: str
    tool_calls: list[common_pb2.ToolCall]
    usage: common_pb2.Usage
    finish_reason: str
    request_body: str = ""
    response_body: str = ""


@dataclass(eq=False)
class ProviderError(Exception):
    """A failed provider call, with whatever went over the wire. kind is one of rate_limited, unavailable,
    timeout, bad_request, auth, refused (schema_invalid is the router's verdict on a reply, never an adapter's)."""

    kind: str
    message: str
    request_body: str = ""
    response_body: str = ""
    retry_after_s: float | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass
class Exchange:
    """The bytes of one provider call as they crossed the wire, and the status that came back."""

    request_body: str = ""
    response_body: str = ""
    status: int | None = None
    retry_after_s: float | None = None


current_exchange: ContextVar[Exchange] = ContextVar("provider_exchange")


def tool_versions(tools: list[common_pb2.ToolDefinition]) -> dict[str, str]:
    """Wire name -> version of each offered tool (see the module docstring)."""
    if bad := [t.name for t in tools if not WIRE_TOOL_NAME.match(t.name)]:
        raise ProviderError("bad_request", f"tools: names must match {WIRE_TOOL_NAME.pattern}: {bad}")
    return {t.name: t.version for t in tools}


class Provider(ABC):
    """An LLM vendor reached through its official SDK, one adapter per vendor: the real service when an API key
    is given (an empty key counts as none), else its simulator in sim/ at sim_addr."""

    name: str

    def __init__(self, api_key: str, sim_addr: str) -> None:
        self.simulated = not api_key
        self.client = self.connect(api_key or "sim-placeholder-key", sim_addr if self.simulated else None)

    @abstractmethod
    def connect(self, api_key: str, sim_addr: str | None) -> Any:
        """The SDK's async client (retries off): the real service, or the simulator at sim_addr (host:port)."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Make exactly one call (SDK retries off); raise ProviderError on any failure."""
        token = current_exchange.set(wire := Exchange())
        try:
            versions = tool_versions(request.tools)
            schema = None if request.output_schema is None else to_wire_schema(self.name, request.output_schema)
            answer = await self.call(request, schema, wire)
        except Exception as exc:
            kind = exc.kind if isinstance(exc, ProviderError) else self.error_kind(exc, wire)
            message = exc.message if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
            raise ProviderError(kind, message, wire.request_body, wire.response_body, wire.retry_after_s) from exc
        finally:
            current_exchange.reset(token)
        for call in answer.tool_calls:
            call.version = versions.get(call.name, "")
        answer.request_body, answer.response_body = wire.request_body, wire.response_body
        return answer

    @abstractmethod
    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: Exchange) -> ModelReply:
        """The SDK call (schema: the output schema in this provider's dialect) and the reply's translation.

        Raise ProviderError("refused", ...) on a refusal."""

    async def aclose(self) -> None:
        """Release the SDK client's connections."""
        await self.client.close()

    def error_kind(self, exc: Exception, exchange: Exchange) -> str:
        """Kind of a failed HTTP SDK call (see the module docstring); 2xx means the reply was unreadable."""
        if (status := exchange.status) is not None:
            return STATUS_KINDS.get(status, "bad_request" if 400 <= status < 500 else "unavailable")
        failure = next((e for e in (exc, exc.__cause__) if isinstance(e, httpx2.TransportError)), None)  # SDKs wrap it
        if failure is None:
            return "bad_request"
        return "timeout" if isinstance(failure, httpx2.TimeoutException) else "unavailable"
