"""The Pydantic <-> protobuf bridge: both sides speak JSON, so the proto JSON mapping is the bridge."""

from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel

P = TypeVar("P", bound=BaseModel)


def from_proto(message: Message, model_type: type[P]) -> P:
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return model_type.model_validate(data)


def proto_json(message: Message) -> str:
    """Canonical JSON of a message (sorted keys, field names as in the .proto), for logs and hashes."""
    return json_format.MessageToJson(message, preserving_proto_field_name=True, sort_keys=True, indent=None)
