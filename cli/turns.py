"""One turn as the CLI, benchmarks and tests see it: a reply either way, never an exception."""

import grpc

from agentmesh.v1 import common_pb2, scheduler_pb2, scheduler_pb2_grpc
from services.common.errors import MeshError


async def run_turn(
    stub: scheduler_pb2_grpc.SchedulerStub, request: scheduler_pb2.RunTurnRequest
) -> scheduler_pb2.RunTurnReply:
    """The turn's reply; a failed turn comes back as status "failed" with its error kind and message."""
    try:
        return await stub.RunTurn(request)
    except grpc.aio.AioRpcError as exc:
        error = common_pb2.ErrorDetail(kind=MeshError.from_rpc_error(exc).kind, message=exc.details() or "")
        return scheduler_pb2.RunTurnReply(run_id=request.run_id, status="failed", error=error)
