"""`agentmesh demo`: the whole mesh on free ports, a few sample leads through the gateway, then a clean stop.

Each lead is one turn of `lead_agent` (examples/leads): look up the company, score the lead, draft a reply
and queue it for approval. Providers without an API key are served by the simulators, so the demo runs
offline; the runs stay in the run log afterwards (`agentmesh show RUN_ID` while `agentmesh up` runs).
"""

import argparse
import asyncio
import json
from typing import Any

import httpx

from cli.keys import create_key, key_hash, revoke_key
from cli.mesh import Mesh
from cli.up import add_mesh_options, describe, run_mesh, say

AGENT = "lead_agent"
LEADS = [
    {"name": "Ada Lovelace", "email": "ada@analytical.io", "company_domain": "analytical.io",
     "message": "We want our support agents on three model vendors without rewriting them."},
    {"name": "Grace Hopper", "email": "grace@cobol.dev", "company_domain": "cobol.dev",
     "message": "Can you replay an agent run exactly as it happened in production?"},
    {"name": "Alan Turing", "email": "alan@bletchley.org", "company_domain": "bletchley.org",
     "message": "Looking for per-customer dollar budgets on LLM spend."},
]  # fmt: skip


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("demo", help="start the mesh on free ports, send sample leads through it, stop")
    add_mesh_options(parser)


def clip(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def show_turn(lead: dict[str, str], status: int, body: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """Print one lead's outcome: the run, its tool results from the run log, the agent's answer."""
    if status != 200:
        error = body.get("error", body)
        say(f"  {lead['name']:<13} HTTP {status}: {error.get('kind')}: {error.get('message')}")
        return False
    usage = body.get("usage", {})
    tokens = f"{usage.get('input_tokens', 0)}+{usage.get('output_tokens', 0)} tokens"
    say(f"  {lead['name']:<13} run {body['run_id']}: {body.get('status')}, {tokens}, ${body.get('cost_usd', 0):.6f}")
    for event in events:
        if event["kind"] == "tool_result":
            result = json.loads(event.get("payload_json") or "{}")
            output = result.get("output_json") or json.dumps(result.get("error"))
            say(f"      tool {result.get('name')}@{result.get('version')}: {clip(output)}")
    say(f"      answer: {clip(body.get('output_json') or '')}")
    return body.get("status") == "succeeded"


async def send_leads(mesh: Mesh) -> int:
    describe(mesh)
    if any(child.name.startswith("sim-") for child in mesh.children):
        say("(simulated providers answer with schema-valid placeholder values; set API keys for real models)")
    key = await create_key(mesh.settings, "demo")
    base = f"http://{mesh.settings.gateway_addr}"
    say(f"\nsending {len(LEADS)} leads to {base}/v1/agents/{AGENT}/turns")
    succeeded, run_ids = 0, []
    try:
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=180) as client:
            for lead in LEADS:
                reply = await client.post(f"/v1/agents/{AGENT}/turns", json={"input": lead})
                body = reply.json()
                run_id = body.get("run_id") or body.get("error", {}).get("run_id", "")
                run = await client.get(f"/v1/runs/{run_id}") if run_id else None
                events = run.json().get("events", []) if run is not None and run.status_code == 200 else []
                succeeded += show_turn(lead, reply.status_code, body, events)
                run_ids.append(run_id)
    finally:
        await revoke_key(mesh.settings, key_hash(key))
    say(f"\n{succeeded} of {len(LEADS)} leads handled. Every step is in the run log; with `agentmesh up` running,")
    say("`agentmesh show RUN_ID` shows a run's timeline and `agentmesh replay RUN_ID` replays it.")
    say("run ids: " + " ".join(r for r in run_ids if r))
    return 0 if succeeded == len(LEADS) else 1


def run(args: argparse.Namespace) -> int:
    args.free_ports = True  # the demo is self-contained: it never competes for the configured ports
    return asyncio.run(run_mesh(args, send_leads))
