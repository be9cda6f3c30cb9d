"""The agent turn is a pure function: same arguments, same step; no I/O, inputs never mutated."""

import json

from google.protobuf import json_format
from pydantic import BaseModel

from agentmesh.v1 import common_pb2, router_pb2, toolworker_pb2
from services.common.bridge import proto_json
from services.scheduler.agent import Agent
from services.scheduler.turn import AgentState, turn


class Answer(BaseModel):
    verdict: str
    confidence: int


AGENT = Agent(
    name="judge",
    instructions="Judge the lead.",
    output=Answer,
    tools=("lookup@1.0.0", "score@2.1.0"),
    task_class="tool_heavy",
    max_tool_rounds=2,
    max_output_tokens=300,
    temperature=0.2,
    seed=11,
)
LOOKUP = common_pb2.ToolDefinition(name="lookup", version="1.0.0", schema_hash="h-lookup")
SCORE = common_pb2.ToolDefinition(name="score", version="2.1.0", schema_hash="h-score")
BASE = router_pb2.CompleteRequest(run_id="run-1", turn_id="ses-1:1", customer="acme", tools=[LOOKUP, SCORE])


def asks(*names: str, versions: tuple[str, ...] = ()) -> router_pb2.CompleteReply:
    calls = [
        common_pb2.ToolCall(call_id=f"m{i}", name=name, version=(versions[i] if versions else ""), arguments_json="{}")
        for i, name in enumerate(names)
    ]
    return router_pb2.CompleteReply(message=common_pb2.Message(role="assistant", tool_calls=calls))


def answers(output: dict) -> router_pb2.CompleteReply:
    text = json.dumps(output)
    return router_pb2.CompleteReply(message=common_pb2.Message(role="assistant", content=text), output_json=text)


def ok(call_id: str, output: dict) -> toolworker_pb2.ToolOutcome:
    return toolworker_pb2.ToolOutcome(call_id=call_id, output_json=json.dumps(output))


def failed(call_id: str, kind: str, message: str) -> toolworker_pb2.ToolOutcome:
    return toolworker_pb2.ToolOutcome(call_id=call_id, error=common_pb2.ErrorDetail(kind=kind, message=message))


def test_user_input_asks_the_model_with_instructions_history_pinned_tools_and_agent_parameters() -> None:
    earlier = AgentState(messages=[common_pb2.Message(role="user", content="hi"), common_pb2.Message(role="assistant")])
    step = turn(AGENT, BASE, earlier, '{"lead": "ada@acme.com"}')
    request = step.request
    assert request is not None and not step.calls and step.error is None
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[0].content == "Judge the lead."
    assert request.messages[-1].content == '{"lead": "ada@acme.com"}'
    assert (request.run_id, request.turn_id, request.customer, request.task_class) == (
        "run-1",
        "ses-1:1",
        "acme",
        "tool_heavy",
    )
    assert request.output_type == f"{__name__}:Answer"
    assert (request.temperature, request.seed, request.max_output_tokens) == (0.2, 11, 300)
    assert [t.schema_hash for t in request.tools] == ["h-lookup", "h-score"]
    assert step.state.tool_rounds == 0 and len(step.state.messages) == 3


def test_parallel_tool_calls_become_invocations_of_the_pinned_versions_with_run_unique_call_ids() -> None:
    state = turn(AGENT, BASE, AgentState(), "go").state
    step = turn(AGENT, BASE, state, asks("lookup", "score"))
    assert step.request is None and not step.refused
    assert [(c.call_id, c.name, c.version, c.schema_hash) for c in step.calls] == [
        ("run-1:0:0", "lookup", "1.0.0", "h-lookup"),
        ("run-1:0:1", "score", "2.1.0", "h-score"),
    ]
    assert step.state.messages[-1].tool_calls[1].call_id == "m1"


def test_a_call_to_an_unknown_tool_or_version_is_refused_before_dispatch() -> None:
    state = turn(AGENT, BASE, AgentState(), "go").state
    step = turn(AGENT, BASE, state, asks("lookup", "delete_everything", "score", versions=("", "", "9.0.0")))
    assert [c.name for c in step.calls] == ["lookup"]
    assert [(o.call_id, o.error.kind) for o in step.refused] == [
        ("run-1:0:1", "unknown_tool"),
        ("run-1:0:2", "unknown_tool"),
    ]
    assert "score@9.0.0 is not offered" in step.refused[1].error.message


def test_outcomes_go_back_to_the_model_in_call_order_with_typed_errors() -> None:
    state = turn(AGENT, BASE, turn(AGENT, BASE, AgentState(), "go").state, asks("lookup", "score")).state
    step = turn(
        AGENT,
        BASE,
        state,
        [failed("run-1:0:1", "invalid_input", "industry: field required"), ok("run-1:0:0", {"n": 1})],
    )
    assert step.request is not None and step.state.tool_rounds == 1
    tool_messages = [m for m in step.request.messages if m.role == "tool"]
    assert [(m.tool_call_id, m.name) for m in tool_messages] == [("m0", "lookup"), ("m1", "score")]
    assert json.loads(tool_messages[0].content) == {"n": 1}
    assert json.loads(tool_messages[1].content) == {
        "error": {"kind": "invalid_input", "message": "industry: field required"}
    }


def test_a_valid_answer_ends_the_turn_with_outbound_and_output() -> None:
    state = turn(AGENT, BASE, AgentState(), "go").state
    step = turn(AGENT, BASE, state, answers({"verdict": "hot", "confidence": 90}))
    assert step.request is None and not step.calls and step.error is None
    assert json.loads(step.output_json) == {"verdict": "hot", "confidence": 90}
    assert [(m.role, m.content) for m in step.outbound] == [("assistant", step.output_json)]
    assert step.state.messages[-1] == step.outbound[0]


def test_an_answer_that_breaks_the_output_model_fails_the_turn_as_schema_invalid() -> None:
    state = turn(AGENT, BASE, AgentState(), "go").state
    step = turn(AGENT, BASE, state, answers({"verdict": "hot"}))
    assert step.error is not None and step.error.kind == "schema_invalid"
    assert "confidence" in step.error.message and not step.output_json


def test_asking_for_tools_beyond_max_tool_rounds_fails_with_the_last_tool_errors() -> None:
    state = turn(AGENT, BASE, AgentState(), "go").state
    for round_ in range(2):
        state = turn(AGENT, BASE, state, asks("lookup")).state
        state = turn(AGENT, BASE, state, [failed(f"run-1:{round_}:0", "tool_error", "RuntimeError: crm down")]).state
    step = turn(AGENT, BASE, state, asks("lookup"))
    assert step.error is not None and step.error.kind == "limit_reached" and not step.calls
    assert "max_tool_rounds=2" in step.error.message and "RuntimeError: crm down" in step.error.message


def test_the_turn_is_deterministic_and_never_mutates_its_arguments() -> None:
    state = turn(AGENT, BASE, AgentState(), "go").state
    before, base_before = proto_json(state), proto_json(BASE)
    first = turn(AGENT, BASE, state, asks("lookup", "score"))
    second = turn(AGENT, BASE, state, asks("lookup", "score"))
    assert first == second
    assert proto_json(state) == before and proto_json(BASE) == base_before


def test_the_state_round_trips_through_its_json_form() -> None:
    state = turn(AGENT, BASE, turn(AGENT, BASE, AgentState(), "go").state, asks("lookup")).state
    assert json_format.Parse(proto_json(state), AgentState()) == state
