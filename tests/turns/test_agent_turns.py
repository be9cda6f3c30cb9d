"""Agent turns end to end: real runlog, router (on the simulators), tool workers and schedulers, all processes.

The proofs are read from the run log and from the gate tool's execution log, never from timing.
"""

import asyncio
import json
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from tool_helpers import GateLog, eventually, tool_definitions

from agentmesh.v1 import router_pb2, runlog_pb2, scheduler_pb2, scheduler_pb2_grpc
from examples.leads.models import LeadReply
from services.common.errors import MeshError
from services.scheduler.loop import request_hash

SCHEDULER_KINDS = ("run_started", "turn_input", "model_call", "tool_call", "tool_result", "turn_output")


@pytest.fixture(scope="module")
def mesh(mesh_process: type, spawn: Any, sim_env: dict[str, str]) -> dict[str, Any]:
    """The whole mesh; addresses are known before start, so the processes start side by side."""
    runlog, router = mesh_process("services.runlog", {}), mesh_process("services.router", {})
    workers = [mesh_process("services.toolworker", {}) for _ in range(2)]
    peers = {"AGENTMESH_RUNLOG_ADDR": runlog.addr, "AGENTMESH_ROUTER_ADDR": router.addr}
    peers["AGENTMESH_TOOLWORKER_ADDR"] = workers[0].addr
    # Two scheduler replicas: one patient with tools (gates stay closed a while), one that times tools out fast.
    plan = [
        ("services.runlog", {}, runlog.port),
        ("services.router", {**sim_env, **peers}, router.port),
        *[("services.toolworker", {}, worker.port) for worker in workers],
        ("services.scheduler", {**peers, "AGENTMESH_TOOL_TIMEOUT_S": "15"}, None),
        ("services.scheduler", {**peers, "AGENTMESH_TOOL_TIMEOUT_S": "0.5"}, None),
    ]
    with ThreadPoolExecutor(len(plan)) as pool:
        started = list(pool.map(lambda step: spawn(*step), plan))
    return {
        "runlog": started[0],
        "router": started[1],
        "workers": started[2:4],
        "scheduler": started[4],
        "impatient": started[5],
    }


@pytest.fixture
async def scheduler(mesh: dict[str, Any], channel_to: Any) -> scheduler_pb2_grpc.SchedulerStub:
    return scheduler_pb2_grpc.SchedulerStub(channel_to(mesh["scheduler"].addr))


@pytest.fixture
async def impatient(mesh: dict[str, Any], channel_to: Any) -> scheduler_pb2_grpc.SchedulerStub:
    return scheduler_pb2_grpc.SchedulerStub(channel_to(mesh["impatient"].addr))


def turn_request(agent: str, text: str, session_id: str = "", run_id: str = "") -> scheduler_pb2.RunTurnRequest:
    run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    return scheduler_pb2.RunTurnRequest(
        agent=agent, customer="acme", input_json=json.dumps(text), session_id=session_id, run_id=run_id
    )


async def events_of(stub: scheduler_pb2_grpc.SchedulerStub, run_id: str) -> list[tuple[str, dict]]:
    run = await stub.GetRun(runlog_pb2.GetRunRequest(run_id=run_id))
    return [(e.kind, json.loads(e.payload_json)) for e in run.events if e.source == "scheduler"]


async def failure_of(call: Any) -> MeshError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return MeshError.from_rpc_error(raised.value)


async def test_a_turn_with_two_parallel_tool_calls_and_a_second_model_round_returns_validated_output(
    scheduler: Any, mesh: dict, channel_to: Any, rds: Any, prefix: str
) -> None:
    request = turn_request("lead_agent", "#sim tools=lookup_company,enqueue_for_approval\nNew lead: ada@acme.com")
    reply = await scheduler.RunTurn(request)

    lead = LeadReply.model_validate_json(reply.output_json)
    assert (reply.status, reply.run_id, reply.state_version) == ("succeeded", request.run_id, 1)
    assert [(m.role, m.content) for m in reply.outbound] == [("assistant", reply.output_json)]
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0 and reply.cost_usd > 0
    assert lead.model_dump() == json.loads(reply.output_json)

    events = await events_of(scheduler, reply.run_id)
    kinds = [kind for kind, _ in events]
    assert kinds == [
        "run_started", "turn_input", "model_call", "tool_call", "tool_call", "tool_result", "tool_result",
        "model_call", "turn_output", "state_snapshot", "run_finished",
    ]  # fmt: skip
    payloads = {kind: [p for k, p in events if k == kind] for kind in kinds}
    definitions = await tool_definitions(channel_to(mesh["workers"][0].addr))
    started = payloads["run_started"][0]
    assert started["agent"] == "lead_agent" and len(started["agent_hash"]) == 64
    assert started["tools"][0] == {
        "name": "lookup_company", "version": "1.2.0", "schema_hash": definitions["lookup_company@1.2.0"].schema_hash,
    }  # fmt: skip
    for call in payloads["tool_call"]:
        assert call["schema_hash"] == definitions[f"{call['name']}@{call['version']}"].schema_hash
    assert {r["name"] for r in payloads["tool_result"]} == {"lookup_company", "enqueue_for_approval"}
    assert all(r["output_json"] and r["delivery"] == 1 and r["worker"] for r in payloads["tool_result"])
    first, second = payloads["model_call"]
    for call in (first, second):
        asked = json_format.ParseDict(call["request"], router_pb2.CompleteRequest())
        assert call["request_hash"] == request_hash(asked)
    assert len(second["request"]["messages"]) == len(first["request"]["messages"]) + 3  # assistant + two tool results
    assert payloads["turn_output"][0]["output_json"] == reply.output_json
    assert payloads["state_snapshot"][0]["version"] == 1

    run = await scheduler.GetRun(runlog_pb2.GetRunRequest(run_id=reply.run_id))
    assert run.status == "succeeded" and run.header.session_id == reply.session_id
    assert sum(e.kind == "model_attempt" for e in run.events) >= 2  # the router logs its own attempts
    approvals = await rds.hgetall(f"{prefix}leads:approvals")
    [approval_call] = [r["call_id"] for r in payloads["tool_result"] if r["name"] == "enqueue_for_approval"]
    assert approval_call.encode() in approvals


async def test_a_lead_turn_whose_answer_needs_a_repair_succeeds_without_another_tool_round(scheduler: Any) -> None:
    """The repair prompt is a new user message; the router repairs with tool choice none, so the model answers."""
    text = "#sim tools=lookup_company,score_lead malformed=1\nNew lead: grace@acme.com"
    reply = await scheduler.RunTurn(turn_request("lead_agent", text))

    assert reply.status == "succeeded"
    LeadReply.model_validate_json(reply.output_json)
    events = await events_of(scheduler, reply.run_id)
    assert [kind for kind, _ in events].count("tool_call") == 2  # the one scripted round, no tool round again
    first, second = [p for k, p in events if k == "model_call"]
    assert first["reply"]["message"]["tool_calls"] and not second["reply"]["message"].get("tool_calls")
    attempts = second["reply"]["attempts"]
    assert [(a["purpose"], a.get("error", {}).get("kind", "")) for a in attempts] == [
        ("initial", "schema_invalid"),
        ("repair", ""),
    ]


async def test_two_scheduler_replicas_serve_alternate_turns_of_one_session(scheduler: Any, impatient: Any) -> None:
    first = await scheduler.RunTurn(turn_request("lead_agent", "#sim tools=score_lead\nLead one"))
    second = await impatient.RunTurn(
        turn_request("lead_agent", "#sim tools=draft_email\nAnd a follow-up", first.session_id)
    )
    assert (first.state_version, second.state_version) == (1, 2)
    events = await events_of(impatient, second.run_id)
    turn_input = next(p for k, p in events if k == "turn_input")
    assert turn_input["state_version"] == 1
    asked = next(p for k, p in events if k == "model_call")["request"]["messages"]
    assert [m["content"] for m in asked if m["role"] == "user"][:1] == ["#sim tools=score_lead\nLead one"]
    assert asked[-1]["content"] == "#sim tools=draft_email\nAnd a follow-up"


async def test_failing_tools_give_the_model_typed_errors_and_the_turn_fails_at_the_round_limit(impatient: Any) -> None:
    request = turn_request("flaky_agent", "#sim tools=explode,stall,liar;explode,stall,liar;explode\nGo")
    error = await failure_of(impatient.RunTurn(request))

    assert error.kind == "limit_reached" and error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "max_tool_rounds=2" in error.message and "RuntimeError: crm backend down" in error.message
    reply = error.detail(scheduler_pb2.RunTurnReply)
    assert reply is not None and reply.status == "failed" and reply.run_id == request.run_id
    assert reply.error.kind == "limit_reached" and reply.usage.input_tokens > 0

    events = await events_of(impatient, request.run_id)
    results = [p for k, p in events if k == "tool_result"]
    assert [r["error"]["kind"] for r in results] == ["tool_error", "timeout", "invalid_output"] * 2
    second_call = [p for k, p in events if k == "model_call"][1]
    told = [json.loads(m["content"]) for m in second_call["request"]["messages"] if m["role"] == "tool"]
    assert [t["error"]["kind"] for t in told] == ["tool_error", "timeout", "invalid_output"]
    assert events[-1][0] == "run_failed" and events[-1][1]["error"]["kind"] == "limit_reached"
    run = await impatient.GetRun(runlog_pb2.GetRunRequest(run_id=request.run_id))
    assert run.status == "failed"


async def test_a_pin_to_an_unregistered_tool_version_is_refused_before_any_dispatch(scheduler: Any) -> None:
    request = turn_request("stale_pin_agent", "Look up acme.com")
    error = await failure_of(scheduler.RunTurn(request))
    assert error.kind == "not_found" and "lookup_company@9.9.9" in error.message
    events = await events_of(scheduler, request.run_id)
    assert [kind for kind, _ in events] == ["run_failed"]


async def test_bad_requests_name_the_field(scheduler: Any) -> None:
    unknown = await failure_of(scheduler.RunTurn(scheduler_pb2.RunTurnRequest(agent="nobody", input_json='"hi"')))
    assert unknown.kind == "not_found" and unknown.message.startswith("agent:")
    garbled = await failure_of(scheduler.RunTurn(scheduler_pb2.RunTurnRequest(agent="lead_agent", input_json="{oops")))
    assert garbled.kind == "bad_request" and garbled.message.startswith("input_json:")


async def test_a_caller_chosen_run_id_runs_once(scheduler: Any) -> None:
    request = turn_request("lead_agent", "#sim tools=score_lead\nOnce only")
    first = await scheduler.RunTurn(request)
    before = await events_of(scheduler, request.run_id)
    retry = await failure_of(scheduler.RunTurn(request))
    assert retry.kind == "conflict" and f"run_id: run {request.run_id} already exists" in retry.message
    assert await events_of(scheduler, request.run_id) == before and first.status == "succeeded"


async def test_the_state_version_check_rejects_a_turn_that_slipped_past_the_lock(
    scheduler: Any, mesh: dict, spawn: Any, channel_to: Any, rds: Any, prefix: str
) -> None:
    """A scheduler on another Redis prefix does not see the session lock: the run log's version check still holds."""
    elsewhere = f"{prefix}elsewhere:"
    env = {"AGENTMESH_REDIS_PREFIX": elsewhere, "AGENTMESH_TOOL_TIMEOUT_S": "15"}
    peers = {f"AGENTMESH_{name.upper()}_ADDR": mesh[name].addr for name in ("runlog", "router")}
    await asyncio.to_thread(spawn, "services.toolworker", env)
    stray = await asyncio.to_thread(
        spawn, "services.scheduler", {**env, **peers, "AGENTMESH_TOOLWORKER_ADDR": mesh["workers"][1].addr}
    )
    stray_stub = scheduler_pb2_grpc.SchedulerStub(channel_to(stray.addr))
    gates, stray_gates = GateLog(rds, prefix), GateLog(rds, elsewhere)
    session = f"ses-{uuid.uuid4().hex[:8]}"
    first, second = turn_request("gated_agent", "A", session), turn_request("gated_agent", "B", session)

    running = asyncio.ensure_future(scheduler.RunTurn(first))
    racing = asyncio.ensure_future(stray_stub.RunTurn(second))
    await eventually(lambda: gates.started(f"{first.run_id}:0:0"), what="the first turn's tool started")
    await eventually(lambda: stray_gates.started(f"{second.run_id}:0:0"), what="the racing turn's tool started")
    await gates.open(first.run_id)
    assert (await running).state_version == 1
    await stray_gates.open(second.run_id)
    error = await failure_of(racing)

    assert error.kind == "conflict" and "expected_version" in error.message
    events = await events_of(scheduler, second.run_id)
    assert "state_snapshot" not in [kind for kind, _ in events] and events[-1][0] == "run_failed"


async def test_turns_of_two_sessions_interleave_but_turns_of_one_session_never_do(
    scheduler: Any, rds: Any, prefix: str
) -> None:
    gates = GateLog(rds, prefix)
    session, other = f"ses-{uuid.uuid4().hex[:8]}", f"ses-{uuid.uuid4().hex[:8]}"
    first, same, elsewhere = (
        turn_request("gated_agent", "A", session),
        turn_request("gated_agent", "B", session),
        turn_request("gated_agent", "C", other),
    )
    await gates.open(same.run_id)
    await gates.open(elsewhere.run_id)  # only the first turn's gate stays closed

    running = asyncio.ensure_future(scheduler.RunTurn(first))
    await eventually(lambda: gates.started(f"{first.run_id}:0:0"), what="the first turn's tool started")
    queued = asyncio.ensure_future(scheduler.RunTurn(same))
    done_elsewhere = await scheduler.RunTurn(elsewhere)  # sent after `same`, finishes while `first` holds its session
    assert done_elsewhere.status == "succeeded" and not running.done() and not queued.done()
    await gates.open(first.run_id)
    replies = [await running, await queued]

    runs = (first.run_id, same.run_id, elsewhere.run_id)
    order = [(what, call.rsplit(":", 2)[0]) for what, call, _ in map(str.split, await gates.lines())]
    assert [entry for entry in order if entry[1] in runs] == [
        ("start", first.run_id), ("start", elsewhere.run_id), ("end", elsewhere.run_id),
        ("end", first.run_id), ("start", same.run_id), ("end", same.run_id),
    ]  # fmt: skip
    assert [reply.state_version for reply in replies] == [1, 2]
    queued_input = next(p for k, p in await events_of(scheduler, same.run_id) if k == "turn_input")
    assert queued_input["state_version"] == 1  # the second turn of the session started from the first one's state


async def test_a_tool_worker_killed_while_holding_a_call_does_not_fail_the_turn(
    scheduler: Any, mesh: dict, spawn: Any, rds: Any, prefix: str
) -> None:
    gates, request = GateLog(rds, prefix), turn_request("gated_agent", "survive the crash")
    call_id = f"{request.run_id}:0:0"
    running = asyncio.ensure_future(scheduler.RunTurn(request))
    [holder_pid] = await eventually(lambda: gates.started(call_id), what="the call started")
    holder = next(worker for worker in mesh["workers"] if worker.proc.pid == holder_pid)
    await asyncio.to_thread(holder.stop, signal.SIGKILL)
    pids = await eventually(lambda: _restarted(gates, call_id), what="the call redelivered")
    await gates.open(request.run_id)
    reply = await running

    assert reply.status == "succeeded" and pids[0] == holder_pid and pids[1] != holder_pid
    [result] = [p for k, p in await events_of(scheduler, request.run_id) if k == "tool_result"]
    assert result["delivery"] == 2 and result["worker"].endswith(f"-{pids[1]}")
    assert await gates.runs(call_id) == 2
    assert call_id in await gates.effects()
    replacement = await asyncio.to_thread(spawn, "services.toolworker", None, holder.port)  # the mesh is whole again
    mesh["workers"] = [replacement if worker is holder else worker for worker in mesh["workers"]]


async def _restarted(gates: GateLog, call_id: str) -> list[int]:
    pids = await gates.started(call_id)
    return pids if len(pids) == 2 else []


async def test_a_run_log_outage_mid_turn_fails_the_turn_loudly(
    scheduler: Any, mesh: dict, spawn: Any, rds: Any, prefix: str
) -> None:
    gates, request = GateLog(rds, prefix), turn_request("gated_agent", "log me")
    running = asyncio.ensure_future(scheduler.RunTurn(request))
    await eventually(lambda: gates.started(f"{request.run_id}:0:0"), what="the call started")
    runlog = mesh["runlog"]
    await asyncio.to_thread(runlog.stop)
    await gates.open(request.run_id)
    error = await failure_of(running)
    assert error.kind == "unavailable" and error.message.startswith("run log:")

    mesh["runlog"] = await asyncio.to_thread(spawn, "services.runlog", None, runlog.port)
    kinds = [kind for kind, _ in await eventually(lambda: _reachable_events(scheduler, request.run_id))]
    assert kinds == ["run_started", "turn_input", "model_call", "tool_call"]  # nothing after the outage
    assert (await scheduler.GetRun(runlog_pb2.GetRunRequest(run_id=request.run_id))).status != "succeeded"


async def _reachable_events(stub: scheduler_pb2_grpc.SchedulerStub, run_id: str) -> list[tuple[str, dict]]:
    """The run's events once the scheduler reaches the revived run log again (its channel reconnects)."""
    try:
        return await events_of(stub, run_id)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE
        return []


async def test_a_turn_sent_right_after_a_run_log_restart_waits_for_the_reconnect(
    scheduler: Any, mesh: dict, spawn: Any
) -> None:
    """While the run log is down a call fails as unavailable (after a short wait); once it is back, the next turn
    waits for the scheduler's channel to reconnect instead of failing fast."""
    runlog = mesh["runlog"]
    await asyncio.to_thread(runlog.stop)
    down = await failure_of(scheduler.GetRun(runlog_pb2.GetRunRequest(run_id="run-while-down")))
    assert down.kind == "unavailable" and down.message.startswith("run log: not reachable")

    mesh["runlog"] = await asyncio.to_thread(spawn, "services.runlog", None, runlog.port)
    reply = await scheduler.RunTurn(turn_request("lead_agent", "#sim tools=score_lead\nRight after the restart"))
    assert reply.status == "succeeded" and reply.state_version == 1
