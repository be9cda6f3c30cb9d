"""The RunLog service over gRPC: append-only events with a per-run sequence, runs, state, spend, streams."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from runlog_helpers import event, new_run_id

from agentmesh.v1 import runlog_pb2 as pb
from services.common.errors import MeshError


async def append(stub, run_id: str, *events: pb.Event, **fields) -> pb.AppendEventsReply:
    return await stub.AppendEvents(pb.AppendEventsRequest(run_id=run_id, events=events, **fields))


async def mesh_error(call) -> MeshError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return MeshError.from_rpc_error(caught.value)


async def test_first_append_creates_the_run_and_events_get_sequence_numbers_from_one(stub) -> None:
    run_id = new_run_id()
    header = pb.RunHeader(agent="leads", customer="acme", session_id="s1")

    first = await append(stub, run_id, event("run_started", agent="leads"), event("turn_input", n=1), header=header)
    second = await append(stub, run_id, event("turn_output", n=2), status="succeeded")

    assert (first.last_seq, second.last_seq) == (2, 3)
    run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
    assert run.header == header and run.status == "succeeded"
    assert [(e.seq, e.kind) for e in run.events] == [(1, "run_started"), (2, "turn_input"), (3, "turn_output")]
    assert all(e.run_id == run_id and e.source == "scheduler" and e.at.seconds > 0 for e in run.events)


async def test_payloads_are_stored_with_their_exact_bytes(stub) -> None:
    run_id = new_run_id()
    payload = '{"z": 1,   "a": "\\u00e9t\\u00e9", "nested": "{\\"b\\":2}"}'
    await append(stub, run_id, pb.Event(kind="model_call", payload_json=payload))

    run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
    assert run.events[0].payload_json == payload


async def test_concurrent_appends_to_one_run_get_gapless_sequence_numbers_batch_by_batch(stub) -> None:
    run_id = new_run_id()
    batches = [[event("tool_result", batch=b, item=i) for i in range(5)] for b in range(20)]

    replies = await asyncio.gather(*(append(stub, run_id, *batch) for batch in batches))

    assert sorted(reply.last_seq for reply in replies) == list(range(5, 101, 5))
    run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
    assert [e.seq for e in run.events] == list(range(1, 101))
    for start in range(0, 100, 5):
        chunk = [json.loads(e.payload_json) for e in run.events[start : start + 5]]
        assert len({item["batch"] for item in chunk}) == 1 and [item["item"] for item in chunk] == list(range(5))


async def test_state_is_written_with_the_events_under_an_optimistic_version(stub) -> None:
    run_id, session = new_run_id(), f"session-{new_run_id()}"
    write = lambda expected, state: pb.StateWrite(session_id=session, expected_version=expected, state_json=state)  # noqa: E731

    assert (await stub.LoadState(pb.LoadStateRequest(session_id=session))).version == 0
    first = await append(stub, run_id, event("state_snapshot", v=1), state=write(0, '{"step": 1}'))
    second = await append(stub, run_id, event("state_snapshot", v=2), state=write(1, '{"step": 2}'))
    assert (first.state_version, second.state_version) == (1, 2)

    stale = await mesh_error(append(stub, run_id, event("state_snapshot", v=3), state=write(1, '{"step": 3}')))
    assert stale.kind == "conflict" and "expected_version" in stale.message
    new_again = await mesh_error(append(stub, run_id, event("state_snapshot", v=3), state=write(0, "{}")))
    assert new_again.kind == "conflict"

    state = await stub.LoadState(pb.LoadStateRequest(session_id=session))
    assert (state.version, state.state_json) == (2, '{"step": 2}')
    run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
    assert [e.seq for e in run.events] == [1, 2], "a refused state write takes its batch with it"


async def test_a_state_write_for_an_unknown_session_with_a_version_is_a_conflict(stub) -> None:
    write = pb.StateWrite(session_id=f"nobody-{new_run_id()}", expected_version=4, state_json="{}")
    error = await mesh_error(append(stub, new_run_id(), event("state_snapshot"), state=write))
    assert error.kind == "conflict"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"events": [event("turn_input")]}, "run_id"),
        (
            {"run_id": "r", "events": [event("turn_input"), pb.Event(kind="model_guess", payload_json="{}")]},
            "events[1].kind",
        ),
        ({"run_id": "r", "events": [pb.Event(kind="turn_input", payload_json="{not json")]}, "events[0].payload_json"),
        ({"run_id": "r", "status": "done"}, "status"),
        ({"run_id": "r", "state": pb.StateWrite(session_id="s", state_json="[1,")}, "state.state_json"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(stub, request_fields, field) -> None:
    error = await mesh_error(stub.AppendEvents(pb.AppendEventsRequest(**request_fields)))
    assert (error.kind, error.metadata["field"]) == ("bad_request", field)
    assert error.message.startswith(f"{field}: ")


async def test_unknown_run_is_not_found(stub) -> None:
    assert (await mesh_error(stub.GetRun(pb.GetRunRequest(run_id="no-such-run")))).kind == "not_found"
    stream = stub.StreamEvents(pb.StreamEventsRequest(run_id="no-such-run"))
    assert (await mesh_error(stream.read())).kind == "not_found"


async def test_list_runs_filters_by_agent_customer_status_and_time_newest_first(stub) -> None:
    agent = f"agent-{new_run_id()}"
    ids = [new_run_id() for _ in range(4)]
    for i, run_id in enumerate(ids):
        header = pb.RunHeader(agent=agent, customer="acme" if i % 2 == 0 else "globex")
        await append(stub, run_id, event("run_started"), header=header, status="failed" if i == 3 else "")

    listed = await stub.ListRuns(pb.ListRunsRequest(agent=agent))
    assert [run.run_id for run in listed.runs] == ids[::-1]
    assert all(not run.events for run in listed.runs)
    acme = await stub.ListRuns(pb.ListRunsRequest(agent=agent, customer="acme"))
    assert [run.run_id for run in acme.runs] == [ids[2], ids[0]]
    failed = await stub.ListRuns(pb.ListRunsRequest(agent=agent, status="failed"))
    assert [run.run_id for run in failed.runs] == [ids[3]]
    assert len((await stub.ListRuns(pb.ListRunsRequest(agent=agent, limit=2))).runs) == 2

    started = [run.started_at.ToDatetime(UTC) for run in listed.runs]
    window = await stub.ListRuns(pb.ListRunsRequest(agent=agent, since=started[2], until=started[0]))
    assert [run.run_id for run in window.runs] == [ids[2], ids[1]]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert not (await stub.ListRuns(pb.ListRunsRequest(agent=agent, since=future))).runs


async def test_stream_follows_a_live_run_until_it_finishes(stub) -> None:
    run_id = new_run_id()
    await append(stub, run_id, event("run_started"), event("turn_input"))
    stream = stub.StreamEvents(pb.StreamEventsRequest(run_id=run_id, after_seq=1, follow=True))

    assert (await stream.read()).seq == 2
    await append(stub, run_id, event("model_call"))
    assert (await stream.read()).kind == "model_call"
    await append(stub, run_id, event("turn_output"), event("run_finished"), status="succeeded")
    assert [(await stream.read()).seq, (await stream.read()).seq] == [4, 5]
    assert await stream.read() == grpc.aio.EOF


async def test_stream_without_follow_returns_what_is_there(stub) -> None:
    run_id = new_run_id()
    await append(stub, run_id, event("run_started"), event("turn_input"), event("model_call"))
    seqs = [e.seq async for e in stub.StreamEvents(pb.StreamEventsRequest(run_id=run_id, after_seq=1))]
    assert seqs == [2, 3]


def attempt(customer: str, provider: str, model: str, cost: float) -> pb.Event:
    return event("model_attempt", "router", customer=customer, provider=provider, model=model, cost_usd=cost)


async def test_spend_sums_attempt_costs_by_customer_provider_and_model(stub) -> None:
    customer, other = f"c-{new_run_id()}", f"c-{new_run_id()}"
    before = datetime.now(UTC) - timedelta(seconds=5)
    await append(
        stub, new_run_id(), attempt(customer, "openai", "gpt-4o", 0.25), attempt(customer, "openai", "gpt-4o", 0.5)
    )
    await append(stub, new_run_id(), attempt(customer, "xai", "grok-4", 1.0), attempt(other, "xai", "grok-4", 2.0))
    await append(stub, new_run_id(), event("model_call", cost_usd=100.0, customer=customer))

    spend = await stub.GetSpend(pb.GetSpendRequest(customer=customer, since=before))
    lines = {(line.customer, line.provider, line.model): line.cost_usd for line in spend.lines}
    assert lines == {(customer, "openai", "gpt-4o"): 0.75, (customer, "xai", "grok-4"): 1.0}
    everyone = await stub.GetSpend(pb.GetSpendRequest(since=before))
    assert {line.customer for line in everyone.lines} >= {customer, other}
    later = datetime.now(UTC) + timedelta(hours=1)
    assert not (await stub.GetSpend(pb.GetSpendRequest(customer=customer, since=later))).lines
