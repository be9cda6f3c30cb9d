"""Fixtures of the run log tests: one real runlog process per test module, a gRPC stub, event builders."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from runlog_helpers import TcpProxy

from agentmesh.v1 import runlog_pb2_grpc

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
