"""The scripting language and the provider-neutral engine, without any server."""

import json

import pytest

from sim.engine import Defaults, attempt_number, decide, tool_round
from sim.exchange import Exchange, Failure, Hang, Message, Reply, ToolSpec
from sim.script import ScriptError, parse_script

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def exchange(*messages: Message, **fields: object) -> Exchange:
    return Exchange("openai", "gpt-4o", list(messages), **fields)  # type: ignore[arg-type]


def test_later_directives_override_earlier_ones() -> None:
    script = parse_script([(0, "#sim status=500 latency_ms=5"), (1, "hello\n#sim status=429")], "openai", "m")
    assert script.get("status") == 429
    assert script.get("latency_ms") == 5
    assert script.origin("status") == 1


def test_scoped_directives_apply_only_to_their_provider_and_model() -> None:
    text = "#sim@anthropic status=500\n#sim@openai:gpt-4o status=429\n#sim@openai:other status=503"
    assert parse_script([(0, text)], "openai", "gpt-4o").get("status") == 429
    assert parse_script([(0, text)], "openai", "gpt-4o-mini").get("status") is None
    assert parse_script([(0, text)], "anthropic", "claude").get("status") == 500


def test_unknown_key_and_bad_value_are_rejected_by_name() -> None:
    with pytest.raises(ScriptError, match="unknown key 'colour'"):
        parse_script([(0, "#sim colour=red")], "openai", "m")
    with pytest.raises(ScriptError, match="malformed_rate"):
        parse_script([(0, "#sim malformed_rate=2")], "openai", "m")


def test_a_bad_directive_is_answered_as_bad_request() -> None:
    plan = decide(exchange(Message("user", "#sim status=abc")))
    assert isinstance(plan.outcome, Failure) and plan.outcome.status == 400


def test_words_that_merely_start_with_sim_are_not_directives() -> None:
    assert not parse_script([(0, "#simulate status=500")], "openai", "m").settings


def test_attempt_number_counts_user_text_messages_from_the_directive_on() -> None:
    messages = [
        Message("system", "#sim malformed=1"),
        Message("user", "task"),
        Message("assistant", "{bad"),
        Message("tool", "result", tool_results=1),
        Message("user", "repair"),
    ]
    assert attempt_number(messages[:2], 0) == 1
    assert attempt_number(messages, 0) == 2
    assert attempt_number(messages, 1) == 2


def test_tool_round_counts_result_batches_since_the_last_user_text() -> None:
    user, assistant = Message("user", "go"), Message("assistant", "")
    result = Message("tool", "r", tool_results=1)
    assert tool_round([user]) == 0
    assert tool_round([user, assistant, result, result]) == 1
    assert tool_round([user, assistant, result, assistant, result]) == 2
    assert tool_round([user, assistant, result, Message("user", "again")]) == 0


def test_tools_directive_runs_rounds_then_answers() -> None:
    tools = [ToolSpec("a", SCHEMA), ToolSpec("b", SCHEMA), ToolSpec("c", SCHEMA)]
    user = Message("user", "#sim tools=a,b;c")
    first = decide(exchange(user, tools=tools)).outcome
    assert isinstance(first, Reply) and [c.name for c in first.tool_calls] == ["a", "b"]
    result = Message("tool", "ok", tool_results=1)
    second = decide(exchange(user, Message("assistant"), result, result, tools=tools)).outcome
    assert isinstance(second, Reply) and [c.name for c in second.tool_calls] == ["c"]
    third = decide(exchange(user, Message("assistant"), result, result, Message("assistant"), result, tools=tools))
    assert isinstance(third.outcome, Reply) and not third.outcome.tool_calls and third.outcome.text


def test_tools_directive_naming_an_unoffered_tool_is_a_bad_request() -> None:
    plan = decide(exchange(Message("user", "#sim tools=nope"), tools=[ToolSpec("a", SCHEMA)]))
    assert isinstance(plan.outcome, Failure) and "nope" in plan.outcome.message


def test_tool_choice_none_answers_without_calls() -> None:
    plan = decide(exchange(Message("user", "hi"), tools=[ToolSpec("a", SCHEMA)], tool_choice="none"))
    assert isinstance(plan.outcome, Reply) and not plan.outcome.tool_calls


def test_malformed_and_invalid_counts_cover_the_first_attempts() -> None:
    def reply(*texts: str) -> str:
        messages = [Message("user", text) for text in texts]
        outcome = decide(exchange(*messages, structured=True, output_schema=SCHEMA)).outcome
        assert isinstance(outcome, Reply) and outcome.text is not None
        return outcome.text

    with pytest.raises(json.JSONDecodeError):
        json.loads(reply("#sim malformed=1 invalid=1"))
    assert "name" not in json.loads(reply("#sim malformed=1 invalid=2", "repair"))
    assert json.loads(reply("#sim malformed=1 invalid=2", "repair", "repair")) == {"name": "name"}


def test_rates_are_deterministic_per_request_and_defaults_come_from_the_command_line() -> None:
    def fault_rate(defaults: Defaults, n: int = 200) -> float:
        bad = 0
        for i in range(n):
            outcome = decide(
                exchange(Message("user", f"q{i}"), structured=True, output_schema=SCHEMA), defaults
            ).outcome
            assert isinstance(outcome, Reply) and outcome.text is not None
            try:
                bad += "name" not in json.loads(outcome.text)
            except ValueError:
                bad += 1
        return bad / n

    assert fault_rate(Defaults()) == 0
    assert fault_rate(Defaults(malformed_rate=1.0)) == 1
    half = fault_rate(Defaults(malformed_rate=0.5))
    assert 0.35 < half < 0.65
    assert fault_rate(Defaults(malformed_rate=0.5)) == half


def test_scripted_failures_and_hang() -> None:
    assert isinstance(decide(exchange(Message("user", "#sim hang"))).outcome, Hang)
    limited = decide(exchange(Message("user", "#sim status=429 retry_after=3 latency_ms=7")))
    assert limited.latency_ms == 7
    assert isinstance(limited.outcome, Failure) and limited.outcome.retry_after == 3
    assert limited.outcome.kind == "rate_limited"
    auth = decide(exchange(Message("user", "#sim auth"))).outcome
    assert isinstance(auth, Failure) and auth.status == 401


def test_usage_grows_with_the_text() -> None:
    short = decide(exchange(Message("user", "hi"))).outcome
    long = decide(exchange(Message("user", "hi " * 400))).outcome
    assert isinstance(short, Reply) and isinstance(long, Reply)
    assert 0 < short.input_tokens < long.input_tokens
    assert long.input_tokens == pytest.approx(1200 / 4, abs=2)
