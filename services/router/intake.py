"""The shape a CompleteRequest must have before any provider is called, declared for Pydantic: a violation
becomes a bad_request naming the field (services.common.serve.rpc)."""

from typing import Literal

from pydantic import BaseModel, Field

from agentmesh.v1 import router_pb2
from services.common.bridge import from_proto


class MessageShape(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]


class RequestShape(BaseModel):
    messages: list[MessageShape] = Field(min_length=1)
    max_output_tokens: int = Field(gt=0)
    temperature: float = Field(ge=0, le=2)


def check_request(request: router_pb2.CompleteRequest) -> None:
    from_proto(request, RequestShape)
