"""Failover overhead of the router: what a failing primary adds to a request answered by the next model.

    python bench/failover.py [--n 100] [--n-hang 20] [--timeout 0.5]

It starts the real parts on free ports: three simulators (openai, anthropic, gemini), a run log (its own
Postgres schema) and a router process (its own Redis prefix) with a bench policy, then sends requests
through gRPC, one at a time:
- direct: pinned to anthropic:sim-fast, for reference (no failover);
- 500: openai:sim-fast answers HTTP 500, anthropic:sim-fast answers;
- hang: gemini:sim-fast never answers and is given up after its policy timeout; anthropic:sim-fast answers.
Overhead = request latency - the answering attempt's own latency (- the timeout, for hang): the failed call,
its run-log record, and the router's budget, quota and breaker bookkeeping. The target is under 1 s.
The breaker is set never to open here, so every request pays the failing primary.
"""

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import grpc
import redis.asyncio as redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentmesh.v1 import common_pb2, router_pb2, router_pb2_grpc  # noqa: E402
from cli.health import health_status  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
Asker = Callable[[], router_pb2.CompleteRequest]
POLICY = """
timeout_s: 10
breaker_failures: 1000000000
chains:
  default: [openai:sim-fast, anthropic:sim-fast]
  hang: [gemini:sim-fast, anthropic:sim-fast]
models:
  gemini:sim-fast: {{timeout_s: {timeout}}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, stderr=subprocess.DEVNULL)


async def wait_serving(addr: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while await health_status(addr, timeout=0.5) != "SERVING":
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        await asyncio.sleep(0.1)  # polling readiness with a deadline


async def wait_port(addr: str, proc: subprocess.Popen[bytes]) -> None:
    host, port = addr.split(":")
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex((host, int(port))) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"simulator on {addr} did not start")
        await asyncio.sleep(0.05)  # polling readiness with a deadline


def ask(text: str, **fields: object) -> router_pb2.CompleteRequest:
    message = common_pb2.Message(role="user", content=text)
    return router_pb2.CompleteRequest(
        run_id=f"bench-{uuid.uuid4()}", messages=[message], max_output_tokens=64, **fields
    )


async def overheads(stub: router_pb2_grpc.RouterStub, request_of: Asker, n: int, minus_s: float) -> list[float]:
    """Milliseconds each request took beyond its answering attempt (and minus_s)."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        reply = await stub.Complete(request_of(), timeout=60)
        total_ms = (time.perf_counter() - started) * 1000
        assert reply.provider == "anthropic", reply.decision
        out.append(total_ms - reply.attempts[-1].latency_ms - minus_s * 1000)
    return out


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"{name:>8}: n={len(samples):4d}  p50={statistics.median(samples):7.1f} ms  p99={p99:7.1f} ms")


async def main(args: argparse.Namespace) -> None:
    tag = uuid.uuid4().hex[:8]
    schema, prefix = f"bench_{tag}", f"bench:{tag}:"
    conn = await asyncpg.connect(DATABASE_URL)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            policy = Path(tmp) / "policy.yaml"
            policy.write_text(POLICY.format(timeout=args.timeout))
            env = {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "AGENTMESH_DB_SCHEMA": schema}
            env |= {"AGENTMESH_REDIS_PREFIX": prefix, "AGENTMESH_POLICY_PATH": str(policy)}
            env |= {key: "" for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")}
            for provider in ("openai", "anthropic", "gemini"):
                addr = f"127.0.0.1:{free_port()}"
                procs.append(spawn(["-m", "sim", provider, "--port", addr.split(":")[1]], {}))
                await wait_port(addr, procs[-1])
                env[f"AGENTMESH_{provider.upper()}_SIM_ADDR"] = addr
            env["AGENTMESH_RUNLOG_ADDR"] = runlog = f"127.0.0.1:{free_port()}"
            procs.append(spawn(["-m", "services.runlog"], {**env, "AGENTMESH_PORT": runlog.split(":")[1]}))
            await wait_serving(runlog, procs[-1], "run log")
            router = f"127.0.0.1:{free_port()}"
            procs.append(spawn(["-m", "services.router"], {**env, "AGENTMESH_PORT": router.split(":")[1]}))
            await wait_serving(router, procs[-1], "router")
            async with grpc.aio.insecure_channel(router) as channel:
                stub = router_pb2_grpc.RouterStub(channel)
                await overheads(stub, lambda: ask("Warm up.", model="anthropic:sim-fast"), 5, 0)
                report("direct", await overheads(stub, lambda: ask("Hi.", model="anthropic:sim-fast"), args.n, 0))
                report("500", await overheads(stub, lambda: ask("#sim@openai status=500\nHi."), args.n, 0))
                hang = lambda: ask("#sim@gemini hang\nHi.", task_class="hang")  # noqa: E731
                report("hang", await overheads(stub, hang, args.n_hang, args.timeout))
        finally:
            for proc in reversed(procs):
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(20)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
            client = redis.Redis.from_url(REDIS_URL)
            if keys := [key async for key in client.scan_iter(match=f"{prefix}*")]:
                await client.delete(*keys)
            await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="requests per scenario (direct, 500)")
    parser.add_argument("--n-hang", type=int, default=20, help="requests of the hang scenario")
    parser.add_argument("--timeout", type=float, default=0.5, help="the hanging primary's attempt timeout (s)")
    asyncio.run(main(parser.parse_args()))
