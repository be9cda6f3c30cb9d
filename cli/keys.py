"""`agentmesh keys`: API keys of the gateway, one customer each. Only a key's sha256 is stored (Redis hash
`<prefix>apikeys`, hash -> customer), so a key is shown once, when it is created."""

import argparse
import asyncio
import hashlib
import secrets
import sys

from services.common.config import Settings, load_settings
from services.common.errors import StartupError
from services.common.stores import connect_redis


def key_hash(key: str) -> str:
    """The stored form of a key; the gateway looks keys up by the same hash."""
    return hashlib.sha256(key.encode()).hexdigest()


def keys_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}apikeys"


async def create_key(settings: Settings, customer: str) -> str:
    client = await connect_redis(settings)
    try:
        key = f"am_{secrets.token_urlsafe(32)}"
        await client.hset(keys_name(settings), key_hash(key), customer)
        return key
    finally:
        await client.aclose()


async def stored_keys(settings: Settings) -> dict[str, str]:
    """Key hash -> customer."""
    client = await connect_redis(settings)
    try:
        return {h.decode(): c.decode() for h, c in (await client.hgetall(keys_name(settings))).items()}
    finally:
        await client.aclose()


async def revoke_key(settings: Settings, digest: str) -> None:
    client = await connect_redis(settings)
    try:
        await client.hdel(keys_name(settings), digest)
    finally:
        await client.aclose()


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("keys", help="create, list and revoke the gateway's API keys")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key for CUSTOMER and print it (shown only once)")
    create.add_argument("customer")
    actions.add_parser("list", help="list key hashes (first 16 hex digits) and their customers")
    revoke = actions.add_parser("revoke", help="revoke a key, given the key itself or a unique prefix of its hash")
    revoke.add_argument("key")


async def _apply(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "create":
        if not args.customer.strip():
            print("agentmesh: CUSTOMER must not be empty", file=sys.stderr)
            return 2
        print(await create_key(settings, args.customer))
        return 0
    stored = await stored_keys(settings)
    if args.action == "list":
        for digest, customer in sorted(stored.items(), key=lambda item: item[1]):
            print(f"{digest[:16]}  {customer}")
        return 0
    matches = [h for h in stored if h == key_hash(args.key) or h.startswith(args.key.lower())]
    if len(matches) != 1:
        print(f"agentmesh: {len(matches)} keys match; give the key itself or a unique hash prefix", file=sys.stderr)
        return 1
    await revoke_key(settings, matches[0])
    print(f"revoked {matches[0][:16]} ({stored[matches[0]]})")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_apply(args, load_settings()))
    except StartupError as exc:
        print(f"agentmesh: {exc}", file=sys.stderr)
        return 2
