"""Routing policy through two real router replicas sharing one Redis: the simulators behind the official SDKs,
a real run log. Failover, breakers, budgets, quotas, reload, and a replica killed mid-call (last)."""

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agentmesh.v1 import common_pb2, router_pb2, router_pb2_grpc, runlog_pb2, runlog_pb2_grpc
from services.common.errors import MeshError
from services.router.ledger import estimate_input_tokens
from services.router.pricing import load_prices

ROOT = Path(__file__).resolve().parents[2]
POLICY = """
timeout_s: 5
hold_grace_s: 0.5
breaker_failures: 2
breaker_cooldown_s: 60
chains:
  default: [openai:sim-fast, anthropic:sim-fast, gemini:sim-fast]
  hang: [gemini:sim-fast, anthropic:sim-fast]
  breaker: [xai:sim-fast, anthropic:sim-fast]
  doomed: [anthropic:claude-haiku-4-5, xai:grok-3-mini]
  bulk: [openai:gpt-4.1-nano]
  limited: [gemini:gemini-2.0-flash]
  crash: [openai:gpt-4.1-mini]
customers:
  bulk: {{day_usd: {bulk_budget!r}}}
  crash: {{day_usd: 1}}
models:
  gemini:sim-fast: {{timeout_s: 1}}
  xai:sim-fast: {{timeout_s: 1}}
  gemini:gemini-2.0-flash: {{requests_per_min: 5}}
  openai:gpt-4.1-mini: {{timeout_s: 3}}
"""
BULK_TEXT = "#sim latency_ms=400\nCount to three."


def ask(text: str, customer: str = "acme", **fields: object) -> router_pb2.CompleteRequest:
    fields = {"run_id": f"policy-{uuid.uuid4()}", "max_output_tokens": 100, **fields}
    message = common_pb2.Message(role="user", content=text)
    return router_pb2.CompleteRequest(customer=customer, messages=[message], **fields)


def hold_of(request: router_pb2.CompleteRequest, provider: str, model: str) -> float:
    """The dollars a router holds for one plain call of this request (its pessimistic cost)."""
    tokens = estimate_input_tokens(provider, request) + request.max_output_tokens
    worst = common_pb2.Usage(input_tokens=tokens, output_tokens=request.max_output_tokens)
    return load_prices(ROOT / "services" / "router" / "prices.yaml").cost(provider, model, worst)


BULK_BUDGET = 50 * hold_of(ask(BULK_TEXT, "bulk"), "openai", "gpt-4.1-nano") * (1 + 1e-9)  # 50 holds fit
POLICY_TEXT = POLICY.format(bulk_budget=BULK_BUDGET)


@pytest.fixture(scope="module")
def routers(start_routers, isolation, tmp_path_factory) -> list:
    """Two replicas: one policy file, one Redis prefix."""
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy.write_text(POLICY_TEXT)
    return start_routers(2, policy, f"{isolation.redis_prefix}{uuid.uuid4().hex[:8]}:")


@pytest.fixture
async def stubs(routers) -> AsyncIterator[list[router_pb2_grpc.RouterStub]]:
    async with grpc.aio.insecure_channel(routers[0].addr) as a, grpc.aio.insecure_channel(routers[1].addr) as b:
        yield [router_pb2_grpc.RouterStub(a), router_pb2_grpc.RouterStub(b)]


@pytest.fixture
def stub(stubs) -> router_pb2_grpc.RouterStub:
    return stubs[0]


async def complete(stub: router_pb2_grpc.RouterStub, request: router_pb2.CompleteRequest) -> router_pb2.CompleteReply:
    try:
        return await stub.Complete(request, timeout=30)
    except grpc.aio.AioRpcError as exc:
        raise MeshError.from_rpc_error(exc) from None


async def model_states(stub: router_pb2_grpc.RouterStub) -> dict[str, router_pb2.ModelState]:
    reply = await stub.ListModels(router_pb2.ListModelsRequest())
    return {f"{m.provider}:{m.model}": m for m in reply.models}


async def day_line(stub: router_pb2_grpc.RouterStub, customer: str) -> router_pb2.BudgetLine:
    reply = await stub.GetBudget(router_pb2.GetBudgetRequest(customer=customer))
    return next(line for line in reply.lines if line.scope == f"customer:{customer}:day")


async def logged_spend(runlog_stub: runlog_pb2_grpc.RunLogStub, customer: str) -> float:
    reply = await runlog_stub.GetSpend(runlog_pb2.GetSpendRequest(customer=customer))
    return sum(line.cost_usd for line in reply.lines)


async def test_a_primary_that_returns_500_is_answered_by_the_next_model(stub) -> None:
    reply = await complete(stub, ask("#sim@openai status=500\nSummarise the incident."))
    assert (reply.provider, reply.model) == ("anthropic", "sim-fast")
    first, second = reply.attempts
    assert (first.provider, first.number, first.purpose, first.error.kind) == ("openai", 1, "initial", "unavailable")
    assert (second.provider, second.number, second.purpose) == ("anthropic", 2, "failover")
    assert not second.HasField("error")
    assert reply.decision == "openai:sim-fast: failed (unavailable); anthropic:sim-fast: chosen"
    assert reply.cost_usd == second.cost_usd > 0


async def test_a_primary_that_hangs_is_given_up_after_its_policy_timeout(stub) -> None:
    started = time.monotonic()
    reply = await complete(stub, ask("#sim@gemini hang\nSummarise the incident.", task_class="hang"))
    elapsed = time.monotonic() - started
    assert reply.provider == "anthropic"
    hung = reply.attempts[0]
    assert (hung.provider, hung.error.kind) == ("gemini", "timeout")
    assert 1000 <= hung.latency_ms < 2000  # gemini:sim-fast's timeout_s is 1, not the policy's 5
    assert elapsed < 1 + 2  # the timeout plus a generous failover overhead (bench/failover.py measures it)


async def test_an_open_breaker_skips_the_dead_provider_without_calling_it(stubs, runlog_stub) -> None:
    for stub in stubs:  # breaker_failures: 2 consecutive timeouts, one on each replica, open the shared breaker
        reply = await complete(stub, ask("#sim@xai hang\nHello.", task_class="breaker"))
        assert [a.provider for a in reply.attempts] == ["xai", "anthropic"]
    request = ask("#sim@xai hang\nHello.", task_class="breaker")
    started = time.monotonic()
    reply = await complete(stubs[0], request)
    assert time.monotonic() - started < 1  # xai's 1 s timeout was not paid
    assert [a.provider for a in reply.attempts] == ["anthropic"]
    assert reply.decision == "xai:sim-fast: breaker open; anthropic:sim-fast: chosen"
    run = await runlog_stub.GetRun(runlog_pb2.GetRunRequest(run_id=request.run_id))
    assert [e.kind for e in run.events] == ["model_attempt"]  # the run log saw one call, to anthropic
    assert '"provider": "anthropic"' in run.events[0].payload_json
    states = await model_states(stubs[1])
    assert (states["xai:sim-fast"].breaker, states["anthropic:sim-fast"].breaker) == ("open", "closed")


async def test_an_error_another_model_would_share_ends_the_request(stub) -> None:
    with pytest.raises(MeshError) as caught:
        await complete(stub, ask("#sim bad_request\nHello."))
    assert caught.value.kind == "bad_request"
    failure = caught.value.detail(router_pb2.CompleteFailure)
    assert [a.provider for a in failure.attempts] == ["openai"]
    assert failure.decision == "openai:sim-fast: failed (bad_request)"


async def test_when_every_entry_fails_the_error_carries_every_attempt_and_the_decision(stub) -> None:
    with pytest.raises(MeshError) as caught:
        await complete(stub, ask("#sim status=503\nHello.", task_class="doomed"))
    assert caught.value.kind == "unavailable"
    failure = caught.value.detail(router_pb2.CompleteFailure)
    assert [(a.provider, a.number) for a in failure.attempts] == [("anthropic", 1), ("xai", 2)]
    assert failure.decision == "anthropic:claude-haiku-4-5: failed (unavailable); xai:grok-3-mini: failed (unavailable)"


@pytest.mark.parametrize("fields", [{"model": "openai:gpt-9"}, {"prefer": ["openai:gpt-9", "openai:sim-fast"]}])
async def test_unknown_models_in_a_request_are_refused_naming_the_entry(stub, fields: dict) -> None:
    with pytest.raises(MeshError) as caught:
        await complete(stub, ask("Hello.", **fields))
    assert (caught.value.kind, caught.value.metadata["field"]) == ("bad_request", "model")
    assert "openai:gpt-9 has no price" in caught.value.message


async def test_200_concurrent_requests_never_spend_more_than_the_budget(stubs, runlog_stub) -> None:
    requests = [ask(BULK_TEXT, "bulk", task_class="bulk") for _ in range(200)]
    calls = (complete(stubs[i % 2], request) for i, request in enumerate(requests))  # across both replicas
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    replies = [o for o in outcomes if isinstance(o, router_pb2.CompleteReply)]
    refused = [o for o in outcomes if isinstance(o, MeshError)]
    assert len(replies) + len(refused) == 200
    assert len(replies) >= 50
    assert {error.kind for error in refused} == {"budget_exhausted"}
    assert refused[0].message.startswith("budget customer:bulk:day is spent")
    day = await day_line(stubs[0], "bulk")
    assert day.spent_usd <= BULK_BUDGET
    assert day.spent_usd == pytest.approx(sum(reply.cost_usd for reply in replies), rel=1e-9)
    assert day.reserved_usd == 0
    assert await logged_spend(runlog_stub, "bulk") == pytest.approx(day.spent_usd, rel=1e-9)


async def test_a_quota_of_5_requests_per_minute_holds_across_two_replicas(stubs) -> None:
    outcomes: list[router_pb2.CompleteReply | MeshError] = []
    for i in range(12):
        try:
            outcomes.append(await complete(stubs[i % 2], ask("Hello.", task_class="limited")))
        except MeshError as exc:
            outcomes.append(exc)
    assert sum(isinstance(o, router_pb2.CompleteReply) for o in outcomes) == 5
    refused = [o for o in outcomes if isinstance(o, MeshError)]
    assert {error.kind for error in refused} == {"quota_exhausted"}
    decision = refused[0].detail(router_pb2.CompleteFailure).decision
    assert decision == "gemini:gemini-2.0-flash: quota of requests per minute is used up"
    states = await model_states(stubs[1])
    assert states["gemini:gemini-2.0-flash"].requests_left == 0
    assert states["openai:sim-fast"].requests_left == -1  # no quota


async def test_list_models_reports_prices_and_the_policy_version(stub, routers) -> None:
    reply = await stub.ListModels(router_pb2.ListModelsRequest())
    gpt = next(m for m in reply.models if (m.provider, m.model) == ("openai", "gpt-4o"))
    assert (gpt.input_usd_per_mtok, gpt.output_usd_per_mtok, gpt.simulated) == (2.5, 10.0, True)
    assert len(reply.policy_version) == 12


def rewrite(policy: Path, text: str) -> None:
    policy.write_text(text)


async def test_the_policy_reloads_on_change_and_keeps_working_on_a_broken_file(stub, routers) -> None:
    router = routers[0]
    policy = Path(router.env["AGENTMESH_POLICY_PATH"])
    before = (await stub.ListModels(router_pb2.ListModelsRequest())).policy_version
    rewrite(policy, POLICY_TEXT.replace("hang: [gemini:sim-fast", "hang: [gemini:gpt-9"))
    router.proc.send_signal(signal.SIGHUP)
    assert (await stub.ListModels(router_pb2.ListModelsRequest())).policy_version == before
    assert (await complete(stub, ask("Hello.", task_class="hang"))).provider == "gemini"
    rewrite(policy, POLICY_TEXT.replace("chains:", "chains:\n  fast: [openai:gpt-4o-mini]"))
    reply = await complete(stub, ask("Hello.", task_class="fast"))
    assert (reply.provider, reply.model) == ("openai", "gpt-4o-mini")
    assert (await stub.ListModels(router_pb2.ListModelsRequest())).policy_version != before
    assert router.proc.poll() is None  # SIGHUP reloads the policy; it does not stop the router
    rewrite(policy, POLICY_TEXT)


async def test_a_replica_killed_mid_call_leaks_no_hold(routers, stubs, runlog_stub) -> None:
    """Last: it kills the first replica."""
    doomed, survivor = routers
    call = asyncio.ensure_future(complete(stubs[0], ask("#sim hang\nHello.", "crash", task_class="crash")))
    deadline = time.monotonic() + 10
    while (await day_line(stubs[1], "crash")).reserved_usd == 0:
        assert time.monotonic() < deadline, "the call never held its cost"
        await asyncio.sleep(0.02)
    doomed.stop(signal.SIGKILL)
    with pytest.raises(MeshError):
        await call
    while (line := await day_line(stubs[1], "crash")).reserved_usd > 0:  # 3 s timeout + 0.5 s grace
        assert time.monotonic() < deadline, "the dead replica's hold never expired"
        await asyncio.sleep(0.05)
    assert (line.spent_usd, line.remaining_usd) == (0, 1)
    reply = await complete(stubs[1], ask("Hello.", "crash", task_class="crash"))
    line = await day_line(stubs[1], "crash")
    assert (line.spent_usd, line.reserved_usd) == (reply.cost_usd, 0)
    assert await logged_spend(runlog_stub, "crash") == pytest.approx(line.spent_usd, rel=1e-9)
    assert survivor.proc.poll() is None
