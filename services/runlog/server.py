"""Wiring of the runlog service: the pool, the migrations, the NOTIFY listener, and the servicer."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc
from services.common.config import Settings
from services.common.errors import StartupError
from services.common.serve import main
from services.common.stores import connect_postgres
from services.runlog.migrations import apply_migrations
from services.runlog.redaction import Redactor
from services.runlog.service import RunLogService


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    async with await connect_postgres(settings) as pool, pool.acquire() as listener:
        try:
            await apply_migrations(pool, settings.db_schema)
        except asyncpg.PostgresError as exc:
            raise StartupError("AGENTMESH_DB_SCHEMA", f"cannot apply the run log migrations: {exc}") from None
        # One NOTIFY channel per schema: deployments (and test runs) sharing a database do not wake each other.
        service = RunLogService(pool, Redactor(settings), channel=f"runlog_{settings.db_schema}")
        await listener.add_listener(service.channel, service.committed)
        runlog_pb2_grpc.add_RunLogServicer_to_server(service, server)
        yield [runlog_pb2.DESCRIPTOR.services_by_name["RunLog"].full_name]
        await listener.remove_listener(service.channel, service.committed)  # a pooled connection goes back clean


def run() -> None:
    main("runlog", setup, lambda s: s.runlog_addr)
