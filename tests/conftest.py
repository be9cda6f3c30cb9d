"""Shared fixtures: every test run gets its own Postgres schema and Redis key prefix, and cleans them up.

Services under test run as real processes (`python -m services.NAME`) on free ports; `MeshProcess`
starts one, waits for its gRPC health check to report SERVING, and stops it with SIGTERM.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
import redis.asyncio as redis

from cli.health import health_status

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_TAG = uuid.uuid4().hex[:8]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[pytest.CollectReport]:
    """`from conftest import X` in a test module means its nearest conftest.py.

    Test folders have no __init__.py, so every conftest.py is imported under the one name `conftest`, and
    pytest leaves the last one imported in sys.modules: a whole-suite run would hand a test module another
    folder's conftest. Pointing the name at the module's nearest conftest before it is imported fixes that.
    """
    if isinstance(collector, pytest.Module):
        conftests = [
            plugin
            for plugin in collector.config.pluginmanager.get_plugins()
            if isinstance(plugin, ModuleType)
            and Path(plugin.__file__ or "").name == "conftest.py"
            and collector.path.is_relative_to(Path(plugin.__file__ or "").parent)
        ]
        if conftests:
            sys.modules["conftest"] = max(conftests, key=lambda plugin: len(Path(plugin.__file__ or "").parts))
    return (yield)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Isolation:
    """The schema and key prefix of this test run, and the env that points a service at them."""

    schema: str
    redis_prefix: str
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def isolation() -> Iterator[Isolation]:
    schema = f"t_{RUN_TAG}"
    prefix = f"t:{RUN_TAG}:"
    env = {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "AGENTMESH_DB_SCHEMA": schema,
        "AGENTMESH_REDIS_PREFIX": prefix,
    }

    async def create() -> None:
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    asyncio.run(create())
    yield Isolation(schema, prefix, env)
    asyncio.run(drop())


@pytest.fixture
async def pg(isolation: Isolation) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test run's schema."""
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": isolation.schema})
    yield conn
    await conn.close()


@pytest.fixture
async def rds(isolation: Isolation) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


class MeshProcess:
    """One service as a real OS process on a free port."""

    def __init__(self, module: str, env: dict[str, str], port: int | None = None) -> None:
        self.module = module
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "AGENTMESH_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> "MeshProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], env=self.env, cwd=ROOT, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited {self.proc.returncode}: {self.stderr()}")
            if asyncio.run(health_status(self.addr, timeout=0.5)) == "SERVING":
                return self
            time.sleep(0.05)  # polling a readiness condition with a deadline, not a sync sleep
        self.stop()
        raise TimeoutError(f"{self.module} not SERVING on {self.addr} within {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        assert self.proc is not None
        if self.proc.poll() is None:
            return ""
        return (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace")


@pytest.fixture(scope="session")
def mesh_process() -> type[MeshProcess]:
    """MeshProcess for conftests below this one (conftest modules are not importable by name)."""
    return MeshProcess


@pytest.fixture
def start_service(isolation: Isolation) -> Iterator["type[MeshProcess] | object"]:
    """Start services for one test: start_service("services.router", extra_env) -> MeshProcess."""
    started: list[MeshProcess] = []

    def start(module: str, env: dict[str, str] | None = None, port: int | None = None) -> MeshProcess:
        proc = MeshProcess(module, {**isolation.env, **(env or {})}, port).start()
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        if proc.proc is not None and proc.proc.poll() is None:
            proc.stop()


SIM_PROVIDERS = ("openai", "anthropic", "gemini", "xai")


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling a readiness condition with a deadline
    raise TimeoutError(f"simulator not listening on {port}")


@pytest.fixture(scope="session")
def sims() -> Iterator[dict[str, str]]:
    """All four provider simulators (`python -m sim PROVIDER --port PORT`), provider -> host:port."""
    procs: list[subprocess.Popen[bytes]] = []
    addrs: dict[str, str] = {}
    try:
        for provider in SIM_PROVIDERS:
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "sim", provider, "--port", str(port)], cwd=ROOT)
            procs.append(proc)
            _wait_for_port(port, proc)
            addrs[provider] = f"127.0.0.1:{port}"
        yield addrs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


@pytest.fixture(scope="session")
def sim_env(sims: dict[str, str]) -> dict[str, str]:
    """Env that points a router at the simulators (and never at a real provider)."""
    env = {f"AGENTMESH_{p.upper()}_SIM_ADDR": addr for p, addr in sims.items()}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY"):
        env[key] = ""
    return env
