"""Fixtures of the routing-policy tests: policy files written per test, a fresh Redis key prefix per test."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import grpc
import pytest
import redis.asyncio as redis

from agentmesh.v1 import runlog_pb2_grpc
from services.router.ledger import Ledger
from services.router.policy import Policy, PolicyStore
from services.router.pricing import load_prices

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
PRICES = load_prices(ROOT / "services" / "router" / "prices.yaml")


@pytest.fixture
def prefix(isolation) -> str:
    """A key prefix of its own for each test, inside the run's isolation prefix."""
    return f"{isolation.redis_prefix}{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def prices() -> Collection[str]:
    """The entries of the price table (engineer D's prices.yaml)."""
    return PRICES.models.keys()


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    path = tmp_path / "policy.yaml"

    def write(text: str) -> Path:
        path.write_text(text)
        return path

    return write


@pytest.fixture
def make_policy(write_policy: Callable[[str], Path]) -> Callable[[str], Policy]:
    return lambda text: PolicyStore(write_policy(text), PRICES.models).policy


@pytest.fixture
async def shared_redis() -> AsyncIterator[redis.Redis]:
    """A client whose pool waits for a free connection, as a router under load needs (the default pool raises)."""
    client = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=20))
    yield client
    await client.aclose()
    await client.connection_pool.disconnect()


@pytest.fixture
def ledger(shared_redis: redis.Redis, prefix: str, runlog_stub: runlog_pb2_grpc.RunLogStub) -> Ledger:
    return Ledger(shared_redis, prefix, runlog_stub)


@pytest.fixture(scope="session")
def runlog(isolation, mesh_process: type) -> Iterator:
    """A real run log process: routers log every attempt to it and rebuild their budgets from its GetSpend.

    It writes to a schema of its own, so spend logged by other test modules never leaks into these budgets."""
    schema = f"{isolation.schema}_policy"
    env = {**isolation.env, "AGENTMESH_DB_SCHEMA": schema}
    proc = mesh_process("services.runlog", env).start()
    yield proc
    proc.stop()
    asyncio.run(_drop_schema(isolation.env["DATABASE_URL"], schema))


async def _drop_schema(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


@pytest.fixture
async def runlog_stub(runlog) -> AsyncIterator[runlog_pb2_grpc.RunLogStub]:
    async with grpc.aio.insecure_channel(runlog.addr) as channel:
        yield runlog_pb2_grpc.RunLogStub(channel)


@pytest.fixture(scope="module")
def start_routers(isolation, mesh_process, runlog, sim_env) -> Iterator[Callable[..., list]]:
    """start_routers(n, policy_path, redis_prefix) -> n router replicas (started in parallel), on the simulators
    and this module's run log, sharing one policy file and one Redis prefix."""
    started: list = []

    def start(count: int, policy: Path, prefix: str) -> list:
        env = {**isolation.env, **sim_env, "AGENTMESH_RUNLOG_ADDR": runlog.addr}
        env |= {"AGENTMESH_POLICY_PATH": str(policy), "AGENTMESH_REDIS_PREFIX": prefix}
        procs = [mesh_process("services.router", env) for _ in range(count)]
        started.extend(procs)
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda proc: proc.start(), procs))
        return procs

    yield start
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.stop()
