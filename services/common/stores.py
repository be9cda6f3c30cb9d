"""Connections to Postgres and Redis that fail at start-up with the setting to fix, not a traceback."""

import asyncpg
import redis.asyncio as redis

from services.common.config import Settings
from services.common.errors import StartupError


async def connect_postgres(settings: Settings, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see only this deployment's schema (tests use one schema per run)."""
    try:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=min_size,
            max_size=max_size,
            server_settings={"search_path": settings.db_schema},
            timeout=5,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError, ValueError) as exc:
        raise StartupError("DATABASE_URL", f"cannot connect: {exc}") from None
    return pool


async def connect_redis(settings: Settings, max_connections: int | None = None) -> redis.Redis:
    """With max_connections, a command waits for a free connection once that many are busy (else: fails at 100)."""
    try:
        pool = redis.BlockingConnectionPool if max_connections else redis.ConnectionPool
        options = {"max_connections": max_connections} if max_connections else {}
        client = redis.Redis.from_pool(pool.from_url(settings.redis_url, socket_connect_timeout=5, **options))
        await client.ping()
    except (OSError, redis.RedisError, ValueError) as exc:
        raise StartupError("REDIS_URL", f"cannot connect: {exc}") from None
    return client
