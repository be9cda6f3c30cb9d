"""Agents and tools for the turn-loop tests: the lead workflow plus tools that misbehave on purpose.

Services under test load this module with AGENTMESH_AGENTS_MODULE=tests.turns.turn_agents. The `gate`
tool blocks on a Redis list the test controls (BLPOP on `<prefix>gate:<run_id>`), and writes what it
does to `<prefix>gate:log`, so tests see the order of tool executions across workers and sessions.
"""

import asyncio
import os
import signal

from pydantic import BaseModel

from examples.leads import AGENTS as LEAD_AGENTS
from examples.leads import TOOLS as LEAD_TOOLS
from services.scheduler.agent import Agent
from services.toolworker.registry import ToolContext, tool


class Note(BaseModel):
    note: str


class Passed(BaseModel):
    worker_pid: int
    note: str


class Verdict(BaseModel):
    verdict: str


@tool("gate", "1.0.0")
async def gate(args: Note, ctx: ToolContext) -> Passed:
    """Waits until the test opens this run's gate; its effect is recorded once per call id."""
    log, pid = f"{ctx.redis_prefix}gate:log", os.getpid()
    await ctx.redis.rpush(log, f"start {ctx.call_id} {pid}")
    await ctx.redis.hincrby(f"{ctx.redis_prefix}gate:runs", ctx.call_id, 1)
    while not await ctx.redis.blpop([f"{ctx.redis_prefix}gate:{ctx.run_id}"], timeout=1):
        pass  # blocking reads stay under the client's socket timeout
    await ctx.redis.hsetnx(f"{ctx.redis_prefix}gate:effects", ctx.call_id, pid)
    await ctx.redis.rpush(log, f"end {ctx.call_id} {pid}")
    return Passed(worker_pid=pid, note=args.note)


@tool("explode", "1.0.0")
async def explode(args: Note, ctx: ToolContext) -> Passed:
    """Always raises, like a tool whose backend is down."""
    raise RuntimeError("crm backend down")


@tool("stall", "1.0.0")
async def stall(args: Note, ctx: ToolContext) -> Passed:
    """Waits on an event nobody ever sets: only the per-call timeout ends it."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@tool("liar", "1.0.0")
async def liar(args: Note, ctx: ToolContext) -> Passed:
    """Returns output that breaks its own contract (worker_pid is not a number)."""
    return {"worker_pid": "not-a-pid", "note": args.note}  # type: ignore[return-value]


@tool("crash", "1.0.0")
async def crash(args: Note, ctx: ToolContext) -> Passed:
    """Kills the worker process that runs it: every delivery fails until the call is dead-lettered."""
    await ctx.redis.hincrby(f"{ctx.redis_prefix}crash:runs", ctx.call_id, 1)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


gated_agent = Agent(name="gated_agent", instructions="Pass the gate.", output=Verdict, tools=("gate@1.0.0",))
flaky_agent = Agent(
    name="flaky_agent",
    instructions="Use the tools.",
    output=Verdict,
    tools=("explode@1.0.0", "stall@1.0.0", "liar@1.0.0"),
    max_tool_rounds=2,
)
stale_pin_agent = Agent(
    name="stale_pin_agent", instructions="Look it up.", output=Verdict, tools=("lookup_company@9.9.9",)
)

AGENTS = [*LEAD_AGENTS, gated_agent, flaky_agent, stale_pin_agent]
TOOLS = [*LEAD_TOOLS, gate, explode, stall, liar, crash]
