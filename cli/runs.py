"""`agentmesh runs`: the recorded runs, newest first, filtered by agent, customer, status and time."""

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta

import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc
from cli.table import format_table
from services.common.config import load_settings
from services.common.errors import MeshError, StartupError

AGO = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def point_in_time(text: str) -> datetime:
    """`30m`, `2h`, `7d` (that long ago) or an ISO 8601 time (UTC unless it says otherwise)."""
    if match := AGO.match(text):
        return datetime.now(UTC) - timedelta(**{UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither like 30m/2h/7d nor an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("runs", help="list recorded runs, newest first")
    parser.add_argument("--agent", default="")
    parser.add_argument("--customer", default="")
    parser.add_argument("--status", default="", choices=["", "running", "succeeded", "failed"])
    parser.add_argument("--since", type=point_in_time, help="30m, 2h, 7d or an ISO 8601 time")
    parser.add_argument("--until", type=point_in_time, help="30m, 2h, 7d or an ISO 8601 time")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="one JSON object per run")


async def list_runs(addr: str, args: argparse.Namespace) -> list[runlog_pb2.Run]:
    request = runlog_pb2.ListRunsRequest(agent=args.agent, customer=args.customer, status=args.status, limit=args.limit)
    if args.since:
        request.since.FromDatetime(args.since)
    if args.until:
        request.until.FromDatetime(args.until)
    async with grpc.aio.insecure_channel(addr) as channel:
        return list((await runlog_pb2_grpc.RunLogStub(channel).ListRuns(request)).runs)


def when(run: runlog_pb2.Run) -> str:
    return run.started_at.ToDatetime(UTC).strftime("%Y-%m-%d %H:%M:%S")


def run(args: argparse.Namespace) -> int:
    try:
        runs = asyncio.run(list_runs(load_settings().runlog_addr, args))
    except StartupError as exc:
        print(f"agentmesh runs: {exc}", file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as exc:
        error = MeshError.from_rpc_error(exc)
        print(f"agentmesh runs: run log: {error.kind}: {error.message}", file=sys.stderr)
        return 2
    if args.json:
        for one in runs:
            header = {"agent": one.header.agent, "customer": one.header.customer, "session_id": one.header.session_id}
            print(json.dumps({"run_id": one.run_id, **header, "status": one.status, "started_at": when(one)}))
        return 0
    rows = [(when(r), r.run_id, r.header.agent, r.header.customer, r.status) for r in runs]
    print(format_table(["STARTED (UTC)", "RUN", "AGENT", "CUSTOMER", "STATUS"], rows) if rows else "no runs")
    return 0
