"""`agentmesh replay RUN --live` sends a run's recorded model requests to the router again, as a new logged
run, on the recorded model or on another one, and says whether the answers are the same."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LocalMesh
from runlog_helpers import MODELS, get_run, run_turns

from agentmesh.v1 import scheduler_pb2

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recorded_turn(mesh: LocalMesh) -> scheduler_pb2.RunTurnReply:
    turns = [("lead_agent", json.dumps("Brief me on acme.com"), MODELS[0])]
    (reply,) = asyncio.run(run_turns(mesh.require().addr("scheduler"), turns))
    assert reply.status == "succeeded", reply.error
    return reply


def rerun(mesh: LocalMesh, run_id: str, *flags: str) -> dict:
    env = {**os.environ, **mesh.env}
    argv = [sys.executable, "-m", "cli.main", "replay", run_id, "--live", "--json", *flags]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_live_rerun_on_the_recorded_model_gives_the_recorded_answers(mesh, recorded_turn) -> None:
    report = await asyncio.to_thread(rerun, mesh, recorded_turn.run_id)
    original = await get_run(mesh.addr("runlog"), recorded_turn.run_id)
    calls = [e for e in original.events if e.kind == "model_call"]

    assert [step["seq"] for step in report["steps"]] == [e.seq for e in calls]
    assert all(step["live"] == step["recorded"] == MODELS[0] and step["same_answer"] for step in report["steps"])
    rerun_log = await get_run(mesh.addr("runlog"), report["rerun_id"])
    assert sum(1 for e in rerun_log.events if e.kind == "model_attempt") == len(calls), "the re-run is logged"


async def test_a_live_rerun_can_compare_another_model(mesh, recorded_turn) -> None:
    report = await asyncio.to_thread(rerun, mesh, recorded_turn.run_id, "--model", MODELS[3])
    assert {step["live"] for step in report["steps"]} == {MODELS[3]}
    assert {step["recorded"] for step in report["steps"]} == {MODELS[0]}
