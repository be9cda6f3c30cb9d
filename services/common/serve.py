"""Server bootstrap shared by every service: health, reflection, graceful SIGTERM, one-line start-up errors."""

import asyncio
import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from pydantic import ValidationError

from services.common.config import Settings, load_settings
from services.common.errors import MeshError, StartupError, abort, as_mesh_error
from services.common.logs import configure_logging

log = logging.getLogger(__name__)

# A service's setup: given the server and settings, register servicers, and yield their full names.
ServiceSetup = Callable[[grpc.aio.Server, Settings], AbstractAsyncContextManager[list[str]]]
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def rpc(method: Handler) -> Handler:
    """Turn exceptions of a servicer method into typed gRPC statuses; nothing escapes as UNKNOWN."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except MeshError as exc:
            await abort(context, exc)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "request"
            await abort(context, MeshError("bad_request", f"{where}: {first['msg']}", field=where))
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            log.exception("error in %s", method.__name__)
            await abort(context, as_mesh_error(exc))

    return wrapper  # type: ignore[return-value]


async def _serve(name: str, setup: ServiceSetup, settings: Settings, own_addr: str) -> None:
    server = grpc.aio.server()
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    async with setup(server, settings) as service_names:
        reflection.enable_server_reflection([*service_names, reflection.SERVICE_NAME, "grpc.health.v1.Health"], server)
        addr = settings.listen_addr(own_addr)
        try:
            server.add_insecure_port(addr)
        except RuntimeError:
            raise StartupError("AGENTMESH_PORT", f"cannot listen on {addr} (port in use?)") from None
        await server.start()
        for service in ["", *service_names]:
            await health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"addr": addr, "services": service_names})
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("draining", extra={"grace_s": settings.shutdown_grace_s})
        await health.enter_graceful_shutdown()
        await server.stop(settings.shutdown_grace_s)
    log.info("stopped")


def main(name: str, setup: ServiceSetup, own_addr: Callable[[Settings], str]) -> None:
    """Entry point of a service process: exit 0 after a graceful stop, 2 with one line on bad config."""
    try:
        settings = load_settings()
        configure_logging(name, settings.log_level)
        asyncio.run(_serve(name, setup, settings, own_addr(settings)))
    except StartupError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        sys.exit(2)
