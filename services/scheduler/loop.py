"""The turn loop: drives the pure turn function, with every side effect behind an injected port.

Live, the ports call the router, the tool workers and the run log; in replay they answer from the
recorded log. Each step is recorded before the loop moves on: tool calls before they are dispatched,
every model call and tool result as soon as it arrives. How a turn's input is read and how its end is
recorded are here too, so that the live scheduler and replay cannot drift apart.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from agentmesh.v1 import common_pb2, router_pb2, runlog_pb2, toolworker_pb2
from agentmesh.v1.scheduler_pb2 import RunTurnReply
from services.common.errors import MeshError
from services.scheduler.agent import Agent
from services.scheduler.turn import AgentState, turn


@dataclass(frozen=True)
class Ports:
    complete: Callable[[router_pb2.CompleteRequest], Awaitable[router_pb2.CompleteReply]]
    dispatch: Callable[[Sequence[toolworker_pb2.ToolInvocation]], Awaitable[list[toolworker_pb2.ToolOutcome]]]
    record: Callable[[list[runlog_pb2.Event]], Awaitable[Any]]


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def event(kind: str, payload: dict[str, Any]) -> runlog_pb2.Event:
    return runlog_pb2.Event(kind=kind, source="scheduler", payload_json=json.dumps(payload, sort_keys=True))


def request_hash(request: router_pb2.CompleteRequest) -> str:
    """sha256 of the canonical JSON of what was asked, without the ids that differ between runs."""
    asked = {key: value for key, value in as_dict(request).items() if key not in ("run_id", "turn_id")}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def inbound_text(input_json: str) -> str:
    """The user message of the turn: a JSON string as its text, a JSON object as its JSON."""
    try:
        inbound = json.loads(input_json)
    except json.JSONDecodeError as exc:
        raise MeshError("bad_request", f"input_json: not JSON ({exc.msg})", field="input_json") from None
    return inbound if isinstance(inbound, str) else input_json


def finished_events(result: RunTurnReply, state: AgentState, session_id: str, version: int) -> list[runlog_pb2.Event]:
    """A succeeded turn's record: its output, the session's new state (version + 1), and the end of the run."""
    output = {"outbound": [as_dict(message) for message in result.outbound], "output_json": result.output_json}
    snapshot = {"session_id": session_id, "version": version + 1, "state": as_dict(state)}
    return [event("turn_output", output), event("state_snapshot", snapshot), event("run_finished", {})]


def failed_event(error: common_pb2.ErrorDetail) -> runlog_pb2.Event:
    return event("run_failed", {"error": as_dict(error)})


async def run_turn(
    agent: Agent, base: router_pb2.CompleteRequest, state: AgentState, inbound: str, ports: Ports
) -> tuple[RunTurnReply, AgentState]:
    """Runs one turn to its end; the reply carries outbound, output, usage, cost, status and error."""
    result = RunTurnReply()
    step = turn(agent, base, state, inbound)
    while step.error is None and (step.request is not None or step.calls or step.refused):
        if step.request is not None:
            reply = await ports.complete(step.request)
            for field in ("input_tokens", "output_tokens", "cached_input_tokens"):
                setattr(result.usage, field, getattr(result.usage, field) + getattr(reply.usage, field))
            result.cost_usd += reply.cost_usd
            asked = {"request_hash": request_hash(step.request), "request": as_dict(step.request)}
            await ports.record([event("model_call", {**asked, "reply": as_dict(reply)})])
            step = turn(agent, base, step.state, reply)
            continue
        outcomes = list(step.refused)  # refused calls were never dispatched: a result, and no call event
        if step.calls:
            await ports.record([event("tool_call", as_dict(call)) for call in step.calls])
            outcomes += await ports.dispatch(step.calls)
        await ports.record([event("tool_result", as_dict(outcome)) for outcome in outcomes])
        step = turn(agent, base, step.state, outcomes)
    result.MergeFrom(RunTurnReply(outbound=step.outbound, output_json=step.output_json, error=step.error))
    result.status = "failed" if step.error else "succeeded"
    return result, step.state
