"""The output contract of a structured request: what a reply must satisfy, checked by Pydantic (or by the
jsonschema library for a bare schema), and the repair prompt that tells the model what was wrong."""

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from agentmesh.v1 import common_pb2
from services.common.errors import MeshError

REPAIRS = 2  # a reply that still breaks the contract after this many repair prompts fails the request
REPAIR_PROMPT = "Your previous reply is not valid for the required JSON schema.\nErrors:\n{errors}\n\n"
REPAIR_PROMPT += "Your previous reply was:\n{reply}\n\nAnswer again with only the corrected JSON value."


class ReplyInvalid(ValueError):
    """A reply that is not JSON or breaks the schema; the message lists the errors for the repair prompt."""


@dataclass(frozen=True)
class OutputContract:
    """The caller's output type: its JSON schema (before any dialect) and the check every reply passes."""

    name: str
    schema: dict[str, Any]
    check: Callable[[str], str]  # reply text -> canonical JSON of the validated value, or ReplyInvalid


def contract_for(output_type: str, output_schema_json: str) -> OutputContract | None:
    """The contract a request asks for: a Pydantic model ("module:Class"), a bare JSON schema, or none."""
    if output_type and output_schema_json:
        raise MeshError("bad_request", "output_type: give output_type or output_schema_json, not both")
    if output_type:
        return _model_contract(output_type)
    return _schema_contract(output_schema_json) if output_schema_json else None


def repair_prompt(reply: str, errors: str) -> common_pb2.Message:
    return common_pb2.Message(role="user", content=REPAIR_PROMPT.format(errors=errors, reply=reply))


def _model_contract(output_type: str) -> OutputContract:
    module_name, _, name = output_type.partition(":")
    try:
        model = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise MeshError("bad_request", f"output_type: cannot import {output_type!r}: {exc}") from None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise MeshError("bad_request", f"output_type: {output_type!r} is not a Pydantic model")

    def check(reply: str) -> str:
        try:
            return model.model_validate_json(reply).model_dump_json()
        except ValidationError as exc:
            errors = [f"- {'.'.join(map(str, e['loc'])) or '$'}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise ReplyInvalid("\n".join(errors)) from None

    return OutputContract(model.__name__, model.model_json_schema(), check)


def _schema_contract(output_schema_json: str) -> OutputContract:
    try:
        schema = json.loads(output_schema_json)
        if not isinstance(schema, dict):
            raise ValueError("must be a JSON object")
        validator = jsonschema.validators.validator_for(schema)(schema)
        validator.check_schema(schema)
    except (ValueError, jsonschema.SchemaError) as exc:
        reason = getattr(exc, "message", exc)  # a SchemaError's own message, without the whole metaschema
        raise MeshError("bad_request", f"output_schema_json: not a JSON schema: {reason}") from None

    def check(reply: str) -> str:
        try:
            value = json.loads(reply)
        except ValueError as exc:
            raise ReplyInvalid(f"- $: invalid JSON: {exc}") from None
        if errors := [f"- {e.json_path}: {e.message}" for e in validator.iter_errors(value)]:
            raise ReplyInvalid("\n".join(errors))
        return json.dumps(value)

    return OutputContract(str(schema.get("title", "output")), schema, check)
