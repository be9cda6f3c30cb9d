"""`agentmesh eval`: run a dataset through an agent on several models in parallel and compare them.

Every case is an ordinary `Scheduler.RunTurn` with the model pinned, so every eval call is a logged run
like any other (run ids `eval-<eval id>-<model>-<case>`). The schema rates come from the router's
`model_attempt` events of each run, read back from the run log:
- first-attempt schema-valid: the run succeeded and no attempt came back schema-invalid (malformed JSON
  or JSON that breaks the schema), so no repair was needed;
- valid after repair: the run succeeded, with or without repairs (the agent's output model validated);
- failures: the run did not succeed (after up to two repairs, failover, tool rounds), by error kind.
Expected-field accuracy is the share of the dataset's expected fields that the output matches (a failed
case misses all of its fields). Latency is the wall-clock time of RunTurn; cost sums every attempt's cost.

Dataset: JSON Lines, one case a line: `{"input": <JSON string or object>, "expected": {field: value}}`
(`expected` optional; a line without `input` is itself the input, minus `expected`).
"""

import argparse
import asyncio
import json
import math
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from cli.table import format_table
from cli.turns import run_turn
from services.common.config import load_settings
from services.common.errors import StartupError

SCHEMA_ERRORS = ("schema_invalid",)


@dataclass(frozen=True)
class Case:
    index: int
    input_json: str
    expected: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """One case on one model, with the router's attempts as logged."""

    model: str
    case: Case
    run_id: str
    status: str = "failed"
    error_kind: str = ""
    output: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def schema_errors(self) -> int:
        return sum(1 for a in self.attempts if (a.get("error") or {}).get("kind") in SCHEMA_ERRORS)

    @property
    def matched_fields(self) -> int:
        return sum(1 for k, v in self.case.expected.items() if k in self.output and self.output[k] == v)


class DatasetError(Exception):
    """A dataset line that is not a case; the message names the file and line."""


def load_dataset(path: Path) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: not JSON: {exc}") from None
        if not isinstance(row, dict) or not isinstance(row.get("expected", {}), dict):
            raise DatasetError(f"{path}:{number}: a case is an object with an optional object `expected`")
        expected = row.pop("expected", {})
        cases.append(Case(len(cases), json.dumps(row["input"] if "input" in row else row), expected))
    if not cases:
        raise DatasetError(f"{path}: no cases")
    return cases


async def run_case(
    stubs: tuple[scheduler_pb2_grpc.SchedulerStub, runlog_pb2_grpc.RunLogStub],
    request: scheduler_pb2.RunTurnRequest,
    case: Case,
    limit: asyncio.Semaphore,
) -> Outcome:
    scheduler, runlog = stubs
    outcome = Outcome(request.model, case, request.run_id)
    async with limit:
        started = asyncio.get_running_loop().time()
        reply = await run_turn(scheduler, request)
        outcome.status, outcome.error_kind = reply.status, reply.error.kind
        outcome.output = json.loads(reply.output_json) if reply.output_json else {}
        outcome.latency_ms = (asyncio.get_running_loop().time() - started) * 1000
    try:
        run = await runlog.GetRun(runlog_pb2.GetRunRequest(run_id=request.run_id))
        outcome.attempts = [json.loads(e.payload_json) for e in run.events if e.kind == "model_attempt"]
    except grpc.aio.AioRpcError:
        pass  # the turn failed before anything was logged (e.g. an unknown agent): no attempts to count
    return outcome


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def summarize(model: str, outcomes: list[Outcome]) -> dict[str, Any]:
    cases = len(outcomes)
    succeeded = [o for o in outcomes if o.status == "succeeded"]
    expected = sum(len(o.case.expected) for o in outcomes)
    kinds: dict[str, int] = {}
    for o in outcomes:
        if o.status != "succeeded":
            kinds[o.error_kind or "failed"] = kinds.get(o.error_kind or "failed", 0) + 1
    latencies = [o.latency_ms for o in outcomes]
    return {
        "model": model,
        "cases": cases,
        "first_attempt_valid_rate": sum(1 for o in succeeded if not o.schema_errors) / cases,
        "valid_after_repair_rate": len(succeeded) / cases,
        "failures": cases - len(succeeded),
        "failure_kinds": kinds,
        "repairs": sum(1 for o in outcomes for a in o.attempts if a.get("purpose") == "repair"),
        "expected_field_accuracy": (sum(o.matched_fields for o in succeeded) / expected) if expected else None,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "total_cost_usd": round(sum(float(a.get("cost_usd", 0)) for o in outcomes for a in o.attempts), 8),
        "run_ids": [o.run_id for o in outcomes],
    }


async def run_eval(
    scheduler_addr: str,
    runlog_addr: str,
    agent: str,
    cases: list[Case],
    models: list[str],
    concurrency: int = 8,
    customer: str = "eval",
) -> dict[str, Any]:
    """Every case on every model, fanned out in parallel; one summary per model, in the order given."""
    eval_id, limit = uuid.uuid4().hex[:8], asyncio.Semaphore(concurrency)
    async with grpc.aio.insecure_channel(scheduler_addr) as sch, grpc.aio.insecure_channel(runlog_addr) as log:
        stubs = (scheduler_pb2_grpc.SchedulerStub(sch), runlog_pb2_grpc.RunLogStub(log))
        jobs = []
        for model in models:
            for case in cases:
                run_id = f"eval-{eval_id}-{model.replace(':', '-')}-{case.index:04d}"
                request = scheduler_pb2.RunTurnRequest(
                    agent=agent, customer=customer, input_json=case.input_json, run_id=run_id, model=model
                )
                jobs.append(run_case(stubs, request, case, limit))
        outcomes = await asyncio.gather(*jobs)
    per_model = [summarize(m, [o for o in outcomes if o.model == m]) for m in models]
    return {"eval_id": eval_id, "agent": agent, "cases": len(cases), "models": per_model}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def render(report: dict[str, Any]) -> str:
    headers = ["MODEL", "CASES", "VALID 1ST", "VALID AFTER REPAIR", "FAILED", "ACCURACY", "P50 MS", "P95 MS", "COST $"]
    rows = [
        (
            m["model"],
            m["cases"],
            _rate(m["first_attempt_valid_rate"]),
            _rate(m["valid_after_repair_rate"]),
            m["failures"],
            _rate(m["expected_field_accuracy"]),
            m["p50_ms"],
            m["p95_ms"],
            f"{m['total_cost_usd']:.6f}",
        )
        for m in report["models"]
    ]
    title = f"eval {report['eval_id']}: agent {report['agent']}, {report['cases']} cases per model"
    return f"{title}\n{format_table(headers, rows)}"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("eval", help="run a dataset through an agent on several models and compare")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--dataset", required=True, type=Path, help="JSON Lines: {input, expected?} per line")
    parser.add_argument("--models", required=True, help="comma-separated provider:model pins")
    parser.add_argument("--json", type=Path, dest="json_out", help="also write the report as JSON to this file")
    parser.add_argument("--concurrency", type=int, default=8, help="runs in flight at once (default 8)")
    parser.add_argument("--customer", default="eval", help="the customer the runs are billed to")


def run(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := [m for m in models if ":" not in m]:
        print(f"agentmesh eval: --models: {bad[0]!r} is not provider:model", file=sys.stderr)
        return 2
    try:
        cases, settings = load_dataset(args.dataset), load_settings()
        report = asyncio.run(
            run_eval(
                settings.scheduler_addr,
                settings.runlog_addr,
                args.agent,
                cases,
                models,
                args.concurrency,
                args.customer,
            )
        )
    except (DatasetError, OSError, StartupError) as exc:
        print(f"agentmesh eval: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
        print(f"report written to {args.json_out}")
    return 0
