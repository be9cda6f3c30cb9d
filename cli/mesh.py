"""The local mesh: every service, the gateway, the simulators and (when needed) private stores as child processes.

`Mesh` is an async context manager: entering checks the configuration, starts every process and waits
for its health check; leaving stops them in dependency order (callers first, stores last) with SIGTERM.
A problem with the configuration, or a child that dies at start-up, is a one-line `StartupError`.
"""

import asyncio
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.health import health_status
from cli.localstores import ROOT, PrivateStore, missing_stores, wait_ready
from services.common.config import Settings
from services.common.errors import StartupError

SERVICES = ["runlog", "router", "toolworker", "scheduler"]
TIERS = {"sim": 1, "runlog": 1, "router": 2, "toolworker": 2, "scheduler": 3, "gateway": 4}  # stores: 0
PROVIDERS = ["openai", "anthropic", "gemini", "xai"]
KEY_NAMES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "xai": "XAI_API_KEY",
}
ADDR_FIELDS = [f"{name}_addr" for name in [*SERVICES, "gateway"]] + [f"{p}_sim_addr" for p in PROVIDERS]


@dataclass
class Child:
    """One process of the mesh: how to start it, where it listens, and how to tell it is ready."""

    name: str
    argv: list[str]
    addr: str
    setting: str  # what to fix when the address is taken
    note: str = ""
    user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    tier: int = 0  # stop order: higher tiers (callers) stop first
    ready: Callable[[], Awaitable[bool]] | None = None
    proc: asyncio.subprocess.Process | None = None
    log_path: Path = field(default_factory=Path)

    def last_line(self) -> str:
        """The child's last log line: a service's one-line start-up error, or the end of a traceback."""
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""


def _die_with_parent() -> None:
    """Children get SIGTERM if `agentmesh up` itself is killed, so no orphan keeps a port (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def with_free_ports(settings: Settings) -> Settings:
    """The same settings with every listening address moved to a free port on its host."""
    update = {}
    for name in ADDR_FIELDS:
        host = getattr(settings, name).rpartition(":")[0]
        with socket.socket() as sock:
            sock.bind((host, 0))
            update[name] = f"{host}:{sock.getsockname()[1]}"
    return settings.model_copy(update=update)


def env_name(addr_field: str) -> str:
    return f"AGENTMESH_{addr_field.upper()}"


def check_port_free(setting: str, addr: str) -> None:
    host, _, port = addr.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            raise StartupError(setting, f"cannot listen on {addr}: {exc.strerror or exc}") from None


async def grpc_serving(addr: str) -> bool:
    return await health_status(addr, timeout=1.0) == "SERVING"


async def http_healthy(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def tcp_open(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def simulated_providers(settings: Settings) -> list[str]:
    """Providers without an API key in the environment: they get a local simulator."""
    keys = {p: getattr(settings, f"{p}_api_key") for p in PROVIDERS}
    return [p for p, key in keys.items() if key is None or not key.get_secret_value()]


def _store_child(store: PrivateStore, data_dir: Path) -> Child:
    endpoint = store.endpoint
    addr = f"{endpoint.host}:{endpoint.port}"
    child = Child(store.name, store.argv, addr, endpoint.setting, f"private, data in {data_dir}")
    child.user, child.stop_signal = store.user, signal.Signals[store.stop_signal]
    return child


def plan(settings: Settings, stores: list[PrivateStore], data_dir: Path) -> list[Child]:
    """Every child in start order: stores, simulators, services, gateway (stopping goes the other way)."""
    python = sys.executable
    children = [_store_child(store, data_dir) for store in stores]
    for provider in simulated_providers(settings):
        addr = getattr(settings, f"{provider}_sim_addr")
        port = addr.rpartition(":")[2]
        argv = [python, "-m", "sim", provider, "--port", port]
        child = Child(f"sim-{provider}", argv, addr, env_name(f"{provider}_sim_addr"), tier=TIERS["sim"])
        child.note, child.ready = f"simulator: no {KEY_NAMES[provider]} set", lambda a=addr: tcp_open(a)
        children.append(child)
    for service in SERVICES:
        addr = getattr(settings, f"{service}_addr")
        argv = [python, "-m", f"services.{service}"]
        child = Child(service, argv, addr, env_name(f"{service}_addr"), "gRPC", tier=TIERS[service])
        child.ready = lambda a=addr: grpc_serving(a)
        children.append(child)
    url = f"http://{settings.gateway_addr}"
    gateway = Child("gateway", [python, "-m", "gateway"], settings.gateway_addr, env_name("gateway_addr"))
    gateway.note = f"REST, {url}"
    gateway.tier = TIERS["gateway"]
    gateway.ready = lambda: http_healthy(f"{url}/healthz")
    return [*children, gateway]


class Mesh:
    """Start, supervise and stop the local mesh."""

    def __init__(
        self, settings: Settings, data_dir: Path, allow_private_stores: bool = True, start_timeout_s: float = 90.0
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.allow_private_stores = allow_private_stores
        self.start_timeout_s = start_timeout_s
        self.children: list[Child] = []

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "AGENTMESH_PORT"}
        env.update({env_name(name): getattr(self.settings, name) for name in ADDR_FIELDS})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def __aenter__(self) -> "Mesh":
        stores = await missing_stores(self.settings, self.data_dir, self.allow_private_stores)
        self.children = plan(self.settings, stores, self.data_dir)
        for child in self.children:
            check_port_free(child.setting, child.addr)
        try:
            await self._start_all(stores)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _start_all(self, stores: list[PrivateStore]) -> None:
        """Stores first (services connect to them at start-up), then everything else at once."""
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.child_env()
        store_names = {store.name for store in stores}
        for child in self.children:
            child.log_path = logs / f"{child.name}.log"
        for store in stores:
            child = next(c for c in self.children if c.name == store.name)
            child.proc = await self._spawn(child, env)
            await wait_ready(store, exited=lambda c=child: c.proc is not None and c.proc.returncode is not None)
        others = [c for c in self.children if c.name not in store_names]
        for child in others:
            child.proc = await self._spawn(child, env)
        await asyncio.gather(*(self._wait_healthy(c) for c in others))

    @staticmethod
    async def _spawn(child: Child, env: dict[str, str]) -> asyncio.subprocess.Process:
        with child.log_path.open("wb") as log:
            return await asyncio.create_subprocess_exec(
                *child.argv,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
                preexec_fn=_die_with_parent,
                user=child.user,
            )

    async def _wait_healthy(self, child: Child) -> None:
        assert child.proc is not None and child.ready is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        while loop.time() < deadline:
            if child.proc.returncode is not None:
                raise StartupError(child.name, f"exited with code {child.proc.returncode}: {child.last_line()}")
            if await child.ready():
                return
            await asyncio.sleep(0.1)  # polling a readiness condition with a deadline
        raise StartupError(child.name, f"not healthy at {child.addr} within {self.start_timeout_s:.0f}s")

    async def until_a_child_exits(self) -> Child:
        """Wait until any child exits by itself; the mesh is broken then."""
        waits = {asyncio.ensure_future(c.proc.wait()): c for c in self.children if c.proc is not None}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waits[next(iter(done))]

    async def stop(self) -> list[str]:
        """Stop every child, callers before what they call (same tier at once); the problems seen, one line each."""
        problems: list[str] = []
        for tier in sorted({child.tier for child in self.children}, reverse=True):
            stopping = [self._stop_child(child) for child in self.children if child.tier == tier]
            problems += [problem for problem in await asyncio.gather(*stopping) if problem]
        self.children = []
        return problems

    async def _stop_child(self, child: Child) -> str | None:
        proc = child.proc
        if proc is None:
            return None
        if proc.returncode is None:
            proc.send_signal(child.stop_signal)
            grace = self.settings.shutdown_grace_s + 5
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                return f"{child.name} did not stop within {grace:.0f}s and was killed"
        if proc.returncode not in (0, -child.stop_signal):
            return f"{child.name} exited with code {proc.returncode}: {child.last_line()}"
        return None
