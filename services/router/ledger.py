"""Dollar budgets shared by every router replica: hold a pessimistic cost before a call, settle the real one after.

Redis holds the running spend and the holds in flight (atomic Lua scripts beside this file); the run log in
Postgres holds every settled attempt, so an empty Redis is rebuilt from it (GetSpend) before the next hold.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bpe_openai
import redis.asyncio as redis
from google.protobuf.timestamp_pb2 import Timestamp

from agentmesh.v1 import router_pb2, runlog_pb2
from services.router.policy import Budget, Entry, Policy

PERIODS = {"day": 2 * 86400, "month": 32 * 86400, "total": 0}  # period -> ttl of its spend keys (0 = kept)
O200K = bpe_openai.get_encoding("o200k_base")
SpendSource = Callable[[runlog_pb2.GetSpendRequest], Awaitable[runlog_pb2.GetSpendReply]]


def script(client: redis.Redis, name: str):
    return client.register_script((Path(__file__).parent / f"{name}.lua").read_text())


def period_starts(now: datetime) -> dict[str, datetime | None]:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"day": day, "month": day.replace(day=1), "total": None}


Scope = tuple[str, str, float | None]  # ("customer:acme" | "model:openai:gpt-4o", period, limit in USD or None)


@dataclass(frozen=True)
class Hold:
    """Money held for one call on each of its scopes, until settled or expired."""

    keys: list[str]  # spend key and holds key, per scope
    ttls: list[int]
    member: str


def scopes(policy: Policy, customer: str, entries: list[Entry]) -> list[Scope]:
    """The budget scopes calls to these entries for this customer spend on ("" customer: models only)."""
    budgets: dict[str, Budget] = {f"customer:{customer}": policy.customer(customer).budget} if customer else {}
    budgets.update({f"model:{entry.use}": policy.limits(entry).budget for entry in entries})
    return [(name, period, getattr(budget, period)) for name, budget in budgets.items() for period in PERIODS]


class BudgetLedger:
    def __init__(self, client: redis.Redis, prefix: str, spend_source: SpendSource) -> None:
        self.client, self.prefix, self.spend_source = client, prefix, spend_source
        self.marker = f"{prefix}ledger:built"
        self._reserve, self._settle, self._rebuild = (script(client, n) for n in ("reserve", "settle", "rebuild"))

    def _key(self, name: str, period: str, now: datetime) -> str:
        start = period_starts(now)[period]
        return f"{self.prefix}spend:{name}:{period}:{start.date() if start else 'all'}"

    async def reserve(self, policy: Policy, customer: str, entry: Entry, amount: float) -> Hold | str:
        """Hold `amount` USD on every scope, or return the scope that would overspend (nothing is held then)."""
        now, held = datetime.now(UTC), scopes(policy, customer, [entry])
        spend_keys = [self._key(name, period, now) for name, period, _ in held]
        keys = [k for spend in spend_keys for k in (spend, f"{spend}:holds")]
        member = f"{uuid.uuid4().hex}:{amount!r}"
        limits = [-1 if limit is None else limit for *_, limit in held]
        args = [member, amount, policy.reservation_ttl_s, *limits]
        while (full := await self._reserve(keys=[self.marker, *keys], args=args)) == -1:
            await self.rebuild()
        if full:
            return ":".join(held[full - 1][:2])
        return Hold(keys, [PERIODS[period] for _, period, _ in held], member)

    async def settle(self, hold: Hold, cost_usd: float) -> None:
        await self._settle(keys=hold.keys, args=[hold.member, cost_usd, *hold.ttls])

    async def rebuild(self) -> None:
        """Load this day's, this month's and all-time spend per customer and per model from the run log."""
        now, spend = datetime.now(UTC), {}
        for period, start in period_starts(now).items():
            since = Timestamp(seconds=int(start.timestamp())) if start else None
            for line in (await self.spend_source(runlog_pb2.GetSpendRequest(since=since))).lines:
                for name in (f"customer:{line.customer}", f"model:{line.provider}:{line.model}"):
                    key = self._key(name, period, now)
                    usd, _ = spend.get(key, (0.0, PERIODS[period]))
                    spend[key] = (usd + line.cost_usd, PERIODS[period])
        await self._rebuild(keys=[self.marker, *spend], args=[a for pair in spend.values() for a in pair])

    async def lines(self, budget_scopes: list[Scope]) -> list[router_pb2.BudgetLine]:
        """Limit, spend, holds in flight and what is left, per scope (remaining -1 when unlimited)."""
        now, out = datetime.now(UTC), []
        for name, period, limit in budget_scopes:
            key = self._key(name, period, now)
            spent = float(await self.client.get(key) or 0)
            holds = await self.client.zrangebyscore(f"{key}:holds", now.timestamp(), "+inf")
            held = sum(float(member.rpartition(b":")[2]) for member in holds)
            left = -1.0 if limit is None else max(0.0, limit - spent - held)
            line = dict(scope=f"{name}:{period}", limit_usd=limit or 0.0, spent_usd=spent, reserved_usd=held)
            out.append(router_pb2.BudgetLine(**line, remaining_usd=left))
        return out


def estimate_input_tokens(provider: str, request: router_pb2.CompleteRequest) -> int:
    """OpenAI's own tokenizer (o200k_base) for OpenAI; elsewhere chars/3, more tokens than those vendors'
    tokenizers produce for English or JSON (3.5-4 chars a token); plus 8 tokens of framing per message and tool."""
    parts = [m.content + "".join(c.name + c.arguments_json for c in m.tool_calls) for m in request.messages]
    parts += [t.name + t.description + t.input_schema_json for t in request.tools] + [request.output_schema_json]
    text, framing = "".join(parts), 8 * (len(request.messages) + len(request.tools))
    return framing + (len(O200K.encode_ordinary(text)) if provider == "openai" else len(text) // 3 + 1)
