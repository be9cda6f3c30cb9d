"""Tool dispatch over Redis Streams: publish a round of calls, await all their outcomes on the run's reply stream."""

import time
from collections.abc import Sequence

import redis.asyncio as redis

from agentmesh.v1 import common_pb2, toolworker_pb2
from services.common.config import Settings


class ToolDispatch:
    """One per turn. The deadline covers every delivery a call may get, including claims after a worker died."""

    def __init__(self, rds: redis.Redis, settings: Settings, run_id: str) -> None:
        self.rds, self.settings = rds, settings
        self.calls_stream = settings.redis_prefix + settings.tool_calls_stream
        self.reply_stream = f"{settings.redis_prefix}tools:replies:{run_id}"
        self.last_id = "0-0"

    async def __call__(self, calls: Sequence[toolworker_pb2.ToolInvocation]) -> list[toolworker_pb2.ToolOutcome]:
        async with self.rds.pipeline(transaction=False) as pipe:
            for call in calls:
                published = toolworker_pb2.ToolInvocation(reply_stream=self.reply_stream)
                published.MergeFrom(call)
                published.timeout_ms = int(self.settings.tool_timeout_s * 1000)
                pipe.xadd(
                    self.calls_stream, {"data": published.SerializeToString()}, maxlen=self.settings.stream_maxlen
                )
            await pipe.execute()
        waiting = {call.call_id: call for call in calls}
        outcomes: dict[str, toolworker_pb2.ToolOutcome] = {}
        s = self.settings
        deadline = time.monotonic() + s.tool_max_deliveries * (s.tool_timeout_s + s.tool_claim_idle_s) + 1
        while waiting.keys() - outcomes.keys() and (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            for _, entries in await self.rds.xread({self.reply_stream: self.last_id}, block=min(left_ms, 1000)) or []:
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    outcome = toolworker_pb2.ToolOutcome.FromString(fields[b"data"])
                    if outcome.call_id in waiting:
                        outcomes.setdefault(outcome.call_id, outcome)  # a redelivered duplicate loses
        return [outcomes.get(call_id) or _no_answer(call, s) for call_id, call in waiting.items()]

    async def close(self) -> None:
        await self.rds.delete(self.reply_stream)


def _no_answer(call: toolworker_pb2.ToolInvocation, settings: Settings) -> toolworker_pb2.ToolOutcome:
    message = f"no tool worker answered within {settings.tool_max_deliveries} deliveries"
    error = common_pb2.ErrorDetail(kind="timeout", message=message)
    return toolworker_pb2.ToolOutcome(call_id=call.call_id, name=call.name, version=call.version, error=error)
