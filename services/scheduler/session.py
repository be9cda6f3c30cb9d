"""A session's turns on the live mesh: one at a time, each one run of the turn loop, recorded and persisted.

Nothing is held between turns. A Redis lock per session serializes the turns of one session across
replicas; the run log's version check on the state write is the backstop if a lock ever expires.
Every failure is recorded as run_failed (while the run log can be reached) and raised as a MeshError
whose RunTurnReply detail carries the run id, usage and cost so far.
"""

import contextlib
import functools
import importlib.metadata
import uuid
from typing import Any

import redis.asyncio as redis
from google.protobuf import json_format
from redis.exceptions import LockError

from agentmesh.v1 import router_pb2_grpc, runlog_pb2, runlog_pb2_grpc, toolworker_pb2_grpc
from agentmesh.v1.router_pb2 import CompleteRequest, ListModelsRequest
from agentmesh.v1.scheduler_pb2 import AgentState, RunTurnReply, RunTurnRequest
from agentmesh.v1.toolworker_pb2 import ListToolsRequest
from services.common.bridge import proto_json
from services.common.config import Settings
from services.common.errors import MeshError, as_mesh_error
from services.common.peer import Peer
from services.scheduler.agent import Agent, load_agents
from services.scheduler.dispatch import ToolDispatch
from services.scheduler.loop import Ports, event, failed_event, finished_events, inbound_text, run_turn

RUNTIME_VERSION = importlib.metadata.version("agentmesh")


class Sessions:
    """Runs the turns of sessions on the router, the tool workers and the run log; no call outlives a turn."""

    def __init__(self, settings: Settings, rds: redis.Redis) -> None:
        self.settings, self.rds, self.agents = settings, rds, load_agents(settings.agents_module)
        timeout_s = settings.turn_timeout_s
        self.router = Peer("router", settings.router_addr, router_pb2_grpc.RouterStub, timeout_s)
        self.runlog = Peer("run log", settings.runlog_addr, runlog_pb2_grpc.RunLogStub, timeout_s)
        self.toolworker = Peer("toolworker", settings.toolworker_addr, toolworker_pb2_grpc.ToolWorkerStub, timeout_s)

    async def run_turn(self, request: RunTurnRequest) -> RunTurnReply:
        """The session's next turn, once the turn before it has ended on whichever replica ran it."""
        if (agent := self.agents.get(request.agent)) is None:
            raise MeshError("not_found", f"agent: no agent named {request.agent!r}", field="agent")
        inbound = inbound_text(request.input_json)
        reply = RunTurnReply(run_id=request.run_id or f"run-{uuid.uuid4()}")
        reply.session_id = request.session_id or f"ses-{uuid.uuid4()}"
        key, wait = f"{self.settings.redis_prefix}session:{reply.session_id}:lock", self.settings.turn_timeout_s
        try:  # a lock that expired before its release leaves the guard to the state's version check
            async with self.rds.lock(key, wait, blocking_timeout=wait, raise_on_release_error=False):
                return await self._run(agent, request, inbound, reply)
        except LockError:
            raise MeshError("timeout", f"session {reply.session_id} stayed busy for {wait}s") from None

    async def _run(self, agent: Agent, request: RunTurnRequest, inbound: str, reply: RunTurnReply) -> RunTurnReply:
        header = runlog_pb2.RunHeader(agent=agent.name, customer=request.customer, session_id=reply.session_id)

        async def record(events: list[runlog_pb2.Event], **final: Any) -> runlog_pb2.AppendEventsReply:
            append = runlog_pb2.AppendEventsRequest(run_id=reply.run_id, header=header, events=events, **final)
            return await self.runlog.call(self.runlog.stub.AppendEvents, append)

        complete = functools.partial(self.router.call, self.router.stub.Complete)
        dispatch = ToolDispatch(self.rds, self.settings, reply.run_id)
        try:
            session = runlog_pb2.LoadStateRequest(session_id=reply.session_id)
            loaded = await self.runlog.call(self.runlog.stub.LoadState, session)
            base = await self._start(agent, request, reply, loaded, record)
            state = json_format.Parse(loaded.state_json or "{}", AgentState())
            result, state = await run_turn(agent, base, state, inbound, Ports(complete, dispatch, record))
            reply.MergeFrom(result)
            if result.error.kind:
                raise MeshError(result.error.kind, result.error.message)
            write = runlog_pb2.StateWrite(session_id=reply.session_id, expected_version=loaded.version)
            write.state_json = proto_json(state)
            finished = finished_events(result, state, reply.session_id, loaded.version)
            reply.state_version = (await record(finished, state=write, status="succeeded")).state_version
            return reply
        except Exception as exc:
            error = as_mesh_error(exc)
            reply.status, reply.error.kind, reply.error.message = "failed", error.kind, error.message
            with contextlib.suppress(MeshError):  # the run log may be what failed: the turn still fails loudly
                if error.metadata.get("field") != "run_id":  # a refused run id names another turn's run: left alone
                    await record([failed_event(reply.error)], status="failed")
            raise MeshError(error.kind, error.message, [*error.details, reply], run_id=reply.run_id) from exc
        finally:
            await dispatch.close()

    async def _start(
        self, agent: Agent, request: RunTurnRequest, reply: RunTurnReply, loaded: runlog_pb2.SessionState, record: Any
    ) -> CompleteRequest:
        """The turn's request skeleton with the agent's tools pinned (an unregistered pin is refused here)."""
        listed = await self.toolworker.call(self.toolworker.stub.ListTools, ListToolsRequest())
        registered = {f"{tool.name}@{tool.version}": tool for tool in listed.tools}
        if missing := [ref for ref in agent.tools if ref not in registered]:
            raise MeshError("not_found", f"agent {agent.name} pins unregistered tools: {', '.join(missing)}")
        routing = {"customer": request.customer, "model": request.model, "prefer": request.prefer}
        base = CompleteRequest(**routing, exclude=request.exclude, tools=[registered[r] for r in agent.tools])
        base.run_id, base.turn_id = reply.run_id, f"{reply.session_id}:{loaded.version + 1}"
        policy = await self.router.call(self.router.stub.ListModels, ListModelsRequest())
        tools = [{"name": t.name, "version": t.version, "schema_hash": t.schema_hash} for t in base.tools]
        started = {"agent": agent.name, "agent_hash": agent.definition_hash(), "tools": tools}
        started |= {"runtime_version": RUNTIME_VERSION, "policy_version": policy.policy_version}
        turn_input = {"session_id": reply.session_id, "input_json": request.input_json}
        turn_input |= {"state_version": loaded.version, "state_json": loaded.state_json}
        await record([event("run_started", started), event("turn_input", turn_input)], status="running")
        return base

    async def close(self) -> None:
        for peer in (self.router, self.runlog, self.toolworker):
            await peer.aclose()
