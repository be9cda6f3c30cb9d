"""Fixtures of the run log tests: one real runlog process per test module, a gRPC stub, event builders."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from runlog_helpers import TcpProxy

from agentmesh.v1 import runlog_pb2_grpc
from cli.health import health_status

START_TIMEOUT_S = 60.0  # the machine is shared: imports of the provider SDKs can take a while
SIM_PROVIDERS = ("openai", "anthropic", "gemini", "xai")
HERE = Path(__file__).resolve().parent
ROOT_CONFTEST = str(HERE.parent / "conftest.py")
AGENTS_MODULE = "mesh_agents"


@pytest.fixture(scope="module")
def runlog(isolation, mesh_process) -> Iterator[Any]:
    """A runlog service process shared by the tests of one module (start-up costs about a second)."""
    proc = mesh_process("services.runlog", isolation.env).start()
    yield proc
    proc.stop()


@pytest.fixture
async def stub(runlog) -> AsyncIterator[runlog_pb2_grpc.RunLogStub]:
    async with grpc.aio.insecure_channel(runlog.addr) as channel:
        yield runlog_pb2_grpc.RunLogStub(channel)


@pytest.fixture
async def pg_proxy(isolation) -> AsyncIterator[TcpProxy]:
    url = urlsplit(isolation.env["DATABASE_URL"])
    proxy = await TcpProxy(url.hostname or "127.0.0.1", url.port or 5432).start()
    yield proxy
    await proxy.cut()


SERVICES = ("runlog", "toolworker", "router", "scheduler")


@dataclass
class LocalMesh:
    """Simulators and the four services as real processes on free ports, for recording real runs.

    One per test session (start-up costs seconds): a test that stops a part calls `require()` first,
    which restarts whatever is down, on the same ports."""

    root: Any  # the root conftest module: MeshProcess, free_port, ...
    env: dict[str, str]
    logs: Path
    sims: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def addr(self, name: str) -> str:
        """A service's address ("runlog") or a simulator's ("openai_sim")."""
        return self.env[f"AGENTMESH_{name.upper()}_ADDR"]

    def _port(self, name: str) -> int:
        return int(self.addr(name).rpartition(":")[2])

    def _start_sim(self, provider: str) -> None:
        argv = [sys.executable, "-m", "sim", provider, "--port", str(self._port(f"{provider}_sim"))]
        self.sims[provider] = subprocess.Popen(argv, cwd=self.root.ROOT, stderr=subprocess.DEVNULL)
        self.root._wait_for_port(self._port(f"{provider}_sim"), self.sims[provider])

    def _start_service(self, name: str) -> None:
        """Like the root conftest's MeshProcess, but logging to a file: a long-lived service must never block
        on a full stderr pipe."""
        log = (self.logs / f"{name}.log").open("ab")
        env = {**os.environ, **self.env, "AGENTMESH_PORT": str(self._port(name)), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env, cwd=self.root.ROOT, stderr=log)
        self.services[name] = proc
        deadline = time.monotonic() + START_TIMEOUT_S
        while asyncio.run(health_status(self.addr(name), timeout=0.5)) != "SERVING":
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = (self.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"{name} did not start (exit {proc.poll()}): {' | '.join(tail)}")
            time.sleep(0.05)  # polling a readiness condition with a deadline

    def require(self) -> "LocalMesh":
        """Start every simulator and service that is not running (all at once: they connect lazily)."""
        down_sims = [p for p in SIM_PROVIDERS if p not in self.sims or self.sims[p].poll() is not None]
        down = [s for s in SERVICES if s not in self.services or self.services[s].poll() is not None]
        with ThreadPoolExecutor() as pool:
            futures = [pool.submit(self._start_sim, p) for p in down_sims]
            futures += [pool.submit(self._start_service, s) for s in down]
            for future in futures:
                future.result()
        return self

    def stop_sims(self) -> None:
        for proc in self.sims.values():
            proc.terminate()
        for proc in self.sims.values():
            proc.wait(10)
        self.sims.clear()

    def stop_service(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.services.pop(name)
        proc.send_signal(sig)
        proc.wait(30)

    def stop(self) -> None:
        for proc in self.services.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.services.values():
            proc.wait(30)
        self.services.clear()
        self.stop_sims()


@pytest.fixture(scope="session")
def mesh(pytestconfig: pytest.Config, isolation: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    root = pytestconfig.pluginmanager.get_plugin(ROOT_CONFTEST)
    names = [*(f"{p}_SIM" for p in SIM_PROVIDERS), *SERVICES]
    env = {**isolation.env, **{f"AGENTMESH_{n.upper()}_ADDR": f"127.0.0.1:{root.free_port()}" for n in names}}
    env |= {f"{key}_API_KEY": "" for key in ("OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE", "XAI")}  # simulators only
    env |= {"AGENTMESH_AGENTS_MODULE": AGENTS_MODULE, "PYTHONPATH": str(HERE)}  # mesh_agents.py lives here
    local = LocalMesh(root, env, tmp_path_factory.mktemp("mesh-logs"))
    try:
        yield local
    finally:
        local.stop()
