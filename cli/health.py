"""The standard gRPC health check as a client asks it: for `agentmesh up`, tests and benchmarks."""

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


async def health_status(addr: str, service: str = "", timeout: float = 2.0) -> str:
    """The health of a server as its status name (SERVING, NOT_SERVING, ...), or UNREACHABLE."""
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.aio.AioRpcError:
            return "UNREACHABLE"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
