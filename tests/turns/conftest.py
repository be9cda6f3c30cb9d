"""Fixtures of the turn-loop tests: service processes that load the test agents, on their own Redis prefix."""

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest

from services.common.config import Settings

AGENTS_MODULE = "tests.turns.turn_agents"
# Short enough for quick tests, long enough for a loaded 2-core machine.
TURN_SETTINGS = {"tool_timeout_s": 4.0, "tool_claim_idle_s": 1.0, "tool_max_deliveries": 2, "turn_timeout_s": 60.0}


@pytest.fixture(scope="module")
def prefix(isolation: Any, request: pytest.FixtureRequest) -> str:
    """A Redis prefix per test module (under the run's prefix), so workers of one module never see another's calls."""
    module = re.sub(r"\W", "", request.module.__name__)
    return f"{isolation.redis_prefix}{module}:"


@pytest.fixture(scope="module")
def turn_env(isolation: Any, prefix: str) -> dict[str, str]:
    env = {f"AGENTMESH_{key.upper()}": str(value) for key, value in TURN_SETTINGS.items()}
    return {**isolation.env, **env, "AGENTMESH_REDIS_PREFIX": prefix, "AGENTMESH_AGENTS_MODULE": AGENTS_MODULE}


@pytest.fixture(scope="module")
def settings(turn_env: dict[str, str], prefix: str) -> Settings:
    """The settings the services under test run with, for the test's own clients."""
    return Settings(redis_prefix=prefix, agents_module=AGENTS_MODULE, **TURN_SETTINGS)


@pytest.fixture(scope="module")
def spawn(mesh_process: type, turn_env: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """Starts a service process for the whole module: spawn("services.toolworker", EXTRA_ENV)."""
    started: list[Any] = []

    def start(module: str, env: dict[str, str] | None = None, port: int | None = None) -> Any:
        proc = mesh_process(module, {**turn_env, "AGENTMESH_LOG_LEVEL": "WARNING", **(env or {})}, port)
        started.append(proc)
        return proc.start()

    yield start
    for proc in reversed(started):
        if proc.proc.poll() is None:
            proc.stop()


@pytest.fixture
async def channel_to() -> AsyncIterator[Callable[[str], grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []

    def open_channel(addr: str) -> grpc.aio.Channel:
        channels.append(grpc.aio.insecure_channel(addr))
        return channels[-1]

    yield open_channel
    for channel in channels:
        await channel.close()
