"""Typed errors: a stable reason code (kind) carried as a gRPC status with google.rpc.ErrorInfo."""

from collections.abc import Sequence
from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "agentmesh"

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


class MeshError(Exception):
    """A failure with a reason code that survives every hop: service, gRPC, gateway, run log."""

    def __init__(self, kind: str, message: str, details: Sequence[Message] = (), **metadata: str) -> None:
        super().__init__(message)
        self.kind = kind if kind in KIND_CODES else "internal"
        self.message = message
        self.details = list(details)
        self.metadata = metadata

    @property
    def code(self) -> grpc.StatusCode:
        return KIND_CODES[self.kind]

    def to_status(self) -> grpc.Status:
        info = error_details_pb2.ErrorInfo(reason=self.kind, domain=DOMAIN, metadata=self.metadata)
        packed = []
        for detail in [info, *self.details]:
            if not isinstance(detail, any_pb2.Any):  # details relayed from another service stay packed once
                detail, message = any_pb2.Any(), detail
                detail.Pack(message)
            packed.append(detail)
        status = status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)
        return rpc_status.to_status(status)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "MeshError":
        """Rebuild the typed error on the client side; a plain status becomes a kind from its code."""
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is None:
            kind = next((k for k, c in KIND_CODES.items() if c == error.code()), "internal")
            return cls(kind, error.details() or error.code().name)  # type: ignore[attr-defined]
        kind, metadata, details = "internal", {}, []
        for any_detail in status.details:
            if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                any_detail.Unpack(info)
                kind, metadata = info.reason, dict(info.metadata)
            else:
                details.append(any_detail)
        err = cls(kind, status.message, **metadata)
        err.details = details
        return err

    def detail(self, message_type: type[Message]) -> Message | None:
        """The first rich-status detail of the given type, unpacked (client side)."""
        for detail in self.details:
            if isinstance(detail, any_pb2.Any) and detail.Is(message_type.DESCRIPTOR):
                out = message_type()
                detail.Unpack(out)
                return out
            if isinstance(detail, message_type):
                return detail
        return None


async def abort(context: grpc.aio.ServicerContext, error: MeshError) -> NoReturn:
    await context.abort_with_status(error.to_status())
    raise AssertionError("unreachable")  # abort_with_status always raises
