"""Versioned SQL migrations (migrations/NNNN_*.sql), applied once each, in order, at start-up."""

from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


async def apply_migrations(pool: asyncpg.Pool, schema: str) -> None:
    """Create the schema if missing and apply, in order, the migrations it lacks.

    One transaction under an advisory lock, so replicas starting together neither race nor half-apply."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"agentmesh.migrations.{schema}")
        await conn.execute('CREATE SCHEMA IF NOT EXISTS "{}"'.format(schema.replace('"', '""')))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz)"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in sorted(MIGRATIONS_DIR.glob("[0-9]*.sql")):
            if path.stem not in done:
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, now())", path.stem)
