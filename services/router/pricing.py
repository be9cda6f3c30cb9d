"""The versioned price table: what one call costs in dollars. A model it does not know is refused, never free."""

from pathlib import Path

import yaml
from pydantic import BaseModel, NonNegativeFloat, ValidationError

from agentmesh.v1 import common_pb2
from services.common.errors import MeshError, StartupError


class ModelPrice(BaseModel):
    """USD per million tokens; cached_input is the prompt-cache rate where the provider has one."""

    input: NonNegativeFloat
    output: NonNegativeFloat
    cached_input: NonNegativeFloat | None = None


class PriceTable(BaseModel):
    version: str
    models: dict[str, ModelPrice]

    def price(self, provider: str, model: str) -> ModelPrice:
        entry = f"{provider}:{model}"
        if entry not in self.models:
            raise MeshError("bad_request", f"model: {entry} has no price in prices.yaml; add it there", field="model")
        return self.models[entry]

    def cost(self, provider: str, model: str, usage: common_pb2.Usage) -> float:
        """input_tokens counts cached tokens too (the OpenAI convention); those are priced at the cache rate."""
        rates = self.price(provider, model)
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_rate = rates.input if rates.cached_input is None else rates.cached_input
        fresh = usage.input_tokens - cached
        return (fresh * rates.input + cached * cached_rate + usage.output_tokens * rates.output) / 1_000_000


def load_prices(path: Path) -> PriceTable:
    """Read the table once at start-up; a broken file stops the router with the file and the fault."""
    try:
        return PriceTable.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise StartupError("AGENTMESH_PRICES_PATH", f"{path}: {exc}") from None
