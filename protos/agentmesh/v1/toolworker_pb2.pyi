from agentmesh.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListToolsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListToolsReply(_message.Message):
    __slots__ = ("tools",)
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolDefinition]
    def __init__(self, tools: _Optional[_Iterable[_Union[_common_pb2.ToolDefinition, _Mapping]]] = ...) -> None: ...

class ToolInvocation(_message.Message):
    __slots__ = ("call_id", "run_id", "name", "version", "arguments_json", "schema_hash", "reply_stream", "timeout_ms")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_HASH_FIELD_NUMBER: _ClassVar[int]
    REPLY_STREAM_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    run_id: str
    name: str
    version: str
    arguments_json: str
    schema_hash: str
    reply_stream: str
    timeout_ms: int
    def __init__(self, call_id: _Optional[str] = ..., run_id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., arguments_json: _Optional[str] = ..., schema_hash: _Optional[str] = ..., reply_stream: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ToolOutcome(_message.Message):
    __slots__ = ("call_id", "output_json", "error", "worker", "delivery", "latency_ms", "name", "version", "schema_hash")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_HASH_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    output_json: str
    error: _common_pb2.ErrorDetail
    worker: str
    delivery: int
    latency_ms: float
    name: str
    version: str
    schema_hash: str
    def __init__(self, call_id: _Optional[str] = ..., output_json: _Optional[str] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ..., worker: _Optional[str] = ..., delivery: _Optional[int] = ..., latency_ms: _Optional[float] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., schema_hash: _Optional[str] = ...) -> None: ...
