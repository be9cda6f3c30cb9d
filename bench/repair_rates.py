"""How often a structured reply is valid at once, and after one or two repair prompts, for a simulated model
that breaks its output at a given rate.

    python bench/repair_rates.py --provider openai --rate 0.3 --n 200 [--invalid-rate 0.1] [--model NAME]

It starts one simulator (`python -m sim PROVIDER`) and sends N different requests through the router's own
completion path (services/router/completion.py: the official SDK adapter, Pydantic validation, the repair
loop, pricing). Each request carries `#sim malformed_rate=R invalid_rate=I`, so every attempt (a repair prompt
changes the messages) is malformed or schema-breaking with those probabilities, drawn from a hash of the
request. With independent draws the expected rates are 1-p after the first attempt and 1-p^3 after two
repairs (p = the chance an attempt is broken). Attempts are not written to a run log here: the figures are
about validation and repair, not logging.
"""

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentmesh.v1 import common_pb2, router_pb2  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.errors import MeshError  # noqa: E402
from services.router.completion import Completion  # noqa: E402
from services.router.pricing import load_prices  # noqa: E402
from services.router.providers import build_providers  # noqa: E402
from services.router.structured import contract_for  # noqa: E402

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash", "xai": "grok-4"}


class Lead(BaseModel):
    """The output type asked for: a qualified sales lead."""

    company: str
    employees: int = Field(ge=0)
    tier: Literal["gold", "silver", "bronze"]
    contacts: list[str]


class DiscardedAttempts:
    """Stands in for the run log client: the bench measures the repair loop, not logging."""

    async def ready(self) -> None:
        return None

    async def append(self, request: router_pb2.CompleteRequest, attempt: router_pb2.Attempt) -> None:
        return None

    async def aclose(self) -> None:
        return None


def start_simulator(provider: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "sim", provider, "--port", str(port)], cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        time.sleep(0.05)  # polling the simulator's port with a deadline
    proc.terminate()
    raise SystemExit(f"simulator for {provider} did not start")


async def measure(args: argparse.Namespace, sim_addr: str) -> None:
    settings = Settings(**{f"{args.provider}_sim_addr": sim_addr, f"{args.provider}_api_key": ""})  # type: ignore[arg-type]
    providers = build_providers(settings)
    completion = Completion(providers, load_prices(settings.prices_path), DiscardedAttempts(), 30.0)  # type: ignore[arg-type]
    contract = contract_for("__main__:Lead", "")
    entry = f"{args.provider}:{args.model or MODELS[args.provider]}"
    directive = f"#sim malformed_rate={args.rate} invalid_rate={args.invalid_rate}"
    gate = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> tuple[int, bool, float, float]:
        text = f"Qualify inbound lead number {i}: ACME Corp, about {i} people.\n{directive}"
        request = router_pb2.CompleteRequest(
            run_id=f"bench-{i}", messages=[common_pb2.Message(role="user", content=text)], max_output_tokens=512
        )
        async with gate:
            started = time.perf_counter()
            try:
                reply, attempts = await completion.complete_on(entry, request, contract)
                return len(attempts), True, reply.cost_usd, time.perf_counter() - started
            except MeshError as exc:
                failure = exc.detail(router_pb2.CompleteFailure)
                attempts = list(failure.attempts) if failure else []
                return len(attempts), False, sum(a.cost_usd for a in attempts), time.perf_counter() - started

    results = await asyncio.gather(*(one(i) for i in range(args.n)))
    for provider in providers.values():
        await provider.aclose()
    report(args, entry, results)


def report(args: argparse.Namespace, entry: str, results: list[tuple[int, bool, float, float]]) -> None:
    n = len(results)
    valid_by = {k: sum(1 for count, ok, _, _ in results if ok and count <= k) / n for k in (1, 2, 3)}
    broken = 1 - (1 - args.rate) * (1 - args.invalid_rate)
    latencies = sorted(seconds * 1000 for *_, seconds in results)
    print(f"{entry}: n={n}, malformed_rate={args.rate}, invalid_rate={args.invalid_rate}")
    print(f"  first-attempt valid : {valid_by[1]:7.1%}   (expected {1 - broken:.1%})")
    print(f"  valid after 1 repair: {valid_by[2]:7.1%}   (expected {1 - broken**2:.1%})")
    print(f"  valid after 2 repairs: {valid_by[3]:6.1%}   (expected {1 - broken**3:.1%})")
    print(f"  failed (schema_invalid after 3 attempts): {1 - valid_by[3]:.1%}")
    print(f"  attempts per request: mean {statistics.mean(count for count, *_ in results):.2f}")
    print(f"  cost per request (USD): mean {statistics.mean(cost for _, _, cost, _ in results):.6f}")
    print(f"  latency per request (ms): p50 {latencies[n // 2]:.1f}, p99 {latencies[min(n - 1, n * 99 // 100)]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=sorted(MODELS), default="openai")
    parser.add_argument("--model", default="", help="model name (must be in prices.yaml); default per provider")
    parser.add_argument("--rate", type=float, default=0.3, help="chance an attempt is malformed JSON (0..1)")
    parser.add_argument("--invalid-rate", type=float, default=0.0, help="chance an attempt breaks the schema (0..1)")
    parser.add_argument("--n", type=int, default=200, help="number of requests")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    proc, addr = start_simulator(args.provider)
    try:
        asyncio.run(measure(args, addr))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
