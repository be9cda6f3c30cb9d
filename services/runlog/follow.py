"""Followers of live runs, woken by Postgres NOTIFY when a run's events commit (no polling)."""

import asyncio


class Commits:
    """The NOTIFY listener's side: one event per followed run, set and replaced at each commit."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Event] = {}

    def next_commit(self, run_id: str) -> asyncio.Event:
        """Take it before reading the run, so a commit between the read and the wait is not missed."""
        return self.waiting.setdefault(run_id, asyncio.Event())

    def committed(self, conn: object, pid: int, channel: str, run_id: str) -> None:
        if woken := self.waiting.pop(run_id, None):
            woken.set()
