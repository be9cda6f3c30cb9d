"""Replay re-executes recorded runs from the log alone: zero divergence for unchanged code, and the first
divergence named, with both sides, when an agent's instructions, a tool's contract or the policy changes."""

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGENTS_MODULE, LocalMesh
from pydantic import BaseModel, Field
from runlog_helpers import LEAD, MODELS, get_run, run_turns

from agentmesh.v1 import scheduler_pb2
from cli.replay import Code, replay
from examples.leads.models import CompanyProfile
from services.common.config import Settings
from services.router.policy import PolicyStore
from services.router.pricing import load_prices
from services.toolworker.registry import ToolContext, tool

SETTINGS = Settings(agents_module=AGENTS_MODULE)
FIRST_CHOICE = PolicyStore(SETTINGS.policy_path, load_prices(SETTINGS.prices_path).models).policy.chains["fast_cheap"][
    0
]
ROOT = Path(__file__).resolve().parents[2]
# (agent, input_json, model): tool rounds, repairs, sequential tool rounds, and turns that fail, on each provider
TURNS = [
    ("brief_agent", json.dumps("#sim invalid=1\nBrief me on acme.com"), MODELS[2]),
    ("brief_agent", json.dumps("#sim malformed=2\nBrief me on globex.com"), MODELS[3]),
    ("lead_agent", json.dumps(LEAD), MODELS[0]),
    ("lead_agent", json.dumps(f"#sim invalid=1\n{LEAD}"), MODELS[1]),
    ("lead_agent", json.dumps(f"#sim malformed=1\n{LEAD}"), MODELS[2]),
    (
        "lead_agent",
        json.dumps(f"#sim tools=lookup_company;score_lead,draft_email;enqueue_for_approval\n{LEAD}"),
        MODELS[3],
    ),
    ("research_agent", json.dumps("Who is globex.com?"), MODELS[0]),
    ("research_agent", json.dumps("#sim invalid=3\nWho is initech.com?"), MODELS[1]),
    ("brief_agent", json.dumps(f"#sim@{FIRST_CHOICE.split(':')[0]} status=503\nBrief me on hooli.com"), ""),
    ("lead_agent", json.dumps("#sim status=400\nplease fail"), MODELS[2]),
]


@pytest.fixture(scope="module")
def recorded(mesh: LocalMesh) -> list[scheduler_pb2.RunTurnReply]:
    """Turns recorded through the real mesh; then everything but the run log stops (replay needs no network)."""
    replies = asyncio.run(run_turns(mesh.require().addr("scheduler"), TURNS))
    for service in ("scheduler", "router", "toolworker"):
        mesh.stop_service(service)
    mesh.stop_sims()
    return replies


@pytest.fixture(scope="module")
def lead_run(mesh: LocalMesh, recorded: list[scheduler_pb2.RunTurnReply]):
    return asyncio.run(get_run(mesh.addr("runlog"), recorded[2].run_id))


async def test_recorded_runs_replay_with_zero_divergence_and_no_network(mesh, recorded) -> None:
    assert not mesh.sims and set(mesh.services) == {"runlog"}, "nothing but the run log is up"
    statuses = {turn: reply.status for turn, reply in zip(TURNS, recorded, strict=True)}
    assert statuses[TURNS[0]] == statuses[TURNS[1]] == statuses[TURNS[2]] == statuses[TURNS[5]] == "succeeded"
    assert statuses[TURNS[-1]] == "failed"
    code = Code.current(SETTINGS)
    for reply in recorded:
        run = await get_run(mesh.addr("runlog"), reply.run_id)
        report = await replay(run, code)
        assert report.identical, (reply.run_id, report.divergence)
        assert report.steps == sum(1 for e in run.events if e.kind in ("model_call", "tool_call", "tool_result"))


async def test_the_recorded_runs_include_tool_rounds_repairs_and_a_failover(mesh, recorded) -> None:
    runs = [await get_run(mesh.addr("runlog"), reply.run_id) for reply in recorded]
    attempts = [[json.loads(e.payload_json) for e in run.events if e.kind == "model_attempt"] for run in runs]
    assert any(a.get("purpose") == "repair" for a in attempts[0]), "brief_agent with #sim invalid=1 was repaired"
    assert sum(1 for run in runs for e in run.events if e.kind == "tool_result") >= 8
    failover = attempts[-2]
    assert f"{failover[0]['provider']}:{failover[0]['model']}" == FIRST_CHOICE
    assert failover[0]["error"]["kind"] == "unavailable" and "error" not in failover[-1]
    assert failover[-1]["provider"] != failover[0]["provider"] and recorded[-2].status == "succeeded"


async def test_a_changed_instruction_diverges_at_the_first_model_call(lead_run) -> None:
    code = Code.current(SETTINGS)
    lead = code.agents["lead_agent"]
    changed = dataclasses.replace(lead, instructions=lead.instructions + " Always answer in French.")
    report = await replay(lead_run, dataclasses.replace(code, agents={**code.agents, "lead_agent": changed}))

    divergence = report.divergence
    assert divergence is not None and report.steps == 0
    first_call = next(e for e in lead_run.events if e.kind == "model_call")
    assert divergence.step == f"seq {first_call.seq} model_call"
    assert divergence.field == "request.messages[0].content"
    assert (divergence.recorded, divergence.replayed) == (lead.instructions, changed.instructions)


class CompanyQuery(BaseModel):  # lookup_company@1.2.0's input, with one field description reworded
    domain: str = Field(description="the company's web domain")


async def test_a_changed_tool_schema_diverges_naming_the_schema_field(lead_run) -> None:
    @tool("lookup_company", "1.2.0")
    async def lookup_company(query: CompanyQuery, ctx: ToolContext) -> CompanyProfile:
        """Firmographics of a company by its web domain."""
        raise AssertionError("replay never calls a tool")

    code = Code.current(SETTINGS)
    changed = dataclasses.replace(code, tools={**code.tools, "lookup_company@1.2.0": lookup_company.definition})
    divergence = (await replay(lead_run, changed)).divergence

    assert divergence is not None and divergence.step.endswith("model_call")
    assert divergence.field == "request.tools[0].input_schema_json.properties.domain.description"
    assert (divergence.recorded, divergence.replayed) == (
        "the lead's company web domain, e.g. acme.com",
        "the company's web domain",
    )


async def test_a_run_recorded_with_tool_version_1_replays_with_version_1_while_version_2_is_registered(
    lead_run,
) -> None:
    code = Code.current(SETTINGS)
    assert {"lookup_company@1.2.0", "lookup_company@2.0.0"} <= code.tools.keys()
    started = json.loads(next(e for e in lead_run.events if e.kind == "run_started").payload_json)
    assert {"name": "lookup_company", "version": "1.2.0"}.items() <= started["tools"][0].items()
    assert (await replay(lead_run, code)).identical

    lead = code.agents["lead_agent"]
    repinned = dataclasses.replace(lead, tools=("lookup_company@2.0.0", *lead.tools[1:]))
    divergence = await replay(lead_run, dataclasses.replace(code, agents={**code.agents, "lead_agent": repinned}))
    assert divergence.divergence is not None
    assert (divergence.divergence.field, divergence.divergence.recorded) == ("request.tools[0].version", "1.2.0")


async def test_a_changed_policy_diverges_at_run_started(lead_run, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(SETTINGS.policy_path.read_text().replace("breaker_failures: 3", "breaker_failures: 4"))
    new_version = PolicyStore(policy, load_prices(SETTINGS.prices_path).models).policy.version
    code = dataclasses.replace(Code.current(SETTINGS), policy_version=new_version)

    divergence = (await replay(lead_run, code)).divergence

    assert divergence is not None
    assert (divergence.step, divergence.field) == ("seq 1 run_started", "policy_version")
    assert divergence.recorded == Code.current(SETTINGS).policy_version and divergence.replayed == new_version


def agentmesh(mesh: LocalMesh, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **mesh.env, "AGENTMESH_RUNLOG_ADDR": mesh.addr("runlog"), **env}
    return subprocess.run([sys.executable, "-m", "cli.main", *argv], env=env, capture_output=True, text=True, cwd=ROOT)


def test_the_replay_command_reports_identical_runs_and_divergences(mesh, recorded, tmp_path: Path) -> None:
    identical = agentmesh(mesh, "replay", recorded[0].run_id)
    assert identical.returncode == 0, identical.stderr
    assert "no divergence" in identical.stdout

    policy = tmp_path / "policy.yaml"
    policy.write_text(SETTINGS.policy_path.read_text() + "\n# changed\n")
    diverged = agentmesh(mesh, "replay", recorded[0].run_id, "--json", AGENTMESH_POLICY_PATH=str(policy))
    assert diverged.returncode == 1, diverged.stderr
    report = json.loads(diverged.stdout)
    assert report["identical"] is False and report["divergence"]["field"] == "policy_version"


def test_runs_and_show_list_and_narrate_recorded_runs(mesh, recorded) -> None:
    listed = agentmesh(mesh, "runs", "--customer", "acme", "--limit", "200")
    assert listed.returncode == 0, listed.stderr
    assert all(reply.run_id in listed.stdout for reply in recorded)

    shown = agentmesh(mesh, "show", recorded[2].run_id)
    assert shown.returncode == 0, shown.stderr
    kinds = [line.split()[2] for line in shown.stdout.splitlines() if line.lstrip().startswith("+")]
    assert kinds[:2] == ["run_started", "turn_input"] and kinds[-1] == "run_finished"
    assert {"model_attempt", "model_call", "tool_call", "tool_result", "turn_output", "state_snapshot"} <= set(kinds)
