"""Dollar budgets in Redis: atomic holds, settlement, expiry of a dead router's holds, rebuild from the run log."""

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import bpe_openai
import grpc
import pytest

from agentmesh.v1 import common_pb2, router_pb2, runlog_pb2, runlog_pb2_grpc
from services.common.errors import MeshError
from services.router.ledger import Ledger, estimate_input_tokens
from services.router.policy import Policy

POLICY = """
chains: {default: [openai:gpt-4o, anthropic:claude-haiku-4-5]}
customers:
  acme: {day_usd: 1.0, total_usd: 5.0}
models:
  anthropic:claude-haiku-4-5: {month_usd: 0.5}
"""
GPT, HAIKU = "openai:gpt-4o", "anthropic:claude-haiku-4-5"
TTL = 60.0  # seconds a hold lives unless settled


def policy_with(make_policy: Callable[[str], Policy]) -> Policy:
    return make_policy(POLICY)


async def budget(ledger: Ledger, policy: Policy, customer: str = "acme") -> dict[str, router_pb2.BudgetLine]:
    return {line.scope: line for line in (await ledger.budget(policy, customer)).lines}


async def test_a_hold_that_would_overspend_names_the_scope_and_holds_nothing(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy)
    assert await ledger.reserve(policy, "acme", GPT, 1.5, TTL) == "customer:acme:day"
    assert await ledger.reserve(policy, "acme", HAIKU, 0.6, TTL) == "model:anthropic:claude-haiku-4-5:month"
    lines = await budget(ledger, policy)
    assert len(lines) == 9  # day, month, total of acme and of both models
    assert all(line.reserved_usd == 0 and line.spent_usd == 0 for line in lines.values())


async def test_settling_replaces_the_hold_by_the_real_cost(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy)
    hold = await ledger.reserve(policy, "acme", HAIKU, 0.4, TTL)
    assert not isinstance(hold, str)
    during = await budget(ledger, policy)
    assert during["customer:acme:day"].reserved_usd == 0.4
    assert during["customer:acme:day"].remaining_usd == 0.6
    assert during["model:anthropic:claude-haiku-4-5:month"].remaining_usd == pytest.approx(0.1)
    await ledger.settle(hold, 0.25)
    after = await budget(ledger, policy)
    day = after["customer:acme:day"]
    assert (day.limit_usd, day.spent_usd, day.reserved_usd, day.remaining_usd) == (1.0, 0.25, 0.0, 0.75)
    month = after["customer:acme:month"]
    assert (month.limit_usd, month.spent_usd, month.remaining_usd) == (0.0, 0.25, -1.0)  # unlimited
    assert after["model:anthropic:claude-haiku-4-5:total"].spent_usd == 0.25
    assert after["model:openai:gpt-4o:total"].spent_usd == 0


async def test_concurrent_holds_never_exceed_the_budget(ledger: Ledger, make_policy: Callable[[str], Policy]) -> None:
    policy = policy_with(make_policy)
    outcomes = await asyncio.gather(*(ledger.reserve(policy, "acme", GPT, 0.02, TTL) for _ in range(200)))
    holds = [hold for hold in outcomes if not isinstance(hold, str)]
    assert len(holds) == 50
    assert {o for o in outcomes if isinstance(o, str)} == {"customer:acme:day"}
    await asyncio.gather(*(ledger.settle(hold, 0.015) for hold in holds))
    day = (await budget(ledger, policy))["customer:acme:day"]
    assert round(day.spent_usd, 9) == 0.75
    assert day.reserved_usd == 0


async def test_the_hold_of_a_router_that_died_expires(ledger: Ledger, make_policy: Callable[[str], Policy]) -> None:
    policy = policy_with(make_policy)
    assert not isinstance(await ledger.reserve(policy, "acme", GPT, 1.0, 0.3), str)  # never settled
    assert await ledger.reserve(policy, "acme", GPT, 0.5, 0.3) == "customer:acme:day"
    deadline = time.monotonic() + 5
    while isinstance(hold := await ledger.reserve(policy, "acme", GPT, 1.0, 0.3), str):
        assert time.monotonic() < deadline, "the dead hold never expired"
        await asyncio.sleep(0.05)
    await ledger.settle(hold, 0.1)
    day = (await budget(ledger, policy))["customer:acme:day"]
    assert (day.spent_usd, day.reserved_usd) == (0.1, 0.0)


async def record_attempt(runlog_stub, customer: str, entry: str, cost_usd: float) -> None:
    """A model_attempt event as the router writes it (only the fields GetSpend sums by)."""
    provider, _, model = entry.partition(":")
    payload = {"provider": provider, "model": model, "cost_usd": cost_usd, "customer": customer}
    event = runlog_pb2.Event(kind="model_attempt", source="router", payload_json=json.dumps(payload))
    header = runlog_pb2.RunHeader(customer=customer)
    await runlog_stub.AppendEvents(
        runlog_pb2.AppendEventsRequest(run_id=f"ledger-{uuid.uuid4()}", header=header, events=[event])
    )


async def test_an_empty_ledger_is_rebuilt_from_the_run_log_once(
    shared_redis, prefix: str, runlog_stub, make_policy: Callable[[str], Policy]
) -> None:
    customer, model = f"rebuild-{uuid.uuid4().hex[:8]}", f"anthropic:sim-{uuid.uuid4().hex[:8]}"
    await record_attempt(runlog_stub, customer, GPT, 0.5)
    await record_attempt(runlog_stub, customer, model, 0.25)
    await record_attempt(runlog_stub, "someone-else", model, 0.2)
    policy = make_policy(POLICY.replace("acme:", f"{customer}:"))
    replicas = [Ledger(shared_redis, prefix, runlog_stub) for _ in range(2)]
    holds = await asyncio.gather(*(ledger.reserve(policy, customer, GPT, 0.01, TTL) for ledger in replicas * 10))
    assert not any(isinstance(hold, str) for hold in holds)
    lines = await budget(replicas[0], policy, customer)
    assert (lines[f"customer:{customer}:day"].spent_usd, lines[f"customer:{customer}:total"].spent_usd) == (0.75, 0.75)
    assert lines[f"customer:{customer}:day"].reserved_usd == pytest.approx(0.2)
    month = replicas[0].key(f"model:{model}:month", datetime.now(UTC))
    assert float(await shared_redis.get(month)) == pytest.approx(0.45)
    await record_attempt(runlog_stub, customer, GPT, 0.1)  # spend after the rebuild reaches Redis by settling only
    fresh = Ledger(shared_redis, prefix, runlog_stub)  # a new replica finds the ledger built: no second load
    assert not isinstance(await fresh.reserve(policy, customer, GPT, 0.04, TTL), str)  # 0.75 + 0.2 + 0.04 <= 1


def test_openai_input_is_counted_with_its_tokenizer_and_others_conservatively() -> None:
    text = "Summarise the quarterly report for the board, in three bullet points. " * 20
    request = router_pb2.CompleteRequest(messages=[common_pb2.Message(role="user", content=text)])
    exact = len(bpe_openai.get_encoding("o200k_base").encode_ordinary(text))
    assert estimate_input_tokens("openai", request) == exact + 8
    for provider in ("anthropic", "gemini", "xai"):
        assert estimate_input_tokens(provider, request) == len(text) // 3 + 1 + 8 > exact


async def test_an_unreachable_run_log_leaves_the_ledger_unbuilt_and_says_so(
    shared_redis, prefix: str, make_policy: Callable[[str], Policy]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{sock.getsockname()[1]}"
    async with grpc.aio.insecure_channel(nobody) as channel:
        ledger = Ledger(shared_redis, prefix, runlog_pb2_grpc.RunLogStub(channel))
        with pytest.raises(MeshError) as caught:
            await ledger.reserve(policy_with(make_policy), "acme", GPT, 0.1, TTL)
    assert caught.value.kind == "unavailable"
    assert caught.value.message.startswith("run log unavailable")
    assert not await shared_redis.exists(f"{prefix}ledger:built")
