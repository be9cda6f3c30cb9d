"""A gRPC peer of a service: calls that wait briefly for a restarting peer and fail with its name."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from services.common.errors import MeshError

T = TypeVar("T")
PEER_WAIT_S = 5.0  # how long a call waits for an unreachable (restarting) peer before it fails as unavailable
RECONNECT = [("grpc.max_reconnect_backoff_ms", 1000)]  # a peer back from a restart is reconnected within a second


class Peer:
    """A service this one calls, named in every error of its calls.

    A call first waits up to PEER_WAIT_S for the peer to be reachable, so a restarting peer is waited for
    briefly and a dead one fails as `unavailable`; then the peer has `timeout_s` to answer.
    """

    def __init__(self, name: str, addr: str, stub: Callable[[grpc.aio.Channel], Any], timeout_s: float) -> None:
        self.name, self.timeout_s, self.channel = name, timeout_s, grpc.aio.insecure_channel(addr, options=RECONNECT)
        self.stub = stub(self.channel)

    async def call(self, rpc: Callable[..., Awaitable[T]], request: Any) -> T:
        try:
            await asyncio.wait_for(self.channel.channel_ready(), PEER_WAIT_S)
            return await rpc(request, wait_for_ready=True, timeout=self.timeout_s)
        except TimeoutError:
            raise MeshError("unavailable", f"{self.name}: not reachable for {PEER_WAIT_S}s") from None
        except grpc.aio.AioRpcError as exc:
            error = MeshError.from_rpc_error(exc)
            raise MeshError(error.kind, f"{self.name}: {error.message}", error.details, **error.metadata) from None

    async def aclose(self) -> None:
        await self.channel.close()
