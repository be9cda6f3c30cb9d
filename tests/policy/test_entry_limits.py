"""Quotas and circuit breakers per provider:model, shared through Redis by every router replica."""

import asyncio
import time
from collections.abc import Callable

from services.router.limits import EntryLimits
from services.router.policy import Policy

POLICY = """
chains: {default: [openai:gpt-4o, gemini:gemini-2.5-flash]}
breaker: {failures: 3, cooldown_s: 0.3}
models:
  openai:gpt-4o: {quota: {requests_per_min: 5, tokens_per_min: 1000}}
"""


async def test_a_request_quota_admits_n_per_minute(limits: EntryLimits, make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(POLICY)
    gpt = policy.chains["default"][0]
    taken = await asyncio.gather(*(limits.take(policy, gpt, 1, 10) for _ in range(8)))
    assert sorted(short for short, _, _ in taken) == [""] * 5 + ["requests"] * 3
    assert await limits.take(policy, gpt, 0, 0) == ("", 0, 950)


async def test_a_token_quota_refuses_a_call_larger_than_what_is_left_and_takes_back_unused_tokens(
    limits: EntryLimits, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    gpt = policy.chains["default"][0]
    assert await limits.take(policy, gpt, 1, 900) == ("", 4, 100)
    assert await limits.take(policy, gpt, 1, 200) == ("tokens", 4, 100)  # nothing taken, requests included
    assert (await limits.take(policy, gpt, 0, -600))[2] >= 700  # the call used 300 of its 900


async def test_an_entry_without_quota_is_unlimited(limits: EntryLimits, make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(POLICY)
    assert await limits.take(policy, policy.chains["default"][1], 1, 10**9) == ("", -1, -1)


async def test_the_breaker_opens_after_consecutive_failures_only(
    limits: EntryLimits, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    gpt = policy.chains["default"][0]
    for op in ("failure", "failure", "success", "failure", "failure"):
        await limits.breaker(policy, gpt, op)
    assert await limits.breaker(policy, gpt, "allow") == (True, "closed")
    assert await limits.breaker(policy, gpt, "failure") == (False, "open")
    assert await limits.breaker(policy, gpt, "allow") == (False, "open")


async def test_after_the_cooldown_one_probe_goes_and_its_outcome_decides(
    limits: EntryLimits, make_policy: Callable[[str], Policy]
) -> None:
    policy = make_policy(POLICY)
    gpt = policy.chains["default"][0]
    for _ in range(3):
        await limits.breaker(policy, gpt, "failure")
    deadline = time.monotonic() + 5
    while (await limits.breaker(policy, gpt, "look"))[1] != "half_open":
        assert time.monotonic() < deadline, "the breaker never half-opened"
        await asyncio.sleep(0.02)
    allowed = await asyncio.gather(*(limits.breaker(policy, gpt, "allow") for _ in range(10)))
    assert allowed.count((True, "half_open")) == 1
    assert await limits.breaker(policy, gpt, "failure") == (False, "open")  # the probe failed: open again
    assert await limits.breaker(policy, gpt, "allow") == (False, "open")
    while not (await limits.breaker(policy, gpt, "allow"))[0]:
        assert time.monotonic() < deadline + 5, "the breaker never half-opened again"
        await asyncio.sleep(0.02)
    assert await limits.breaker(policy, gpt, "success") == (True, "closed")
    assert await limits.breaker(policy, gpt, "allow") == (True, "closed")
