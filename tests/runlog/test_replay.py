"""Replay re-executes recorded runs from the log alone: zero divergence for unchanged code, and the first
divergence named, with both sides, when an agent's instructions, a tool's contract or the policy changes."""

import json
from collections.abc import Iterator

import grpc
import pytest
from conftest import LocalMesh, local_mesh

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from cli.replay import Code, replay
from services.common.config import Settings

SETTINGS = Settings()
LEAD = json.dumps({"name": "Ada Lovelace", "email": "ada@acme.com", "company": "acme.com", "message": "pricing?"})
# (agent, input): plain runs, repairs, sequential tool rounds, and a turn that fails after two repairs
CASES = [
    ("lead_agent", LEAD),
    ("lead_agent", json.dumps(f"#sim invalid=1\n{LEAD}")),
    ("lead_agent", json.dumps(f"#sim malformed=1\n{LEAD}")),
    ("lead_agent", json.dumps(f"#sim tools=lookup_company;score_lead,draft_email;enqueue_for_approval\n{LEAD}")),
    ("research_agent", json.dumps("Who is globex.com?")),
    ("research_agent", json.dumps("#sim invalid=3\nWho is initech.com?")),
]


@pytest.fixture(scope="module")
def recorded(pytestconfig, isolation) -> Iterator[tuple[LocalMesh, list[scheduler_pb2.RunTurnReply]]]:
    """Runs recorded through the real mesh; then everything but the run log is stopped (no network in replay)."""
    mesh = local_mesh(pytestconfig, isolation)
    try:
        replies = asyncio_run(_record(mesh.addr("scheduler"), CASES))
        for service in ("scheduler", "router", "toolworker"):
            mesh.services.pop(service).stop()
        mesh.stop_sims()
        yield mesh, replies
    finally:
        mesh.stop()


def asyncio_run(coro):  # the fixture is sync (module scope); the test loop is not running yet
    import asyncio

    return asyncio.run(coro)


async def _record(addr: str, cases: list[tuple[str, str]]) -> list[scheduler_pb2.RunTurnReply]:
    replies = []
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        for agent, text in cases:
            request = scheduler_pb2.RunTurnRequest(agent=agent, customer="acme", input_json=text)
            try:
                replies.append(await stub.RunTurn(request))
            except grpc.aio.AioRpcError as exc:
                replies.append(scheduler_pb2.RunTurnReply(status="failed", run_id=_run_id_of(exc)))
    return replies


def _run_id_of(exc: grpc.aio.AioRpcError) -> str:
    from services.common.errors import MeshError

    return MeshError.from_rpc_error(exc).metadata.get("run_id", "")


async def _run(mesh: LocalMesh, run_id: str) -> runlog_pb2.Run:
    async with grpc.aio.insecure_channel(mesh.addr("runlog")) as channel:
        return await runlog_pb2_grpc.RunLogStub(channel).GetRun(runlog_pb2.GetRunRequest(run_id=run_id))


async def test_recorded_runs_replay_with_zero_divergence_and_no_network(recorded) -> None:
    mesh, replies = recorded
    assert not mesh.sims and set(mesh.services) == {"runlog"}
    code = Code.current(SETTINGS)
    statuses = [reply.status for reply in replies]
    assert "succeeded" in statuses and "failed" in statuses
    for reply in replies:
        report = await replay(await _run(mesh, reply.run_id), code)
        assert report.identical, (reply.run_id, report.divergence)
        assert report.steps >= 1
