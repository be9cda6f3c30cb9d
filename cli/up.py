"""`agentmesh up`: the whole mesh on this machine, until Ctrl-C or SIGTERM.

Exit codes: 0 after a clean stop; 1 when a child died while running or did not stop cleanly;
2 when the mesh could not start (a one-line error naming the setting or the child at fault).
"""

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from cli.localstores import DEFAULT_DATA_DIR
from cli.mesh import Mesh, with_free_ports
from services.common.config import load_settings
from services.common.errors import StartupError


def add_mesh_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="logs and private stores (default: .agentmesh)"
    )
    parser.add_argument(
        "--no-local-stores",
        dest="local_stores",
        action="store_false",
        help="fail instead of starting a private PostgreSQL/Redis where the configured one is down",
    )
    parser.add_argument(
        "--free-ports", action="store_true", help="listen on free ports instead of the configured addresses"
    )
    parser.add_argument("--start-timeout", type=float, default=90.0, help="seconds to wait for health checks")


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("up", help="start every service, the gateway and simulators; Ctrl-C stops them")
    add_mesh_options(parser)


def say(line: str) -> None:
    print(line, flush=True)


def describe(mesh: Mesh) -> None:
    say(f"agentmesh is up; logs in {mesh.data_dir / 'logs'}")
    for child in mesh.children:
        say(f"  {child.name:<14} {child.addr:<22} {child.note}")


async def run_mesh(args: argparse.Namespace, body: Callable[[Mesh], Awaitable[int]]) -> int:
    """Start the mesh, run body until it returns, a child dies or a stop signal comes, then stop it all."""
    try:
        settings = load_settings()
        if args.free_ports:
            settings = with_free_ports(settings)
    except StartupError as exc:
        print(f"agentmesh: {exc}", file=sys.stderr)
        return 2
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    mesh = Mesh(settings, args.data_dir.resolve(), args.local_stores, args.start_timeout)
    starting = asyncio.ensure_future(mesh.__aenter__())
    await asyncio.wait([starting, asyncio.ensure_future(stopping.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
    try:
        await starting
    except asyncio.CancelledError:
        say("agentmesh: stopped while starting")
        return 0
    except StartupError as exc:
        print(f"agentmesh: {exc}", file=sys.stderr)
        return 2
    code = await _supervise(mesh, body, stopping)
    problems = await mesh.stop()
    for problem in problems:
        print(f"agentmesh: {problem}", file=sys.stderr)
    say("agentmesh stopped" + (" (with problems)" if problems else ""))
    return code or (1 if problems else 0)


async def _supervise(mesh: Mesh, body: Callable[[Mesh], Awaitable[int]], stopping: asyncio.Event) -> int:
    work = asyncio.ensure_future(body(mesh))
    died = asyncio.ensure_future(mesh.until_a_child_exits())
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([work, died, stop], return_when=asyncio.FIRST_COMPLETED)
    for task in (work, died, stop):
        if not task.done():
            task.cancel()
    if died.done() and not died.cancelled():
        child = died.result()
        print(f"agentmesh: {child.name} exited with code {child.proc.returncode}: {child.last_line()}", file=sys.stderr)
        return 1
    if work.done() and not work.cancelled():
        return work.result()
    return 0


async def _wait_forever(mesh: Mesh) -> int:
    describe(mesh)
    say("Ctrl-C to stop")
    await asyncio.Event().wait()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_mesh(args, _wait_forever))
