"""How the simulated model answers one `Exchange`: the script's faults first, then the dialect checks,
then a refusal, tool rounds, a structured instance or deterministic text. Pure and deterministic."""

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from sim.dialects import check
from sim.exchange import Exchange, Failure, Hang, Message, Plan, Reply, ToolCall, failure_kind
from sim.instances import UnsatisfiableSchema, invalid_instance, valid_instance
from sim.script import Script, ScriptError, parse_script, strip_directives

REFUSAL = "I'm sorry, but I can't help with that request."
STATUS_MESSAGES = {
    "rate_limited": "Rate limit reached for requests (simulated). Please try again later.",
    "overloaded": "The model is overloaded (simulated). Please try again later.",
    "server_error": "The server had an error while processing your request (simulated).",
    "unavailable": "The service is temporarily unavailable (simulated).",
}


@dataclass(frozen=True)
class Defaults:
    """Process-wide defaults from the command line; directives override them per request."""

    latency_ms: int = 0
    malformed_rate: float = 0.0
    invalid_rate: float = 0.0


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _messages_digest(messages: list[Message]) -> str:
    return _digest([[m.role, m.text, m.tool_results] for m in messages])


def _tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 4))


def _chance(digest: str, salt: str) -> float:
    """A number in [0, 1) fixed by the request: the same request always draws the same outcome."""
    return int(hashlib.sha256((salt + digest).encode()).hexdigest()[:12], 16) / 16**12


def attempt_number(messages: list[Message], origin: int) -> int:
    """User text messages from the directive's message on (itself included): 1 for the first try,
    2 after one repair prompt, and so on. A directive in a system message counts from the next user message."""
    return max(1, sum(1 for m in messages[origin:] if m.is_text and m.role == "user"))


def tool_round(messages: list[Message]) -> int:
    """Tool-result batches (runs of tool-result messages) since the last user text message."""
    rounds, previous = 0, False
    for message in messages:
        if message.is_text and message.role == "user":
            rounds, previous = 0, False
        elif message.tool_results:
            rounds += 0 if previous else 1
            previous = True
        else:
            previous = False
    return rounds


def _fault(exchange: Exchange, script: Script, defaults: Defaults) -> str | None:
    """'malformed', 'invalid' or None for this attempt at a structured reply."""
    for key in ("malformed", "invalid"):
        if key in script and attempt_number(exchange.messages, script.origin(key)) <= (script.number(key) or 0):
            return key
    digest = _messages_digest(exchange.messages)
    for key in ("malformed", "invalid"):
        rate = script.number(f"{key}_rate", getattr(defaults, f"{key}_rate"))
        if rate and _chance(digest, key) < rate:
            return key
    return None


def _malformed(text: str) -> str:
    """Truncated JSON, as a model cut off mid-answer produces."""
    cut = text[: max(1, len(text) // 2)]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return "Here is the JSON: " + cut


def _structured_text(schema: Any, fault: str | None) -> str:
    if schema is None:  # JSON mode without a schema
        instance: Any = {"reply": "simulated"}
        return json.dumps({"reply": None}) if fault == "invalid" else _json_or_malformed(instance, fault)
    return _json_or_malformed(invalid_instance(schema) if fault == "invalid" else valid_instance(schema), fault)


def _json_or_malformed(instance: Any, fault: str | None) -> str:
    text = json.dumps(instance)
    return _malformed(text) if fault == "malformed" else text


def _plain_text(exchange: Exchange, digest: str) -> str:
    last = next((m.text for m in reversed(exchange.messages) if m.is_text and m.role == "user"), "")
    said = " ".join(strip_directives(last).split())[:160]
    return f"Simulated reply {digest[:8]} from {exchange.model}." + (f" You said: {said}" if said else "")


def _calls(exchange: Exchange, script: Script) -> list[str]:
    """Names of the tools this reply calls (empty: answer instead)."""
    offered = [tool.name for tool in exchange.tools]
    if exchange.forced_tool:
        return [exchange.forced_tool]
    if not offered or exchange.tool_choice == "none":
        return []
    round_ = tool_round(exchange.messages)
    if "tools" in script:
        groups = script.tool_rounds() or ()
        names = list(groups[round_]) if round_ < len(groups) else []
    else:
        names = offered if round_ == 0 else []
    if not names and exchange.tool_choice == "required":
        names = offered
    if not exchange.parallel_tool_calls:
        names = names[:1]
    unknown = [name for name in names if name not in offered]
    if unknown:
        raise ScriptError(f"#sim tools: {unknown[0]!r} is not among the offered tools {offered}")
    return names


def _answer(exchange: Exchange, script: Script, defaults: Defaults) -> Reply:
    digest = _digest([exchange.provider, exchange.model, _messages_digest(exchange.messages)])
    schemas = {tool.name: tool.schema for tool in exchange.tools}
    names = _calls(exchange, script)
    if exchange.forced_tool:
        if exchange.forced_tool not in schemas:
            raise ScriptError(f"tool_choice names {exchange.forced_tool!r}, which is not among the offered tools")
        arguments = [_structured_text(schemas[exchange.forced_tool], _fault(exchange, script, defaults))]
    else:
        arguments = [json.dumps(valid_instance(schemas[name])) for name in names]
    calls = [
        ToolCall(_digest([digest, i])[:24], name, args)
        for i, (name, args) in enumerate(zip(names, arguments, strict=True))
    ]
    text = None
    if not calls:
        if exchange.structured:
            text = _structured_text(exchange.output_schema, _fault(exchange, script, defaults))
        else:
            text = _plain_text(exchange, digest)
    return Reply(text=text, tool_calls=calls, output_tokens=_tokens(len(text or "".join(arguments))))


def _input_tokens(exchange: Exchange) -> int:
    chars = sum(len(m.text) for m in exchange.messages)
    chars += len(json.dumps([[t.name, t.schema] for t in exchange.tools], default=str)) if exchange.tools else 0
    chars += len(json.dumps(exchange.output_schema, default=str)) if exchange.output_schema is not None else 0
    return _tokens(chars)


def _scripted_failure(script: Script) -> Failure | None:
    if script.flag("auth"):
        return Failure(401, "auth", "Invalid API key (simulated).")
    status = script.number("status")
    if status is not None:
        kind = failure_kind(int(status))
        message = STATUS_MESSAGES.get(kind, f"Simulated HTTP {int(status)} error.")
        return Failure(int(status), kind, message, retry_after=script.number("retry_after"))
    if script.flag("bad_request"):
        return Failure(400, "bad_request", "Invalid request (simulated by #sim bad_request).")
    return None


def decide(exchange: Exchange, defaults: Defaults = Defaults()) -> Plan:
    """The simulator's whole behaviour for one request, before any wire encoding."""
    texts = [(i, m.text) for i, m in enumerate(exchange.messages) if m.is_text]
    try:
        script = parse_script(texts, exchange.provider, exchange.model)
    except ScriptError as exc:
        return Plan(defaults.latency_ms, Failure(400, "bad_request", str(exc)))
    latency = int(script.number("latency_ms", defaults.latency_ms) or 0)
    if script.flag("hang"):
        return Plan(latency, Hang())
    failure = _scripted_failure(script)
    if failure is not None:
        return Plan(latency, failure)
    for schema_check in exchange.checks:
        violations = check(schema_check.dialect, schema_check.schema)
        if violations:
            message = f"Invalid schema for {schema_check.where}: {violations[0].describe()}"
            return Plan(latency, Failure(400, "invalid_schema", message, where=schema_check.where))
    if script.flag("refuse"):
        return Plan(
            latency, Reply(refusal=REFUSAL, input_tokens=_input_tokens(exchange), output_tokens=_tokens(len(REFUSAL)))
        )
    try:
        reply = _answer(exchange, script, defaults)
    except (ScriptError, UnsatisfiableSchema) as exc:
        return Plan(latency, Failure(400, "bad_request", str(exc)))
    reply.input_tokens = _input_tokens(exchange)
    return Plan(latency, reply)
