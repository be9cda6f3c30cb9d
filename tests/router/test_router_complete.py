"""Router.Complete end to end: a real router process, a real runlog process, the simulators behind the
official SDKs. Typed errors arrive as gRPC statuses with a reason; every attempt is in the run log."""

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import corpus
import grpc
import pytest

from agentmesh.v1 import common_pb2, router_pb2, router_pb2_grpc, runlog_pb2
from services.common.errors import MeshError

CORPUS_DIR = str(Path(corpus.__file__).parent)  # the router imports output types like "corpus:Ticket" from here
ATTEMPT_FIELDS = {"number", "provider", "model", "purpose", "request_body", "response_body", "usage", "cost_usd"}
REQUEST_FIELDS = {"customer", "turn_id", "task_class", "temperature", "seed", "max_output_tokens"}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def router(isolation, mesh_process, runlog, sim_env) -> Iterator[Any]:
    env = {**isolation.env, **sim_env, "AGENTMESH_RUNLOG_ADDR": runlog.addr, "PYTHONPATH": CORPUS_DIR}
    proc = mesh_process("services.router", env).start()
    yield proc
    proc.stop()


@pytest.fixture
async def stub(router) -> AsyncIterator[router_pb2_grpc.RouterStub]:
    async with grpc.aio.insecure_channel(router.addr) as channel:
        yield router_pb2_grpc.RouterStub(channel)


def ask(text: str, **fields: Any) -> router_pb2.CompleteRequest:
    fields = {"run_id": f"e2e-{uuid.uuid4()}", "customer": "acme", "max_output_tokens": 256, **fields}
    return router_pb2.CompleteRequest(messages=[common_pb2.Message(role="user", content=text)], **fields)


async def call(stub: router_pb2_grpc.RouterStub, request: router_pb2.CompleteRequest) -> router_pb2.CompleteReply:
    try:
        return await stub.Complete(request, timeout=30)
    except grpc.aio.AioRpcError as exc:
        raise MeshError.from_rpc_error(exc) from None


async def test_complete_returns_validated_output_and_logs_every_attempt(stub, runlog_stub) -> None:
    request = ask("Printer on fire.\n#sim malformed=1", model="anthropic:claude-haiku-4-5", output_type="corpus:Ticket")
    request.turn_id, request.task_class, request.seed, request.temperature = "turn-1", "triage", 7, 0.2
    reply = await call(stub, request)
    corpus.Ticket.model_validate_json(reply.output_json)
    assert [a.purpose for a in reply.attempts] == ["initial", "repair"]
    assert (reply.provider, reply.model, reply.message.role) == ("anthropic", "claude-haiku-4-5", "assistant")
    assert reply.decision.endswith("anthropic:claude-haiku-4-5: chosen")
    run = await runlog_stub.GetRun(runlog_pb2.GetRunRequest(run_id=request.run_id))
    events = [e for e in run.events if e.kind == "model_attempt"]
    assert [e.source for e in events] == ["router", "router"]
    payloads = [json.loads(e.payload_json) for e in events]
    assert all(ATTEMPT_FIELDS | REQUEST_FIELDS <= payload.keys() for payload in payloads)
    assert payloads[0]["error"]["kind"] == "schema_invalid" and "error" not in payloads[1]
    assert (payloads[0]["customer"], payloads[0]["turn_id"], payloads[0]["seed"]) == ("acme", "turn-1", 7)
    assert sum(p["cost_usd"] for p in payloads) == pytest.approx(reply.cost_usd)


async def test_free_text_without_a_model_pin_is_answered_by_the_policys_chain(stub) -> None:
    reply = await call(stub, ask("Say hello."))
    assert reply.message.content and reply.output_json == ""
    assert reply.decision.endswith(f"{reply.provider}:{reply.model}: chosen")


async def test_a_complete_without_run_id_is_logged_under_an_adhoc_run(stub, runlog_stub) -> None:
    customer = f"adhoc-{uuid.uuid4().hex[:8]}"
    await call(stub, ask("Say hello.", run_id="", customer=customer, model="gemini:gemini-2.5-flash"))
    runs = await runlog_stub.ListRuns(runlog_pb2.ListRunsRequest(customer=customer))
    assert [run.run_id.startswith("adhoc-") for run in runs.runs] == [True]


async def test_three_malformed_replies_fail_with_a_typed_status_carrying_every_attempt(stub) -> None:
    request = ask("Printer on fire.\n#sim malformed=3", model="xai:grok-4", output_type="corpus:Ticket")
    with pytest.raises(MeshError) as caught:
        await call(stub, request)
    assert caught.value.kind == "schema_invalid" and caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    failure = caught.value.detail(router_pb2.CompleteFailure)
    assert [(a.number, a.error.kind) for a in failure.attempts] == [(i, "schema_invalid") for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [common_pb2.Message(role="robot", content="hi")]}, "messages.0.role"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": 3.5}, "temperature"),
        ({"output_type": "corpus:Nope"}, "output_type"),
        ({"output_schema_json": "{"}, "output_schema_json"),
        ({"model": "openai:gpt-9"}, "model"),
        ({"model": "anthropic:claude-haiku-4-5", "output_type": "corpus:TreeNode"}, "output_type"),
    ],
)
async def test_a_bad_request_names_the_field(stub, fields: dict[str, Any], field: str) -> None:
    request = ask("Hi.")
    if "messages" in fields:
        del request.messages[:]
        request.messages.extend(fields.pop("messages"))
    for name, value in fields.items():
        setattr(request, name, value)
    with pytest.raises(MeshError) as caught:
        await call(stub, request)
    assert caught.value.kind == "bad_request" and caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message.startswith(f"{field}: ")


async def test_a_provider_rate_limit_arrives_as_resource_exhausted(stub) -> None:
    with pytest.raises(MeshError) as caught:
        await call(stub, ask("Hi.\n#sim status=429 retry_after=3", model="openai:gpt-4o-mini"))
    assert caught.value.kind == "rate_limited" and caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def router_without_run_log(isolation, mesh_process, sim_env) -> Iterator[Any]:
    env = {**isolation.env, **sim_env, "AGENTMESH_RUNLOG_ADDR": f"127.0.0.1:{unused_port()}"}
    proc = mesh_process("services.router", env).start()
    yield proc
    proc.stop()


async def test_an_unreachable_run_log_fails_the_call_unavailable(router_without_run_log) -> None:
    async with grpc.aio.insecure_channel(router_without_run_log.addr) as channel:
        with pytest.raises(MeshError) as caught:
            await call(router_pb2_grpc.RouterStub(channel), ask("Hi."))
    assert caught.value.kind == "unavailable" and caught.value.message.startswith("run log unavailable")
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
