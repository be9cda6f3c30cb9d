"""One request completed on one provider:model: the initial call and at most two repairs, every attempt priced,
logged to the run log and reported. Failover across models (routing.py) calls `complete_on` once per entry."""

import time
from dataclasses import dataclass, replace

from agentmesh.v1 import common_pb2, router_pb2
from services.common.errors import MeshError
from services.router.attempt_log import AttemptLog
from services.router.pricing import PriceTable
from services.router.provider import ModelReply, ModelRequest, Provider, ProviderError
from services.router.schema import to_wire_schema
from services.router.structured import REPAIRS, OutputContract, ReplyInvalid, repair_prompt

Attempts = list[router_pb2.Attempt]
Outcome = tuple[router_pb2.Attempt, ModelReply | None]
USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens")


def failure(kind: str, message: str, attempts: Attempts, **metadata: str) -> MeshError:
    """The typed error of a failed Complete; its CompleteFailure detail carries every attempt."""
    return MeshError(kind, message, [router_pb2.CompleteFailure(attempts=attempts)], **metadata)


@dataclass
class Completion:
    providers: dict[str, Provider]
    prices: PriceTable
    log: AttemptLog
    timeout_s: float

    async def complete_on(
        self, entry: str, request: router_pb2.CompleteRequest, contract: OutputContract | None, first_number: int = 1
    ) -> tuple[router_pb2.CompleteReply, Attempts]:
        """The reply of entry, or a MeshError (the provider's kind, or schema_invalid after the repairs) carrying
        every attempt. first_number > 1 means failover: numbering goes on from the attempts made before."""
        provider, call = self.prepare(entry, request, contract)
        attempts: Attempts = []
        for number in range(first_number, first_number + 1 + REPAIRS):
            purpose = "repair" if attempts else ("initial" if first_number == 1 else "failover")
            await self.log.ready()
            attempt, reply = await self.attempt(provider, call, number, purpose)
            output_json = checked(contract, reply, attempt)
            attempts.append(attempt)
            await self.log.append(request, attempt)
            if reply is not None and not attempt.HasField("error"):
                return completed(reply, output_json, attempts), attempts
            if attempt.error.kind != "schema_invalid":
                # A provider refusing the router's key is not the caller's auth problem: it is unusable for now.
                kind = "unavailable" if attempt.error.kind == "auth" else attempt.error.kind
                raise failure(kind, f"{entry}: {attempt.error.message}", attempts, provider_kind=attempt.error.kind)
            repair = repair_prompt(reply.text if reply else attempt.response_body, attempt.error.message)
            call = replace(call, messages=[*call.messages, repair], tool_choice="none")  # corrected JSON, no tools
        message = f"{entry}: the reply still breaks the output schema after {REPAIRS} repairs:\n{attempt.error.message}"
        raise failure("schema_invalid", message, attempts, provider_kind="schema_invalid")

    def prepare(
        self, entry: str, request: router_pb2.CompleteRequest, contract: OutputContract | None
    ) -> tuple[Provider, ModelRequest]:
        """The provider and the first call of entry; refused before any call when entry cannot serve it."""
        name, _, model = entry.partition(":")
        self.prices.price(name, model)  # an entry without a price (so without a provider) is refused
        if contract is not None:
            to_wire_schema(name, contract.schema)  # SchemaUnsupported (a bad_request) before any call
        schema, output_name = (contract.schema, contract.name) if contract else (None, "output")
        seed = request.seed if request.HasField("seed") else None
        call = ModelRequest(model, list(request.messages), list(request.tools), schema, output_name)
        call = replace(call, temperature=request.temperature, seed=seed, max_output_tokens=request.max_output_tokens)
        return self.providers[name], replace(call, timeout_s=self.timeout_s)

    async def attempt(self, provider: Provider, call: ModelRequest, number: int, purpose: str) -> Outcome:
        """Exactly one provider call, timed and priced; a ProviderError becomes the attempt's error."""
        attempt = router_pb2.Attempt(number=number, provider=provider.name, model=call.model, purpose=purpose)
        started = time.perf_counter()
        try:
            reply = await provider.complete(call)
        except ProviderError as exc:
            attempt.error.CopyFrom(common_pb2.ErrorDetail(kind=exc.kind, message=exc.message))
            reply, wire = None, exc
        else:
            wire = reply
            attempt.usage.CopyFrom(reply.usage)
            attempt.cost_usd = self.prices.cost(provider.name, call.model, reply.usage)
            attempt.finish_reason = reply.finish_reason
        attempt.latency_ms = (time.perf_counter() - started) * 1000
        attempt.request_body, attempt.response_body = wire.request_body, wire.response_body
        return attempt, reply


def checked(contract: OutputContract | None, reply: ModelReply | None, attempt: router_pb2.Attempt) -> str:
    """The validated output JSON, or "" (nothing asked, a tool-call turn, or invalid: then the attempt's error)."""
    if contract is None or reply is None or reply.tool_calls:
        return ""
    try:
        return contract.check(reply.text)
    except ReplyInvalid as exc:
        attempt.error.CopyFrom(common_pb2.ErrorDetail(kind="schema_invalid", message=str(exc)))
        return ""


def completed(reply: ModelReply, output_json: str, attempts: Attempts) -> router_pb2.CompleteReply:
    """The reply of the last attempt, with usage and cost summed over all of them."""
    return router_pb2.CompleteReply(
        message=common_pb2.Message(role="assistant", content=reply.text, tool_calls=reply.tool_calls),
        output_json=output_json,
        usage=common_pb2.Usage(**{f: sum(getattr(a.usage, f) for a in attempts) for f in USAGE_FIELDS}),
        cost_usd=sum(a.cost_usd for a in attempts),
        provider=attempts[-1].provider,
        model=attempts[-1].model,
        finish_reason=reply.finish_reason,
        attempts=attempts,
    )
