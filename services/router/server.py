"""Wiring of the router service: servicer registration and its dependencies' lifetimes."""

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from agentmesh.v1 import router_pb2, router_pb2_grpc
from services.common.bridge import from_proto
from services.common.config import Settings
from services.common.serve import main, rpc
from services.common.stores import connect_redis
from services.router.attempt_log import AttemptLog
from services.router.completion import Completion
from services.router.intake import RequestShape
from services.router.ledger import Ledger
from services.router.policy import PolicyStore
from services.router.pricing import load_prices
from services.router.providers import build_providers
from services.router.routing import Routing
from services.router.structured import contract_for


@dataclass
class RouterServicer(router_pb2_grpc.RouterServicer):
    routing: Routing

    @rpc
    async def Complete(self, request: router_pb2.CompleteRequest, context: object) -> router_pb2.CompleteReply:
        from_proto(request, RequestShape)  # a request of the wrong shape is a bad_request naming the field
        contract = contract_for(request.output_type, request.output_schema_json)
        request.run_id = request.run_id or f"adhoc-{uuid.uuid4()}"
        return await self.routing.complete(request, contract)

    @rpc
    async def GetBudget(self, request: router_pb2.GetBudgetRequest, context: object) -> router_pb2.GetBudgetReply:
        return await self.routing.ledger.budget(self.routing.policies.current(), request.customer)

    @rpc
    async def ListModels(self, request: router_pb2.ListModelsRequest, context: object) -> router_pb2.ListModelsReply:
        return await self.routing.models()


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    providers = build_providers(settings)
    log = AttemptLog(settings.runlog_addr)
    policies = PolicyStore(settings.policy_path, (prices := load_prices(settings.prices_path)).models)
    completion = Completion(providers, prices, log, policies.current().timeout_s)  # routing sets each entry's own
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, policies.current)
    redis = await connect_redis(settings, max_connections=64)
    routing = Routing(policies, completion, Ledger(redis, settings.redis_prefix, log.stub))
    router_pb2_grpc.add_RouterServicer_to_server(RouterServicer(routing), server)
    yield [router_pb2.DESCRIPTOR.services_by_name["Router"].full_name]
    await log.aclose()
    await redis.aclose()
    for provider in providers.values():
        await provider.aclose()


def run() -> None:
    main("router", setup, lambda s: s.router_addr)
