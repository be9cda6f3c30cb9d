"""The RunLog service: append-only events with a per-run sequence, runs, session state and spend.

Every append is one transaction: the run row is locked (serializing appends to one run), the events get
the next sequence numbers, the session state is written beside them, and followers are notified on commit
(Postgres NOTIFY), so a live run is followed without polling."""

import asyncio
from contextlib import suppress
from datetime import UTC

import asyncpg
import grpc

from agentmesh.v1 import runlog_pb2 as pb
from agentmesh.v1 import runlog_pb2_grpc
from services.common.errors import MeshError
from services.common.serve import rpc
from services.runlog.redaction import Redactor

KINDS = {"run_started", "turn_input", "model_call", "model_attempt", "tool_call", "tool_result", "turn_output",
         "state_snapshot", "run_finished", "run_failed"}  # fmt: skip
STATUSES = ("running", "succeeded", "failed")
RECHECK_S = 5.0  # a follower re-reads at least this often, should a notification be lost with its connection

APPEND = """WITH run AS (INSERT INTO runs (run_id, agent, customer, session_id, status, last_seq)
 VALUES ($1, $2, $3, $4, coalesce(nullif($5, ''), 'running'), $6) ON CONFLICT (run_id) DO UPDATE SET
 last_seq = runs.last_seq + $6, status = coalesce(nullif($5, ''), runs.status), updated_at = now() RETURNING last_seq),
batch AS (INSERT INTO events (run_id, seq, kind, source, payload) SELECT $1, run.last_seq - $6 + n, kind, source,
 payload FROM run, unnest($7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS b (kind, source, payload, n))
SELECT last_seq FROM run"""
UPSERT_STATE = """INSERT INTO session_state AS s (session_id, version, state, run_id) VALUES ($1, 1, $3, $4)
ON CONFLICT (session_id) DO UPDATE SET version = s.version + 1, state = $3, run_id = $4, updated_at = now()
WHERE s.version = $2 RETURNING version"""
RUN_ROW = "SELECT run_id, agent, customer, session_id, status, started_at, updated_at FROM runs"
EVENTS = "SELECT run_id, seq, kind, source, payload AS payload_json, at FROM events WHERE run_id = $1 AND seq > $2"
LIST_RUNS = f"""{RUN_ROW} WHERE ($1 = '' OR agent = $1) AND ($2 = '' OR customer = $2) AND ($3 = '' OR status = $3)
AND started_at >= $4 AND ($5 = 'epoch'::timestamptz OR started_at < $5) ORDER BY started_at DESC, run_id LIMIT $6"""
LOAD_STATE = "SELECT version, state AS state_json FROM session_state WHERE session_id = $1"
SPEND = """SELECT customer, provider, model, sum(cost_usd) AS cost_usd FROM attempt_costs
WHERE at >= $2 AND ($1 = '' OR customer = $1) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


def bad_request(field: str, reason: str) -> MeshError:
    return MeshError("bad_request", f"{field}: {reason}", field=field)


class RunLogService(runlog_pb2_grpc.RunLogServicer):
    def __init__(self, pool: asyncpg.Pool, redactor: Redactor, channel: str) -> None:
        self.pool, self.redactor, self.channel = pool, redactor, channel
        self.next_commits: dict[str, asyncio.Event] = {}  # run_id -> set at its next commit

    def committed(self, conn: object, pid: int, channel: str, run_id: str) -> None:
        """The NOTIFY listener: wake the followers of the run."""
        if woken := self.next_commits.pop(run_id, None):
            woken.set()

    def _redacted(self, field: str, text: str) -> str:
        try:
            return self.redactor.json_text(text)
        except ValueError as exc:
            raise bad_request(field, f"malformed JSON: {exc}") from None

    def _checked(self, request: pb.AppendEventsRequest) -> list[tuple[str, str, str]]:
        """The batch as rows (kind, source, redacted payload), or bad_request naming the first bad field."""
        if not request.run_id:
            raise bad_request("run_id", "required")
        if request.status not in ("", *STATUSES):
            raise bad_request("status", f"must be one of {', '.join(STATUSES)}, not {request.status!r}")
        rows = []
        for i, event in enumerate(request.events):
            if event.kind not in KINDS:
                raise bad_request(f"events[{i}].kind", f"unknown event kind {event.kind!r}")
            rows.append((event.kind, event.source, self._redacted(f"events[{i}].payload_json", event.payload_json)))
        return rows

    @rpc
    async def AppendEvents(self, request: pb.AppendEventsRequest, context: object) -> pb.AppendEventsReply:
        """Write the batch, the state and the status atomically: the reply means committed."""
        rows, state, version = self._checked(request), request.state, 0
        state_json = self._redacted("state.state_json", state.state_json) if request.HasField("state") else ""
        head = (request.header.agent, request.header.customer, request.header.session_id)
        columns = [[row[i] for row in rows] for i in range(3)]  # kinds, sources, payloads
        async with self.pool.acquire() as conn, conn.transaction():
            last = await conn.fetchval(APPEND, request.run_id, *head, request.status, len(rows), *columns)
            if rows and rows[0][0] == "run_started" and last != len(rows):  # a run starts once; a retry is refused
                raise MeshError("conflict", f"run_id: run {request.run_id} already exists", field="run_id")
            if request.HasField("state"):
                args = (state.session_id, state.expected_version, state_json, request.run_id)
                if (version := await conn.fetchval(UPSERT_STATE, *args)) != state.expected_version + 1:
                    raise MeshError("conflict", f"state.expected_version: session is not at {state.expected_version}")
            await conn.execute("SELECT pg_notify($1, $2)", self.channel, request.run_id)
        return pb.AppendEventsReply(last_seq=last, state_version=version)

    @rpc
    async def GetRun(self, request: pb.GetRunRequest, context: object) -> pb.Run:
        return await self._run(request.run_id)

    async def _run(self, run_id: str, after_seq: int = 0) -> pb.Run:
        """The run and its events after after_seq; the status is read first, so a finished run's events are all in."""
        if (row := await self.pool.fetchrow(f"{RUN_ROW} WHERE run_id = $1", run_id)) is None:
            raise MeshError("not_found", f"run {run_id!r} not found", run_id=run_id)
        events = await self.pool.fetch(f"{EVENTS} ORDER BY seq", run_id, after_seq)
        return _run(row, [pb.Event(**event) for event in events])

    @rpc
    async def StreamEvents(self, request: pb.StreamEventsRequest, context: grpc.aio.ServicerContext) -> None:
        """Events after after_seq; with follow, new ones as they commit, until the run stops running."""
        after = request.after_seq
        while True:
            next_commit = self.next_commits.setdefault(request.run_id, asyncio.Event())  # taken before reading
            run = await self._run(request.run_id, after)
            for event in run.events:
                await context.write(event)
                after = event.seq
            if not request.follow or run.status != "running":
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(next_commit.wait(), RECHECK_S)

    @rpc
    async def ListRuns(self, request: pb.ListRunsRequest, context: object) -> pb.ListRunsReply:
        """Newest first; unset since/until mean unbounded (the epoch, in proto terms)."""
        window = (request.since.ToDatetime(UTC), request.until.ToDatetime(UTC), request.limit or 50)
        rows = await self.pool.fetch(LIST_RUNS, request.agent, request.customer, request.status, *window)
        return pb.ListRunsReply(runs=[_run(row) for row in rows])

    @rpc
    async def LoadState(self, request: pb.LoadStateRequest, context: object) -> pb.SessionState:
        """Version 0 and no state when the session does not exist yet."""
        row = await self.pool.fetchrow(LOAD_STATE, request.session_id)
        return pb.SessionState(session_id=request.session_id, **(row or {}))

    @rpc
    async def GetSpend(self, request: pb.GetSpendRequest, context: object) -> pb.GetSpendReply:
        """Spend rebuilt from the router's model_attempt events: the durable record budgets start from."""
        rows = await self.pool.fetch(SPEND, request.customer, request.since.ToDatetime(UTC))
        return pb.GetSpendReply(lines=[pb.SpendLine(**row) for row in rows])


def _run(row: asyncpg.Record, events: list[pb.Event] | None = None) -> pb.Run:
    header = pb.RunHeader(agent=row["agent"], customer=row["customer"], session_id=row["session_id"])
    return pb.Run(**{k: row[k] for k in ("run_id", "status", "started_at", "updated_at")}, header=header, events=events)
