"""Wiring of the router service: servicer registration and its dependencies' lifetimes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from agentmesh.v1 import router_pb2, router_pb2_grpc
from services.common.config import Settings
from services.common.serve import main


class RouterServicer(router_pb2_grpc.RouterServicer):
    """Filled in by its issue; until then every method answers UNIMPLEMENTED."""


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    router_pb2_grpc.add_RouterServicer_to_server(RouterServicer(), server)
    yield [router_pb2.DESCRIPTOR.services_by_name["Router"].full_name]


def run() -> None:
    main("router", setup, lambda s: s.router_addr)
