"""Fixtures of the run log tests: one real runlog process per test module, a gRPC stub, event builders."""

import subprocess
import sys
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

SIM_PROVIDERS = ("openai", "anthropic", "gemini", "xai")
ROOT_CONFTEST = str(Path(__file__).resolve().parents[1] / "conftest.py")


@pytest.fixture(scope="module")
def mesh_process(pytestconfig: pytest.Config) -> type:
    """The root conftest's MeshProcess (conftest modules are not importable by name)."""
    return pytestconfig.pluginmanager.get_plugin(ROOT_CONFTEST).MeshProcess


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


@dataclass
class LocalMesh:
    """Simulators and the four services as real processes on free ports, for recording real runs."""

    root: Any  # the root conftest module: MeshProcess, free_port, ...
    env: dict[str, str]
    sims: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)

    def start_sims(self, *flags: str) -> None:
        def start_one(provider: str) -> None:
            port = int(self.env[f"AGENTMESH_{provider.upper()}_SIM_ADDR"].rpartition(":")[2])
            argv = [sys.executable, "-m", "sim", provider, "--port", str(port), *flags]
            self.sims[provider] = subprocess.Popen(argv, cwd=self.root.ROOT, stderr=subprocess.DEVNULL)
            self.root._wait_for_port(port, self.sims[provider])

        with ThreadPoolExecutor() as pool:
            list(pool.map(start_one, SIM_PROVIDERS))

    def stop_sims(self) -> None:
        for proc in self.sims.values():
            proc.terminate()
        for proc in self.sims.values():
            proc.wait(10)
        self.sims.clear()

    def start(self, service: str) -> Any:
        proc = self.root.MeshProcess(f"services.{service}", self.env, port=self.port_of(service)).start()
        self.services[service] = proc
        return proc

    def port_of(self, service: str) -> int:
        return int(self.env[f"AGENTMESH_{service.upper()}_ADDR"].rpartition(":")[2])

    def addr(self, service: str) -> str:
        return self.env[f"AGENTMESH_{service.upper()}_ADDR"]

    def stop(self) -> None:
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda proc: proc.stop() if proc.proc.poll() is None else None, self.services.values()))
        self.services.clear()
        self.stop_sims()


def local_mesh(pytestconfig: pytest.Config, isolation: Any, sim_flags: tuple[str, ...] = ()) -> LocalMesh:
    """Start simulators, run log, tool worker, router and scheduler (in that order) on free ports."""
    root = pytestconfig.pluginmanager.get_plugin(ROOT_CONFTEST)
    names = [*(f"{p}_SIM" for p in SIM_PROVIDERS), "RUNLOG", "TOOLWORKER", "ROUTER", "SCHEDULER"]
    env = {**isolation.env, **{f"AGENTMESH_{n.upper()}_ADDR": f"127.0.0.1:{root.free_port()}" for n in names}}
    env |= {
        key: "" for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY")
    }
    mesh = LocalMesh(root, env)
    try:
        with ThreadPoolExecutor() as pool:  # services connect to each other lazily: all start at once
            starting = [pool.submit(mesh.start_sims, *sim_flags)]
            starting += [pool.submit(mesh.start, s) for s in ("runlog", "toolworker", "router", "scheduler")]
            for future in starting:
                future.result()
    except BaseException:
        mesh.stop()
        raise
    return mesh
