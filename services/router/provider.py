"""The one small interface every provider adapter implements, and the error kinds failover decides on."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from agentmesh.v1 import common_pb2

# Failover moves on for these kinds; the others end the request (or go to repair, for schema_invalid).
ERROR_KINDS = ("rate_limited", "unavailable", "timeout", "bad_request", "auth", "refused", "schema_invalid")
FAILOVER_KINDS = frozenset({"rate_limited", "unavailable", "timeout"})


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
    request_body: str
    response_body: str


class ProviderError(Exception):
    """A failed provider call as one of ERROR_KINDS, with whatever went over the wire."""

    def __init__(
        self,
        kind: str,
        message: str,
        request_body: str = "",
        response_body: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.request_body = request_body
        self.response_body = response_body
        self.retry_after_s = retry_after_s


class Provider(ABC):
    """An LLM vendor reached through its official SDK (or its simulator in sim/)."""

    name: str

    @abstractmethod
    async def complete(self, request: ModelRequest) -> ModelReply:
        """Make exactly one call (SDK retries off); raise ProviderError on any failure."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release the SDK client's connections."""
