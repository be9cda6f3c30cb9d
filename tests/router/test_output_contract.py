"""The output contract of a request: loading it names the field at fault; checking a reply uses Pydantic
(or jsonschema for a bare schema) and words the errors for the repair prompt."""

import json

import pytest

from services.common.errors import MeshError
from services.router.structured import ReplyInvalid, contract_for, repair_prompt


def test_no_output_type_and_no_schema_means_free_text() -> None:
    assert contract_for("", "") is None


@pytest.mark.parametrize(
    ("output_type", "reason"),
    [
        ("nosuchmodule:Model", "cannot import 'nosuchmodule:Model'"),
        ("corpus:NoSuchModel", "has no attribute 'NoSuchModel'"),
        ("corpus", "cannot import 'corpus'"),
        ("corpus:outcome", "is not a Pydantic model"),
    ],
)
def test_an_output_type_that_is_not_an_importable_model_is_a_bad_request(output_type: str, reason: str) -> None:
    with pytest.raises(MeshError) as caught:
        contract_for(output_type, "")
    assert caught.value.kind == "bad_request"
    assert caught.value.message.startswith("output_type: ") and reason in caught.value.message


@pytest.mark.parametrize(
    ("schema_json", "reason"),
    [("{", "Expecting property name"), ("[]", "must be a JSON object"), ('{"type": 5}', "is not valid")],
)
def test_an_output_schema_that_is_not_a_json_schema_is_a_bad_request(schema_json: str, reason: str) -> None:
    with pytest.raises(MeshError, match=f"output_schema_json: not a JSON schema: .*{reason}"):
        contract_for("", schema_json)


def test_output_type_and_output_schema_together_are_refused() -> None:
    with pytest.raises(MeshError, match="not both"):
        contract_for("corpus:Ticket", '{"type": "object"}')


def test_a_valid_reply_comes_back_as_the_models_canonical_json() -> None:
    contract = contract_for("corpus:RetryPolicy", "")
    assert contract is not None and contract.name == "RetryPolicy"
    assert json.loads(contract.check('{"retries": 5}')) == {"retries": 5, "backoff_s": 0.5, "verbose": False}


def test_pydantic_errors_name_each_field() -> None:
    contract = contract_for("corpus:OrderLine", "")
    with pytest.raises(ReplyInvalid) as caught:
        contract.check('{"sku": "a", "quantity": 0}')
    assert str(caught.value).splitlines() == [
        "- quantity: Input should be greater than or equal to 1",
        "- unit_price: Field required",
    ]


def test_malformed_json_is_a_reply_error_not_an_exception() -> None:
    with pytest.raises(ReplyInvalid, match="Invalid JSON"):
        contract_for("corpus:Ticket", "").check('{"title": ')


def test_jsonschema_errors_name_the_json_path() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    contract = contract_for("", json.dumps(schema))
    assert contract.check('{"n": 2}') == '{"n": 2}'
    with pytest.raises(ReplyInvalid, match=r"- \$\.n: 0 is less than the minimum of 1"):
        contract.check('{"n": 0}')


def test_the_repair_prompt_is_a_user_message_with_the_errors_and_the_reply() -> None:
    prompt = repair_prompt('{"n": 0}', "- $.n: 0 is less than the minimum of 1")
    assert prompt.role == "user"
    assert '{"n": 0}' in prompt.content and "- $.n: 0 is less than the minimum of 1" in prompt.content
