"""Wiring of the scheduler: RunTurn loads the session, drives the turn loop with live ports, persists.

Nothing is held between turns. A Redis lock per session serializes the turns of one session across
replicas; the run log's version check on the state write is the backstop if a lock ever expires.
Every failure is recorded as run_failed (while the run log can be reached) and returned as a typed
gRPC error whose RunTurnReply detail carries the run id, usage and cost so far.
"""

import contextlib
import importlib.metadata
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import grpc
import redis.asyncio as redis
from google.protobuf import json_format
from redis.exceptions import LockError

from agentmesh.v1 import runlog_pb2, scheduler_pb2_grpc
from agentmesh.v1.router_pb2 import CompleteRequest, ListModelsRequest
from agentmesh.v1.router_pb2_grpc import RouterStub
from agentmesh.v1.runlog_pb2_grpc import RunLogStub
from agentmesh.v1.scheduler_pb2 import DESCRIPTOR, RunTurnReply, RunTurnRequest
from agentmesh.v1.toolworker_pb2 import ListToolsRequest
from agentmesh.v1.toolworker_pb2_grpc import ToolWorkerStub
from services.common.bridge import proto_json
from services.common.config import Settings
from services.common.errors import MeshError
from services.common.serve import main, rpc
from services.common.stores import connect_redis
from services.scheduler.agent import Agent, load_agents
from services.scheduler.dispatch import ToolDispatch
from services.scheduler.loop import Ports, as_dict, event, run_turn
from services.scheduler.turn import AgentState

T = TypeVar("T")
RUNTIME_VERSION = importlib.metadata.version("agentmesh")


async def _remote(service: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        error = MeshError.from_rpc_error(exc)
        raise MeshError(error.kind, f"{service}: {error.message}", error.details) from None


def _inbound_text(input_json: str) -> str:
    """The user message of the turn: a JSON string as its text, a JSON object as its JSON."""
    try:
        inbound = json.loads(input_json)
    except json.JSONDecodeError as exc:
        raise MeshError("bad_request", f"input_json: not JSON ({exc.msg})", field="input_json") from None
    return inbound if isinstance(inbound, str) else input_json


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self, settings: Settings, rds: redis.Redis) -> None:
        self.settings, self.rds, self.agents = settings, rds, load_agents(settings.agents_module)
        addrs = (settings.router_addr, settings.runlog_addr, settings.toolworker_addr)
        router, runlog, toolworker = self.channels = [grpc.aio.insecure_channel(addr) for addr in addrs]
        self.router, self.runlog, self.toolworker = RouterStub(router), RunLogStub(runlog), ToolWorkerStub(toolworker)

    @rpc
    async def GetRun(self, request: runlog_pb2.GetRunRequest, context: Any) -> runlog_pb2.Run:
        return await _remote("run log", self.runlog.GetRun(request))

    @rpc
    async def RunTurn(self, request: RunTurnRequest, context: Any) -> RunTurnReply:
        if (agent := self.agents.get(request.agent)) is None:
            raise MeshError("not_found", f"agent: no agent named {request.agent!r}", field="agent")
        inbound = _inbound_text(request.input_json)
        reply = RunTurnReply(run_id=request.run_id or f"run-{uuid.uuid4()}")
        reply.session_id = request.session_id or f"ses-{uuid.uuid4()}"
        settings = self.settings
        lock = self.rds.lock(f"{settings.redis_prefix}session:{reply.session_id}:lock", settings.turn_timeout_s)
        if not await lock.acquire(blocking_timeout=lock.timeout):
            raise MeshError("timeout", f"session {reply.session_id} stayed busy for {lock.timeout}s")
        try:
            if request.run_id:
                await self._refuse_used_run_id(request.run_id)
            return await self._turn(agent, request, inbound, reply)
        finally:
            with contextlib.suppress(LockError):  # expired: the state's version check still guards the session
                await lock.release()

    async def _turn(self, agent: Agent, request: RunTurnRequest, inbound: str, reply: RunTurnReply) -> RunTurnReply:
        header = runlog_pb2.RunHeader(agent=agent.name, customer=request.customer, session_id=reply.session_id)

        async def record(events: list[runlog_pb2.Event], **final: Any) -> runlog_pb2.AppendEventsReply:
            append = runlog_pb2.AppendEventsRequest(run_id=reply.run_id, header=header, events=events, **final)
            return await _remote("run log", self.runlog.AppendEvents(append))

        dispatch = ToolDispatch(self.rds, self.settings, reply.run_id)
        try:
            load = runlog_pb2.LoadStateRequest(session_id=reply.session_id)
            loaded = await _remote("run log", self.runlog.LoadState(load))
            base = await self._start(agent, request, reply, loaded, record)
            complete = lambda asked: _remote("router", self.router.Complete(asked))  # noqa: E731
            state = json_format.Parse(loaded.state_json or "{}", AgentState())
            result, state = await run_turn(agent, base, state, inbound, Ports(complete, dispatch, record))
            reply.MergeFrom(result)
            if result.error.kind:
                raise MeshError(result.error.kind, result.error.message)
            write = runlog_pb2.StateWrite(session_id=reply.session_id, expected_version=loaded.version)
            write.state_json = proto_json(state)
            snapshot = {"session_id": reply.session_id, "version": loaded.version + 1, "state": as_dict(state)}
            output = {"outbound": [as_dict(m) for m in reply.outbound], "output_json": reply.output_json}
            events = [event("turn_output", output), event("state_snapshot", snapshot), event("run_finished", {})]
            reply.state_version = (await record(events, state=write, status="succeeded")).state_version
            return reply
        except Exception as exc:
            kind = "unavailable" if isinstance(exc, redis.RedisError) else "internal"
            error = exc if isinstance(exc, MeshError) else MeshError(kind, f"{type(exc).__name__}: {exc}")
            reply.status, reply.error.kind, reply.error.message = "failed", error.kind, error.message
            with contextlib.suppress(MeshError):  # the run log may be what failed: the turn still fails loudly
                await record([event("run_failed", {"error": as_dict(reply.error)})], status="failed")
            raise MeshError(error.kind, error.message, [*error.details, reply], run_id=reply.run_id) from exc
        finally:
            await dispatch.close()

    async def _refuse_used_run_id(self, run_id: str) -> None:
        """A caller-chosen run id runs once: a retry gets `conflict` instead of a second execution."""
        try:
            run = await _remote("run log", self.runlog.GetRun(runlog_pb2.GetRunRequest(run_id=run_id)))
        except MeshError as exc:
            if exc.kind != "not_found":
                raise
        else:
            raise MeshError("conflict", f"run_id: run {run_id} already exists ({run.status}); GetRun has its result")

    async def _start(
        self, agent: Agent, request: RunTurnRequest, reply: RunTurnReply, loaded: runlog_pb2.SessionState, record: Any
    ) -> CompleteRequest:
        """The turn's request skeleton with the agent's tools pinned (an unregistered pin is refused here)."""
        listed = await _remote("toolworker", self.toolworker.ListTools(ListToolsRequest()))
        registered = {f"{tool.name}@{tool.version}": tool for tool in listed.tools}
        if missing := [ref for ref in agent.tools if ref not in registered]:
            raise MeshError("not_found", f"agent {agent.name} pins unregistered tools: {', '.join(missing)}")
        routing = {"customer": request.customer, "model": request.model, "prefer": request.prefer}
        base = CompleteRequest(**routing, exclude=request.exclude, tools=[registered[ref] for ref in agent.tools])
        base.run_id, base.turn_id = reply.run_id, f"{reply.session_id}:{loaded.version + 1}"
        policy = await _remote("router", self.router.ListModels(ListModelsRequest()))
        tools = [{"name": t.name, "version": t.version, "schema_hash": t.schema_hash} for t in base.tools]
        started = {"agent": agent.name, "agent_hash": agent.definition_hash(), "tools": tools}
        started |= {"runtime_version": RUNTIME_VERSION, "policy_version": policy.policy_version}
        turn_input = {"session_id": reply.session_id, "input_json": request.input_json}
        turn_input |= {"state_version": loaded.version, "state_json": loaded.state_json}
        await record([event("run_started", started), event("turn_input", turn_input)], status="running")
        return base


@asynccontextmanager
async def setup(server: grpc.aio.Server, settings: Settings) -> AsyncIterator[list[str]]:
    servicer = SchedulerServicer(settings, rds := await connect_redis(settings))
    scheduler_pb2_grpc.add_SchedulerServicer_to_server(servicer, server)
    try:
        yield [DESCRIPTOR.services_by_name["Scheduler"].full_name]
    finally:
        for channel in servicer.channels:
            await channel.close()
        await rds.aclose()


def run() -> None:
    main("scheduler", setup, lambda s: s.scheduler_addr)
