"""The HTTP side shared by the JSON simulators (OpenAI, Anthropic, Gemini): one Starlette app per vendor.

A vendor module supplies routes that translate a wire body into an `Exchange` and a reply back into a wire
body, plus its error shape; this module parses the body, runs the engine, waits out latency or hangs,
and answers.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.engine import Defaults, decide
from sim.exchange import Exchange, Failure, Hang, Reply

Json = dict[str, Any]
Translate = Callable[[Json, dict[str, str]], Exchange]
Render = Callable[[Reply, Exchange], Json]
RenderError = Callable[[Failure], Json]


class WireError(ValueError):
    """The request body is not what the vendor's API accepts; answered as the vendor's 400."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class Endpoint:
    path: str
    translate: Translate
    render: Render


@dataclass(frozen=True)
class HttpVendor:
    name: str
    endpoints: tuple[Endpoint, ...]
    render_error: RenderError
    headers: Callable[[], dict[str, str]] = dict


def _error_response(vendor: HttpVendor, failure: Failure) -> Response:
    headers = vendor.headers()
    if failure.retry_after is not None:
        headers["retry-after"] = f"{failure.retry_after:g}"
    return JSONResponse(vendor.render_error(failure), status_code=failure.status, headers=headers)


async def _hang(request: Request, stopping: asyncio.Event) -> None:
    """Never answer: wait until the client gives up (disconnects) or the simulator is told to stop."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    waiters = {asyncio.ensure_future(disconnected()), asyncio.ensure_future(stopping.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _handler(
    vendor: HttpVendor, endpoint: Endpoint, defaults: Defaults, stopping: asyncio.Event
) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise WireError("the request body must be a JSON object")
            exchange = endpoint.translate(body, dict(request.path_params))
        except WireError as exc:
            return _error_response(vendor, Failure(400, "bad_request", str(exc), where=exc.where))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            message = f"could not read the request body: {type(exc).__name__}: {exc}"
            return _error_response(vendor, Failure(400, "bad_request", message))
        plan = decide(exchange, defaults)
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        if isinstance(plan.outcome, Hang):
            await _hang(request, stopping)
            return _error_response(vendor, Failure(503, "unavailable", "The simulator is shutting down."))
        if isinstance(plan.outcome, Failure):
            return _error_response(vendor, plan.outcome)
        assert isinstance(plan.outcome, Reply)
        return JSONResponse(endpoint.render(plan.outcome, exchange), headers=vendor.headers())

    return handle


def build_app(vendor: HttpVendor, defaults: Defaults, stopping: asyncio.Event) -> Starlette:
    routes = [Route(e.path, _handler(vendor, e, defaults, stopping), methods=["POST"]) for e in vendor.endpoints]
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """Tells hanging requests to give up as soon as a stop signal arrives, so SIGTERM is prompt."""

    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        asyncio.get_running_loop().call_soon_threadsafe(self.stopping.set)
        super().handle_exit(sig, frame)


def serve_http(vendor: HttpVendor, host: str, port: int, defaults: Defaults) -> None:
    """Serve until SIGTERM/SIGINT."""
    stopping = asyncio.Event()
    app = build_app(vendor, defaults, stopping)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)
    _Server(config, stopping).run()
