"""Wiring of the runlog service: servicer registration and its dependencies' lifetimes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc
from services.common.config import Settings
from services.common.serve import main


class RunLogServicer(runlog_pb2_grpc.RunLogServicer):
    """Filled in by its issue; until then every method answers UNIMPLEMENTED."""


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    runlog_pb2_grpc.add_RunLogServicer_to_server(RunLogServicer(), server)
    yield [runlog_pb2.DESCRIPTOR.services_by_name["RunLog"].full_name]


def run() -> None:
    main("runlog", setup, lambda s: s.runlog_addr)
