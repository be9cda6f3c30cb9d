"""Fixtures of the router tests: a real runlog process per module, the provider adapters pointed at the
simulators, and the single-model completion path (services/router/completion.py) wired to both."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from agentmesh.v1 import runlog_pb2_grpc
from services.common.config import Settings
from services.router.attempt_log import AttemptLog
from services.router.completion import Completion
from services.router.pricing import PriceTable, load_prices
from services.router.provider import Provider
from services.router.providers import build_providers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runlog(isolation, mesh_process) -> Iterator[Any]:
    proc = mesh_process("services.runlog", isolation.env).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def prices() -> PriceTable:
    return load_prices(ROOT / "services" / "router" / "prices.yaml")


@pytest.fixture(scope="module")
async def providers(sims: dict[str, str]) -> AsyncIterator[dict[str, Provider]]:
    addrs = {f"{name}_sim_addr": addr for name, addr in sims.items()}
    keys = {f"{name}_api_key": "" for name in sims}  # empty keys count as unset: the simulators answer
    built = build_providers(Settings(**addrs, **keys))  # type: ignore[arg-type]
    yield built
    for provider in built.values():
        await provider.aclose()


@pytest.fixture(scope="module")
async def completion(providers, prices, runlog) -> AsyncIterator[Completion]:
    log = AttemptLog(runlog.addr)
    yield Completion(providers, prices, log, timeout_s=10.0)
    await log.aclose()


@pytest.fixture
async def runlog_stub(runlog) -> AsyncIterator[runlog_pb2_grpc.RunLogStub]:
    async with grpc.aio.insecure_channel(runlog.addr) as channel:
        yield runlog_pb2_grpc.RunLogStub(channel)
