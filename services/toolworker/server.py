"""Wiring of the toolworker service: servicer registration and its dependencies' lifetimes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from agentmesh.v1 import toolworker_pb2, toolworker_pb2_grpc
from services.common.config import Settings
from services.common.serve import main


class ToolWorkerServicer(toolworker_pb2_grpc.ToolWorkerServicer):
    """Filled in by its issue; until then every method answers UNIMPLEMENTED."""


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    toolworker_pb2_grpc.add_ToolWorkerServicer_to_server(ToolWorkerServicer(), server)
    yield [toolworker_pb2.DESCRIPTOR.services_by_name["ToolWorker"].full_name]


def run() -> None:
    main("toolworker", setup, lambda s: s.toolworker_addr)
