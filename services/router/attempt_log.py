"""The router's own record of every provider attempt, written to the run log (the spend is rebuilt from it).

A call the run log cannot record must not happen: `ready()` is checked before each provider call, and an
append that fails turns the request into `unavailable`."""

import asyncio
import json

import grpc

from agentmesh.v1 import router_pb2, runlog_pb2, runlog_pb2_grpc
from services.common.bridge import proto_json
from services.common.errors import MeshError


class AttemptLog:
    """A RunLog client (grpc.aio) that appends `model_attempt` events."""

    def __init__(self, runlog_addr: str) -> None:
        self.channel = grpc.aio.insecure_channel(runlog_addr)
        self.stub = runlog_pb2_grpc.RunLogStub(self.channel)

    async def ready(self) -> None:
        try:
            await asyncio.wait_for(self.channel.channel_ready(), timeout=2.0)
        except TimeoutError:
            raise MeshError("unavailable", "run log unavailable") from None

    async def append(self, request: router_pb2.CompleteRequest, attempt: router_pb2.Attempt) -> None:
        """Payload: the Attempt as proto JSON plus the request fields that budgets and replay need."""
        payload = json.loads(proto_json(attempt))
        payload |= {"customer": request.customer, "turn_id": request.turn_id, "task_class": request.task_class}
        payload |= {"temperature": request.temperature, "max_output_tokens": request.max_output_tokens}
        payload["seed"] = request.seed if request.HasField("seed") else None
        event = runlog_pb2.Event(kind="model_attempt", source="router", payload_json=json.dumps(payload))
        header = runlog_pb2.RunHeader(customer=request.customer)
        append = runlog_pb2.AppendEventsRequest(run_id=request.run_id, header=header, events=[event])
        try:
            await self.stub.AppendEvents(append, timeout=5.0)
        except grpc.aio.AioRpcError as exc:
            raise MeshError("unavailable", f"run log unavailable: {exc.details()}") from None

    async def aclose(self) -> None:
        await self.channel.close()
