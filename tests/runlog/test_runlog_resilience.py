"""Secrets never reach the database, and a database outage is a loud `unavailable`, never a half-written batch."""

import asyncio
import json

import grpc
import pytest
from runlog_helpers import event, new_run_id, via_proxy

from agentmesh.v1 import runlog_pb2 as pb
from agentmesh.v1 import runlog_pb2_grpc
from services.common.errors import MeshError

# start_service polls health with asyncio.run, so async tests start services from a worker thread.

PLANTED = {
    "configured_key": "plain-configured-openai-key-0123",
    "openai_pattern": "sk-proj-PLANTEDabcdefghijklmnop1234",
    "anthropic_pattern": "sk-ant-api03-PLANTEDabcdefghijklmnop",
    "xai_pattern": "xai-" + "PLANTEDabcdefghijklmnopqrstu",  # split so no key-shaped literal is committed
    "gemini_pattern": "AIza" + "SyPLANTEDabcdefghijklmnopqrstuvwx",
    "field_value": "hunter2-planted-field-value",
    "header_value": "Bearer planted-header-token-value",
}


async def whole_schema_text(pg, schema: str) -> str:
    """Every row of every table in the schema as text: what a pg_dump of the data would contain."""
    tables = await pg.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
    rows = [await pg.fetch(f'SELECT t::text AS row FROM "{schema}"."{t["table_name"]}" AS t') for t in tables]
    return "\n".join(row["row"] for table in rows for row in table)


async def test_planted_keys_and_secret_fields_never_reach_the_database(start_service, isolation, pg) -> None:
    runlog = await asyncio.to_thread(start_service, "services.runlog", {"OPENAI_API_KEY": PLANTED["configured_key"]})
    run_id, session = new_run_id(), f"s-{new_run_id()}"
    wire_body = json.dumps({"headers": {"Authorization": PLANTED["header_value"]}, "model": "gpt-4o"})
    tool_args = json.dumps({"query": "leads", "api_key": PLANTED["field_value"]})
    prompt = " ".join(PLANTED[k] for k in ("configured_key", "openai_pattern", "anthropic_pattern", "xai_pattern"))
    events = [
        event("model_attempt", "router", request_body=wire_body, response_body=prompt, cost_usd=0.1),
        event("tool_call", name="crm", arguments_json=tool_args, client_secret=PLANTED["gemini_pattern"]),
        event("turn_input", input_json=json.dumps({"text": f"my key is {PLANTED['gemini_pattern']}"})),
    ]
    state = pb.StateWrite(session_id=session, state_json=json.dumps({"password": PLANTED["field_value"]}))

    async with grpc.aio.insecure_channel(runlog.addr) as channel:
        stub = runlog_pb2_grpc.RunLogStub(channel)
        await stub.AppendEvents(pb.AppendEventsRequest(run_id=run_id, events=events, state=state))
        run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))

    dump = await whole_schema_text(pg, isolation.schema)
    assert run_id in dump and "gpt-4o" in dump and "crm" in dump
    assert [name for name, secret in PLANTED.items() if secret in dump] == []
    assert "[REDACTED]" in run.events[0].payload_json


async def test_payloads_without_secrets_keep_their_exact_bytes(stub) -> None:
    text = "task" + "-abcdefghijklmnopqrstuvwxyz is fine"  # holds the shape of an OpenAI key inside a word
    run_id, payload = new_run_id(), '{"text":  "' + text + '",   "max_output_tokens": "512"}'
    await stub.AppendEvents(
        pb.AppendEventsRequest(run_id=run_id, events=[pb.Event(kind="turn_input", payload_json=payload)])
    )
    assert (await stub.GetRun(pb.GetRunRequest(run_id=run_id))).events[0].payload_json == payload


async def test_database_outage_is_unavailable_and_leaves_no_partial_batch(start_service, isolation, pg_proxy) -> None:
    env = {"DATABASE_URL": via_proxy(isolation.env["DATABASE_URL"], pg_proxy)}
    runlog = await asyncio.to_thread(start_service, "services.runlog", env)
    run_id = new_run_id()
    async with grpc.aio.insecure_channel(runlog.addr) as channel:
        stub = runlog_pb2_grpc.RunLogStub(channel)
        await stub.AppendEvents(pb.AppendEventsRequest(run_id=run_id, events=[event("run_started")]))

        await pg_proxy.cut()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendEvents(
                pb.AppendEventsRequest(run_id=run_id, events=[event("turn_input"), event("model_call")])
            )
        error = MeshError.from_rpc_error(caught.value)
        assert (caught.value.code(), error.kind) == (grpc.StatusCode.UNAVAILABLE, "unavailable")
        assert "database unavailable" in error.message

        await pg_proxy.start()
        reply = await stub.AppendEvents(pb.AppendEventsRequest(run_id=run_id, events=[event("run_failed")]))
        run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
    assert reply.last_seq == 2
    assert [e.kind for e in run.events] == ["run_started", "run_failed"]
