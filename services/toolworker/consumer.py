"""A tool worker: one consumer in the group that reads the calls stream.

Delivery is at least once: a call left pending by a dead worker is claimed by another (XAUTOCLAIM
after `tool_claim_idle_s`), while a live worker keeps its own calls fresh so a slow tool is not
stolen. Redis counts the deliveries of each entry (XREADGROUP, then each XAUTOCLAIM). Idempotency is
by call id: the first finished outcome is stored, and a later delivery republishes it instead of
running the tool again. A call that keeps killing its workers goes to the dead-letter stream after
`tool_max_deliveries`, and the waiting scheduler gets a typed error.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time

import redis.asyncio as redis

from agentmesh.v1 import toolworker_pb2
from services.common.config import Settings
from services.toolworker.registry import Outcome, Registry, ToolContext, failure

log = logging.getLogger(__name__)
GROUP = "toolworkers"
RESULT_TTL_S = 24 * 3600  # how long a redelivered call finds its first outcome
REPLY_TTL_S = 3600  # a reply stream nobody reads any more expires
CONCURRENCY = 32  # calls in flight per worker


class ToolConsumer:
    def __init__(self, registry: Registry, rds: redis.Redis, settings: Settings) -> None:
        self.registry, self.rds, self.settings = registry, rds, settings
        self.stream = settings.redis_prefix + settings.tool_calls_stream
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.in_flight: dict[bytes, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        """Consumes until `stopping` is set, then lets the calls in flight finish."""
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: another worker created it
            await self.rds.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        heartbeat = asyncio.create_task(self._keep_claims_fresh())
        while not self.stopping.is_set():
            if len(self.in_flight) >= CONCURRENCY:
                await asyncio.wait(self.in_flight.values(), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                entries = await self._next_entries(CONCURRENCY - len(self.in_flight))
            except redis.ConnectionError:  # Redis restarting: keep trying rather than stop consuming silently
                log.warning("redis unreachable; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            for entry_id, fields in entries:
                self.in_flight[entry_id] = asyncio.create_task(self._handle(entry_id, fields[b"data"]))
                self.in_flight[entry_id].add_done_callback(lambda _, e=entry_id: self.in_flight.pop(e))
        heartbeat.cancel()
        await asyncio.gather(*self.in_flight.values())

    async def _next_entries(self, room: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Calls abandoned by a dead worker first, then new ones (blocking for at most a second).

        Redis 7 leaves trimmed entries out of both answers, so every entry has its data."""
        idle_ms = int(self.settings.tool_claim_idle_s * 1000)
        _, entries, _ = await self.rds.xautoclaim(self.stream, GROUP, self.name, idle_ms, count=room)
        if not entries:
            read = await self.rds.xreadgroup(GROUP, self.name, {self.stream: ">"}, room, block=1000)
            entries = read[0][1] if read else []
        return entries

    async def _keep_claims_fresh(self) -> None:
        """JUSTID claims reset the idle time of the calls in flight without counting a delivery."""
        while True:
            await asyncio.sleep(self.settings.tool_claim_idle_s / 3)
            if self.in_flight:
                await self.rds.xclaim(self.stream, GROUP, self.name, 0, list(self.in_flight), justid=True)

    async def _handle(self, entry_id: bytes, data: bytes) -> None:
        call = toolworker_pb2.ToolInvocation.FromString(data)
        call.timeout_ms = call.timeout_ms or int(self.settings.tool_timeout_s * 1000)
        outcome = await self._outcome(entry_id, call, data)
        async with self.rds.pipeline(transaction=True) as pipe:
            pipe.xadd(call.reply_stream, {"data": outcome.SerializeToString()}, maxlen=self.settings.stream_maxlen)
            await pipe.expire(call.reply_stream, REPLY_TTL_S).xack(self.stream, GROUP, entry_id).execute()

    async def _outcome(self, entry_id: bytes, call: toolworker_pb2.ToolInvocation, data: bytes) -> Outcome:
        """The call's first finished outcome, stamped with who ran it, at which delivery, and how long it took."""
        prefix, started = self.settings.redis_prefix, time.monotonic()
        result_key = f"{prefix}tools:result:{call.call_id}"
        if (stored := await self.rds.get(result_key)) is not None:
            return Outcome.FromString(stored)
        pending = await self.rds.xpending_range(self.stream, GROUP, entry_id, entry_id, 1)
        delivery = pending[0]["times_delivered"] if pending else 1  # not pending: another worker just acked it
        if delivery > self.settings.tool_max_deliveries:
            await self.rds.xadd(f"{prefix}tools:dead", {"data": data}, maxlen=self.settings.stream_maxlen)
            outcome = failure("tool_error", f"dead-lettered: no worker finished it in {delivery - 1} deliveries")
        else:
            outcome = await self.registry.run(call, ToolContext(call.call_id, call.run_id, self.rds, prefix))
        stamp = {"call_id": call.call_id, "name": call.name, "version": call.version, "worker": self.name}
        outcome.MergeFrom(Outcome(**stamp, delivery=delivery, latency_ms=(time.monotonic() - started) * 1000))
        first = await self.rds.set(result_key, outcome.SerializeToString(), nx=True, get=True, ex=RESULT_TTL_S)
        return outcome if first is None else Outcome.FromString(first)  # another delivery finished first: it stands
