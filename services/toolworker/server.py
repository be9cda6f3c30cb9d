"""Wiring of the toolworker: the ListTools RPC and the stream consumer, in one process.

On SIGTERM the consumer stops reading and the calls in flight finish before the process exits.
"""

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from agentmesh.v1 import toolworker_pb2_grpc
from agentmesh.v1.toolworker_pb2 import DESCRIPTOR, ListToolsReply, ListToolsRequest
from services.common.config import Settings
from services.common.errors import StartupError
from services.common.serve import main, rpc
from services.common.stores import connect_redis
from services.toolworker.consumer import ToolConsumer
from services.toolworker.registry import Registry


class ToolWorkerServicer(toolworker_pb2_grpc.ToolWorkerServicer):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @rpc
    async def ListTools(self, request: ListToolsRequest, context: object) -> ListToolsReply:
        return ListToolsReply(tools=[tool.definition for tool in self.registry.tools.values()])


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    try:
        registry = Registry(importlib.import_module(settings.agents_module).TOOLS)
    except (ImportError, AttributeError, ValueError) as exc:
        raise StartupError("AGENTMESH_AGENTS_MODULE", f"no TOOLS in {settings.agents_module}: {exc}") from None
    consumer = ToolConsumer(registry, rds := await connect_redis(settings), settings)
    consuming = asyncio.create_task(consumer.run())
    toolworker_pb2_grpc.add_ToolWorkerServicer_to_server(ToolWorkerServicer(registry), server)
    try:
        yield [DESCRIPTOR.services_by_name["ToolWorker"].full_name]
    finally:
        consumer.stopping.set()
        await consuming
        await rds.aclose()


def run() -> None:
    main("toolworker", setup, lambda s: s.toolworker_addr)
