"""The schema normalizer: each dialect transformer's rewrites, and the whole corpus against the simulators'
dialect rules (sim/dialects.py, the rules each simulator enforces with a 400)."""

import copy
import json
from typing import Any

import corpus
import pytest
from corpus import CORPUS, PROVIDERS, outcome
from pydantic import BaseModel, Field

from services.common.errors import MeshError
from services.router.schema import SchemaUnsupported, is_strict, to_wire_schema
from sim.dialects import check
from sim.instances import valid_instance

# The rule set each simulator applies to what the adapters send (gemini: responseJsonSchema).
SIM_DIALECT = {"openai": "openai_strict", "anthropic": "anthropic_native", "gemini": "gemini_json_schema", "xai": "xai"}
CASES = [pytest.param(model, provider, id=f"{model.__name__}-{provider}") for model in CORPUS for provider in PROVIDERS]


def test_the_corpus_has_at_least_25_models() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize(("model", "provider"), CASES)
def test_corpus_wire_schema_passes_the_simulators_dialect_rules_or_is_refused_as_documented(
    model: type[BaseModel], provider: str
) -> None:
    schema = model.model_json_schema()
    expected = outcome(model, provider)
    if expected == "refused":
        with pytest.raises(SchemaUnsupported):
            to_wire_schema(provider, schema)
        return
    wire = to_wire_schema(provider, schema)
    assert is_strict(provider, schema) is (expected != "non_strict")
    if expected != "non_strict":  # the simulators check a strict schema only
        assert [v.describe() for v in check(SIM_DIALECT[provider], wire)] == []


@pytest.mark.parametrize(("model", "provider"), CASES)
def test_an_instance_of_the_wire_schema_validates_against_the_model(model: type[BaseModel], provider: str) -> None:
    """What the simulator answers (an instance of the wire schema) is what the caller's model accepts."""
    if outcome(model, provider) == "refused":
        return
    model.model_validate_json(json.dumps(valid_instance(to_wire_schema(provider, model.model_json_schema()))))


def test_the_callers_schema_is_left_untouched() -> None:
    schema = corpus.Customer.model_json_schema()
    before = copy.deepcopy(schema)
    for provider in PROVIDERS:
        to_wire_schema(provider, schema)
    assert schema == before


def test_an_unknown_provider_has_no_dialect() -> None:
    with pytest.raises(KeyError, match="mistral"):
        to_wire_schema("mistral", corpus.Contact.model_json_schema())


def test_schema_unsupported_is_a_value_error_and_a_typed_bad_request() -> None:
    error = SchemaUnsupported("no way")
    assert isinstance(error, ValueError)
    assert isinstance(error, MeshError) and error.kind == "bad_request"


# ---- OpenAI strict ----------------------------------------------------------------------------------------


def openai(model: type[BaseModel]) -> dict[str, Any]:
    return to_wire_schema("openai", model.model_json_schema())


def test_openai_requires_every_property_and_keeps_optional_ones_nullable() -> None:
    wire = openai(corpus.Profile)
    assert wire["required"] == ["handle", "nickname", "age", "bio"]
    assert {"type": "null"} in wire["properties"]["nickname"]["anyOf"]
    assert wire["additionalProperties"] is False


def test_openai_moves_a_default_into_the_description() -> None:
    retries = openai(corpus.RetryPolicy)["properties"]["retries"]
    assert "default" not in retries
    assert retries["description"] == "(default: 3)"


def test_openai_wraps_a_described_ref_so_the_ref_stands_alone() -> None:
    address = openai(corpus.Customer)["properties"]["address"]
    assert address == {"anyOf": [{"$ref": "#/$defs/Address"}], "description": "where the customer is billed"}


def test_openai_turns_a_discriminated_union_into_anyof() -> None:
    pet = openai(corpus.Adoption)["properties"]["pet"]
    assert pet == {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}], "title": "Pet"}


def test_openai_keeps_recursion_as_refs() -> None:
    wire = openai(corpus.TreeNode)
    assert wire["properties"]["children"]["items"] == {"$ref": "#/$defs/TreeNode"}
    assert "TreeNode" in wire["$defs"]


def test_openai_carries_a_free_form_object_without_strict_decoding() -> None:
    schema = corpus.Event.model_json_schema()
    assert to_wire_schema("openai", schema)["properties"]["payload"]["additionalProperties"] is True
    assert is_strict("openai", schema) is False
    assert is_strict("openai", corpus.Order.model_json_schema()) is True


def test_openai_refuses_a_root_that_is_not_an_object() -> None:
    with pytest.raises(SchemaUnsupported, match="object at the root"):
        to_wire_schema("openai", {"type": "array", "items": {"type": "string"}})


def test_openai_keeps_numeric_bounds_and_describes_unique_items() -> None:
    rating = openai(corpus.Rating)["properties"]["stars"]
    assert (rating["minimum"], rating["maximum"]) == (1, 5)
    assert openai(corpus.Palette)["properties"]["colors"]["description"] == "(uniqueItems: true)"


def test_a_tuple_is_refused_naming_the_field() -> None:
    with pytest.raises(SchemaUnsupported, match=r"\$\.xy: openai cannot express prefixItems"):
        openai(corpus.Point)


# ---- Anthropic native -------------------------------------------------------------------------------------


def test_anthropic_moves_numeric_bounds_into_the_description() -> None:
    stars = to_wire_schema("anthropic", corpus.Rating.model_json_schema())["properties"]["stars"]
    assert stars == {"type": "integer", "title": "Stars", "description": "one to five stars (maximum: 5, minimum: 1)"}


def test_anthropic_keeps_refs_and_closes_every_object() -> None:
    wire = to_wire_schema("anthropic", corpus.Order.model_json_schema())
    assert wire["properties"]["lines"]["items"] == {"$ref": "#/$defs/OrderLine"}
    line = wire["$defs"]["OrderLine"]
    assert line["additionalProperties"] is False and set(line["properties"]) == {"sku", "quantity", "unit_price"}


def test_anthropic_refuses_recursion_naming_the_model() -> None:
    with pytest.raises(SchemaUnsupported, match="TreeNode is recursive, which the anthropic dialect cannot carry"):
        to_wire_schema("anthropic", corpus.TreeNode.model_json_schema())


def test_anthropic_refuses_a_free_form_object_naming_the_field() -> None:
    with pytest.raises(SchemaUnsupported, match=r"\$\.payload: anthropic cannot carry a free-form object"):
        to_wire_schema("anthropic", corpus.Event.model_json_schema())


def test_a_format_the_dialect_does_not_know_moves_into_the_description() -> None:
    class Page(BaseModel):
        blob: bytes

    blob = to_wire_schema("anthropic", Page.model_json_schema())["properties"]["blob"]
    assert "format" not in blob and '(format: "binary")' in blob["description"]


# ---- Gemini response_json_schema --------------------------------------------------------------------------


def test_gemini_moves_defaults_into_the_description() -> None:
    retries = to_wire_schema("gemini", corpus.RetryPolicy.model_json_schema())["properties"]["retries"]
    assert retries == {"type": "integer", "title": "Retries", "description": "(default: 3)"}


def test_gemini_keeps_inclusive_bounds_and_moves_exclusive_ones() -> None:
    class Share(BaseModel):
        ratio: float = Field(gt=0, le=1)

    ratio = to_wire_schema("gemini", Share.model_json_schema())["properties"]["ratio"]
    assert ratio["maximum"] == 1 and "exclusiveMinimum" not in ratio
    assert ratio["description"] == "(exclusiveMinimum: 0)"


def test_gemini_carries_recursion_and_free_form_objects() -> None:
    assert "$defs" in to_wire_schema("gemini", corpus.TreeNode.model_json_schema())
    assert to_wire_schema("gemini", corpus.Inventory.model_json_schema())["properties"]["counts"] == {
        "additionalProperties": {"type": "integer"},
        "title": "Counts",
        "type": "object",
    }


# ---- xAI --------------------------------------------------------------------------------------------------


def test_xai_moves_length_bounds_and_patterns_into_the_description() -> None:
    code = to_wire_schema("xai", corpus.Sku.model_json_schema())["properties"]["code"]
    assert code["description"] == '(maxLength: 20, minLength: 1, pattern: "^[a-z]+$")'
    assert not code.keys() & {"maxLength", "minLength", "pattern"}


def test_xai_refuses_recursion() -> None:
    with pytest.raises(SchemaUnsupported, match="Chain is recursive"):
        to_wire_schema("xai", corpus.Chain.model_json_schema())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_allof_is_refused_naming_the_field(provider: str) -> None:
    schema = {"type": "object", "properties": {"a": {"allOf": [{"type": "string"}, {"minLength": 1}]}}}
    with pytest.raises(SchemaUnsupported, match=rf"\$\.a: {provider} cannot express allOf"):
        to_wire_schema(provider, schema)
