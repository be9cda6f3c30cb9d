"""Tool dispatch over Redis Streams: publish a round of calls, await all their outcomes on the run's reply stream."""

import time
from collections.abc import Sequence

import redis.asyncio as redis

from agentmesh.v1 import common_pb2, toolworker_pb2
from services.common.config import Settings

Outcome = toolworker_pb2.ToolOutcome


class ToolDispatch:
    """One per turn. The wait covers every delivery a call may get, including claims after a worker died."""

    def __init__(self, rds: redis.Redis, settings: Settings, run_id: str) -> None:
        self.rds, self.settings, self.last_id = rds, settings, "0-0"
        self.reply_stream = f"{settings.redis_prefix}tools:replies:{run_id}"
        self.timeout_ms = int(settings.tool_timeout_s * 1000)

    async def __call__(self, calls: Sequence[toolworker_pb2.ToolInvocation]) -> list[Outcome]:
        s, stream = self.settings, self.settings.redis_prefix + self.settings.tool_calls_stream
        for call in calls:
            published = toolworker_pb2.ToolInvocation(reply_stream=self.reply_stream, timeout_ms=self.timeout_ms)
            published.MergeFrom(call)
            await self.rds.xadd(stream, {"data": published.SerializeToString()}, maxlen=s.stream_maxlen)
        outcomes: dict[str, Outcome] = {}
        wanted = {call.call_id for call in calls}
        deadline = time.monotonic() + s.tool_max_deliveries * (s.tool_timeout_s + s.tool_claim_idle_s) + 1
        while len(outcomes) < len(wanted) and (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            for _, entries in await self.rds.xread({self.reply_stream: self.last_id}, block=min(left_ms, 1000)) or []:
                for entry_id, fields in entries:
                    self.last_id, outcome = entry_id, Outcome.FromString(fields[b"data"])
                    if outcome.call_id in wanted:  # a late duplicate of an earlier round's call is not this round's
                        outcomes.setdefault(outcome.call_id, outcome)  # the first outcome wins over a redelivery's
        missing = common_pb2.ErrorDetail(
            kind="timeout", message=f"no worker answered in {s.tool_max_deliveries} deliveries"
        )
        return [outcomes.get(c.call_id) or Outcome(call_id=c.call_id, name=c.name, error=missing) for c in calls]

    async def close(self) -> None:
        await self.rds.delete(self.reply_stream)
