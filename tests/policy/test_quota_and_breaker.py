"""Quotas and circuit breakers per provider:model (gate.lua), shared through Redis by every router replica."""

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
    gates = await asyncio.gather(*(ledger.gate(policy, GPT, "allow", 10) for _ in range(8)))
    assert sorted(blocked for blocked, *_ in gates) == [""] * 5 + ["requests"] * 3
    assert await ledger.gate(policy, GPT, "look") == ("", "closed", 0, 950)


async def test_a_token_quota_refuses_a_call_larger_than_what_is_left_taking_nothing(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    assert await ledger.gate(policy, GPT, "allow", 900) == ("", "closed", 4, 100)
    assert await ledger.gate(policy, GPT, "allow", 200) == ("tokens", "closed", 4, 100)


async def test_an_entry_without_quota_is_unlimited(ledger: Ledger, make_policy: Callable[[str], Policy]) -> None:
    assert await ledger.gate(make_policy(POLICY), FLASH, "allow", 10**9) == ("", "closed", -1, -1)


async def test_the_breaker_opens_after_consecutive_failures_only(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    for outcome in ("failure", "failure", "success", "failure", "failure"):
        await ledger.gate(policy, FLASH, outcome)
    assert (await ledger.gate(policy, FLASH, "allow"))[:2] == ("", "closed")
    assert (await ledger.gate(policy, FLASH, "failure"))[1] == "open"
    assert (await ledger.gate(policy, FLASH, "allow"))[:2] == ("breaker", "open")
    assert (await ledger.gate(policy, GPT, "allow"))[:2] == ("", "closed")


async def test_an_open_breaker_takes_nothing_from_the_quota(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    for _ in range(3):
        await ledger.gate(policy, GPT, "failure")
    assert await ledger.gate(policy, GPT, "allow", 10) == ("breaker", "open", 5, 1000)


async def test_after_the_cooldown_one_probe_goes_and_its_outcome_decides(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    for _ in range(3):
        await ledger.gate(policy, FLASH, "failure")
    deadline = time.monotonic() + 5
    while (await ledger.gate(policy, FLASH, "look"))[1] != "half_open":
        assert time.monotonic() < deadline, "the breaker never half-opened"
        await asyncio.sleep(0.02)
    gates = await asyncio.gather(*(ledger.gate(policy, FLASH, "allow") for _ in range(10)))
    assert sorted(blocked for blocked, *_ in gates) == [""] + ["breaker"] * 9  # one probe at a time
    assert (await ledger.gate(policy, FLASH, "failure"))[1] == "open"  # the probe failed: open again
    assert (await ledger.gate(policy, FLASH, "allow"))[:2] == ("breaker", "open")
    while (await ledger.gate(policy, FLASH, "allow"))[0]:
        assert time.monotonic() < deadline + 5, "the breaker never half-opened again"
        await asyncio.sleep(0.02)
    assert (await ledger.gate(policy, FLASH, "success"))[1] == "closed"
    assert (await ledger.gate(policy, FLASH, "allow"))[:2] == ("", "closed")


async def test_a_half_open_probe_is_not_claimed_when_the_quota_is_short(
    ledger: Ledger, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    for _ in range(3):
        await ledger.gate(policy, GPT, "failure")
    deadline = time.monotonic() + 5
    while (await ledger.gate(policy, GPT, "look"))[1] != "half_open":
        assert time.monotonic() < deadline, "the breaker never half-opened"
        await asyncio.sleep(0.02)
    assert (await ledger.gate(policy, GPT, "allow", 5000))[0] == "tokens"
    assert (await ledger.gate(policy, GPT, "allow", 10))[:2] == ("", "half_open")  # the probe slot was still free
