"""Tool workers: versioned contracts, typed tool errors, parallel calls and idempotency, over real Redis Streams.

Two real toolworker processes share the consumer group; the test publishes calls with the scheduler's
own dispatcher and reads the outcomes from the reply stream.
"""

import asyncio
import hashlib
import json
import signal
import uuid
from typing import Any

import pytest
from tool_helpers import GateLog, eventually, invocation, tool_definitions

from cli.health import health_status
from examples.leads.models import CompanyProfile, CompanyProfileV2, CompanyQuery, CompanyQueryV2
from services.scheduler.dispatch import ToolDispatch


@pytest.fixture(scope="module")
def workers(spawn: Any) -> list[Any]:
    return [spawn("services.toolworker"), spawn("services.toolworker")]


@pytest.fixture
async def definitions(workers: list[Any], channel_to: Any) -> dict[str, Any]:
    return await tool_definitions(channel_to(workers[0].addr))


def run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


async def test_two_versions_of_one_tool_are_listed_with_hashes_of_their_own_models(definitions: dict) -> None:
    v1, v2 = definitions["lookup_company@1.2.0"], definitions["lookup_company@2.0.0"]
    for definition, model_in, model_out in ((v1, CompanyQuery, CompanyProfile), (v2, CompanyQueryV2, CompanyProfileV2)):
        schemas = {"input": model_in.model_json_schema(), "output": model_out.model_json_schema()}
        canonical = json.dumps(schemas, sort_keys=True, separators=(",", ":"))
        assert definition.schema_hash == hashlib.sha256(canonical.encode()).hexdigest()
        assert json.loads(definition.input_schema_json) == model_in.model_json_schema()
    assert v1.schema_hash != v2.schema_hash and "headcount" in v2.output_schema_json


async def test_each_pinned_version_runs_its_own_contract(definitions: dict, rds: Any, settings: Any) -> None:
    rid = run_id()
    dispatch = ToolDispatch(rds, settings, rid)
    calls = [
        invocation(definitions, "lookup_company@1.2.0", rid, {"domain": "acme.com"}, 0),
        invocation(definitions, "lookup_company@2.0.0", rid, {"domain": "acme.com", "include_funding": True}, 1),
    ]
    v1, v2 = await dispatch(calls)
    await dispatch.close()
    profile, profile_v2 = CompanyProfile.model_validate_json(v1.output_json), json.loads(v2.output_json)
    assert profile.domain == "acme.com" and profile_v2["headcount"] == profile.employees
    assert profile_v2["funding_usd"] is not None and "employees" not in profile_v2
    assert (v1.version, v2.version, v1.delivery, v2.delivery) == ("1.2.0", "2.0.0", 1, 1)
    assert v1.schema_hash == definitions["lookup_company@1.2.0"].schema_hash


async def test_calls_of_one_round_run_in_parallel(definitions: dict, rds: Any, settings: Any, prefix: str) -> None:
    rid, gates = run_id(), GateLog(rds, prefix)
    dispatch = ToolDispatch(rds, settings, rid)
    calls = [invocation(definitions, "gate@1.0.0", rid, {"note": str(i)}, i) for i in range(2)]
    waiting = asyncio.create_task(dispatch(calls))
    for call in calls:  # both calls are running at the same time before either may finish
        await eventually(lambda call=call: gates.started(call.call_id), what=f"{call.call_id} started")
    await gates.open(rid, times=2)
    outcomes = await waiting
    await dispatch.close()
    assert [json.loads(o.output_json)["note"] for o in outcomes] == ["0", "1"]
    lines = [line for line in await gates.lines() if rid in line]
    assert [line.split()[0] for line in lines] == ["start", "start", "end", "end"]


@pytest.mark.parametrize(
    ("ref", "args", "kind", "says"),
    [
        ("explode@1.0.0", {"note": "x"}, "tool_error", "RuntimeError: crm backend down"),
        ("stall@1.0.0", {"note": "x"}, "timeout", "did not finish within 500 ms"),
        ("liar@1.0.0", {"note": "x"}, "invalid_output", "worker_pid:"),
        ("lookup_company@1.2.0", {"domian": "typo.com"}, "invalid_input", "domain: Field required"),
        ("lookup_company@3.0.0", {"domain": "acme.com"}, "unknown_tool", "no tool lookup_company@3.0.0"),
    ],
)
async def test_a_failing_call_is_a_typed_outcome_and_the_worker_lives_on(
    definitions: dict, rds: Any, settings: Any, workers: list, ref: str, args: dict, kind: str, says: str
) -> None:
    rid = run_id()
    dispatch = ToolDispatch(rds, settings.model_copy(update={"tool_timeout_s": 0.5}), rid)
    [outcome] = await dispatch([invocation(definitions, ref, rid, args)])
    await dispatch.close()
    assert outcome.error.kind == kind and says in outcome.error.message
    assert not outcome.output_json and outcome.call_id == f"{rid}:0:0"
    assert [await health_status(worker.addr) for worker in workers] == ["SERVING", "SERVING"]


async def test_a_call_whose_schema_hash_differs_from_the_registered_contract_is_refused(
    definitions: dict, rds: Any, settings: Any
) -> None:
    rid = run_id()
    call = invocation(definitions, "lookup_company@1.2.0", rid, {"domain": "acme.com"})
    call.schema_hash = "0" * 64
    dispatch = ToolDispatch(rds, settings, rid)
    [outcome] = await dispatch([call])
    await dispatch.close()
    assert outcome.error.kind == "unknown_tool" and "schema hash" in outcome.error.message


async def test_a_redelivered_call_whose_result_exists_is_not_run_again(
    definitions: dict, rds: Any, settings: Any, prefix: str
) -> None:
    rid, gates = run_id(), GateLog(rds, prefix)
    await gates.open(rid)
    call = invocation(definitions, "gate@1.0.0", rid, {"note": "once"})
    dispatch = ToolDispatch(rds, settings, rid)
    [first] = await dispatch([call])
    [again] = await dispatch([call])  # the same call id published a second time
    await dispatch.close()
    assert again == first and first.delivery == 1
    assert await gates.runs(call.call_id) == 1


async def test_streams_are_trimmed_and_reply_streams_are_removed_after_the_turn(
    definitions: dict, rds: Any, settings: Any, prefix: str
) -> None:
    rid = run_id()
    dispatch = ToolDispatch(rds, settings.model_copy(update={"stream_maxlen": 10}), rid)
    args = {"email": "a@b.c", "employees": 1, "industry": "software"}
    for round_ in range(30):  # 150 calls, never more than 5 waiting: the backlog stays under the bound
        calls = [invocation(definitions, "score_lead@1.0.0", rid, args, 5 * round_ + i) for i in range(5)]
        assert all(outcome.output_json for outcome in await dispatch(calls))
    assert await rds.xlen(f"{prefix}tools:calls") < 150  # MAXLEN ~ trims whole nodes: about the bound, not exactly
    assert await rds.exists(dispatch.reply_stream)  # until the turn ends
    await dispatch.close()
    assert not await rds.exists(dispatch.reply_stream)


async def test_sigterm_finishes_the_call_in_flight_before_the_worker_exits(
    spawn: Any, definitions: dict, rds: Any, settings: Any, prefix: str, workers: list
) -> None:
    rid, gates = run_id(), GateLog(rds, prefix)
    for worker in workers:
        await asyncio.to_thread(worker.stop)  # only the worker under test consumes now
    leaving = await asyncio.to_thread(spawn, "services.toolworker")
    call = invocation(definitions, "gate@1.0.0", rid, {"note": "drain"})
    dispatch = ToolDispatch(rds, settings, rid)
    waiting = asyncio.create_task(dispatch([call]))
    [pid] = await eventually(lambda: gates.started(call.call_id), what="the call started")
    assert pid == leaving.proc.pid
    leaving.proc.send_signal(signal.SIGTERM)
    await gates.open(rid)
    [outcome] = await waiting
    await dispatch.close()
    assert await asyncio.to_thread(leaving.proc.wait, 20) == 0
    assert json.loads(outcome.output_json)["worker_pid"] == pid and outcome.delivery == 1
