"""The policy file: parsing, clear errors naming the entry, reload that never drops a working policy."""

import hashlib
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from agentmesh.v1 import router_pb2
from services.common.errors import MeshError
from services.router.policy import Policy, PolicyError, PolicyStore, load_policy

GOOD = """
timeout_s: 5
chains:
  default: [openai:gpt-4o, {use: anthropic:claude-sonnet-4-5, timeout_s: 2}, gemini:gemini-2.5-flash]
  fast_cheap: [gemini:gemini-2.5-flash, openai:gpt-4o-mini, xai:grok-4-fast]
customers:
  acme: {pin: anthropic}
  globex: {exclude: [openai, "gemini:gemini-2.5-flash"]}
  "*": {budget: {day: 10}}
models:
  openai:gpt-4o: {budget: {month: 100}, quota: {requests_per_min: 60}}
"""


def uses(entries: list) -> list[str]:
    return [entry.use for entry in entries]


def test_chain_entries_are_strings_or_mappings_with_a_timeout(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    default = policy.chains["default"]
    assert uses(default) == ["openai:gpt-4o", "anthropic:claude-sonnet-4-5", "gemini:gemini-2.5-flash"]
    assert [entry.timeout_s for entry in default] == [None, 2.0, None]
    assert (default[1].provider, default[1].model) == ("anthropic", "claude-sonnet-4-5")
    assert policy.timeout_s == 5


def test_version_is_the_hash_of_the_file(prices: Collection[str], write_policy: Callable[[str], Path]) -> None:
    path = write_policy(GOOD)
    assert load_policy(path, prices).version == hashlib.sha256(GOOD.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "chains:\n  default: [openai:gpt-4o]\n  fast: [gemini:gemini-2.5-flash, openai:gpt-9]\n",
            "chains.fast.1: unknown model 'openai:gpt-9': not in the price table",
        ),
        ("chains:\n  default: [mistral:large]\n", "chains.default.0: 'mistral:large' is not provider:model"),
        ("chains:\n  default: [openai]\n", "chains.default.0: 'openai' is not provider:model"),
        ("chains:\n  fast: [openai:gpt-4o]\n", "chains: a 'default' chain is required"),
        ("chains:\n  default: []\n", "chains.default: List should have at least 1 item"),
        (
            "chains:\n  default: [{use: openai:gpt-4o, timeout_s: -1}]\n",
            "chains.default.0.timeout_s: Input should be greater than 0",
        ),
        (
            "chains: {default: [openai:gpt-4o]}\ncustomers:\n  acme: {pin: antropic}\n",
            "customers.acme.pin: 'antropic' names no provider",
        ),
        (
            "chains: {default: [openai:gpt-4o]}\nmodels:\n  openai:gpt-9: {budget: {day: 1}}\n",
            "models.openai:gpt-9.[key]: unknown model 'openai:gpt-9'",
        ),
        (
            "chains: {default: [openai:gpt-4o]}\nmodels:\n  openai:gpt-4o: {budget: {weekly: 1}}\n",
            "models.openai:gpt-4o.budget.weekly: Extra inputs are not permitted",
        ),
        ("chains: {default: [openai:gpt-4o]\n", "while parsing a flow mapping"),
        ("- just a list\n", "Input should be a valid dictionary"),
    ],
)
def test_a_broken_policy_file_is_refused_naming_the_entry(
    prices: Collection[str], write_policy: Callable[[str], Path], text: str, message: str
) -> None:
    path = write_policy(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path, prices)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_changed_file_is_picked_up_on_the_next_request(
    prices: Collection[str], write_policy: Callable[[str], Path]
) -> None:
    path = write_policy(GOOD)
    store = PolicyStore(path, prices)
    first = store.current().version
    path.write_text(GOOD.replace("timeout_s: 5", "timeout_s: 7"))
    assert store.current().timeout_s == 7
    assert store.current().version != first


def test_a_broken_file_keeps_the_old_policy_in_force(
    prices: Collection[str], write_policy: Callable[[str], Path]
) -> None:
    path = write_policy(GOOD)
    store = PolicyStore(path, prices)
    good = store.current()
    path.write_text("chains:\n  default: [openai:gpt-9]\n")
    assert store.current() is good
    store.reload()  # what SIGHUP does
    assert store.current() is good
    path.write_text(GOOD.replace("timeout_s: 5", "timeout_s: 9"))
    store.reload()
    assert store.current().timeout_s == 9


def test_a_broken_file_at_start_up_is_an_error(prices: Collection[str], write_policy: Callable[[str], Path]) -> None:
    with pytest.raises(PolicyError, match=r"chains\.default\.0"):
        PolicyStore(write_policy("chains:\n  default: [openai:gpt-9]\n"), prices)


def plan(policy: Policy, **fields: object) -> tuple[list[str], list[str]]:
    entries, notes = policy.plan(router_pb2.CompleteRequest(**fields))
    return uses(entries), notes


def test_task_class_picks_its_chain_and_empty_means_default(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    fast_cheap = ["gemini:gemini-2.5-flash", "openai:gpt-4o-mini", "xai:grok-4-fast"]
    assert plan(policy, task_class="fast_cheap")[0] == fast_cheap
    assert plan(policy)[0][0] == "openai:gpt-4o"


def test_unknown_task_class_is_a_bad_request_naming_the_field(make_policy: Callable[[str], Policy]) -> None:
    with pytest.raises(MeshError) as caught:
        make_policy(GOOD).plan(router_pb2.CompleteRequest(task_class="reasoning"))
    assert caught.value.kind == "bad_request"
    assert "task_class: no chain 'reasoning'" in caught.value.message


def test_customer_pin_keeps_only_that_provider_and_says_why(make_policy: Callable[[str], Policy]) -> None:
    entries, notes = plan(make_policy(GOOD), customer="acme")
    assert entries == ["anthropic:claude-sonnet-4-5"]
    assert notes == [
        "openai:gpt-4o: customer pinned to anthropic",
        "gemini:gemini-2.5-flash: customer pinned to anthropic",
    ]


def test_customer_exclude_drops_providers_and_entries(make_policy: Callable[[str], Policy]) -> None:
    entries, notes = plan(make_policy(GOOD), customer="globex", task_class="fast_cheap")
    assert entries == ["xai:grok-4-fast"]
    assert notes[0] == "gemini:gemini-2.5-flash: excluded for customer globex"


def test_request_hints_prefer_first_and_exclude(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    entries, notes = plan(policy, prefer=["gemini:gemini-2.5-flash", "xai:grok-4"], exclude=["anthropic"])
    assert entries == ["gemini:gemini-2.5-flash", "xai:grok-4", "openai:gpt-4o"]
    assert notes == ["anthropic:claude-sonnet-4-5: excluded by request"]


def test_a_preferred_entry_keeps_its_chain_timeout(make_policy: Callable[[str], Policy]) -> None:
    entries, _ = make_policy(GOOD).plan(router_pb2.CompleteRequest(prefer=["anthropic:claude-sonnet-4-5"]))
    assert entries[0].timeout_s == 2.0


def test_a_model_pin_skips_the_chain(make_policy: Callable[[str], Policy]) -> None:
    assert plan(make_policy(GOOD), model="xai:grok-3", task_class="fast_cheap") == (["xai:grok-3"], [])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "openai:gpt-9"}, "model: unknown model 'openai:gpt-9': not in the price table"),
        ({"prefer": ["openai:gpt-4o", "acme:x"]}, "prefer[1]: 'acme:x' is not provider:model"),
    ],
)
def test_unknown_models_in_a_request_are_bad_requests_naming_the_field(
    make_policy: Callable[[str], Policy], fields: dict, message: str
) -> None:
    with pytest.raises(MeshError) as caught:
        make_policy(GOOD).plan(router_pb2.CompleteRequest(**fields))
    assert caught.value.kind == "bad_request"
    assert caught.value.message.startswith(message)


def test_unlisted_customers_get_the_star_entry(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    assert policy.customer("someone").budget.day == 10
    assert policy.customer("acme").budget.day is None
