"""The provider adapters by name: each talks to the real service when its API key is set, else to its simulator."""

from services.common.config import Settings
from services.router.provider import Provider
from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.gemini import GeminiProvider
from services.router.providers.openai import OpenAIProvider
from services.router.providers.xai import XAIProvider

ADAPTERS = {adapter.name: adapter for adapter in (OpenAIProvider, AnthropicProvider, GeminiProvider, XAIProvider)}


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One adapter per provider; `.simulated` says which point at sim/."""
    providers: dict[str, Provider] = {}
    for name, adapter in ADAPTERS.items():
        secret = getattr(settings, f"{name}_api_key")
        providers[name] = adapter(secret.get_secret_value() if secret else "", getattr(settings, f"{name}_sim_addr"))
    return providers
