"""The policy file: parsing, clear errors naming the entry, reload that never drops a working policy."""

import hashlib
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from agentmesh.v1 import router_pb2
from services.common.errors import MeshError, StartupError
from services.router.policy import Policy, PolicyStore

GOOD = """
timeout_s: 5
chains:
  default: [openai:gpt-4o, anthropic:claude-sonnet-4-5, gemini:gemini-2.5-flash]
  fast_cheap: [gemini:gemini-2.5-flash, openai:gpt-4o-mini, xai:grok-4-fast]
customers:
  acme: {pin: anthropic}
  globex: {exclude: [openai, "gemini:gemini-2.5-flash"]}
  "*": {day_usd: 10}
models:
  openai:gpt-4o: {month_usd: 100, requests_per_min: 60}
  anthropic:claude-sonnet-4-5: {timeout_s: 2}
"""


def test_a_policy_file_parses_into_chains_limits_and_timeouts(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    assert policy.chains["default"] == ["openai:gpt-4o", "anthropic:claude-sonnet-4-5", "gemini:gemini-2.5-flash"]
    assert policy.attempt_timeout_s("anthropic:claude-sonnet-4-5") == 2
    assert policy.attempt_timeout_s("openai:gpt-4o") == 5  # the policy's timeout_s
    assert policy.limits("openai:gpt-4o").requests_per_min == 60
    assert policy.limits("xai:grok-4").requests_per_min is None  # no limits: unlimited


def test_the_version_is_the_hash_of_the_file(prices: Collection[str], write_policy: Callable[[str], Path]) -> None:
    store = PolicyStore(write_policy(GOOD), prices)
    assert store.current().version == hashlib.sha256(GOOD.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "chains:\n  default: [openai:gpt-4o]\n  fast: [gemini:gemini-2.5-flash, openai:gpt-9]\n",
            "chains.fast.1: unknown model 'openai:gpt-9': no provider:model of that name in the price table",
        ),
        ("chains:\n  default: [mistral:large]\n", "chains.default.0: unknown model 'mistral:large'"),
        ("chains:\n  fast: [openai:gpt-4o]\n", "chains: a 'default' chain is required"),
        ("chains:\n  default: []\n", "chains.default: List should have at least 1 item"),
        ("chains: {default: [openai:gpt-4o]}\ntimeout_s: -1\n", "timeout_s: Input should be greater than 0"),
        (
            "chains: {default: [openai:gpt-4o]}\ncustomers:\n  acme: {pin: antropic}\n",
            "customers.acme.pin: String should match pattern",
        ),
        (
            "chains: {default: [openai:gpt-4o]}\ncustomers:\n  acme: {exclude: [openai, grok]}\n",
            "customers.acme.exclude.1: String should match pattern",
        ),
        (
            "chains: {default: [openai:gpt-4o]}\nmodels:\n  openai:gpt-9: {day_usd: 1}\n",
            "models.openai:gpt-9.[key]: unknown model 'openai:gpt-9'",
        ),
        (
            "chains: {default: [openai:gpt-4o]}\nmodels:\n  openai:gpt-4o: {weekly_usd: 1}\n",
            "models.openai:gpt-4o.weekly_usd: Extra inputs are not permitted",
        ),
        ("chains: {default: [openai:gpt-4o]}\nbudgets: {}\n", "budgets: Extra inputs are not permitted"),
        ("chains: {default: [openai:gpt-4o]\n", "while parsing a flow mapping"),
        ("- just a list\n", "top level: Input should be a valid dictionary"),
    ],
)
def test_a_broken_policy_file_is_refused_naming_the_entry(
    prices: Collection[str], write_policy: Callable[[str], Path], text: str, message: str
) -> None:
    path = write_policy(text)
    with pytest.raises(StartupError) as caught:
        PolicyStore(path, prices)
    assert caught.value.setting == "AGENTMESH_POLICY_PATH"
    assert str(caught.value).startswith(f"AGENTMESH_POLICY_PATH: {path}: ")
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
    path.unlink()
    assert store.current() is good
    path.write_text(GOOD.replace("timeout_s: 5", "timeout_s: 9"))
    assert store.current().timeout_s == 9


def plan(policy: Policy, **fields: object) -> tuple[list[str], list[str]]:
    return policy.plan(router_pb2.CompleteRequest(**fields))


def test_task_class_picks_its_chain_and_empty_means_default(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    fast_cheap = ["gemini:gemini-2.5-flash", "openai:gpt-4o-mini", "xai:grok-4-fast"]
    assert plan(policy, task_class="fast_cheap") == (fast_cheap, [])
    assert plan(policy)[0][0] == "openai:gpt-4o"


def test_an_unknown_task_class_is_a_bad_request_naming_the_field(make_policy: Callable[[str], Policy]) -> None:
    with pytest.raises(MeshError) as caught:
        make_policy(GOOD).plan(router_pb2.CompleteRequest(task_class="reasoning"))
    assert caught.value.kind == "bad_request"
    assert caught.value.message == "task_class: no chain 'reasoning' in ['default', 'fast_cheap']"


def test_a_customer_pin_keeps_only_that_provider_and_says_why(make_policy: Callable[[str], Policy]) -> None:
    entries, notes = plan(make_policy(GOOD), customer="acme")
    assert entries == ["anthropic:claude-sonnet-4-5"]
    assert notes == [
        "openai:gpt-4o: customer pinned to anthropic",
        "gemini:gemini-2.5-flash: customer pinned to anthropic",
    ]


def test_a_customer_exclude_drops_providers_and_entries(make_policy: Callable[[str], Policy]) -> None:
    entries, notes = plan(make_policy(GOOD), customer="globex", task_class="fast_cheap")
    assert entries == ["xai:grok-4-fast"]
    assert notes == [
        "gemini:gemini-2.5-flash: excluded for customer globex",
        "openai:gpt-4o-mini: excluded for customer globex",
    ]


def test_request_hints_prefer_first_and_exclude(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    entries, notes = plan(policy, prefer=["gemini:gemini-2.5-flash", "xai:grok-4"], exclude=["anthropic"])
    assert entries == ["gemini:gemini-2.5-flash", "xai:grok-4", "openai:gpt-4o"]
    assert notes == ["anthropic:claude-sonnet-4-5: excluded by request"]


def test_a_model_pin_skips_the_chain_but_not_the_customer_rules(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    assert plan(policy, model="xai:grok-3", task_class="fast_cheap") == (["xai:grok-3"], [])
    assert plan(policy, model="xai:grok-3", customer="acme") == ([], ["xai:grok-3: customer pinned to anthropic"])


def test_unlisted_customers_get_the_star_entry(make_policy: Callable[[str], Policy]) -> None:
    policy = make_policy(GOOD)
    assert policy.customer("someone").day_usd == 10
    assert policy.customer("acme").day_usd is None
