"""Quotas and circuit breakers per provider:model, shared through Redis by every router replica."""

import asyncio
import time
from collections.abc import Callable

from services.router.ledger import Ledger
from services.router.policy import Policy

POLICY = """
chains: {default: [openai:gpt-4o, gemini:gemini-2.5-flash]}
breaker_failures: 3
breaker_cooldown_s: 0.3
models:
  openai:gpt-4o: {requests_per_min: 5, tokens_per_min: 1000}
"""
GPT, FLASH = "openai:gpt-4o", "gemini:gemini-2.5-flash"


async def test_a_request_quota_admits_n_per_minute(ledger: Ledger, make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(POLICY)
    taken = await asyncio.gather(*(ledger.take(policy, GPT, 1, 10) for _ in range(8)))
    assert sorted(short for short, _, _ in taken) == [""] * 5 + ["requests"] * 3
    assert await ledger.take(policy, GPT, 0, 0) == ("", 0, 950)


async def test_a_token_quota_refuses_a_call_larger_than_what_is_left(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    assert await ledger.take(policy, GPT, 1, 900) == ("", 4, 100)
    assert await ledger.take(policy, GPT, 1, 200) == ("tokens", 4, 100)  # nothing taken, requests included


async def test_an_entry_without_quota_is_unlimited(ledger: Ledger, make_policy: Callable[[str], Policy]) -> None:
    assert await ledger.take(make_policy(POLICY), FLASH, 1, 10**9) == ("", -1, -1)


async def test_the_breaker_opens_after_consecutive_failures_only(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    for op in ("failure", "failure", "success", "failure", "failure"):
        await ledger.breaker(policy, GPT, op)
    assert await ledger.breaker(policy, GPT, "allow") == (True, "closed")
    assert await ledger.breaker(policy, GPT, "failure") == (False, "open")
    assert await ledger.breaker(policy, GPT, "allow") == (False, "open")
    assert await ledger.breaker(policy, FLASH, "allow") == (True, "closed")


async def test_after_the_cooldown_one_probe_goes_and_its_outcome_decides(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    for _ in range(3):
        await ledger.breaker(policy, GPT, "failure")
    deadline = time.monotonic() + 5
    while (await ledger.breaker(policy, GPT, "look"))[1] != "half_open":
        assert time.monotonic() < deadline, "the breaker never half-opened"
        await asyncio.sleep(0.02)
    allowed = await asyncio.gather(*(ledger.breaker(policy, GPT, "allow") for _ in range(10)))
    assert allowed.count((True, "half_open")) == 1
    assert await ledger.breaker(policy, GPT, "failure") == (False, "open")  # the probe failed: open again
    assert await ledger.breaker(policy, GPT, "allow") == (False, "open")
    while not (await ledger.breaker(policy, GPT, "allow"))[0]:
        assert time.monotonic() < deadline + 5, "the breaker never half-opened again"
        await asyncio.sleep(0.02)
    assert await ledger.breaker(policy, GPT, "success") == (True, "closed")
    assert await ledger.breaker(policy, GPT, "allow") == (True, "closed")
