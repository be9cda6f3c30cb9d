"""The routing policy: which provider:model entries may serve a request, in which order, under which limits.

A broken file is refused with the entry at fault named, and never replaces the policy in force.
"""

import hashlib
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

from agentmesh.v1 import router_pb2
from services.common.errors import MeshError, StartupError

log = logging.getLogger(__name__)


def _priced(entry: str, info: ValidationInfo) -> str:
    if entry not in info.context["prices"]:
        raise ValueError(f"unknown model '{entry}': no provider:model of that name in the price table")
    return entry


Entry = Annotated[str, AfterValidator(_priced)]  # "provider:model", priced
Pattern = Annotated[str, Field(pattern=r"^(openai|anthropic|gemini|xai)(:.+)?$")]  # a provider, or provider:model


def _has_default(chains: dict[str, list[str]]) -> dict[str, list[str]]:
    if "default" not in chains:
        raise ValueError("a 'default' chain is required")
    return chains


Chains = Annotated[dict[str, Annotated[list[Entry], Field(min_length=1)]], AfterValidator(_has_default)]


def matches(entry: str, pattern: str) -> bool:
    return pattern in (entry.partition(":")[0], entry)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(Strict):
    """Dollar limits per period (UTC day, UTC month, all time); an unset period is unlimited."""

    day_usd: float | None = Field(None, ge=0)
    month_usd: float | None = Field(None, ge=0)
    total_usd: float | None = Field(None, ge=0)


class Customer(Budget):
    pin: Pattern | None = None  # only matching entries are tried
    exclude: list[Pattern] = []


class ModelLimits(Budget):
    timeout_s: float | None = Field(None, gt=0)  # of one attempt; the policy's timeout_s when unset
    requests_per_min: int | None = Field(None, gt=0)
    tokens_per_min: int | None = Field(None, gt=0)


class Policy(Strict):
    """A parsed policy file. `customers["*"]` applies to every customer without an entry of its own."""

    chains: Chains  # task class -> entries in the order they are tried; "default" is required
    timeout_s: float = Field(30.0, gt=0)
    hold_grace_s: float = Field(30.0, gt=0)  # a hold expires this long after its calls' timeouts (router died)
    breaker_failures: int = Field(3, gt=0)  # consecutive failures that open a breaker
    breaker_cooldown_s: float = Field(30.0, gt=0)  # open this long, then one probe call at a time (half-open)
    customers: dict[str, Customer] = {}
    models: dict[Entry, ModelLimits] = {}
    version: str = ""

    def customer(self, name: str) -> Customer:
        return self.customers.get(name) or self.customers.get("*") or Customer()

    def limits(self, entry: str) -> ModelLimits:
        return self.models.get(entry) or ModelLimits()

    def attempt_timeout_s(self, entry: str) -> float:
        return self.limits(entry).timeout_s or self.timeout_s

    def plan(self, request: router_pb2.CompleteRequest) -> tuple[list[str], list[str]]:
        """The entries to try in order, and why each other one was left out (for CompleteReply.decision).
        A pinned or preferred entry without a price is refused by the price table when its turn comes."""
        if not request.model and request.task_class not in (*self.chains, ""):
            raise MeshError("bad_request", f"task_class: no chain '{request.task_class}' in {sorted(self.chains)}")
        chain = [request.model] if request.model else [*request.prefer, *self.chains[request.task_class or "default"]]
        customer, kept, notes = self.customer(request.customer), [], []
        for entry in dict.fromkeys(chain):
            if customer.pin and not matches(entry, customer.pin):
                notes.append(f"{entry}: customer pinned to {customer.pin}")
            elif any(matches(entry, pattern) for pattern in customer.exclude):
                notes.append(f"{entry}: excluded for customer {request.customer}")
            elif any(matches(entry, pattern) for pattern in request.exclude):
                notes.append(f"{entry}: excluded by request")
            else:
                kept.append(entry)
        return kept, notes


def _reason(exc: ValidationError | yaml.YAMLError) -> str:
    if isinstance(exc, yaml.YAMLError):
        return str(exc).replace("\n", " ")
    first = exc.errors()[0]
    return f"{'.'.join(map(str, first['loc'])) or 'top level'}: {first['msg'].removeprefix('Value error, ')}"


class PolicyStore:
    """The policy in force, re-read whenever the file's bytes change (one small read per request) or on SIGHUP.
    Its version is the hash of those bytes, so replicas can tell whether they agree."""

    def __init__(self, path: Path, prices: Collection[str]) -> None:
        self.path, self.prices = path, prices
        self.policy = self.load(path.read_bytes())

    def load(self, raw: bytes) -> Policy:
        self.seen = hashlib.sha256(raw).hexdigest()[:12]
        try:
            policy = Policy.model_validate(yaml.safe_load(raw), context={"prices": self.prices})
        except (ValidationError, yaml.YAMLError) as exc:
            raise StartupError("AGENTMESH_POLICY_PATH", f"{self.path}: {_reason(exc)}") from None
        return policy.model_copy(update={"version": self.seen})

    def current(self) -> Policy:
        try:
            if hashlib.sha256(raw := self.path.read_bytes()).hexdigest()[:12] != self.seen:
                self.policy = self.load(raw)
                log.info("policy loaded", extra={"version": self.seen})
        except (StartupError, OSError) as exc:
            log.error("policy rejected, keeping version %s: %s", self.policy.version, exc)
        return self.policy
