"""The router's shared books: dollar budgets, per-minute quotas and circuit breakers per provider:model.

Budgets: a pessimistic cost is held before a call and the real cost settled after; a hold not settled within
its calls' timeouts and a grace period (its router died) expires. The run log in Postgres keeps every settled attempt,
so an empty Redis is rebuilt from it (GetSpend) before the next hold. Quotas are token buckets refilled
continuously; a breaker opens after consecutive failures and lets one probe through after its cooldown.
"""

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import bpe_openai
import grpc
import redis.asyncio as redis
from google.protobuf.timestamp_pb2 import Timestamp

from agentmesh.v1 import router_pb2, runlog_pb2, runlog_pb2_grpc
from services.common.errors import MeshError
from services.router.policy import Budget, Policy

PERIODS = {"day": "%Y-%m-%d", "month": "%Y-%m", "total": "all"}  # the id of a scope's spend key in each period
O200K = bpe_openai.get_encoding("o200k_base")
Hold = tuple[list[str], str]  # the spend and holds keys of every scope, and this hold's member in them


def budget_scopes(policy: Policy, customer: str, entries: list[str]) -> dict[str, float | None]:
    """ "customer:acme:day", "model:openai:gpt-4o:total", ... -> limit in USD (None: unlimited)."""
    budgets: list[tuple[str, Budget]] = [(f"customer:{customer}", policy.customer(customer))] if customer else []
    budgets += [(f"model:{entry}", policy.limits(entry)) for entry in entries]
    return {f"{name}:{period}": getattr(budget, f"{period}_usd") for name, budget in budgets for period in PERIODS}


class Ledger:
    """The router's shared books in Redis: dollar budgets, per-minute quotas and circuit breakers, each changed
    only by an atomic Lua script beside this file, so their limits hold across any number of router replicas."""

    def __init__(self, client: redis.Redis, prefix: str, runlog: runlog_pb2_grpc.RunLogStub) -> None:
        self.client, self.prefix, self.runlog = client, prefix, runlog
        self.marker, self.rebuilding = f"{prefix}ledger:built", asyncio.Lock()
        self.lua = {lua.stem: client.register_script(lua.read_text()) for lua in Path(__file__).parent.glob("*.lua")}

    def key(self, scope: str, now: datetime) -> str:
        return f"{self.prefix}spend:{scope}:{now.strftime(PERIODS[scope.rpartition(':')[2]])}"

    async def reserve(self, policy: Policy, customer: str, entry: str, amount: float, ttl_s: float) -> Hold | str:
        """Hold `amount` USD on every scope of the call for ttl_s at most, or name the scope it would overspend
        (holding nothing)."""
        now, scopes = datetime.now(UTC), budget_scopes(policy, customer, [entry])
        keys = [k for scope in scopes for k in (self.key(scope, now), f"{self.key(scope, now)}:holds")]
        member = f"{uuid.uuid4().hex}:{amount!r}"
        args = [member, amount, ttl_s, *(-1 if v is None else v for v in scopes.values())]
        while (full := await self.lua["reserve"](keys=[self.marker, *keys], args=args)) == -1:
            await self.rebuild()
        return list(scopes)[full - 1] if full else (keys, member)

    async def settle(self, hold: Hold, cost_usd: float) -> None:
        await self.lua["settle"](keys=hold[0], args=[hold[1], cost_usd])

    async def rebuild(self) -> None:
        """Load this day's, this month's and all-time spend per customer and per model from the run log; one
        task per replica asks at a time, and the first replica's load wins."""
        async with self.rebuilding:
            if await self.client.exists(self.marker):
                return
            now, spend = datetime.now(UTC), defaultdict[str, float](float)
            for name, fmt in PERIODS.items():
                start = datetime.strptime(now.strftime(fmt), fmt).replace(tzinfo=UTC) if name != "total" else None
                since = Timestamp(seconds=int(start.timestamp())) if start else None
                try:
                    lines = (await self.runlog.GetSpend(runlog_pb2.GetSpendRequest(since=since), timeout=10)).lines
                except grpc.aio.AioRpcError as exc:
                    raise MeshError("unavailable", f"run log unavailable: {exc.details()}") from None
                for line in lines:
                    for scope in (f"customer:{line.customer}:{name}", f"model:{line.provider}:{line.model}:{name}"):
                        spend[scope] += line.cost_usd
            keys = [self.marker, *(self.key(scope, now) for scope in spend)]
            await self.lua["rebuild"](keys=keys, args=list(spend.values()))

    async def budget(self, policy: Policy, customer: str) -> router_pb2.GetBudgetReply:
        """Per scope of the customer and of every model the policy routes to or limits: limit (0: none),
        spend, holds in flight and what is left (-1: unlimited)."""
        now, out = datetime.now(UTC), router_pb2.GetBudgetReply()
        entries = dict.fromkeys([*(entry for chain in policy.chains.values() for entry in chain), *policy.models])
        for scope, limit in budget_scopes(policy, customer, list(entries)).items():
            spent = float(await self.client.get(self.key(scope, now)) or 0)
            holds = await self.client.zrangebyscore(f"{self.key(scope, now)}:holds", now.timestamp(), "+inf")
            held = sum(float(member.rpartition(b":")[2]) for member in holds)
            line = router_pb2.BudgetLine(scope=scope, limit_usd=limit or 0, spent_usd=spent, reserved_usd=held)
            line.remaining_usd = -1 if limit is None else max(0.0, limit - spent - held)
            out.lines.append(line)
        return out

    async def gate(self, policy: Policy, entry: str, op: str, tokens: int = 0) -> tuple[str, str, int, int]:
        """The entry's breaker and quota in one atomic step (gate.lua). op "allow": pass the breaker and take one
        request and `tokens` from this minute's quota, all or nothing; "look": report only; "success" or
        "failure": a call's outcome, for the breaker. Returns what blocked ("" when passed, "breaker", "requests"
        or "tokens"), the breaker's state, and the requests and tokens left this minute (-1: unlimited)."""
        limits = policy.limits(entry)
        keys = [f"{self.prefix}{kind}:{entry}" for kind in ("breaker", "quota:requests", "quota:tokens")]
        args = [op, policy.breaker_failures, policy.breaker_cooldown_s, policy.attempt_timeout_s(entry)]
        args += [limits.requests_per_min or -1, limits.tokens_per_min or -1, tokens]
        blocked, state, requests_left, tokens_left = await self.lua["gate"](keys=keys, args=args)
        return blocked.decode(), state.decode(), requests_left, tokens_left


def estimate_input_tokens(provider: str, request: router_pb2.CompleteRequest, schema: dict | None = None) -> int:
    """OpenAI's own tokenizer (o200k_base) for OpenAI; elsewhere chars/3, more tokens than those vendors'
    tokenizers make of English or JSON (3.5-4 chars a token); plus 8 tokens of framing per message and tool."""
    texts = [m.content + "".join(c.name + c.arguments_json for c in m.tool_calls) for m in request.messages]
    texts += [t.name + t.description + t.input_schema_json for t in request.tools]
    text = "".join(texts) + (json.dumps(schema) if schema else "")
    return 8 * len(texts) + (len(O200K.encode_ordinary(text)) if provider == "openai" else len(text) // 3 + 1)
