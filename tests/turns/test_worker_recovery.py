"""At-least-once delivery: a call held by a SIGKILLed worker is finished by another, exactly one effect recorded;
a call that kills every worker it reaches is dead-lettered and the waiting scheduler gets a typed error."""

import asyncio
import json
import signal
import uuid
from typing import Any

import pytest
from tool_helpers import GateLog, eventually, invocation, tool_definitions

from agentmesh.v1 import toolworker_pb2
from services.scheduler.dispatch import ToolDispatch


@pytest.fixture(scope="module")
def workers(spawn: Any) -> list[Any]:
    return [spawn("services.toolworker"), spawn("services.toolworker")]


@pytest.fixture
async def definitions(workers: list[Any], channel_to: Any) -> dict[str, Any]:
    alive = next(worker for worker in workers if worker.proc.poll() is None)
    return await tool_definitions(channel_to(alive.addr))


async def test_a_call_held_by_a_killed_worker_is_claimed_and_finished_by_another_with_one_effect(
    workers: list[Any], definitions: dict, rds: Any, settings: Any, prefix: str
) -> None:
    rid, gates = f"run-{uuid.uuid4().hex[:12]}", GateLog(rds, prefix)
    call = invocation(definitions, "gate@1.0.0", rid, {"note": "survive"})
    dispatch = ToolDispatch(rds, settings, rid)
    waiting = asyncio.create_task(dispatch([call]))
    [holder_pid] = await eventually(lambda: gates.started(call.call_id), what="the call started")
    holder = next(worker for worker in workers if worker.proc.pid == holder_pid)
    survivor = next(worker for worker in workers if worker is not holder)
    assert await asyncio.to_thread(holder.stop, signal.SIGKILL) == -signal.SIGKILL

    pids = await eventually(lambda: _second_start(gates, call.call_id), what="the call redelivered")
    assert pids == [holder_pid, survivor.proc.pid]
    await gates.open(rid)  # only now: the dead worker's blocked read can no longer take the token
    [outcome] = await waiting
    await dispatch.close()

    assert json.loads(outcome.output_json)["worker_pid"] == survivor.proc.pid
    assert outcome.delivery == 2 and outcome.worker.endswith(f"-{survivor.proc.pid}")
    assert await gates.runs(call.call_id) == 2  # ran at most twice
    assert {key: value for key, value in (await gates.effects()).items() if key == call.call_id} == {
        call.call_id: str(survivor.proc.pid)
    }


async def _second_start(gates: GateLog, call_id: str) -> list[int]:
    pids = await gates.started(call_id)
    return pids if len(pids) == 2 else []


async def test_a_call_that_keeps_killing_its_workers_is_dead_lettered_with_a_typed_error(
    spawn: Any, definitions: dict, rds: Any, settings: Any, prefix: str
) -> None:
    await asyncio.gather(*[asyncio.to_thread(spawn, "services.toolworker") for _ in range(2)])
    rid = f"run-{uuid.uuid4().hex[:12]}"
    call = invocation(definitions, "crash@1.0.0", rid, {"note": "boom"})
    dispatch = ToolDispatch(rds, settings, rid)
    [outcome] = await dispatch([call])
    await dispatch.close()

    assert outcome.error.kind == "tool_error"
    assert outcome.error.message == "dead-lettered: no worker finished it in 2 deliveries"
    assert outcome.delivery == 3 and outcome.call_id == call.call_id
    assert int(await rds.hget(f"{prefix}crash:runs", call.call_id)) == settings.tool_max_deliveries
    dead = [toolworker_pb2.ToolInvocation.FromString(f[b"data"]) for _, f in await rds.xrange(f"{prefix}tools:dead")]
    assert [entry.call_id for entry in dead] == [call.call_id]
