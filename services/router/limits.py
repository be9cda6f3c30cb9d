"""Per provider:model limits shared by every router replica: rate quotas (token buckets) and circuit breakers."""

import redis.asyncio as redis

from services.router.ledger import script
from services.router.policy import Entry, Policy


class EntryLimits:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.prefix = prefix
        self._quota, self._breaker = script(client, "quota"), script(client, "breaker")

    async def take(self, policy: Policy, entry: Entry, requests: int, tokens: int) -> tuple[str, int, int]:
        """Take from this minute's request and token buckets, all or nothing (negative gives back; 0 looks).
        Returns the bucket that is short ("" when taken) and what is left in each (-1: unlimited)."""
        quota = policy.limits(entry).quota
        buckets = {"requests": (quota.requests_per_min, requests), "tokens": (quota.tokens_per_min, tokens)}
        limited = {name: (cap, cost) for name, (cap, cost) in buckets.items() if cap}
        keys = [f"{self.prefix}quota:{entry.use}:{name}" for name in limited]
        short, *left = await self._quota(keys=keys, args=[n for pair in limited.values() for n in pair])
        level = dict(zip(limited, left, strict=True))
        return (list(limited)[short - 1] if short else ""), level.get("requests", -1), level.get("tokens", -1)

    async def breaker(self, policy: Policy, entry: Entry, op: str) -> tuple[bool, str]:
        """op: allow (claims the half-open probe), success, failure, look. Returns (may call, state)."""
        probe_s = entry.timeout_s or policy.timeout_s
        args = [op, policy.breaker.failures, policy.breaker.cooldown_s, probe_s]
        allowed, state = await self._breaker(keys=[f"{self.prefix}breaker:{entry.use}"], args=args)
        return bool(allowed), state.decode()
