"""Typed errors cross gRPC hops with their kind, metadata and details intact."""

import asyncio

import grpc
import pytest

from agentmesh.v1 import router_pb2, runlog_pb2, runlog_pb2_grpc
from services.common.errors import MeshError


def _through_grpc(error: MeshError) -> MeshError:
    """Raise the error from a real grpc.aio server and rebuild it on the client side."""

    class Failing(runlog_pb2_grpc.RunLogServicer):
        async def GetRun(self, request: runlog_pb2.GetRunRequest, context: grpc.aio.ServicerContext) -> None:
            await context.abort_with_status(error.to_status())

    async def roundtrip() -> MeshError:
        server = grpc.aio.server()
        runlog_pb2_grpc.add_RunLogServicer_to_server(Failing(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await runlog_pb2_grpc.RunLogStub(channel).GetRun(runlog_pb2.GetRunRequest(run_id="r"))
            return MeshError.from_rpc_error(caught.value)
        finally:
            await server.stop(None)

    return asyncio.run(roundtrip())


def test_kind_metadata_and_details_survive_a_grpc_hop() -> None:
    failure = router_pb2.CompleteFailure(decision="openai:gpt-4o chosen")
    received = _through_grpc(MeshError("schema_invalid", "three invalid replies", [failure], run_id="r1"))
    assert (received.kind, received.code, received.message) == (
        "schema_invalid",
        grpc.StatusCode.FAILED_PRECONDITION,
        "three invalid replies",
    )
    assert received.metadata == {"run_id": "r1"}
    assert received.detail(router_pb2.CompleteFailure) == failure


def test_a_relayed_error_keeps_its_details_readable_after_a_second_hop() -> None:
    failure = router_pb2.CompleteFailure(decision="relayed")
    first = _through_grpc(MeshError("unavailable", "router down", [failure]))
    second = _through_grpc(MeshError(first.kind, f"router: {first.message}", first.details))
    assert second.kind == "unavailable"
    assert second.detail(router_pb2.CompleteFailure) == failure


def test_an_unknown_kind_becomes_internal() -> None:
    assert MeshError("no_such_kind", "x").code == grpc.StatusCode.INTERNAL
