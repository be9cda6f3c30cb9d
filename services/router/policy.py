"""The routing policy: which provider:model entries may serve a request, in which order, under which limits.

A broken file is refused with the entry at fault named, and never replaces the policy in force.
"""

import hashlib
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from agentmesh.v1 import router_pb2
from services.common.errors import MeshError

log = logging.getLogger(__name__)
PROVIDERS = ("openai", "anthropic", "gemini", "xai")


def _priced(key: str, info: ValidationInfo) -> str:
    if key.partition(":")[0] not in PROVIDERS or ":" not in key:
        raise ValueError(f"'{key}' is not provider:model with a provider in {PROVIDERS}")
    if key not in info.context["prices"]:
        raise ValueError(f"unknown model '{key}': not in the price table")
    return key


def _provider(pattern: str) -> str:
    if pattern.partition(":")[0] not in PROVIDERS:
        raise ValueError(f"'{pattern}' names no provider in {PROVIDERS}")
    return pattern


Priced = Annotated[str, AfterValidator(_priced)]
Pattern = Annotated[str, AfterValidator(_provider)]  # a provider ("openai") or an entry ("openai:gpt-4o")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Entry(Strict):
    """One provider:model to try; timeout_s bounds one attempt on it (the policy's timeout_s when unset)."""

    use: Priced
    timeout_s: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"use": value} if isinstance(value, str) else value

    @property
    def provider(self) -> str:
        return self.use.partition(":")[0]

    @property
    def model(self) -> str:
        return self.use.partition(":")[2]

    def matches(self, pattern: str) -> bool:
        return pattern in (self.provider, self.use)


class Budget(Strict):
    """Dollar limits per period (UTC day, UTC month, all time); an unset period is unlimited."""

    day: float | None = Field(None, ge=0)
    month: float | None = Field(None, ge=0)
    total: float | None = Field(None, ge=0)


class Quota(Strict):
    requests_per_min: int | None = Field(None, gt=0)
    tokens_per_min: int | None = Field(None, gt=0)


class Customer(Strict):
    pin: Pattern | None = None  # only matching entries are tried
    exclude: list[Pattern] = []
    budget: Budget = Budget()


class ModelLimits(Strict):
    budget: Budget = Budget()
    quota: Quota = Quota()


class Breaker(Strict):
    failures: int = Field(3, gt=0)  # consecutive failures that open the breaker
    cooldown_s: float = Field(30.0, gt=0)  # open this long, then one probe call (half-open)


class Policy(Strict):
    """A parsed policy file. `customers["*"]` applies to every customer without an entry of its own."""

    chains: dict[str, Annotated[list[Entry], Field(min_length=1)]]
    timeout_s: float = Field(30.0, gt=0)
    reservation_ttl_s: float = Field(120.0, gt=0)
    breaker: Breaker = Breaker()
    customers: dict[str, Customer] = {}
    models: dict[Priced, ModelLimits] = {}
    version: str = ""
    _prices: Collection[str]

    @model_validator(mode="after")
    def _has_default(self) -> "Policy":
        if "default" not in self.chains:
            raise ValueError("chains: a 'default' chain is required")
        return self

    def customer(self, name: str) -> Customer:
        return self.customers.get(name) or self.customers.get("*") or Customer()

    def limits(self, entry: Entry) -> ModelLimits:
        return self.models.get(entry.use) or ModelLimits()

    def plan(self, request: router_pb2.CompleteRequest) -> tuple[list[Entry], list[str]]:
        """The entries to try in order, and why each other one was left out (for CompleteReply.decision)."""
        if request.model:
            entries = [self._hint("model", request.model)]
        elif request.task_class and request.task_class not in self.chains:
            raise MeshError("bad_request", f"task_class: no chain '{request.task_class}' in {sorted(self.chains)}")
        else:
            chain = self.chains[request.task_class or "default"]
            hinted = [self._hint(f"prefer[{i}]", key) for i, key in enumerate(request.prefer)]
            preferred = [next((e for e in chain if e.use == hint.use), hint) for hint in hinted]
            entries = preferred + [e for e in chain if e not in preferred]
        customer, kept, notes = self.customer(request.customer), [], []
        for entry in entries:
            if customer.pin and not entry.matches(customer.pin):
                notes.append(f"{entry.use}: customer pinned to {customer.pin}")
            elif any(map(entry.matches, customer.exclude)):
                notes.append(f"{entry.use}: excluded for customer {request.customer}")
            elif any(map(entry.matches, request.exclude)):
                notes.append(f"{entry.use}: excluded by request")
            else:
                kept.append(entry)
        return kept, notes

    def _hint(self, field: str, key: str) -> Entry:
        try:
            return Entry.model_validate(key, context={"prices": self._prices})
        except ValidationError as exc:
            raise MeshError("bad_request", f"{field}: {_first_error(exc)}", field=field) from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part != "use")
    return f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}"


class PolicyError(Exception):
    """A policy file that cannot be used; the message names the file and the entry at fault."""


def load_policy(path: Path, prices: Collection[str], raw: bytes | None = None) -> Policy:
    """Parse the file; its version is the hash of its bytes, so replicas can tell whether they agree."""
    raw = path.read_bytes() if raw is None else raw
    try:
        policy = Policy.model_validate(yaml.safe_load(raw), context={"prices": prices})
    except (yaml.YAMLError, ValidationError) as exc:
        reason = _first_error(exc) if isinstance(exc, ValidationError) else str(exc).replace("\n", " ")
        raise PolicyError(f"{path}: {reason}") from None
    policy = policy.model_copy(update={"version": hashlib.sha256(raw).hexdigest()[:12]})
    policy._prices = prices
    return policy


class PolicyStore:
    """The policy in force, re-read whenever the file's bytes change (one small read per request) or on SIGHUP."""

    def __init__(self, path: Path, prices: Collection[str]) -> None:
        self.path, self.prices = path, prices
        self.policy = load_policy(path, prices)
        self.seen = self.policy.version

    def current(self) -> Policy:
        self.reload()
        return self.policy

    def reload(self) -> None:
        try:
            raw = self.path.read_bytes()
            if (seen := hashlib.sha256(raw).hexdigest()[:12]) != self.seen:
                self.seen = seen
                self.policy = load_policy(self.path, self.prices, raw)
                log.info("policy loaded", extra={"version": seen})
        except (PolicyError, OSError) as exc:
            log.error("policy rejected, keeping version %s: %s", self.policy.version, exc)
