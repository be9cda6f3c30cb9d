"""The agent turn as a pure function: `turn(agent, base, state, inbound) -> Step`.

No I/O: it only decides what happens next (ask the model, run tools, or finish) from its arguments,
so the live loop and replay drive the very same code. `base` is the turn's fixed request skeleton
(run and turn ids, customer, routing hints, the pinned tool definitions); the agent adds the rest.
Inbound is the user's text, the model's reply, or the outcomes of the tools the model asked for.
"""

import itertools
import json
from dataclasses import dataclass

from pydantic import ValidationError

from agentmesh.v1 import common_pb2, toolworker_pb2
from agentmesh.v1.router_pb2 import CompleteReply, CompleteRequest
from agentmesh.v1.scheduler_pb2 import AgentState
from services.scheduler.agent import Agent

Message, Outcome = common_pb2.Message, toolworker_pb2.ToolOutcome
Inbound = str | CompleteReply | list[Outcome]


@dataclass(frozen=True)
class Step:
    """What the loop does next; a step with no request and no calls ends the turn."""

    state: AgentState
    request: CompleteRequest | None = None
    calls: tuple[toolworker_pb2.ToolInvocation, ...] = ()
    refused: tuple[Outcome, ...] = ()  # calls to tools that are not offered: answered here, never dispatched
    outbound: tuple[Message, ...] = ()
    output_json: str = ""
    error: common_pb2.ErrorDetail | None = None


def turn(agent: Agent, base: CompleteRequest, state: AgentState, inbound: Inbound) -> Step:
    if isinstance(inbound, CompleteReply):
        return _on_reply(agent, base, state, inbound)
    if isinstance(inbound, str):
        state = AgentState(messages=[*state.messages, Message(role="user", content=inbound)])
    else:  # the tools' outcomes, answered in the order the model asked for them
        by_id = {outcome.call_id: outcome for outcome in inbound}
        asked = enumerate(state.messages[-1].tool_calls)
        answers = [_tool_message(call, by_id[_call_id(base, state, index)]) for index, call in asked]
        state = AgentState(messages=[*state.messages, *answers], tool_rounds=state.tool_rounds + 1)
    system = Message(role="system", content=agent.instructions)
    request = CompleteRequest(messages=[system, *state.messages], **agent.parameters)
    request.MergeFrom(base)
    return Step(state, request=request)


def _on_reply(agent: Agent, base: CompleteRequest, state: AgentState, reply: CompleteReply) -> Step:
    if not reply.message.tool_calls:
        try:
            agent.output.model_validate_json(reply.output_json)
        except ValidationError as exc:
            return Step(state, error=common_pb2.ErrorDetail(kind="schema_invalid", message=f"{agent.name}: {exc}"))
        answer = Message(role="assistant", content=reply.output_json)
        state = AgentState(messages=[*state.messages, answer], tool_rounds=state.tool_rounds)
        return Step(state, outbound=(answer,), output_json=reply.output_json)
    if state.tool_rounds >= agent.max_tool_rounds:
        reason = f"{agent.name} still asks for tools after max_tool_rounds={agent.max_tool_rounds}{_last_errors(state)}"
        return Step(state, error=common_pb2.ErrorDetail(kind="limit_reached", message=reason))
    offered, calls, refused = {tool.name: tool for tool in base.tools}, [], []
    for index, call in enumerate(reply.message.tool_calls):
        pinned, asked = offered.get(call.name), {"call_id": _call_id(base, state, index), "name": call.name}
        if pinned is None or call.version not in ("", pinned.version):
            why = common_pb2.ErrorDetail(kind="unknown_tool", message=f"{call.name}@{call.version} is not offered")
            refused.append(Outcome(**asked, version=call.version, error=why))
        else:
            pins = {"version": pinned.version, "schema_hash": pinned.schema_hash, "run_id": base.run_id}
            calls.append(toolworker_pb2.ToolInvocation(**asked, **pins, arguments_json=call.arguments_json))
    state = AgentState(messages=[*state.messages, reply.message], tool_rounds=state.tool_rounds)
    return Step(state, calls=tuple(calls), refused=tuple(refused))


def _tool_message(call: common_pb2.ToolCall, outcome: Outcome) -> Message:
    error = {"error": {"kind": outcome.error.kind, "message": outcome.error.message}}
    content = json.dumps(error) if outcome.HasField("error") else outcome.output_json
    return Message(role="tool", content=content, tool_call_id=call.call_id, name=call.name)


def _call_id(base: CompleteRequest, state: AgentState, index: int) -> str:
    """Unique across runs and the same in a replay: the idempotency key of the call."""
    return f"{base.run_id}:{state.tool_rounds}:{index}"


def _last_errors(state: AgentState) -> str:
    results = itertools.takewhile(lambda message: message.role == "tool", reversed(state.messages))
    errors = [f"{message.name}: {message.content}" for message in results if message.content.startswith('{"error"')]
    return f"; last tool errors: {'; '.join(errors)}" if errors else ""
