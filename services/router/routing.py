"""Failover along the policy's chain: an entry is called only if its budgets, breaker and quota admit it, and a
failure the next entry need not share (FAILOVER_KINDS, a spent model budget or quota, an open breaker, a schema
this provider cannot carry) moves on at once, with no sleeping. A spent customer budget ends the request."""

import dataclasses
from dataclasses import dataclass, field

from agentmesh.v1 import common_pb2, router_pb2
from services.common.errors import MeshError
from services.router.completion import Completion
from services.router.ledger import Hold, Ledger, estimate_input_tokens
from services.router.policy import Policy, PolicyStore
from services.router.provider import FAILOVER_KINDS
from services.router.schema import SchemaUnsupported
from services.router.structured import REPAIRS, OutputContract

Contract = OutputContract | None  # what a structured request's output must satisfy; None for free text
Outcome = tuple[router_pb2.CompleteReply | MeshError, bool]  # a reply or an error; may the next entry try?


@dataclass
class Routing:
    """The parts every request shares; each request walks its chain in a Failover of its own."""

    policies: PolicyStore
    completion: Completion
    ledger: Ledger

    async def complete(self, request: router_pb2.CompleteRequest, contract: Contract) -> router_pb2.CompleteReply:
        return await Failover(self, self.policies.current(), request, contract).run()

    async def models(self) -> router_pb2.ListModelsReply:
        """Every priced model: its breaker, what is left of this minute's quota, its prices, simulated or not."""
        policy = self.policies.current()
        reply = router_pb2.ListModelsReply(policy_version=policy.version)
        for entry, price in self.completion.prices.models.items():
            provider, _, model = entry.partition(":")
            simulated = self.completion.providers[provider].simulated
            state = reply.models.add(provider=provider, model=model, simulated=simulated)
            state.input_usd_per_mtok, state.output_usd_per_mtok = price.input, price.output
            _, state.breaker, state.requests_left, state.tokens_left = await self.ledger.gate(policy, entry, "look")
        return reply


@dataclass
class Failover:
    """One request on its way along its chain; the notes say why each entry before the chosen one was passed."""

    routing: Routing
    policy: Policy
    request: router_pb2.CompleteRequest
    contract: Contract
    attempts: list[router_pb2.Attempt] = field(default_factory=list)

    async def run(self) -> router_pb2.CompleteReply:
        entries, notes = self.policy.plan(self.request)
        error = MeshError("unavailable", "no entry of the policy is left to try")
        for entry in entries:
            outcome, moves_on = await self.attempt(entry)
            if isinstance(outcome, router_pb2.CompleteReply):
                notes.append(f"{entry}: chosen")
                reply = router_pb2.CompleteReply(attempts=self.attempts, decision="; ".join(notes))
                reply.MergeFrom(outcome)  # this entry's attempts after the earlier entries' ones
                return reply
            error = outcome
            kind = error.metadata.get("provider_kind")
            notes.append(f"{entry}: {f'failed ({kind})' if kind else error.message}")
            if not moves_on:
                break
        failure = router_pb2.CompleteFailure(attempts=self.attempts, decision="; ".join(notes))
        raise MeshError(error.kind, f"{error.message} [{failure.decision}]", [failure], **error.metadata)

    async def attempt(self, entry: str) -> Outcome:
        """Admission by budgets, breaker and quota, then the call. The hold covers the worst case: every call
        of the repair loop, each with the estimated input, the reply it repairs and max output tokens. The token
        quota counts one call's estimated input and max output tokens, as providers count their own limits."""
        (provider, _, model), out = entry.partition(":"), self.request.max_output_tokens
        tokens = estimate_input_tokens(provider, self.request, self.contract.schema if self.contract else None) + out
        calls = 1 + (REPAIRS if self.contract else 0)
        worst = common_pb2.Usage(input_tokens=calls * tokens, output_tokens=calls * out)
        cost = self.routing.completion.prices.cost(provider, model, worst)
        ttl_s = calls * self.policy.attempt_timeout_s(entry) + self.policy.hold_grace_s
        hold = await self.routing.ledger.reserve(self.policy, self.request.customer, entry, cost, ttl_s)
        if isinstance(hold, str):
            return MeshError("budget_exhausted", f"budget {hold} is spent", scope=hold), hold.startswith("model:")
        blocked, breaker, *_ = await self.routing.ledger.gate(self.policy, entry, "allow", tokens)
        if not blocked:
            return await self.call(entry, hold)
        await self.routing.ledger.settle(hold, 0.0)
        if blocked == "breaker":
            return MeshError("unavailable", f"breaker {breaker}"), True
        return MeshError("quota_exhausted", f"quota of {blocked} per minute is used up"), True

    async def call(self, entry: str, hold: Hold) -> Outcome:
        """complete_on with the entry's timeout; then its real cost and its health go to Redis."""
        completion = dataclasses.replace(self.routing.completion, timeout_s=self.policy.attempt_timeout_s(entry))
        try:  # attempts are numbered on from the earlier entries' (purpose "failover")
            outcome, tried = await completion.complete_on(entry, self.request, self.contract, len(self.attempts) + 1)
        except MeshError as exc:
            failure = exc.detail(router_pb2.CompleteFailure)
            outcome, tried = exc, list(failure.attempts) if failure else []
        await self.routing.ledger.settle(hold, sum(a.cost_usd for a in tried))
        kind = outcome.metadata.get("provider_kind") if isinstance(outcome, MeshError) else "answered"
        if kind:  # the provider answered or failed (no call was refused before it was made): its breaker learns
            await self.routing.ledger.gate(self.policy, entry, "failure" if kind in FAILOVER_KINDS else "success")
        self.attempts += tried if isinstance(outcome, MeshError) else []
        return outcome, kind in FAILOVER_KINDS or isinstance(outcome, SchemaUnsupported)
