"""Wiring of the scheduler: the gRPC servicer over the session turns (session.py), and their lifetimes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from agentmesh.v1 import runlog_pb2, scheduler_pb2_grpc
from agentmesh.v1.scheduler_pb2 import DESCRIPTOR, RunTurnReply, RunTurnRequest
from services.common.config import Settings
from services.common.serve import main, rpc
from services.common.stores import connect_redis
from services.scheduler.session import Sessions


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    @rpc
    async def GetRun(self, request: runlog_pb2.GetRunRequest, context: Any) -> runlog_pb2.Run:
        return await self.sessions.runlog.call(self.sessions.runlog.stub.GetRun, request)

    @rpc
    async def RunTurn(self, request: RunTurnRequest, context: Any) -> RunTurnReply:
        return await self.sessions.run_turn(request)


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    sessions = Sessions(settings, rds := await connect_redis(settings))
    scheduler_pb2_grpc.add_SchedulerServicer_to_server(SchedulerServicer(sessions), server)
    try:
        yield [DESCRIPTOR.services_by_name["Scheduler"].full_name]
    finally:
        await sessions.close()
        await rds.aclose()


def run() -> None:
    main("scheduler", setup, lambda s: s.scheduler_addr)
