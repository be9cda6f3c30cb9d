"""Tools as versioned contracts: `name@version` with Pydantic input and output models.

The schemas and their hash come from the models, so a changed contract is a changed hash. Every
failure of a call (unknown tool, bad input, an exception, a timeout, bad output) becomes a typed
ToolOutcome error that goes back to the model as its tool message: a tool never crashes a worker.
"""

import asyncio
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

import redis.asyncio as redis
from pydantic import BaseModel, ValidationError

from agentmesh.v1 import common_pb2, toolworker_pb2

Outcome = toolworker_pb2.ToolOutcome


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use besides its input: the call id is the idempotency key of its side effects."""

    call_id: str
    run_id: str
    redis: redis.Redis
    redis_prefix: str


@dataclass(frozen=True)
class Tool:
    definition: common_pb2.ToolDefinition
    fn: Callable[[Any, ToolContext], Awaitable[Any]]
    input: type[BaseModel]
    output: type[BaseModel]


def tool(name: str, version: str) -> Callable[[Callable[..., Awaitable[Any]]], Tool]:
    """Declares `async def fn(args: In, ctx: ToolContext) -> Out` as the tool name@version."""

    def declare(fn: Callable[..., Awaitable[Any]]) -> Tool:
        hints = get_type_hints(fn)
        model_in, model_out = next(iter(hints.values())), hints["return"]
        schemas = {"input": model_in.model_json_schema(), "output": model_out.model_json_schema()}
        digest = hashlib.sha256(json.dumps(schemas, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        definition = common_pb2.ToolDefinition(name=name, version=version, schema_hash=digest)
        definition.input_schema_json, definition.output_schema_json = (json.dumps(s) for s in schemas.values())
        definition.description = inspect.getdoc(fn) or ""
        return Tool(definition, fn, model_in, model_out)

    return declare


def failure(kind: str, message: str) -> Outcome:
    return Outcome(error=common_pb2.ErrorDetail(kind=kind, message=message))


def _invalid(kind: str, exc: ValidationError) -> Outcome:
    """The first Pydantic error, naming the field."""
    first = exc.errors()[0]
    return failure(kind, f"{'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}")


class Registry:
    """Every tool by `name@version`; several versions of one tool are registered side by side."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        self.tools = {f"{t.definition.name}@{t.definition.version}": t for t in tools}
        if len(self.tools) < len(tools):
            raise ValueError("a tool name@version is declared twice")

    async def run(self, call: toolworker_pb2.ToolInvocation, ctx: ToolContext) -> Outcome:
        ref = f"{call.name}@{call.version}"
        if (found := self.tools.get(ref)) is None or call.schema_hash not in ("", found.definition.schema_hash):
            return failure("unknown_tool", f"no tool {ref} with schema hash {call.schema_hash or 'any'} is registered")
        try:
            args = found.input.model_validate_json(call.arguments_json or "{}")
        except ValidationError as exc:
            return _invalid("invalid_input", exc)
        try:
            async with asyncio.timeout(call.timeout_ms / 1000 or None):
                result = await found.fn(args, ctx)
        except TimeoutError:
            return failure("timeout", f"{ref} did not finish within {call.timeout_ms} ms")
        except Exception as exc:
            return failure("tool_error", f"{type(exc).__name__}: {exc}")
        try:
            output = found.output.model_validate(result.model_dump() if isinstance(result, BaseModel) else result)
        except ValidationError as exc:
            return _invalid("invalid_output", exc)
        return Outcome(output_json=output.model_dump_json(), schema_hash=found.definition.schema_hash)
