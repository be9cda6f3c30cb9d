"""Typed errors: a stable reason code (kind) carried as a gRPC status with google.rpc.ErrorInfo."""

from collections.abc import Sequence
from typing import NoReturn, TypeVar

import asyncpg
import grpc
import redis
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "agentmesh"
M = TypeVar("M", bound=Message)
# A lost connection to Postgres or Redis: the caller may retry once the store is back.
STORE_DOWN = (OSError, TimeoutError, redis.ConnectionError, redis.TimeoutError, asyncpg.PostgresConnectionError,
              asyncpg.InterfaceError, asyncpg.OperatorInterventionError)  # fmt: skip

KIND_CODES: dict[str, grpc.StatusCode] = {
    "bad_request": grpc.StatusCode.INVALID_ARGUMENT,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "conflict": grpc.StatusCode.ABORTED,
    "auth": grpc.StatusCode.UNAUTHENTICATED,
    "rate_limited": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "budget_exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "quota_exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
    "refused": grpc.StatusCode.FAILED_PRECONDITION,
    "schema_invalid": grpc.StatusCode.FAILED_PRECONDITION,
    "tool_failed": grpc.StatusCode.FAILED_PRECONDITION,
    "limit_reached": grpc.StatusCode.FAILED_PRECONDITION,
    "unimplemented": grpc.StatusCode.UNIMPLEMENTED,
    "internal": grpc.StatusCode.INTERNAL,
}


class StartupError(Exception):
    """A service cannot start: names the setting at fault so the operator knows what to fix."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting


def _packed(detail: Message) -> any_pb2.Any:
    """A detail as google.protobuf.Any; one relayed from another service is packed already and stays once."""
    if isinstance(detail, any_pb2.Any):
        return detail
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


class MeshError(Exception):
    """A failure with a reason code that survives every hop: service, gRPC, gateway, run log."""

    def __init__(self, kind: str, message: str, details: Sequence[Message] = (), **metadata: str) -> None:
        super().__init__(message)
        self.kind = kind if kind in KIND_CODES else "internal"
        self.message = message
        self.details = [_packed(detail) for detail in details]
        self.metadata = metadata

    @property
    def code(self) -> grpc.StatusCode:
        return KIND_CODES[self.kind]

    def to_status(self) -> grpc.Status:
        info = error_details_pb2.ErrorInfo(reason=self.kind, domain=DOMAIN, metadata=self.metadata)
        details = [_packed(info), *self.details]
        return rpc_status.to_status(status_pb2.Status(code=self.code.value[0], message=self.message, details=details))

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "MeshError":
        """Rebuild the typed error on the client side; a plain status becomes a kind from its code."""
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is None:
            kind = next((k for k, c in KIND_CODES.items() if c == error.code()), "internal")
            return cls(kind, error.details() or error.code().name)  # type: ignore[attr-defined]
        info = error_details_pb2.ErrorInfo(reason="internal")
        for detail in status.details:
            if detail.Is(info.DESCRIPTOR):
                detail.Unpack(info)
        details = [detail for detail in status.details if not detail.Is(info.DESCRIPTOR)]
        return cls(info.reason, status.message, details, **info.metadata)

    def detail(self, message_type: type[M]) -> M | None:
        """The first detail of the given type, unpacked."""
        for detail in self.details:
            if detail.Is(message_type.DESCRIPTOR):
                unpacked = message_type()
                detail.Unpack(unpacked)
                return unpacked
        return None


def as_mesh_error(exc: Exception) -> MeshError:
    """Any exception as a typed error: a lost store or connection is `unavailable`, a bug is `internal`."""
    if isinstance(exc, MeshError):
        return exc
    if isinstance(exc, STORE_DOWN):
        store = "redis" if isinstance(exc, redis.RedisError) else "database"
        return MeshError("unavailable", f"{store} unavailable: {type(exc).__name__}: {exc}")
    return MeshError("internal", f"{type(exc).__name__}: {exc}")


async def abort(context: grpc.aio.ServicerContext, error: MeshError) -> NoReturn:
    await context.abort_with_status(error.to_status())
    raise AssertionError("unreachable")  # abort_with_status always raises
