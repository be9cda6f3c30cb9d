"""`agentmesh show RUN`: one run as a readable timeline, one line per event (with --follow, as it happens)."""

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc
from services.common.config import load_settings
from services.common.errors import MeshError, StartupError

WIDTH = 100


def clip(text: Any, width: int = WIDTH) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _error(payload: dict[str, Any]) -> str:
    error = payload.get("error") or {}
    return f"{error.get('kind', '')}: {error.get('message', '')}" if error else ""


def _usage(payload: dict[str, Any]) -> str:
    usage = payload.get("usage") or {}
    return f"in={usage.get('input_tokens', 0)} out={usage.get('output_tokens', 0)} ${payload.get('cost_usd', 0):.6f}"


def _run_started(p: dict[str, Any]) -> str:
    tools = ", ".join(f"{t.get('name')}@{t.get('version')}" for t in p.get("tools", []))
    agent = f"agent {p.get('agent')} (hash {str(p.get('agent_hash', ''))[:12]})"
    return f"{agent} tools [{tools}] policy {p.get('policy_version')}"


def _turn_input(p: dict[str, Any]) -> str:
    return f"session {p.get('session_id')} state v{p.get('state_version', 0)} input {clip(p.get('input_json', ''), 60)}"


def _model_attempt(p: dict[str, Any]) -> str:
    outcome = _error(p) or p.get("finish_reason", "ok")
    head = f"#{p.get('number', 1)} {p.get('purpose', 'initial')} {p.get('provider')}:{p.get('model')}"
    return f"{head} {float(p.get('latency_ms', 0)):.0f}ms {_usage(p)} -> {outcome}"


def _model_call(p: dict[str, Any]) -> str:
    reply = p.get("reply", {})
    calls = [c.get("name") for c in reply.get("message", {}).get("tool_calls", [])]
    said = f"calls {', '.join(calls)}" if calls else f"answers {clip(reply.get('output_json') or '', 50)}"
    head = f"{reply.get('provider')}:{reply.get('model')} ({len(reply.get('attempts', []))} attempts)"
    return f"{head} {said} {_usage(reply)}"


def _tool_call(p: dict[str, Any]) -> str:
    return f"{p.get('name')}@{p.get('version')} {p.get('call_id')} args {clip(p.get('arguments_json', ''), 60)}"


def _tool_result(p: dict[str, Any]) -> str:
    outcome = _error(p) or f"ok {clip(p.get('output_json', ''), 50)}"
    where = f"worker {p.get('worker', '-')} delivery {p.get('delivery', 1)} {float(p.get('latency_ms', 0)):.0f}ms"
    return f"{p.get('name')}@{p.get('version')} {p.get('call_id')} {where} -> {outcome}"


def _turn_output(p: dict[str, Any]) -> str:
    return f"output {clip(p.get('output_json', ''), 80)}"


def _state_snapshot(p: dict[str, Any]) -> str:
    messages = len(p.get("state", {}).get("messages", []))
    return f"session {p.get('session_id')} state v{p.get('version')} ({messages} messages)"


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "run_started": _run_started,
    "turn_input": _turn_input,
    "model_attempt": _model_attempt,
    "model_call": _model_call,
    "tool_call": _tool_call,
    "tool_result": _tool_result,
    "turn_output": _turn_output,
    "state_snapshot": _state_snapshot,
    "run_finished": lambda p: "done",
    "run_failed": _error,
}


def describe(event: runlog_pb2.Event, started: datetime) -> str:
    """One timeline line: offset from the run's start, seq, kind, writer and what happened."""
    try:
        summary = SUMMARIES.get(event.kind, clip)(json.loads(event.payload_json))
    except (ValueError, AttributeError, TypeError):
        summary = clip(event.payload_json)
    offset = (event.at.ToDatetime(UTC) - started).total_seconds()
    return f"{offset:+9.3f}s {event.seq:>4}  {event.kind:<14} {event.source:<10} {clip(summary, WIDTH + 40)}"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("show", help="show a run as a timeline of its events")
    parser.add_argument("run_id", metavar="RUN")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing events until the run ends")
    parser.add_argument("--json", action="store_true", help="print the events as JSON lines")


async def _show(addr: str, args: argparse.Namespace) -> int:
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = runlog_pb2_grpc.RunLogStub(channel)
        run = await stub.GetRun(runlog_pb2.GetRunRequest(run_id=args.run_id))
        started = run.started_at.ToDatetime(UTC)
        if not args.json:
            head = f"run {run.run_id}  agent {run.header.agent or '-'}  customer {run.header.customer or '-'}"
            print(f"{head}  session {run.header.session_id or '-'}  status {run.status}")
            print(f"started {started.isoformat()}")
        events = list(run.events)
        for event in events:
            _print(event, started, args.json)
        if args.follow and run.status == "running":
            after = events[-1].seq if events else 0
            request = runlog_pb2.StreamEventsRequest(run_id=run.run_id, after_seq=after, follow=True)
            async for event in stub.StreamEvents(request):
                _print(event, started, args.json)
            run = await stub.GetRun(runlog_pb2.GetRunRequest(run_id=args.run_id))
        if not args.json:
            print(f"status {run.status}")
    return 0


def _print(event: runlog_pb2.Event, started: datetime, as_json: bool) -> None:
    if as_json:
        at = event.at.ToDatetime(UTC).isoformat()
        print(json.dumps({"seq": event.seq, "kind": event.kind, "source": event.source, "at": at,
                          "payload": json.loads(event.payload_json)}))  # fmt: skip
    else:
        print(describe(event, started), flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_show(load_settings().runlog_addr, args))
    except StartupError as exc:
        print(f"agentmesh show: {exc}", file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as exc:
        error = MeshError.from_rpc_error(exc)
        print(f"agentmesh show: run log: {error.kind}: {error.message}", file=sys.stderr)
        return 2
