"""`agentmesh up` as a real process: every service, the gateway and the simulators come up healthy on the
configured addresses and stop cleanly on SIGTERM/SIGINT; bad configuration is one line naming the setting."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from cli.health import health_status

if TYPE_CHECKING:
    from conftest import Isolation

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["router", "scheduler", "toolworker", "runlog"]
PROVIDERS = ["openai", "anthropic", "gemini", "xai"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def mesh_env(isolation: "Isolation") -> dict[str, str]:
    """This run's schema and key prefix, every address on a free port, and no provider keys (simulators)."""
    env = {**os.environ, **isolation.env}
    for name in [*SERVICES, "gateway", *(f"{p}_sim" for p in PROVIDERS)]:
        env[f"AGENTMESH_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY"):
        env[key] = ""
    env.pop("AGENTMESH_PORT", None)
    return env


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder the `postgres` account can enter (a private Postgres runs as that user under root)."""
    with tempfile.TemporaryDirectory(prefix="agentmesh-up-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def start_up(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir), *args]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def all_healthy(env: dict[str, str]) -> bool:
    statuses = await asyncio.gather(*(health_status(env[f"AGENTMESH_{s.upper()}_ADDR"], timeout=1) for s in SERVICES))
    if any(status != "SERVING" for status in statuses):
        return False
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            gateway = await client.get(f"http://{env['AGENTMESH_GATEWAY_ADDR']}/healthz")
    except httpx.HTTPError:
        return False
    return gateway.status_code == 200 and all(listening(env[f"AGENTMESH_{p.upper()}_SIM_ADDR"]) for p in PROVIDERS)


def wait_until_up(proc: subprocess.Popen[str], env: dict[str, str], timeout: float = 120) -> list[str]:
    """Until `agentmesh up` itself says it is up (its own readiness is what is under test); returns what it
    printed so far. Every service must then answer its health check."""
    printed: list[str] = []

    def read_announcement() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            printed.append(line)
            if line.startswith("Ctrl-C to stop"):
                return

    reader = threading.Thread(target=read_announcement, daemon=True)
    reader.start()
    reader.join(timeout)  # ends at the announcement, or at EOF when up exits early
    if not printed or not printed[-1].startswith("Ctrl-C to stop"):
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"agentmesh up did not announce itself: {''.join(printed)}{err}")
    assert asyncio.run(all_healthy(env)), "up announced itself before every service was SERVING"
    return printed


def stop_up(proc: subprocess.Popen[str], sig: int, printed: list[str]) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, "".join(printed) + out, err


def test_up_serves_every_service_runs_a_turn_through_the_gateway_and_stops_all_with_exit_0_on_sigterm(
    isolation: "Isolation", data_dir: Path
) -> None:
    env = mesh_env(isolation)
    proc = start_up(env, data_dir)
    printed = wait_until_up(proc, env)
    key = subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "foundation-up"], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    turns = f"http://{env['AGENTMESH_GATEWAY_ADDR']}/v1/agents/{{agent}}/turns"
    lead = {"input": {"name": "Ada", "email": "ada@analytical.io", "company_domain": "analytical.io"}}
    unknown = httpx.post(turns.format(agent="nobody"), json=lead, headers={"X-API-Key": key}, timeout=60)
    assert unknown.status_code == 404 and unknown.json()["error"]["kind"] == "not_found"
    turn = httpx.post(turns.format(agent="lead_agent"), json=lead, headers={"X-API-Key": key}, timeout=120)
    assert turn.status_code == 200 and turn.json()["status"] == "succeeded", turn.text
    code, out, err = stop_up(proc, signal.SIGTERM, printed)
    assert code == 0, err
    addrs = [v for k, v in env.items() if k.startswith("AGENTMESH_") and k.endswith("_ADDR")]
    for addr in addrs:
        assert addr in out, f"{addr} not announced"
        assert not listening(addr), f"something still listens on {addr} after the stop"
    assert "agentmesh stopped" in out
    assert (data_dir / "logs" / "router.log").read_text()


def test_up_starts_private_postgres_and_redis_where_none_listens_and_stops_them_on_ctrl_c(
    isolation: "Isolation", data_dir: Path
) -> None:
    env = mesh_env(isolation)
    pg_port, redis_port = free_port(), free_port()
    env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{pg_port}/agentmesh"
    env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    proc = start_up(env, data_dir)
    printed = wait_until_up(proc, env)

    async def stores_answer() -> None:
        conn = await asyncpg.connect(env["DATABASE_URL"])
        schemas = await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", isolation.schema)
        await conn.close()
        assert schemas == 1, "the run log did not migrate its schema in the private Postgres"
        client = redis.Redis.from_url(env["REDIS_URL"])
        assert await client.ping()
        await client.aclose()

    asyncio.run(stores_answer())
    code, out, err = stop_up(proc, signal.SIGINT, printed)
    assert code == 0, err
    assert f"127.0.0.1:{pg_port}" in out and "private" in out
    assert not listening(f"127.0.0.1:{pg_port}") and not listening(f"127.0.0.1:{redis_port}")
    assert (data_dir / "postgres" / "PG_VERSION").exists()


def run_up_expecting_failure(env: dict[str, str], data_dir: Path, *args: str) -> str:
    """Run `agentmesh up` that must fail at start: exit 2 and exactly one line on stderr, no traceback."""
    proc = start_up(env, data_dir, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_malformed_database_url_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    env = {**mesh_env(isolation), "DATABASE_URL": "mysql://root@127.0.0.1/test"}
    assert run_up_expecting_failure(env, data_dir) == "agentmesh: DATABASE_URL: must be a postgresql:// URL"


def test_database_url_with_a_bad_port_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    env = {**mesh_env(isolation), "DATABASE_URL": "postgresql://postgres@127.0.0.1:99999/test"}
    line = run_up_expecting_failure(env, data_dir)
    assert line.startswith("agentmesh: DATABASE_URL: malformed URL")


def test_unreachable_database_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    port = free_port()
    env = {**mesh_env(isolation), "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/test"}
    line = run_up_expecting_failure(env, data_dir, "--no-local-stores")
    assert line == f"agentmesh: DATABASE_URL: nothing listens at 127.0.0.1:{port}"


def test_missing_database_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    url = isolation.env["DATABASE_URL"].rsplit("/", 1)[0] + "/no_such_database_here"
    line = run_up_expecting_failure({**mesh_env(isolation), "DATABASE_URL": url}, data_dir)
    assert line.startswith("agentmesh: DATABASE_URL: cannot connect:") and "no_such_database_here" in line


def test_unreachable_redis_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    port = free_port()
    env = {**mesh_env(isolation), "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    line = run_up_expecting_failure(env, data_dir, "--no-local-stores")
    assert line == f"agentmesh: REDIS_URL: nothing listens at 127.0.0.1:{port}"


def test_port_in_use_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    env = mesh_env(isolation)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        env["AGENTMESH_ROUTER_ADDR"] = addr
        line = run_up_expecting_failure(env, data_dir)
    assert line.startswith(f"agentmesh: AGENTMESH_ROUTER_ADDR: cannot listen on {addr}")


def test_invalid_setting_value_is_one_line_naming_the_setting(isolation: "Isolation", data_dir: Path) -> None:
    env = {**mesh_env(isolation), "AGENTMESH_SHUTDOWN_GRACE_S": "soon"}
    assert run_up_expecting_failure(env, data_dir).startswith("agentmesh: AGENTMESH_SHUTDOWN_GRACE_S:")


def test_a_child_dying_at_start_up_is_reported_in_one_line_and_the_rest_are_stopped(
    isolation: "Isolation", data_dir: Path
) -> None:
    env = {**mesh_env(isolation), "AGENTMESH_AGENTS_MODULE": "no_such_agents_module"}
    line = run_up_expecting_failure(env, data_dir)
    assert "exited with code" in line and "AGENTMESH_AGENTS_MODULE" in line
    for name in [*SERVICES, "gateway"]:
        assert not listening(env[f"AGENTMESH_{name.upper()}_ADDR"])
