"""Killing the run log mid-run: the turn fails with a clear error, and no run is left looking successful."""

import asyncio
import json
import signal

import grpc
import pytest
from conftest import LocalMesh
from runlog_helpers import LEAD, MODELS, new_run_id, run_turns

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from services.common.errors import MeshError

DEADLINE_S = 30.0


async def until_logged(runlog_addr: str, run_id: str, kind: str) -> runlog_pb2.Run:
    """Poll (with a deadline) until the run has an event of this kind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    async with grpc.aio.insecure_channel(runlog_addr) as channel:
        stub = runlog_pb2_grpc.RunLogStub(channel)
        while loop.time() < deadline:
            try:
                run = await stub.GetRun(runlog_pb2.GetRunRequest(run_id=run_id))
                if any(event.kind == kind for event in run.events):
                    return run
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.02)  # polling a condition with a deadline
    raise TimeoutError(f"no {kind} event in {run_id} within {DEADLINE_S}s")


@pytest.fixture
def running_mesh(mesh: LocalMesh) -> LocalMesh:
    return mesh.require()


async def test_killing_the_run_log_mid_run_fails_the_turn_and_no_run_looks_successful(running_mesh) -> None:
    mesh, run_id = running_mesh, new_run_id()
    slow_model = json.dumps(f"#sim latency_ms=1500\n{LEAD}")
    request = scheduler_pb2.RunTurnRequest(agent="lead_agent", input_json=slow_model, run_id=run_id, model=MODELS[0])
    async with grpc.aio.insecure_channel(mesh.addr("scheduler")) as channel:
        turn = asyncio.ensure_future(scheduler_pb2_grpc.SchedulerStub(channel).RunTurn(request))
        await until_logged(mesh.addr("runlog"), run_id, "turn_input")  # the turn is now waiting for the model
        await asyncio.to_thread(mesh.stop_service, "runlog", signal.SIGKILL)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await turn

    error = MeshError.from_rpc_error(caught.value)
    assert (caught.value.code(), error.kind) == (grpc.StatusCode.UNAVAILABLE, "unavailable")
    assert "run log" in error.message
    reply = error.detail(scheduler_pb2.RunTurnReply)
    assert reply is not None and reply.status == "failed" and reply.run_id == run_id

    await asyncio.to_thread(mesh.require)  # the run log comes back on the same port, same database
    run = await until_logged(mesh.addr("runlog"), run_id, "turn_input")
    assert run.status != "succeeded"
    assert not {"turn_output", "state_snapshot", "run_finished"} & {event.kind for event in run.events}
    assert [event.seq for event in run.events] == list(range(1, len(run.events) + 1)), "no gap in what was written"
    await until_turns_succeed(mesh)


async def until_turns_succeed(mesh: LocalMesh) -> None:
    """After the run log is back, turns succeed again once the callers' channels reconnect (gRPC backoff)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while loop.time() < deadline:
        (reply,) = await run_turns(mesh.addr("scheduler"), [("brief_agent", json.dumps("Brief me on acme.com"), "")])
        if reply.status == "succeeded":
            return
        await asyncio.sleep(0.2)  # polling a condition with a deadline
    raise AssertionError(f"turns still fail {DEADLINE_S}s after the run log came back: {reply.error}")
