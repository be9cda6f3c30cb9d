from agentmesh.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompleteRequest(_message.Message):
    __slots__ = ("run_id", "turn_id", "customer", "task_class", "messages", "tools", "output_type", "output_schema_json", "temperature", "seed", "max_output_tokens", "model", "prefer", "exclude")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TASK_CLASS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PREFER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    turn_id: str
    customer: str
    task_class: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.Message]
    tools: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolDefinition]
    output_type: str
    output_schema_json: str
    temperature: float
    seed: int
    max_output_tokens: int
    model: str
    prefer: _containers.RepeatedScalarFieldContainer[str]
    exclude: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., turn_id: _Optional[str] = ..., customer: _Optional[str] = ..., task_class: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.Message, _Mapping]]] = ..., tools: _Optional[_Iterable[_Union[_common_pb2.ToolDefinition, _Mapping]]] = ..., output_type: _Optional[str] = ..., output_schema_json: _Optional[str] = ..., temperature: _Optional[float] = ..., seed: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., model: _Optional[str] = ..., prefer: _Optional[_Iterable[str]] = ..., exclude: _Optional[_Iterable[str]] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("number", "provider", "model", "purpose", "request_body", "response_body", "usage", "cost_usd", "latency_ms", "error", "finish_reason")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BODY_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    number: int
    provider: str
    model: str
    purpose: str
    request_body: str
    response_body: str
    usage: _common_pb2.Usage
    cost_usd: float
    latency_ms: float
    error: _common_pb2.ErrorDetail
    finish_reason: str
    def __init__(self, number: _Optional[int] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., purpose: _Optional[str] = ..., request_body: _Optional[str] = ..., response_body: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class CompleteReply(_message.Message):
    __slots__ = ("message", "output_json", "usage", "cost_usd", "provider", "model", "finish_reason", "attempts", "decision")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    message: _common_pb2.Message
    output_json: str
    usage: _common_pb2.Usage
    cost_usd: float
    provider: str
    model: str
    finish_reason: str
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    decision: str
    def __init__(self, message: _Optional[_Union[_common_pb2.Message, _Mapping]] = ..., output_json: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., finish_reason: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., decision: _Optional[str] = ...) -> None: ...

class CompleteFailure(_message.Message):
    __slots__ = ("attempts", "decision")
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    decision: str
    def __init__(self, attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., decision: _Optional[str] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ("customer",)
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    customer: str
    def __init__(self, customer: _Optional[str] = ...) -> None: ...

class BudgetLine(_message.Message):
    __slots__ = ("scope", "limit_usd", "spent_usd", "reserved_usd", "remaining_usd")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_USD_FIELD_NUMBER: _ClassVar[int]
    SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    RESERVED_USD_FIELD_NUMBER: _ClassVar[int]
    REMAINING_USD_FIELD_NUMBER: _ClassVar[int]
    scope: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    def __init__(self, scope: _Optional[str] = ..., limit_usd: _Optional[float] = ..., spent_usd: _Optional[float] = ..., reserved_usd: _Optional[float] = ..., remaining_usd: _Optional[float] = ...) -> None: ...

class GetBudgetReply(_message.Message):
    __slots__ = ("lines",)
    LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[BudgetLine]
    def __init__(self, lines: _Optional[_Iterable[_Union[BudgetLine, _Mapping]]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelState(_message.Message):
    __slots__ = ("provider", "model", "breaker", "requests_left", "tokens_left", "input_usd_per_mtok", "output_usd_per_mtok", "simulated")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_LEFT_FIELD_NUMBER: _ClassVar[int]
    INPUT_USD_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_USD_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    breaker: str
    requests_left: int
    tokens_left: int
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    simulated: bool
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., breaker: _Optional[str] = ..., requests_left: _Optional[int] = ..., tokens_left: _Optional[int] = ..., input_usd_per_mtok: _Optional[float] = ..., output_usd_per_mtok: _Optional[float] = ..., simulated: _Optional[bool] = ...) -> None: ...

class ListModelsReply(_message.Message):
    __slots__ = ("models", "policy_version")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelState]
    policy_version: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelState, _Mapping]]] = ..., policy_version: _Optional[str] = ...) -> None: ...
