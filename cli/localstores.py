"""Private PostgreSQL and Redis for a newcomer's machine, so nobody edits config before the first run.

When the configured URL points at this machine and nothing listens there, a private server is started
from the machine's own binaries on that very port, with its data under a local folder (`.agentmesh/`),
so the configured URL works unchanged. A server that is reachable but refuses us is reported, never
replaced. `python -m cli.localstores [--data-dir DIR]` starts what is missing as daemons (for
scripts/setup.sh); `agentmesh up` runs them as its own children instead and stops them on exit.
"""

import argparse
import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import redis.asyncio as redis

from services.common.config import Settings, load_settings
from services.common.errors import StartupError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = ROOT / ".agentmesh"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
INSTALL_HINT = "install it with: apt-get install postgresql redis-server"


@dataclass(frozen=True)
class Endpoint:
    """Where a store is expected: the setting that names it, and its parsed host, port and parts."""

    setting: str
    url: str
    host: str
    port: int
    user: str
    database: str

    @property
    def local(self) -> bool:
        return self.host in LOOPBACK


def parse_endpoint(setting: str, url: str, default_port: int) -> Endpoint:
    """Split a store URL, turning anything unparseable into an error that names the setting."""
    try:
        parts = urlsplit(url)
        port = parts.port or default_port
    except ValueError as exc:
        raise StartupError(setting, f"malformed URL: {exc}") from None
    if url.startswith("unix://"):
        return Endpoint(setting, url, "", 0, "", "")
    if not parts.hostname:
        raise StartupError(setting, "malformed URL: no host")
    path = parts.path.lstrip("/")
    return Endpoint(setting, url, parts.hostname, port, parts.username or "postgres", path or "postgres")


def endpoints(settings: Settings) -> tuple[Endpoint, Endpoint]:
    return (
        parse_endpoint("DATABASE_URL", settings.database_url, 5432),
        parse_endpoint("REDIS_URL", settings.redis_url, 6379),
    )


async def postgres_problem(endpoint: Endpoint) -> tuple[bool, str] | None:
    """None when usable; else (nothing listens there, the reason in one line)."""
    try:
        conn = await asyncpg.connect(endpoint.url, timeout=5)
    except OSError as exc:
        refused = isinstance(exc, ConnectionRefusedError | FileNotFoundError) or "Connect call failed" in str(exc)
        if refused:
            return True, f"nothing listens at {endpoint.host}:{endpoint.port}"
        return False, f"cannot connect: {exc}"
    except (TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        return False, f"cannot connect: {str(exc) or type(exc).__name__}"
    await conn.close()
    return None


async def redis_problem(endpoint: Endpoint) -> tuple[bool, str] | None:
    client = redis.Redis.from_url(endpoint.url, socket_connect_timeout=5)
    try:
        await client.ping()
    except redis.ConnectionError as exc:
        refused = any(sign in str(exc) for sign in ("refused", "Connect call failed"))
        return refused, f"nothing listens at {endpoint.host}:{endpoint.port}" if refused else f"cannot connect: {exc}"
    except (OSError, redis.RedisError, ValueError) as exc:
        return False, f"cannot connect: {exc}"
    finally:
        await client.aclose()
    return None


def find_binary(name: str) -> str | None:
    """A server binary from PATH, or from Debian's versioned folder (which is not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


@dataclass
class PrivateStore:
    """A store server we start ourselves: its foreground command, and how to run it as a daemon."""

    name: str
    endpoint: Endpoint
    argv: list[str]
    daemon_argv: list[str]
    user: str | None = None
    stop_signal: str = "SIGTERM"


def _postgres_user() -> str | None:
    """Postgres refuses to run as root: use the `postgres` account then (Debian's packages create it)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        reason = "running as root, but there is no `postgres` user to run a private server"
        raise StartupError("DATABASE_URL", reason) from None
    return "postgres"


def private_postgres(endpoint: Endpoint, data_dir: Path) -> PrivateStore:
    """Initialise (once) a trust-auth cluster in data_dir/postgres for the URL's user on the URL's port."""
    initdb, pg_ctl, postgres = find_binary("initdb"), find_binary("pg_ctl"), find_binary("postgres")
    if not (initdb and pg_ctl and postgres):
        raise StartupError(
            endpoint.setting,
            f"nothing listens at {endpoint.host}:{endpoint.port} and PostgreSQL is not installed; {INSTALL_HINT}",
        )
    user = _postgres_user()
    folder = data_dir / "postgres"
    folder.mkdir(parents=True, exist_ok=True)
    if user:
        shutil.chown(folder, user)
        os.chmod(folder, 0o700)
    if not (folder / "PG_VERSION").exists():
        cmd = [initdb, "-D", str(folder), "-U", endpoint.user, "--auth=trust", "-E", "UTF8", "--no-instructions"]
        done = subprocess.run(cmd, capture_output=True, text=True, user=user, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["initdb failed"])[-1]
            raise StartupError(endpoint.setting, f"initdb in {folder} failed: {last}")
    options = ["-p", str(endpoint.port), "-k", str(folder), "-c", f"listen_addresses={endpoint.host}"]
    log = folder / "server.log"
    return PrivateStore(
        "postgres",
        endpoint,
        [postgres, "-D", str(folder), *options],
        [pg_ctl, "-D", str(folder), "-l", str(log), "-w", "-o", " ".join(options), "start"],
        user=user,
        stop_signal="SIGINT",  # fast shutdown: do not wait for clients to disconnect
    )


def private_redis(endpoint: Endpoint, data_dir: Path) -> PrivateStore:
    server = shutil.which("redis-server")
    if not server:
        raise StartupError(
            endpoint.setting,
            f"nothing listens at {endpoint.host}:{endpoint.port} and Redis is not installed; {INSTALL_HINT}",
        )
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    args = [server, "--port", str(endpoint.port), "--bind", endpoint.host, "--dir", str(folder)]
    args += ["--save", "", "--appendonly", "no"]
    daemon = [*args, "--daemonize", "yes", "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "log")]
    return PrivateStore("redis", endpoint, args, daemon)


async def create_database(endpoint: Endpoint) -> None:
    """A fresh private cluster has only `postgres`; create the URL's database the first time."""
    maintenance = endpoint.url.rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(maintenance, timeout=5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", endpoint.database):
            await conn.execute(f'CREATE DATABASE "{endpoint.database}"')
    finally:
        await conn.close()


async def missing_stores(settings: Settings, data_dir: Path, allow_private: bool) -> list[PrivateStore]:
    """The private servers needed to make both URLs work; a problem we cannot fix is a StartupError."""
    needed = []
    pg_endpoint, redis_endpoint = endpoints(settings)
    checks = [(pg_endpoint, postgres_problem, private_postgres), (redis_endpoint, redis_problem, private_redis)]
    for endpoint, problem_of, private in checks:
        problem = await problem_of(endpoint)
        if problem is None:
            continue
        refused, reason = problem
        if not (refused and endpoint.local and allow_private):
            raise StartupError(endpoint.setting, reason)
        needed.append(private(endpoint, data_dir))
    return needed


async def ready(store: PrivateStore) -> bool:
    """True once the server answers at the URL; a fresh cluster gets the URL's database created here."""
    if store.name == "redis":
        return await redis_problem(store.endpoint) is None
    try:
        await create_database(store.endpoint)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    return await postgres_problem(store.endpoint) is None


async def wait_ready(store: PrivateStore, exited: Callable[[], bool] = lambda: False, timeout: float = 60) -> None:
    """Poll until the private server is ready, or fail naming the setting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await ready(store):
            return
        if exited():
            raise StartupError(store.endpoint.setting, f"the private {store.name} server exited at start-up")
        await asyncio.sleep(0.1)  # polling a readiness condition with a deadline
    raise StartupError(store.endpoint.setting, f"the private {store.name} server did not answer within {timeout:.0f}s")


async def start_daemons(settings: Settings, data_dir: Path) -> list[str]:
    """Start every missing store as a daemon that outlives us; say what was started."""
    started = []
    for store in await missing_stores(settings, data_dir, allow_private=True):
        proc = await asyncio.create_subprocess_exec(
            *store.daemon_argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, user=store.user
        )
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            last = (output.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise StartupError(store.endpoint.setting, f"cannot start a private {store.name}: {last}")
        await wait_ready(store)
        started.append(f"{store.name} on {store.endpoint.host}:{store.endpoint.port} (data in {data_dir})")
    return started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a private PostgreSQL/Redis where the configured one is down.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    try:
        started = asyncio.run(start_daemons(load_settings(), args.data_dir.resolve()))
    except StartupError as exc:
        print(f"agentmesh: {exc}", file=sys.stderr)
        return 2
    for line in started:
        print(f"started a private {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
