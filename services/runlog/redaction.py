"""Redaction before write: API keys and secret fields never reach the run log.

A payload is rewritten only when it holds a secret, so every other payload keeps its exact bytes.
JSON strings that hold JSON (exact wire bodies, tool arguments and outputs) are searched too."""

import json
import re
from contextlib import suppress
from typing import Any

from services.common.config import Settings

KEY_PATTERN = re.compile(r"(?<![\w-])(?:(?:sk-(?:ant-|proj-)?|xai-)[\w-]{16,}|AIza[\w-]{30,})")
MASK = "[REDACTED]"


class Redactor:
    def __init__(self, settings: Settings) -> None:
        keys = (settings.openai_api_key, settings.anthropic_api_key, settings.gemini_api_key, settings.xai_api_key)
        secrets = [re.escape(value) for key in keys if key and (value := key.get_secret_value())]
        self.pattern = re.compile("|".join([KEY_PATTERN.pattern, *secrets]))
        self.fields = [word.lower() for word in settings.redact_fields]

    def json_text(self, text: str) -> str:
        """The JSON text with secrets masked; raises ValueError when it is not JSON."""
        clean = self._value(value := json.loads(text))
        return text if clean == value else json.dumps(clean)

    def _value(self, value: Any, secret_field: bool = False) -> Any:
        if secret_field and value not in (None, "", [], {}):
            return MASK
        if isinstance(value, dict):
            return {k: self._value(v, any(word in k.lower() for word in self.fields)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(item) for item in value]
        return self._text(value) if isinstance(value, str) else value

    def _text(self, text: str) -> str:
        if text.startswith(("{", "[")):
            with suppress(ValueError):
                text = self.json_text(text)
        return self.pattern.sub(MASK, text)
