"""Dollar budgets in Redis: atomic holds, settlement, expiry of a dead router's holds, rebuild from the run log."""

import asyncio
import time
from collections.abc import Callable

import bpe_openai
import pytest

from agentmesh.v1 import common_pb2, router_pb2, runlog_pb2
from services.router.ledger import BudgetLedger, Hold, estimate_input_tokens, scopes
from services.router.policy import Policy

POLICY = """
reservation_ttl_s: {ttl}
chains: {{default: [openai:gpt-4o, anthropic:claude-haiku-4-5]}}
customers:
  acme: {{budget: {{day: 1.0, total: 5.0}}}}
models:
  anthropic:claude-haiku-4-5: {{budget: {{month: 0.5}}}}
"""


def policy_with(make_policy: Callable[[str], Policy], ttl: float = 60) -> Policy:
    return make_policy(POLICY.format(ttl=ttl))


def lines_by_scope(lines: list[router_pb2.BudgetLine]) -> dict[str, router_pb2.BudgetLine]:
    return {line.scope: line for line in lines}


async def test_a_hold_that_would_overspend_names_the_scope_and_holds_nothing(
    ledger: BudgetLedger, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy)
    gpt, haiku = policy.chains["default"]
    assert await ledger.reserve(policy, "acme", gpt, 1.5) == "customer:acme:day"
    assert await ledger.reserve(policy, "acme", haiku, 0.6) == "model:anthropic:claude-haiku-4-5:month"
    held = await ledger.lines(scopes(policy, "acme", [gpt, haiku]))
    assert all(line.reserved_usd == 0 and line.spent_usd == 0 for line in held)


async def test_settling_replaces_the_hold_by_the_real_cost(
    ledger: BudgetLedger, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy)
    haiku = policy.chains["default"][1]
    hold = await ledger.reserve(policy, "acme", haiku, 0.4)
    assert isinstance(hold, Hold)
    during = lines_by_scope(await ledger.lines(scopes(policy, "acme", [haiku])))
    assert during["customer:acme:day"].reserved_usd == 0.4
    assert during["customer:acme:day"].remaining_usd == 0.6
    assert during["model:anthropic:claude-haiku-4-5:month"].remaining_usd == pytest.approx(0.1)
    await ledger.settle(hold, 0.25)
    after = lines_by_scope(await ledger.lines(scopes(policy, "acme", [haiku])))
    day = after["customer:acme:day"]
    assert (day.limit_usd, day.spent_usd, day.reserved_usd, day.remaining_usd) == (1.0, 0.25, 0.0, 0.75)
    month = after["customer:acme:month"]
    assert (month.limit_usd, month.spent_usd, month.remaining_usd) == (0.0, 0.25, -1.0)  # unlimited
    assert after["model:anthropic:claude-haiku-4-5:total"].spent_usd == 0.25


async def test_concurrent_holds_never_exceed_the_budget(
    ledger: BudgetLedger, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy)
    gpt = policy.chains["default"][0]
    outcomes = await asyncio.gather(*(ledger.reserve(policy, "acme", gpt, 0.02) for _ in range(200)))
    holds = [hold for hold in outcomes if isinstance(hold, Hold)]
    assert len(holds) == 50
    assert {o for o in outcomes if not isinstance(o, Hold)} == {"customer:acme:day"}
    await asyncio.gather(*(ledger.settle(hold, 0.015) for hold in holds))
    day = lines_by_scope(await ledger.lines(scopes(policy, "acme", [gpt])))["customer:acme:day"]
    assert round(day.spent_usd, 9) == 0.75
    assert day.reserved_usd == 0


async def test_the_hold_of_a_router_that_died_expires(
    ledger: BudgetLedger, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy, ttl=0.3)
    gpt = policy.chains["default"][0]
    assert isinstance(await ledger.reserve(policy, "acme", gpt, 1.0), Hold)  # never settled
    assert await ledger.reserve(policy, "acme", gpt, 0.5) == "customer:acme:day"
    deadline = time.monotonic() + 5
    while not isinstance(hold := await ledger.reserve(policy, "acme", gpt, 1.0), Hold):
        assert time.monotonic() < deadline, "the dead hold never expired"
        await asyncio.sleep(0.05)
    await ledger.settle(hold, 0.1)
    day = lines_by_scope(await ledger.lines(scopes(policy, "acme", [gpt])))["customer:acme:day"]
    assert (day.spent_usd, day.reserved_usd) == (0.1, 0.0)


async def test_an_empty_ledger_is_rebuilt_from_the_run_log_once(
    shared_redis, prefix: str, spend_log, make_policy: Callable[[str], Policy]
) -> None:
    policy = policy_with(make_policy)
    gpt, haiku = policy.chains["default"]
    spend_log.lines = [
        runlog_pb2.SpendLine(customer="acme", provider="openai", model="gpt-4o", cost_usd=0.5),
        runlog_pb2.SpendLine(customer="acme", provider="anthropic", model="claude-haiku-4-5", cost_usd=0.25),
        runlog_pb2.SpendLine(customer="globex", provider="anthropic", model="claude-haiku-4-5", cost_usd=0.2),
    ]
    replicas = [BudgetLedger(shared_redis, prefix, spend_log) for _ in range(2)]
    holds = await asyncio.gather(*(ledger.reserve(policy, "acme", gpt, 0.1) for ledger in replicas))
    assert all(isinstance(hold, Hold) for hold in holds)
    calls = spend_log.calls
    assert calls in (3, 6)  # one GetSpend per period, by one or both replicas; only the first one loads
    lines = lines_by_scope(await replicas[0].lines(scopes(policy, "acme", [gpt, haiku])))
    assert lines["customer:acme:day"].spent_usd == 0.75
    assert lines["customer:acme:day"].reserved_usd == 0.2
    assert round(lines["model:anthropic:claude-haiku-4-5:month"].spent_usd, 9) == 0.45
    assert await replicas[0].reserve(policy, "globex", haiku, 0.1) == "model:anthropic:claude-haiku-4-5:month"
    assert spend_log.calls == calls


def test_openai_input_is_counted_with_its_tokenizer_and_others_conservatively() -> None:
    text = "Summarise the quarterly report for the board, in three bullet points. " * 20
    request = router_pb2.CompleteRequest(messages=[common_pb2.Message(role="user", content=text)])
    exact = len(bpe_openai.get_encoding("o200k_base").encode_ordinary(text))
    assert estimate_input_tokens("openai", request) == exact + 8
    for provider in ("anthropic", "gemini", "xai"):
        assert estimate_input_tokens(provider, request) == len(text) // 3 + 1 + 8 > exact
