"""Helpers of the turn-loop tests: tool invocations, the gate tool's log, polling with a deadline."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import redis.asyncio as redis

from agentmesh.v1 import common_pb2, toolworker_pb2, toolworker_pb2_grpc

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20.0, what: str = "condition") -> T:
    """Polls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.05)  # polling a condition with a deadline, not synchronising by sleeping
    raise AssertionError(f"{what} not reached within {timeout}s")


async def tool_definitions(channel: grpc.aio.Channel) -> dict[str, common_pb2.ToolDefinition]:
    reply = await toolworker_pb2_grpc.ToolWorkerStub(channel).ListTools(toolworker_pb2.ListToolsRequest())
    return {f"{tool.name}@{tool.version}": tool for tool in reply.tools}


def invocation(
    definitions: dict[str, common_pb2.ToolDefinition], ref: str, run_id: str, args: dict[str, Any], index: int = 0
) -> toolworker_pb2.ToolInvocation:
    name, _, version = ref.partition("@")
    schema_hash = definitions[ref].schema_hash if ref in definitions else ""
    return toolworker_pb2.ToolInvocation(
        call_id=f"{run_id}:0:{index}",
        run_id=run_id,
        name=name,
        version=version,
        arguments_json=json.dumps(args),
        schema_hash=schema_hash,
    )


class GateLog:
    """What the `gate` tool wrote: 'start CALL PID' and 'end CALL PID' lines in execution order."""

    def __init__(self, rds: redis.Redis, prefix: str) -> None:
        self.rds, self.prefix = rds, prefix

    async def lines(self) -> list[str]:
        return [line.decode() for line in await self.rds.lrange(f"{self.prefix}gate:log", 0, -1)]

    async def started(self, call_id: str) -> list[int]:
        """The pids of the workers that started the call, in order."""
        return [int(line.split()[2]) for line in await self.lines() if line.startswith(f"start {call_id} ")]

    async def open(self, run_id: str, times: int = 1) -> None:
        await self.rds.rpush(f"{self.prefix}gate:{run_id}", *["open"] * times)

    async def runs(self, call_id: str) -> int:
        return int(await self.rds.hget(f"{self.prefix}gate:runs", call_id) or 0)

    async def effects(self) -> dict[str, str]:
        raw = await self.rds.hgetall(f"{self.prefix}gate:effects")
        return {key.decode(): value.decode() for key, value in raw.items()}
