"""The simulator scripting language: `#sim key=value ...` lines in system and user text messages.

A directive line may be scoped to one simulator (`#sim@openai ...`) or one model (`#sim@openai:gpt-4o ...`).
Later lines override earlier ones. Each setting remembers which message set it, because attempt counting
(`malformed=N`, `invalid=N`) starts at that message.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

DIRECTIVE = re.compile(r"^[ \t]*#sim(?:@(?P<provider>[a-z]+)(?::(?P<model>\S+))?)?(?:[ \t]+(?P<body>.*))?$", re.M)


class ScriptError(ValueError):
    """A directive the simulator cannot obey (unknown key or bad value): answered as the vendor's 400."""


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _rate(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be between 0 and 1")
    return value


def _status(raw: str) -> int:
    value = int(raw)
    if not 400 <= value <= 599:
        raise ValueError("must be an HTTP error status (400-599)")
    return value


def _flag(raw: str) -> bool:
    if raw.lower() in ("", "1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be a flag (no value, true or false)")


def _tool_rounds(raw: str) -> tuple[tuple[str, ...], ...]:
    """`a,b;c` -> (("a", "b"), ("c",)): one group per round, tools in a group are called in parallel."""
    groups = [tuple(name.strip() for name in group.split(",") if name.strip()) for group in raw.split(";")]
    return tuple(group for group in groups if group)


KEYS: dict[str, Callable[[str], object]] = {
    "latency_ms": _count,
    "status": _status,
    "retry_after": lambda raw: float(raw),
    "hang": _flag,
    "auth": _flag,
    "bad_request": _flag,
    "malformed": _count,
    "invalid": _count,
    "malformed_rate": _rate,
    "invalid_rate": _rate,
    "refuse": _flag,
    "tools": _tool_rounds,
}


@dataclass(frozen=True)
class Setting:
    value: object
    message_index: int


@dataclass
class Script:
    """The directives in force for one request to one simulator and model."""

    settings: dict[str, Setting] = field(default_factory=dict)

    def get(self, key: str, default: object = None) -> object:
        setting = self.settings.get(key)
        return default if setting is None else setting.value

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self.get(key, default)
        return None if value is None else float(cast(float, value))

    def flag(self, key: str) -> bool:
        return bool(self.get(key, False))

    def tool_rounds(self) -> tuple[tuple[str, ...], ...] | None:
        return cast("tuple[tuple[str, ...], ...] | None", self.get("tools"))

    def origin(self, key: str) -> int:
        return self.settings[key].message_index

    def __contains__(self, key: str) -> bool:
        return key in self.settings


def _applies(provider: str | None, model: str | None, to_provider: str, to_model: str) -> bool:
    if provider is not None and provider != to_provider:
        return False
    return model is None or model == to_model


def parse_script(texts: Iterable[tuple[int, str]], provider: str, model: str) -> Script:
    """Collect the directives of (message index, text) pairs that apply to this provider and model."""
    script = Script()
    for index, text in texts:
        for match in DIRECTIVE.finditer(text):
            if not _applies(match["provider"], match["model"], provider, model):
                continue
            for item in (match["body"] or "").split():
                key, _, raw = item.partition("=")
                convert = KEYS.get(key)
                if convert is None:
                    raise ScriptError(f"#sim: unknown key {key!r} (known: {', '.join(KEYS)})")
                try:
                    script.settings[key] = Setting(convert(raw), index)
                except ValueError as exc:
                    raise ScriptError(f"#sim: bad value {raw!r} for {key!r}: {exc}") from None
    return script


def strip_directives(text: str) -> str:
    """The text without its directive lines (what the simulated model 'reads')."""
    return DIRECTIVE.sub("", text).strip()
