"""Helpers of the run log tests: event builders and a TCP relay that can cut the database away."""

import asyncio
import contextlib
import json
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from cli.turns import run_turn


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def event(kind: str, source: str = "scheduler", **payload: Any) -> runlog_pb2.Event:
    return runlog_pb2.Event(kind=kind, source=source, payload_json=json.dumps(payload))


class TcpProxy:
    """A real TCP relay in front of Postgres that a test can cut, to see the run log lose its database."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> "TcpProxy":
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


def via_proxy(database_url: str, proxy: TcpProxy) -> str:
    url = urlsplit(database_url)
    return urlunsplit(url._replace(netloc=f"{url.username or 'postgres'}@127.0.0.1:{proxy.port}"))


LEAD = json.dumps({"name": "Ada Lovelace", "email": "ada@acme.com", "company": "acme.com", "message": "pricing?"})


MODELS = ("openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash", "xai:grok-4-fast")


async def run_turns(
    scheduler_addr: str, turns: list[tuple[str, str, str]], customer: str = "acme", concurrency: int = 4
) -> list[scheduler_pb2.RunTurnReply]:
    """RunTurn for each (agent, input_json, model pin or ""); a failed turn comes back as a failed reply
    carrying its run id and error."""
    limit = asyncio.Semaphore(concurrency)

    async def one(
        stub: scheduler_pb2_grpc.SchedulerStub, agent: str, text: str, model: str
    ) -> scheduler_pb2.RunTurnReply:
        request = scheduler_pb2.RunTurnRequest(agent=agent, customer=customer, input_json=text, model=model)
        request.run_id = new_run_id()
        async with limit:
            return await run_turn(stub, request)

    async with grpc.aio.insecure_channel(scheduler_addr) as channel:
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        return list(await asyncio.gather(*(one(stub, *turn) for turn in turns)))


async def get_run(runlog_addr: str, run_id: str) -> runlog_pb2.Run:
    async with grpc.aio.insecure_channel(runlog_addr) as channel:
        return await runlog_pb2_grpc.RunLogStub(channel).GetRun(runlog_pb2.GetRunRequest(run_id=run_id))
