"""The provider-neutral view of one model call: what a vendor module translates its wire request into,
and the outcomes it translates back into its wire reply."""

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "none", "required"]


@dataclass(frozen=True)
class Message:
    """One conversation message. A message that carries tool results (`tool_results > 0`) is not a text
    message, whatever text it also holds: it neither carries directives nor counts as an attempt."""

    role: Role
    text: str = ""
    tool_results: int = 0

    @property
    def is_text(self) -> bool:
        return self.role in ("system", "user") and self.tool_results == 0


@dataclass(frozen=True)
class ToolSpec:
    name: str
    schema: Any


@dataclass(frozen=True)
class SchemaCheck:
    """A wire schema to hold against a dialect; `where` is its place in the vendor's request body."""

    dialect: str
    schema: Any
    where: str


@dataclass
class Exchange:
    provider: str
    model: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    structured: bool = False  # a JSON reply is requested (response format / output config / mime type)
    output_schema: Any = None  # its schema, when there is one
    checks: list[SchemaCheck] = field(default_factory=list)


@dataclass(frozen=True)
class ToolCall:
    id: str  # hex digits; each vendor adds its own prefix
    name: str
    arguments: str  # JSON text; malformed only when a scripted structured reply is

    def arguments_object(self) -> dict[str, Any] | None:
        """The arguments as a JSON object, for vendors whose wire carries an object (None if they are not one)."""
        try:
            value = json.loads(self.arguments)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class Reply:
    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class Failure:
    """An error reply. `kind` picks the vendor's error type; `where` names the request field at fault."""

    status: int
    kind: str
    message: str
    retry_after: float | None = None
    where: str | None = None


@dataclass
class Hang:
    """Never answer: the client's timeout is what ends the call."""


@dataclass
class Plan:
    latency_ms: int
    outcome: Reply | Failure | Hang


def failure_kind(status: int) -> str:
    """The neutral error kind of an HTTP status."""
    return {
        400: "bad_request",
        401: "auth",
        403: "permission",
        404: "not_found",
        408: "timeout",
        409: "conflict",
        413: "too_large",
        422: "unprocessable",
        429: "rate_limited",
        500: "server_error",
        529: "overloaded",
    }.get(status, "unavailable" if status >= 500 else "bad_request")
