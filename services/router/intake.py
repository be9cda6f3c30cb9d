"""The shape a CompleteRequest must have before any provider is called, declared for Pydantic: a violation
becomes a bad_request naming the field (services.common.serve.rpc)."""

from typing import Literal

from pydantic import BaseModel, Field


class MessageShape(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]


class RequestShape(BaseModel):
    messages: list[MessageShape] = Field(min_length=1)
    max_output_tokens: int = Field(gt=0)
    temperature: float = Field(ge=0, le=2)
