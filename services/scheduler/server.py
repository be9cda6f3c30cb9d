"""Wiring of the scheduler service: servicer registration and its dependencies' lifetimes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from agentmesh.v1 import scheduler_pb2, scheduler_pb2_grpc
from services.common.config import Settings
from services.common.serve import main


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServicer):
    """Filled in by its issue; until then every method answers UNIMPLEMENTED."""


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    scheduler_pb2_grpc.add_SchedulerServicer_to_server(SchedulerServicer(), server)
    yield [scheduler_pb2.DESCRIPTOR.services_by_name["Scheduler"].full_name]


def run() -> None:
    main("scheduler", setup, lambda s: s.scheduler_addr)
