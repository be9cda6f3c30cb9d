"""Validation and repair on one model, through each official SDK against its simulator, with every attempt
appended to a real run log: malformed or schema-breaking replies are repaired at most twice, then fail typed."""

import json
import socket
import uuid

import corpus
import grpc
import pytest
from corpus import MODELS

from agentmesh.v1 import common_pb2, router_pb2, runlog_pb2
from services.common.errors import MeshError
from services.router.attempt_log import AttemptLog
from services.router.completion import Completion
from services.router.structured import contract_for

PROVIDERS = list(MODELS)
TICKET = contract_for("corpus:Ticket", "")


def ask(text: str, **fields: object) -> router_pb2.CompleteRequest:
    system = common_pb2.Message(role="system", content="You triage tickets.")
    messages = [system, common_pb2.Message(role="user", content=text)]
    return router_pb2.CompleteRequest(
        run_id=f"test-{uuid.uuid4()}", customer="acme", messages=messages, max_output_tokens=256, **fields
    )


async def logged_attempts(stub, run_id: str) -> list[dict]:
    run = await stub.GetRun(runlog_pb2.GetRunRequest(run_id=run_id))
    return [json.loads(e.payload_json) for e in run.events if e.kind == "model_attempt"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["malformed", "invalid"])
@pytest.mark.parametrize("faults", [0, 1, 2])
async def test_a_broken_reply_is_repaired_on_the_next_attempt(
    completion: Completion, runlog_stub, provider: str, fault: str, faults: int
) -> None:
    request = ask(f"Printer on fire.\n#sim {fault}={faults}")
    reply, attempts = await completion.complete_on(f"{provider}:{MODELS[provider]}", request, TICKET)
    assert [a.purpose for a in attempts] == ["initial"] + ["repair"] * faults
    assert [a.number for a in attempts] == list(range(1, faults + 2))
    assert [a.error.kind for a in attempts] == ["schema_invalid"] * faults + [""]
    corpus.Ticket.model_validate_json(reply.output_json)
    assert reply.usage.input_tokens == sum(a.usage.input_tokens for a in attempts) > 0
    assert reply.usage.output_tokens == sum(a.usage.output_tokens for a in attempts) > 0
    assert reply.cost_usd == pytest.approx(sum(a.cost_usd for a in attempts)) and reply.cost_usd > 0
    assert (reply.provider, reply.model) == (provider, MODELS[provider])
    logged = await logged_attempts(runlog_stub, request.run_id)
    assert [(e["number"], e["purpose"], e["customer"]) for e in logged] == [
        (a.number, a.purpose, "acme") for a in attempts
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["malformed", "invalid"])
async def test_three_broken_replies_fail_typed_with_all_three_attempts(
    completion: Completion, runlog_stub, provider: str, fault: str
) -> None:
    request = ask(f"Printer on fire.\n#sim {fault}=3")
    with pytest.raises(MeshError) as caught:
        await completion.complete_on(f"{provider}:{MODELS[provider]}", request, TICKET)
    error = caught.value
    assert error.kind == "schema_invalid" and error.code == grpc.StatusCode.FAILED_PRECONDITION
    failure = error.detail(router_pb2.CompleteFailure)
    assert failure is not None
    assert [(a.number, a.purpose, a.error.kind) for a in failure.attempts] == [
        (1, "initial", "schema_invalid"),
        (2, "repair", "schema_invalid"),
        (3, "repair", "schema_invalid"),
    ]
    assert all(a.request_body and a.response_body and a.cost_usd > 0 for a in failure.attempts)
    assert len(await logged_attempts(runlog_stub, request.run_id)) == 3


async def test_the_repair_prompt_carries_the_errors_and_the_invalid_reply(completion: Completion) -> None:
    _, attempts = await completion.complete_on("openai:gpt-4o-mini", ask("Printer on fire.\n#sim invalid=1"), TICKET)
    first_reply = json.loads(attempts[0].response_body)["choices"][0]["message"]["content"]
    repair = json.loads(attempts[1].request_body)["messages"][-1]
    assert repair["role"] == "user"
    assert "Your previous reply is not valid" in repair["content"]
    assert json.loads(first_reply) and first_reply in repair["content"]
    assert attempts[0].error.message.splitlines()[0] in repair["content"]


async def test_a_bare_json_schema_is_validated_with_jsonschema(completion: Completion) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    contract = contract_for("", json.dumps(schema))
    request = ask("Trip.\n#sim malformed=1")
    reply, attempts = await completion.complete_on("anthropic:claude-haiku-4-5", request, contract)
    assert len(attempts) == 2 and attempts[0].error.message.startswith("- $: invalid JSON")
    assert set(json.loads(reply.output_json)) == {"city", "days"}


async def test_a_constraint_the_dialect_lacks_goes_to_the_model_in_the_description(completion: Completion) -> None:
    contract = contract_for("corpus:Share", "")
    reply, attempts = await completion.complete_on("anthropic:claude-haiku-4-5", ask("How much?"), contract)
    sent = json.loads(attempts[0].request_body)["output_config"]["format"]["schema"]
    assert sent["properties"]["ratio"]["description"] == "(exclusiveMaximum: 1, exclusiveMinimum: 0)"
    assert 0 < corpus.Share.model_validate_json(reply.output_json).ratio < 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_rule_no_schema_can_say_is_still_enforced_by_pydantic(completion: Completion, provider: str) -> None:
    """corpus.Even's validator is in no schema; the simulator answers n=1 every time."""
    even = contract_for("corpus:Even", "")
    with pytest.raises(MeshError) as caught:
        await completion.complete_on(f"{provider}:{MODELS[provider]}", ask("A number."), even)
    failure = caught.value.detail(router_pb2.CompleteFailure)
    assert caught.value.kind == "schema_invalid" and len(failure.attempts) == 3
    assert all("n: Value error, must be even" in a.error.message for a in failure.attempts)


async def test_a_schema_the_dialect_cannot_carry_is_refused_before_any_call(completion: Completion, runlog_stub):
    request = ask("Draw a tree.")
    with pytest.raises(MeshError) as caught:
        await completion.complete_on("anthropic:claude-haiku-4-5", request, contract_for("corpus:TreeNode", ""))
    assert caught.value.kind == "bad_request" and "TreeNode is recursive" in caught.value.message
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await runlog_stub.GetRun(runlog_pb2.GetRunRequest(run_id=request.run_id))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_tool_call_turn_is_not_validated_against_the_output_schema(completion: Completion) -> None:
    lookup = common_pb2.ToolDefinition(
        name="lookup_ticket", version="1.0.0", description="Find a ticket.", input_schema_json='{"type": "object"}'
    )
    reply, attempts = await completion.complete_on("xai:grok-4", ask("Look it up.", tools=[lookup]), TICKET)
    assert [c.name for c in reply.message.tool_calls] == ["lookup_ticket"]
    assert reply.message.tool_calls[0].version == "1.0.0"
    assert reply.output_json == "" and len(attempts) == 1


FAILURES = [("status=429", "rate_limited", "rate_limited"), ("status=503", "unavailable", "unavailable"),
            ("auth", "unavailable", "auth"), ("refuse", "refused", "refused")]  # fmt: skip
FAILURE_CASES = [
    pytest.param(provider, *failure, id=f"{provider}-{failure[0]}")
    for provider in PROVIDERS
    for failure in FAILURES
    if (provider, failure[0]) != ("xai", "refuse")  # xAI has no refusal shape: see the next test
]


@pytest.mark.parametrize(("provider", "directive", "kind", "provider_kind"), FAILURE_CASES)
async def test_a_provider_failure_ends_the_entry_with_its_kind_and_no_repair(
    completion: Completion, provider: str, directive: str, kind: str, provider_kind: str
) -> None:
    with pytest.raises(MeshError) as caught:
        await completion.complete_on(f"{provider}:{MODELS[provider]}", ask(f"Hi.\n#sim {directive}"), TICKET)
    assert (caught.value.kind, caught.value.metadata["provider_kind"]) == (kind, provider_kind)
    attempts = caught.value.detail(router_pb2.CompleteFailure).attempts
    assert len(attempts) == 1 and attempts[0].error.kind == provider_kind


async def test_an_xai_refusal_is_plain_text_so_it_fails_the_schema_after_the_repairs(completion: Completion) -> None:
    with pytest.raises(MeshError) as caught:
        await completion.complete_on("xai:grok-4", ask("Hi.\n#sim refuse"), TICKET)
    assert caught.value.kind == "schema_invalid"
    assert len(caught.value.detail(router_pb2.CompleteFailure).attempts) == 3


async def test_failover_numbering_continues_from_the_attempts_before(completion: Completion) -> None:
    _, attempts = await completion.complete_on("gemini:gemini-2.5-flash", ask("Hi.\n#sim malformed=1"), TICKET, 3)
    assert [(a.number, a.purpose) for a in attempts] == [(3, "failover"), (4, "repair")]


async def test_an_unknown_model_is_refused_naming_it(completion: Completion) -> None:
    with pytest.raises(MeshError, match="openai:gpt-9 has no price"):
        await completion.complete_on("openai:gpt-9", ask("Hi."), TICKET)
    with pytest.raises(MeshError, match="model: mistral:large has no price"):
        await completion.complete_on("mistral:large", ask("Hi."), TICKET)


async def test_an_unreachable_run_log_fails_unavailable_before_any_call(completion: Completion) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = sock.getsockname()[1]
    offline = Completion(completion.providers, completion.prices, AttemptLog(f"127.0.0.1:{nobody}"), 5.0)
    with pytest.raises(MeshError) as caught:
        await offline.complete_on("openai:gpt-4o-mini", ask("Hi."), TICKET)
    assert (caught.value.kind, caught.value.message) == ("unavailable", "run log unavailable")
    await offline.log.aclose()


LOOKUP = common_pb2.ToolDefinition(
    name="lookup_ticket", version="1.0.0", description="Find a ticket.", input_schema_json='{"type": "object"}'
)
# The tool choice as each vendor's wire carries it (xai: the GetCompletionsRequest proto as JSON).
WIRE_TOOL_CHOICE = {
    "openai": lambda body: body["tool_choice"],
    "anthropic": lambda body: body["tool_choice"]["type"],
    "gemini": lambda body: body["toolConfig"]["functionCallingConfig"]["mode"],
    "xai": lambda body: body["toolChoice"]["mode"],
}
NO_TOOLS = {"openai": "none", "anthropic": "none", "gemini": "NONE", "xai": "TOOL_MODE_NONE"}


def after_a_tool_round(text: str) -> router_pb2.CompleteRequest:
    """A request whose tool round is done, so the model's next reply is the structured answer."""
    request = ask(text, tools=[LOOKUP])
    called = common_pb2.ToolCall(call_id="call_1", name="lookup_ticket", version="1.0.0", arguments_json="{}")
    request.messages.add(role="assistant", tool_calls=[called])
    request.messages.add(role="tool", tool_call_id="call_1", name="lookup_ticket", content='{"open": 3}')
    return request


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["malformed", "invalid"])
async def test_a_repair_keeps_the_tools_declared_but_forbids_calling_them(
    completion: Completion, provider: str, fault: str
) -> None:
    """The repair prompt is a new user message: a model still free to call tools would start a tool round again."""
    request = after_a_tool_round(f"Printer on fire.\n#sim {fault}=1")
    reply, attempts = await completion.complete_on(f"{provider}:{MODELS[provider]}", request, TICKET)
    assert [(a.purpose, a.error.kind) for a in attempts] == [("initial", "schema_invalid"), ("repair", "")]
    assert not reply.message.tool_calls and reply.finish_reason != "tool_calls"
    assert corpus.Ticket.model_validate_json(reply.message.content) == corpus.Ticket.model_validate_json(
        reply.output_json
    )
    initial, repair = (json.loads(a.request_body) for a in attempts)
    assert WIRE_TOOL_CHOICE[provider](initial) != NO_TOOLS[provider]
    assert WIRE_TOOL_CHOICE[provider](repair) == NO_TOOLS[provider]
    assert "lookup_ticket" in attempts[1].request_body  # still declared: the history holds a call to it
