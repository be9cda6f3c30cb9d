from agentmesh.v1 import common_pb2 as _common_pb2
from agentmesh.v1 import runlog_pb2 as _runlog_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunTurnRequest(_message.Message):
    __slots__ = ("agent", "session_id", "customer", "input_json", "run_id", "model", "prefer", "exclude")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PREFER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    agent: str
    session_id: str
    customer: str
    input_json: str
    run_id: str
    model: str
    prefer: _containers.RepeatedScalarFieldContainer[str]
    exclude: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agent: _Optional[str] = ..., session_id: _Optional[str] = ..., customer: _Optional[str] = ..., input_json: _Optional[str] = ..., run_id: _Optional[str] = ..., model: _Optional[str] = ..., prefer: _Optional[_Iterable[str]] = ..., exclude: _Optional[_Iterable[str]] = ...) -> None: ...

class RunTurnReply(_message.Message):
    __slots__ = ("run_id", "session_id", "outbound", "output_json", "usage", "cost_usd", "status", "state_version", "error")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    session_id: str
    outbound: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    output_json: str
    usage: _common_pb2.Usage
    cost_usd: float
    status: str
    state_version: int
    error: _common_pb2.ErrorDetail
    def __init__(self, run_id: _Optional[str] = ..., session_id: _Optional[str] = ..., outbound: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., output_json: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., status: _Optional[str] = ..., state_version: _Optional[int] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class AgentState(_message.Message):
    __slots__ = ("messages", "tool_rounds")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOOL_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    tool_rounds: int
    def __init__(self, messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., tool_rounds: _Optional[int] = ...) -> None: ...
