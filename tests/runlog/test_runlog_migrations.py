"""The run log schema is created by versioned migrations, applied once each, in a schema of its own."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.common.config import Settings
from services.common.stores import connect_postgres
from services.runlog.migrations import MIGRATIONS_DIR, apply_migrations


@pytest.fixture
async def fresh_pool(isolation) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """A pool whose schema does not exist yet (the migrations must create it)."""
    schema = f"{isolation.schema}_m{uuid.uuid4().hex[:6]}"
    pool = await connect_postgres(Settings(DATABASE_URL=isolation.env["DATABASE_URL"], db_schema=schema))
    yield pool, schema
    await pool.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await pool.close()


async def test_migrations_create_the_schema_and_apply_once_when_run_twice(fresh_pool) -> None:
    pool, schema = fresh_pool
    versions = sorted(path.stem for path in MIGRATIONS_DIR.glob("[0-9]*.sql"))

    await apply_migrations(pool, schema)
    first = await pool.fetch("SELECT version, applied_at FROM schema_migrations ORDER BY 1")
    await apply_migrations(pool, schema)
    second = await pool.fetch("SELECT version, applied_at FROM schema_migrations ORDER BY 1")

    assert [row["version"] for row in first] == versions
    assert second == first, "the second start-up applies nothing"
    tables = {row["table_name"] for row in await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)}  # fmt: skip
    assert {"runs", "events", "session_state", "schema_migrations"} <= tables


async def test_concurrent_start_ups_apply_each_migration_once(fresh_pool) -> None:
    pool, schema = fresh_pool
    await asyncio.gather(*(apply_migrations(pool, schema) for _ in range(3)))
    recorded = [row["version"] for row in await pool.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    assert recorded == sorted(path.stem for path in MIGRATIONS_DIR.glob("[0-9]*.sql"))


async def test_events_refuse_update_and_delete(fresh_pool) -> None:
    pool, schema = fresh_pool
    await apply_migrations(pool, schema)
    await pool.execute("INSERT INTO runs (run_id) VALUES ('r1')")
    await pool.execute("INSERT INTO events (run_id, seq, kind, payload) VALUES ('r1', 1, 'turn_input', '{}')")

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE events SET payload = '{\"x\": 1}'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("DELETE FROM events")


async def test_an_older_schema_is_upgraded_in_place_keeping_its_data(fresh_pool) -> None:
    pool, schema = fresh_pool
    first = MIGRATIONS_DIR / "0001_runs_events_state.sql"
    async with pool.acquire() as conn:  # a database left by version 0001 of the run log, with one attempt in it
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz)")
        await conn.execute(first.read_text())
        await conn.execute("INSERT INTO schema_migrations VALUES ($1, now())", first.stem)
        await conn.execute("INSERT INTO runs (run_id) VALUES ('old')")
        attempt = '{"customer": "acme", "provider": "openai", "model": "gpt-4o", "cost_usd": 0.25}'
        await conn.execute(
            "INSERT INTO events (run_id, seq, kind, payload) VALUES ('old', 1, 'model_attempt', $1)", attempt
        )

    await apply_migrations(pool, schema)

    versions = [row["version"] for row in await pool.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == sorted(path.stem for path in MIGRATIONS_DIR.glob("[0-9]*.sql")) and len(versions) > 1
    costs = await pool.fetch("SELECT customer, provider, model, cost_usd FROM attempt_costs")
    assert [tuple(row) for row in costs] == [("acme", "openai", "gpt-4o", 0.25)]
