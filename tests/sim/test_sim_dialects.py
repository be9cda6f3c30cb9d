"""Each dialect rule rejects what its provider rejects, and names the rule and the JSON pointer."""

from typing import Any

import pytest

from sim.dialects import DIALECTS, check


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


STRICT_OK = obj({"name": {"type": "string"}, "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]}})


def rules(dialect: str, schema: Any) -> set[tuple[str, str]]:
    return {(v.rule, v.pointer) for v in check(dialect, schema)}


def test_a_closed_all_required_schema_passes_every_json_schema_dialect() -> None:
    for dialect in ("openai_strict", "anthropic_native", "gemini_json_schema", "xai"):
        assert check(dialect, STRICT_OK) == [], dialect


@pytest.mark.parametrize(
    ("schema", "rule", "pointer"),
    [
        ({**STRICT_OK, "additionalProperties": True}, "additional_properties_false", "#"),
        ({**STRICT_OK, "required": ["name"]}, "all_properties_required", "#"),
        (obj({"a": {"allOf": [{"type": "string"}]}}), "openai_supported_keywords", "#/properties/a"),
        (obj({"a": {"type": "string", "default": "x"}}), "no_default", "#/properties/a"),
        (
            obj({"a": {"$ref": "#/$defs/A", "description": "d"}}, **{"$defs": {"A": {"type": "string"}}}),
            "ref_without_siblings",
            "#/properties/a",
        ),
        (obj({"a": {"type": "array"}}), "array_has_items", "#/properties/a"),
        (obj({"a": {"description": "untyped"}}), "has_type", "#/properties/a"),
        ({"type": "array", "items": {"type": "string"}}, "root_is_object", "#"),
        (
            obj({"s": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}),
            "openai_supported_keywords",
            "#/properties/s",
        ),
    ],
)
def test_openai_strict_rules(schema: dict[str, Any], rule: str, pointer: str) -> None:
    assert (rule, pointer) in rules("openai_strict", schema)


def test_openai_strict_limits_on_depth_and_size() -> None:
    deep: dict[str, Any] = obj({"leaf": {"type": "string"}})
    for _ in range(10):
        deep = obj({"next": deep})
    assert ("openai_nesting_depth", "#") in rules("openai_strict", deep)
    wide = obj({f"p{i}": {"type": "string"} for i in range(5001)})
    assert ("openai_size_limits", "#") in rules("openai_strict", wide)
    enums = obj({f"e{i}": {"type": "string", "enum": [f"v{j}" for j in range(101)]} for i in range(10)})
    assert ("openai_size_limits", "#") in rules("openai_strict", enums)


def test_openai_strict_allows_recursion() -> None:
    tree = obj({"children": {"type": "array", "items": {"$ref": "#"}}})
    assert check("openai_strict", tree) == []


@pytest.mark.parametrize(
    ("schema", "rule", "pointer"),
    [
        ({**STRICT_OK, "additionalProperties": True}, "additional_properties_false", "#"),
        (obj({"n": {"type": "integer", "minimum": 1}}), "no_numeric_bounds", "#/properties/n"),
        (obj({"s": {"type": "string", "maxLength": 3}}), "no_length_bounds", "#/properties/s"),
        (
            obj({"l": {"type": "array", "items": {"type": "string"}, "minItems": 2}}),
            "array_bounds_zero_or_one",
            "#/properties/l",
        ),
        (
            obj({"l": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}),
            "array_bounds_zero_or_one",
            "#/properties/l",
        ),
        (obj({"s": {"type": "string", "format": "phone"}}), "anthropic_supported_format", "#/properties/s"),
        (obj({"kids": {"type": "array", "items": {"$ref": "#"}}}), "no_recursion", "#/properties/kids/items"),
        (obj({"a": {"$ref": "https://example.com/a.json"}}), "local_refs", "#/properties/a"),
    ],
)
def test_anthropic_native_rules(schema: dict[str, Any], rule: str, pointer: str) -> None:
    assert (rule, pointer) in rules("anthropic_native", schema)


def test_anthropic_allows_min_items_one_and_non_recursive_refs() -> None:
    schema = obj({"l": {"type": "array", "items": {"$ref": "#/$defs/A"}, "minItems": 1}}, **{"$defs": {"A": STRICT_OK}})
    assert check("anthropic_native", schema) == []


GEMINI_OK = {
    "type": "OBJECT",
    "title": "Lead",
    "properties": {
        "name": {"type": "STRING", "nullable": True, "description": "who"},
        "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1, "maxItems": 3},
        "n": {"type": "INTEGER", "minimum": 0, "maximum": 9},
    },
    "required": ["name"],
    "propertyOrdering": ["name", "kind", "tags", "n"],
}


def test_gemini_response_schema_accepts_the_openapi_subset() -> None:
    assert check("gemini_response_schema", GEMINI_OK) == []


@pytest.mark.parametrize(
    ("schema", "rule", "pointer"),
    [
        ({**GEMINI_OK, "additionalProperties": False}, "gemini_known_fields", "#"),
        ({**GEMINI_OK, "$defs": {}}, "gemini_known_fields", "#"),
        ({"type": "OBJECT", "properties": {"a": {"$ref": "#/$defs/A"}}}, "gemini_known_fields", "#/properties/a"),
        ({"type": "OBJECT", "properties": {"a": {"type": ["STRING", "NULL"]}}}, "gemini_single_type", "#/properties/a"),
        (
            {"type": "OBJECT", "properties": {"a": {"type": "INTEGER", "enum": [1, 2]}}},
            "gemini_enum_strings",
            "#/properties/a",
        ),
        ({"type": "OBJECT", "properties": {"m": {"type": "OBJECT"}}}, "gemini_object_has_properties", "#/properties/m"),
        (
            {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["b"]},
            "required_properties_exist",
            "#",
        ),
    ],
)
def test_gemini_response_schema_rules(schema: dict[str, Any], rule: str, pointer: str) -> None:
    assert (rule, pointer) in rules("gemini_response_schema", schema)


def test_gemini_json_schema_accepts_refs_and_additional_properties() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string"}}}
    assert check("gemini_json_schema", {**schema, "additionalProperties": False}) == []
    assert ("local_refs", "#/properties/a") in rules("gemini_json_schema", {**schema, "$defs": {}})


def test_xai_rules() -> None:
    assert (
        check(
            "xai",
            obj({"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "b": {"oneOf": [{"type": "string"}]}}),
        )
        == []
    )
    assert check("xai", obj({"a": {"allOf": [{"type": "string"}]}})) == []
    assert ("all_of_single_entry", "#/properties/a") in rules(
        "xai", obj({"a": {"allOf": [{"type": "string"}, {"minLength": 1}]}})
    )
    assert ("no_recursion", "#/properties/kids/items") in rules(
        "xai", obj({"kids": {"type": "array", "items": {"$ref": "#"}}})
    )


def test_every_violation_names_rule_and_pointer() -> None:
    violation = check("anthropic_native", obj({"n": {"type": "integer", "maximum": 3}}))[0]
    assert "no_numeric_bounds" in violation.describe() and "#/properties/n" in violation.describe()


def test_dialect_names() -> None:
    assert set(DIALECTS) == {"openai_strict", "anthropic_native", "gemini_response_schema", "gemini_json_schema", "xai"}
