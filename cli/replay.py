"""`agentmesh replay RUN`: re-execute a recorded run from the log alone, or re-run its model calls live.

Replay drives the scheduler's own turn loop (`services.scheduler.loop.run_turn`) with ports that answer
from the recorded events, so no provider, router, tool worker or Redis is touched; only the run log is read:
- the model port compares each outbound CompleteRequest with the recorded `model_call` (the canonical
  request_hash; on a mismatch, the first differing field with both sides) and answers with the recorded reply;
- the tool port compares each call with the recorded `tool_call` (name, version, schema_hash, arguments)
  and answers with the recorded `tool_result`;
- the event sink compares every event the loop writes with the recorded one, byte for byte;
- at the end, the turn's output and new state are compared with the recorded `turn_output` and
  `state_snapshot` (or the failure with the recorded `run_failed`).
The agents, tool contracts and routing policy are taken as they are now in the code and config, so a
changed instruction, tool schema or policy shows up as a divergence naming the field. A run recorded with
a tool at version 1 replays with version 1's contract as long as the agent pins it, whatever else is
registered beside it.

It lives in cli/ rather than in a service because it needs no server of its own: it reads one run over
gRPC and runs the scheduler's code in-process. `--live` instead sends each recorded CompleteRequest to the
router again (optionally pinned to another model), as a new logged run, and compares the answers.
"""

import argparse
import asyncio
import importlib
import json
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import json_format

from agentmesh.v1 import common_pb2, router_pb2, router_pb2_grpc, runlog_pb2, runlog_pb2_grpc, toolworker_pb2
from services.common.config import Settings, load_settings
from services.common.errors import MeshError, StartupError
from services.router.policy import PolicyStore
from services.router.pricing import load_prices
from services.scheduler.agent import Agent, load_agents
from services.scheduler.loop import Ports, as_dict, failed_event, finished_events, inbound_text, request_hash, run_turn
from services.scheduler.turn import AgentState

STEP_KINDS = ("model_call", "tool_call", "tool_result")
ABSENT = "<absent>"


class Divergence(Exception):
    """The first place where the replayed run differs from the recorded one, with both sides."""

    def __init__(self, step: str, field: str, recorded: Any, replayed: Any) -> None:
        super().__init__(f"{step}: {field}: recorded {recorded!r}, replayed {replayed!r}")
        self.step, self.field, self.recorded, self.replayed = step, field, recorded, replayed

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "field": self.field, "recorded": self.recorded, "replayed": self.replayed}


def _json_container(text: str) -> Any:
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return None
    return None


def first_difference(recorded: Any, replayed: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The path of the first differing field and both values; JSON text inside strings is compared inside."""
    if isinstance(recorded, str) and isinstance(replayed, str) and recorded != replayed:
        inner = _json_container(recorded), _json_container(replayed)
        if inner[0] is not None and inner[1] is not None:
            return first_difference(*inner, path)
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in [*replayed, *(k for k in recorded if k not in replayed)]:  # the replayed side is in field order
            found = first_difference(recorded.get(key, ABSENT), replayed.get(key, ABSENT), f"{path}.{key}".lstrip("."))
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        for index, pair in enumerate(zip(recorded, replayed, strict=False)):
            if found := first_difference(*pair, f"{path}[{index}]"):
                return found
        return None if len(recorded) == len(replayed) else (f"{path} (length)", len(recorded), len(replayed))
    return None if recorded == replayed else (path or "value", recorded, replayed)


def _label(event: runlog_pb2.Event) -> str:
    return f"seq {event.seq} {event.kind}"


def _payload(event: runlog_pb2.Event | None) -> dict[str, Any]:
    return json.loads(event.payload_json) if event is not None else {}


class RecordedFailure(Exception):
    """The recording ends in run_failed at this point: the replayed loop fails the same way."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('kind')}: {error.get('message')}")
        self.error = error


@dataclass
class Recording:
    """One recorded turn: its header events, its steps (in order) and its outcome."""

    run: runlog_pb2.Run
    started: runlog_pb2.Event
    turn_input: dict[str, Any]
    steps: list[runlog_pb2.Event]
    outcome: dict[str, runlog_pb2.Event]  # turn_output, state_snapshot, run_finished, run_failed, by kind

    @classmethod
    def of(cls, run: runlog_pb2.Run) -> "Recording":
        mine = [e for e in run.events if e.source == "scheduler"]
        by_kind = {e.kind: e for e in mine}
        if "run_started" not in by_kind or "turn_input" not in by_kind:
            raise MeshError("bad_request", f"run {run.run_id} has no run_started/turn_input: not an agent turn")
        steps = [e for e in mine if e.kind in STEP_KINDS]
        outcome = {
            k: by_kind[k] for k in ("turn_output", "state_snapshot", "run_finished", "run_failed") if k in by_kind
        }
        return cls(run, by_kind["run_started"], _payload(by_kind["turn_input"]), steps, outcome)

    def first_request(self) -> dict[str, Any]:
        first = next((e for e in self.steps if e.kind == "model_call"), None)
        return _payload(first).get("request", {})


@dataclass(frozen=True)
class Code:
    """What a replay runs against: the agents, tool contracts and policy version as they are now."""

    agents: dict[str, Agent]
    tools: dict[str, common_pb2.ToolDefinition]  # by "name@version"
    policy_version: str

    @classmethod
    def current(cls, settings: Settings) -> "Code":
        module = importlib.import_module(settings.agents_module)
        tools = {f"{t.definition.name}@{t.definition.version}": t.definition for t in module.TOOLS}
        policy = PolicyStore(settings.policy_path, load_prices(settings.prices_path).models).policy
        return cls(load_agents(settings.agents_module), tools, policy.version)


class RecordedPorts:
    """The loop's ports, answering from a recording and stopping at the first divergence."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.checked = 0  # recorded steps matched so far
        steps = [(e.kind, _payload(e)) for e in recording.steps]
        self.calls = {p["call_id"]: p for kind, p in steps if kind == "tool_call"}
        self.results = {p["call_id"]: p for kind, p in steps if kind == "tool_result"}

    def _next(self, kind: str) -> runlog_pb2.Event:
        steps = self.recording.steps
        if self.checked < len(steps):
            recorded = steps[self.checked]
            if recorded.kind != kind:
                raise Divergence(_label(recorded), "kind", recorded.kind, kind)
            return recorded
        if failed := self.recording.outcome.get("run_failed"):
            raise RecordedFailure(_payload(failed).get("error", {}))
        raise Divergence(f"after seq {steps[-1].seq if steps else 0}", "kind", "<end of the recorded steps>", kind)

    async def complete(self, request: router_pb2.CompleteRequest) -> router_pb2.CompleteReply:
        recorded = self._next("model_call")  # the sink consumes it when the loop records the call
        payload = _payload(recorded)
        if payload.get("request_hash") != request_hash(request):
            asked = {k: v for k, v in as_dict(request).items() if k not in ("run_id", "turn_id")}
            was = {k: v for k, v in payload.get("request", {}).items() if k not in ("run_id", "turn_id")}
            diff = first_difference(was, asked) or ("hash", payload.get("request_hash"), request_hash(request))
            raise Divergence(_label(recorded), f"request.{diff[0]}", diff[1], diff[2])
        return json_format.ParseDict(payload["reply"], router_pb2.CompleteReply(), ignore_unknown_fields=True)

    async def dispatch(self, calls: list[toolworker_pb2.ToolInvocation]) -> list[toolworker_pb2.ToolOutcome]:
        outcomes = []
        for call in calls:
            asked, answered = self.calls.get(call.call_id), self.results.get(call.call_id)
            if asked is None or answered is None:
                raise Divergence(f"tool call {call.call_id}", "call_id", ABSENT, call.call_id)
            for name in ("name", "version", "schema_hash", "arguments_json"):
                if (was := asked.get(name, "")) != (now := getattr(call, name)):
                    raise Divergence(f"tool call {call.call_id}", name, was, now)
            outcomes.append(json_format.ParseDict(answered, toolworker_pb2.ToolOutcome(), ignore_unknown_fields=True))
        return outcomes

    async def record(self, events: list[runlog_pb2.Event], **final: Any) -> None:
        for produced in events:
            recorded = self._next(produced.kind)
            self.checked += 1
            self.compare(recorded, produced)

    @staticmethod
    def compare(recorded: runlog_pb2.Event | None, produced: runlog_pb2.Event) -> None:
        if recorded is None:
            raise Divergence(produced.kind, "kind", ABSENT, produced.kind)
        if recorded.payload_json != produced.payload_json:
            diff = first_difference(_payload(recorded), _payload(produced))
            where, was, now = diff or ("payload_json (bytes)", recorded.payload_json, produced.payload_json)
            raise Divergence(_label(recorded), where, was, now)


@dataclass
class ReplayReport:
    run_id: str
    steps: int = 0  # recorded steps the replay went through
    divergence: Divergence | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.divergence is None

    def as_dict(self) -> dict[str, Any]:
        divergence = self.divergence.as_dict() if self.divergence else None
        return {"run_id": self.run_id, "identical": self.identical, "steps": self.steps, "divergence": divergence}


def _agent(recording: Recording, code: Code, report: ReplayReport) -> Agent:
    started = _payload(recording.started)
    if (agent := code.agents.get(started.get("agent", ""))) is None:
        raise Divergence(_label(recording.started), "agent", started.get("agent"), ABSENT)
    if started.get("policy_version") != code.policy_version:
        raise Divergence(
            _label(recording.started), "policy_version", started.get("policy_version"), code.policy_version
        )
    if started.get("agent_hash") != agent.definition_hash():
        report.notes.append(f"agent {agent.name}'s definition changed since the run (agent_hash differs)")
    return agent


def _base(recording: Recording, agent: Agent, code: Code) -> router_pb2.CompleteRequest:
    """The turn's request skeleton, as the scheduler builds it: routing from the run, tools pinned by the agent."""
    if missing := [ref for ref in agent.tools if ref not in code.tools]:
        recorded = [f"{t['name']}@{t['version']}" for t in _payload(recording.started).get("tools", [])]
        raise Divergence(_label(recording.started), "tools", recorded, f"not registered now: {', '.join(missing)}")
    first, session = recording.first_request(), recording.turn_input.get("session_id", "")
    base = router_pb2.CompleteRequest(
        customer=first.get("customer", recording.run.header.customer),
        model=first.get("model", ""),
        prefer=first.get("prefer", []),
        exclude=first.get("exclude", []),
        tools=[code.tools[ref] for ref in agent.tools],
    )
    base.run_id = recording.run.run_id
    base.turn_id = first.get("turn_id") or f"{session}:{int(recording.turn_input.get('state_version', 0)) + 1}"
    return base


def _check_outcome(recording: Recording, result: Any, state: AgentState) -> None:
    """The turn's end (output, new state, finish; or its failure) against the recorded events, byte for byte.

    The events are built by the scheduler's own helpers, so replay compares what the live turn would record."""
    if result.status == "failed":
        produced = [failed_event(result.error)]
    else:
        session, version = recording.turn_input.get("session_id", ""), int(recording.turn_input.get("state_version", 0))
        produced = finished_events(result, state, session, version)
    for one in produced:
        RecordedPorts.compare(recording.outcome.get(one.kind), one)


async def replay(run: runlog_pb2.Run, code: Code) -> ReplayReport:
    """Re-execute a recorded run with the current code; the report names the first divergence, if any."""
    report, recording = ReplayReport(run.run_id), Recording.of(run)
    ports = RecordedPorts(recording)
    try:
        agent = _agent(recording, code, report)
        base = _base(recording, agent, code)
        state = json_format.Parse(recording.turn_input.get("state_json") or "{}", AgentState())
        inbound = inbound_text(recording.turn_input.get("input_json", '""'))
        try:
            result, state = await run_turn(
                agent, base, state, inbound, Ports(ports.complete, ports.dispatch, ports.record)
            )
        except RecordedFailure as failure:  # the recorded failure, replayed: the same error, the same bytes
            error = json_format.ParseDict(failure.error, common_pb2.ErrorDetail(), ignore_unknown_fields=True)
            RecordedPorts.compare(recording.outcome.get("run_failed"), failed_event(error))
        else:
            _check_outcome(recording, result, state)
        if ports.checked < len(recording.steps):
            left = recording.steps[ports.checked]
            raise Divergence(_label(left), "kind", left.kind, "<turn ended>")
    except Divergence as divergence:
        report.divergence = divergence
    report.steps = ports.checked
    return report


async def rerun_live(
    run: runlog_pb2.Run, router: router_pb2_grpc.RouterStub, model: str = ""
) -> tuple[str, list[dict[str, Any]]]:
    """Send each recorded CompleteRequest to the router again, as a new run; compare what comes back."""
    rerun_id, rows = f"rerun-{run.run_id}-{uuid.uuid4().hex[:8]}", []
    for step in (e for e in run.events if e.kind == "model_call" and e.source == "scheduler"):
        payload = _payload(step)
        request = json_format.ParseDict(payload["request"], router_pb2.CompleteRequest(), ignore_unknown_fields=True)
        request.run_id, request.model = rerun_id, model or request.model
        was = payload.get("reply", {})
        row = {"seq": step.seq, "recorded": f"{was.get('provider', '')}:{was.get('model', '')}"}
        row |= {"recorded_cost_usd": was.get("cost_usd", 0.0), "recorded_answer": _answer(was)}
        try:
            reply = as_dict(await router.Complete(request))
            row |= {
                "live": f"{reply.get('provider')}:{reply.get('model')}",
                "live_cost_usd": reply.get("cost_usd", 0.0),
            }
            row["live_answer"] = _answer(reply)
        except grpc.aio.AioRpcError as exc:
            error = MeshError.from_rpc_error(exc)
            row |= {"live": "failed", "live_cost_usd": 0.0, "live_answer": f"{error.kind}: {error.message}"}
        row["same_answer"] = row["live_answer"] == row["recorded_answer"]
        rows.append(row)
    return rerun_id, rows


def _answer(reply: dict[str, Any]) -> str:
    """What a reply said, for comparison: its structured output, its tool calls, or its text."""
    message = reply.get("message", {})
    calls = [f"{c.get('name')}({c.get('arguments_json', '')})" for c in message.get("tool_calls", [])]
    return reply.get("output_json") or "; ".join(calls) or message.get("content", "")


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("replay", help="re-execute a recorded run from the log and report divergences")
    parser.add_argument("run_id", metavar="RUN")
    parser.add_argument("--live", action="store_true", help="send the recorded model requests to the router again")
    parser.add_argument("--model", default="", help="with --live: pin this provider:model instead of the recorded")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    async with grpc.aio.insecure_channel(settings.runlog_addr) as channel:
        run = await runlog_pb2_grpc.RunLogStub(channel).GetRun(runlog_pb2.GetRunRequest(run_id=args.run_id))
    if args.live:
        async with grpc.aio.insecure_channel(settings.router_addr) as channel:
            rerun_id, rows = await rerun_live(run, router_pb2_grpc.RouterStub(channel), args.model)
        _print_live(args, rerun_id, rows)
        return 0
    report = await replay(run, Code.current(settings))
    _print_report(args, report)
    return 0 if report.identical else 1


def _print_report(args: argparse.Namespace, report: ReplayReport) -> None:
    if args.json:
        print(json.dumps({**report.as_dict(), "notes": report.notes}, indent=2))
        return
    if report.divergence is None:
        print(f"{report.run_id}: replayed {report.steps} steps, no divergence (output and state byte-identical)")
    else:
        d = report.divergence
        print(f"{report.run_id}: DIVERGED after {report.steps} matching steps")
        print(f"  at       {d.step}\n  field    {d.field}")
        print(f"  recorded {json.dumps(d.recorded)[:400]}\n  replayed {json.dumps(d.replayed)[:400]}")
    for note in report.notes:
        print(f"  note: {note}")


def _print_live(args: argparse.Namespace, rerun_id: str, rows: list[dict[str, Any]]) -> None:
    if args.json:
        print(json.dumps({"rerun_id": rerun_id, "steps": rows}, indent=2))
        return
    print(f"re-ran as {rerun_id}")
    print(f"{'SEQ':>4}  {'RECORDED':<32} {'LIVE':<32} {'SAME':<5} {'COST REC':>10} {'COST LIVE':>10}")
    for row in rows:
        same = "yes" if row["same_answer"] else "no"
        print(
            f"{row['seq']:>4}  {row['recorded']:<32} {row['live']:<32} {same:<5} "
            f"{row['recorded_cost_usd']:>10.6f} {row['live_cost_usd']:>10.6f}"
        )


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(args, load_settings()))
    except StartupError as exc:
        print(f"agentmesh replay: {exc}", file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as exc:
        error = MeshError.from_rpc_error(exc)
        print(f"agentmesh replay: {error.kind}: {error.message}", file=sys.stderr)
        return 2
    except MeshError as exc:
        print(f"agentmesh replay: {exc.kind}: {exc.message}", file=sys.stderr)
        return 2
