"""Record N demo runs through a real local mesh, stop everything but the run log, and replay them all.

Prints how many replayed with zero divergence, and how long recording and replay took. The acceptance
figure is 100 runs (with tool calls, repairs and failover among them):

    .venv/bin/python bench/replay_runs.py [--runs 100] [--concurrency 8]

Uses the configured Postgres and Redis (DATABASE_URL, REDIS_URL) in a schema and key prefix of its own,
dropped at the end; every process listens on a free port.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from cli.health import health_status
from cli.replay import Code, replay
from cli.turns import run_turn
from services.common.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = ("openai", "anthropic", "gemini", "xai")
MODELS = ("openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash", "xai:grok-4-fast")
LEAD = json.dumps({"name": "Ada Lovelace", "email": "ada@acme.com", "company": "acme.com", "message": "pricing?"})
# (agent, directive, pinned model?): tool rounds, repairs, failover (unpinned, first entry down), failures
SHAPES = [
    ("lead_agent", "", True),
    ("lead_agent", "#sim invalid=1", True),
    ("lead_agent", "#sim malformed=1", True),
    ("lead_agent", "#sim tools=lookup_company;score_lead,draft_email;enqueue_for_approval", True),
    ("research_agent", "", True),
    ("research_agent", "#sim invalid=1", True),
    ("lead_agent", "#sim@anthropic status=503", False),  # tool_heavy's first entry is anthropic's
    ("research_agent", "#sim invalid=3", True),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The simulators and services as child processes, stopped by name."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.children = env, {}

    def spawn(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(argv, env=self.env, cwd=ROOT, stderr=subprocess.DEVNULL)

    async def wait_serving(self, name: str, addr: str, grpc_health: bool = True) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.children[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.children[name].returncode}")
            if grpc_health and await health_status(addr, timeout=0.5) == "SERVING":
                return
            if not grpc_health and _open(addr):
                return
            await asyncio.sleep(0.1)  # polling readiness with a deadline
        raise TimeoutError(f"{name} not ready at {addr}")

    def stop(self, *names: str) -> None:
        for name in names or list(self.children):
            proc = self.children.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)


def _open(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


async def record(scheduler_addr: str, runs: int, concurrency: int) -> list[scheduler_pb2.RunTurnReply]:
    limit = asyncio.Semaphore(concurrency)

    async def one(stub: scheduler_pb2_grpc.SchedulerStub, index: int) -> scheduler_pb2.RunTurnReply:
        agent, directive, pinned = SHAPES[index % len(SHAPES)]
        text = LEAD if agent == "lead_agent" else f"Who is company-{index}.example?"
        request = scheduler_pb2.RunTurnRequest(agent=agent, customer="bench", run_id=f"bench-{index:04d}")
        request.input_json = json.dumps(f"{directive}\n{text}".strip())
        request.model = MODELS[index % len(MODELS)] if pinned else ""
        async with limit:
            return await run_turn(stub, request)

    async with grpc.aio.insecure_channel(scheduler_addr) as channel:
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        return list(await asyncio.gather(*(one(stub, i) for i in range(runs))))


async def main(args: argparse.Namespace) -> int:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(db_schema=f"bench_replay_{tag}", redis_prefix=f"bench:{tag}:")
    addrs = {name: f"127.0.0.1:{free_port()}" for name in ("runlog", "toolworker", "router", "scheduler")}
    sims = {p: f"127.0.0.1:{free_port()}" for p in PROVIDERS}
    env = {**os.environ, "AGENTMESH_DB_SCHEMA": settings.db_schema, "AGENTMESH_REDIS_PREFIX": settings.redis_prefix}
    env |= {f"AGENTMESH_{n.upper()}_ADDR": a for n, a in addrs.items()}
    env |= {f"AGENTMESH_{p.upper()}_SIM_ADDR": a for p, a in sims.items()}
    env |= {f"{key}_API_KEY": "" for key in ("OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE", "XAI")}
    procs = Processes(env)
    try:
        for provider, addr in sims.items():
            procs.spawn(f"sim-{provider}", [sys.executable, "-m", "sim", provider, "--port", addr.rpartition(":")[2]])
        for name in addrs:
            procs.spawn(name, [sys.executable, "-m", f"services.{name}"])
        await asyncio.gather(
            *(procs.wait_serving(f"sim-{p}", a, grpc_health=False) for p, a in sims.items()),
            *(procs.wait_serving(n, a) for n, a in addrs.items()),
        )
        started = time.monotonic()
        replies = await record(addrs["scheduler"], args.runs, args.concurrency)
        recording_s = time.monotonic() - started
        procs.stop("scheduler", "router", "toolworker", *(f"sim-{p}" for p in PROVIDERS))

        code, identical, steps, diverged = Code.current(settings), 0, 0, []
        started = time.monotonic()
        async with grpc.aio.insecure_channel(addrs["runlog"]) as channel:
            stub = runlog_pb2_grpc.RunLogStub(channel)
            for reply in replies:
                run = await stub.GetRun(runlog_pb2.GetRunRequest(run_id=reply.run_id))
                report = await replay(run, code)
                identical += report.identical
                steps += report.steps
                if not report.identical:
                    diverged.append((reply.run_id, str(report.divergence)))
        replay_s = time.monotonic() - started
    finally:
        procs.stop()
        conn = await asyncpg.connect(settings.database_url)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
        await conn.close()

    succeeded = sum(1 for r in replies if r.status == "succeeded")
    print(
        f"recorded {len(replies)} runs ({succeeded} succeeded, {len(replies) - succeeded} failed) in {recording_s:.1f}s"
    )
    print(
        f"replayed {identical}/{len(replies)} with zero divergence, {steps} steps, no simulator/router/tool worker up"
    )
    print(f"replay time: {replay_s:.2f}s total, {1000 * replay_s / max(1, len(replies)):.1f} ms per run")
    for index, (agent, directive, pinned) in enumerate(SHAPES):
        mine = replies[index :: len(SHAPES)]
        kinds = sorted({r.error.kind for r in mine if r.status != "succeeded"})
        outcome = f"{sum(r.status == 'succeeded' for r in mine)}/{len(mine)} succeeded" + (
            f" ({', '.join(kinds)})" * bool(kinds)
        )
        print(f"  {agent:<15} {directive or '(plain)':<75} {'pinned' if pinned else 'policy'}  {outcome}")
    for run_id, divergence in diverged[:10]:
        print(f"  DIVERGED {run_id}: {divergence[:300]}")
    return 0 if identical == len(replies) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    sys.exit(asyncio.run(main(parser.parse_args())))
