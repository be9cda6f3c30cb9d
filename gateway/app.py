"""The REST surface for n8n and other HTTP callers: API key -> customer, validated bodies, typed JSON errors."""

import asyncio
import hashlib
import json
import signal
import uuid
from typing import Any

import grpc
import httpx
import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import AnyHttpUrl, BaseModel, Field

from agentmesh.v1 import runlog_pb2, scheduler_pb2, scheduler_pb2_grpc
from services.common.config import Settings, load_settings
from services.common.errors import MeshError, StartupError
from services.common.logs import configure_logging
from services.common.stores import connect_redis

HTTP_STATUS = dict(INVALID_ARGUMENT=400, UNAUTHENTICATED=401, NOT_FOUND=404, ABORTED=409, RESOURCE_EXHAUSTED=429,
                   FAILED_PRECONDITION=422, UNIMPLEMENTED=501, UNAVAILABLE=503, DEADLINE_EXCEEDED=504)  # fmt: skip


class TurnBody(BaseModel, extra="forbid"):
    """One inbound message for an agent. With callback_url the turn runs after a 202 reply and its result
    (or error body) is POSTed there: n8n's Wait node hands out such a resume URL."""

    input: dict[str, Any] | str
    session_id: str = ""
    run_id: str = Field(default_factory=lambda: str(uuid.uuid4()))  # the caller's own makes retries idempotent
    model: str = ""
    prefer: list[str] = []
    exclude: list[str] = []
    callback_url: AnyHttpUrl | None = None


def as_json(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def error_response(request: Request | None, error: Exception) -> JSONResponse:
    """Any failure as {"error": {kind, message, ...}} with the HTTP status of its gRPC code."""
    if isinstance(error, RequestValidationError):
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:]) or "body"
        error = MeshError("bad_request", f"{field}: {first['msg']}", field=field)
    mesh = error if isinstance(error, MeshError) else MeshError.from_rpc_error(error)  # type: ignore[arg-type]
    body = {"kind": mesh.kind, "message": mesh.message, **mesh.metadata}
    return JSONResponse({"error": body}, status_code=HTTP_STATUS.get(mesh.code.name, 500))


async def create_app(settings: Settings) -> FastAPI:
    client = await connect_redis(settings)
    handlers = dict.fromkeys((MeshError, grpc.aio.AioRpcError, RequestValidationError), error_response)
    app = FastAPI(title="agentmesh gateway", exception_handlers=handlers)  # type: ignore[arg-type]
    scheduler = scheduler_pb2_grpc.SchedulerStub(grpc.aio.insecure_channel(settings.scheduler_addr))
    app.add_api_route("/healthz", lambda: {"status": "ok"})
    Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"]).instrument(app).expose(app)

    async def customer(authorization: str = Header(""), x_api_key: str = Header("")) -> str:
        """API keys are stored only as their sha256, in the Redis hash `<prefix>apikeys` (-> customer)."""
        key = x_api_key or authorization.removeprefix("Bearer ").strip()
        found = key and await client.hget(f"{settings.redis_prefix}apikeys", hashlib.sha256(key.encode()).hexdigest())
        if not found:
            raise MeshError("auth", "missing or unknown API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
        return found.decode()

    async def deliver(request: scheduler_pb2.RunTurnRequest, url: str) -> None:
        try:
            result = as_json(await scheduler.RunTurn(request, timeout=settings.turn_timeout_s))
        except grpc.aio.AioRpcError as exc:
            result = json.loads(error_response(None, exc).body)
        async with httpx.AsyncClient(timeout=30) as http:
            (await http.post(url, json=result)).raise_for_status()  # a failed delivery is logged loudly

    @app.post("/v1/agents/{agent}/turns", response_model=None)
    async def run_turn(agent: str, body: TurnBody, tasks: BackgroundTasks, who: str = Depends(customer)) -> Any:
        fields = body.model_dump(include={"session_id", "run_id", "model", "prefer", "exclude"})
        request = scheduler_pb2.RunTurnRequest(agent=agent, customer=who, input_json=json.dumps(body.input), **fields)
        if body.callback_url is None:
            return as_json(await scheduler.RunTurn(request, timeout=settings.turn_timeout_s))
        tasks.add_task(deliver, request, str(body.callback_url))
        return JSONResponse({"run_id": request.run_id, "status": "accepted"}, status_code=202)

    @app.get("/v1/runs/{run_id}")
    async def get_run(run_id: str, who: str = Depends(customer)) -> dict[str, Any]:
        run = await scheduler.GetRun(runlog_pb2.GetRunRequest(run_id=run_id))
        if run.header.customer != who:
            raise MeshError("not_found", f"no run {run_id}")
        return as_json(run)

    return app


async def serve() -> None:
    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    host, _, port = settings.listen_addr(settings.gateway_addr).rpartition(":")
    app = await create_app(settings)
    await uvicorn.Server(uvicorn.Config(app, host=host, port=int(port), log_config=None)).serve()


def main() -> None:
    """`python -m gateway`: exit 0 after draining on SIGTERM, 1 with one line on bad configuration."""
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # uvicorn drains on these, then re-raises them: exit 0 instead
        asyncio.run(serve())
    except StartupError as exc:
        raise SystemExit(f"gateway: {exc}") from None
