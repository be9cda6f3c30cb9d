"""Deterministic JSON instances generated from a wire schema: a valid one, and one that breaks the schema.

Handles JSON Schema (draft 2020-12 and the OpenAPI 3.0 subset Gemini uses: upper-case types, `nullable`):
`$ref`/`$defs`, `anyOf`/`oneOf`/`allOf`, `enum`/`const`, formats, patterns, numeric and length bounds,
`prefixItems`, `additionalProperties`, `propertyOrdering`. Recursion ends by preferring null branches,
empty arrays and omitted optional properties once the instance is deep enough.
"""

import json
import math
import re
from decimal import Decimal
from typing import Any

from sim.patterns import string_matching

Schema = dict[str, Any]
DEEP = 3  # from this depth on, take the shortest way out (null, empty array, required properties only)
LIMIT = 64  # a schema that needs more nesting than this cannot be satisfied by a finite instance

FORMATS = {
    "date": "2024-01-15",
    "date-time": "2024-01-15T09:30:00Z",
    "time": "09:30:00",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/resource",
    "iri": "https://example.com/resource",
    "uri-reference": "https://example.com/resource",
    "url": "https://example.com/resource",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "byte": "c2lt",
    "binary": "sim",
    "password": "secret",
}


HINT_KEYS = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "format", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
}  # fmt: skip
HINT_OPENING = re.compile(r"(?:^|\s)[({](?=\w+: )")


def description_hints(description: str) -> dict[str, Any]:
    """Constraints a dialect cannot carry, written at the end of the description as `{minimum: 1, maxLength: 5}`
    (the form of the official Anthropic SDK's transform_schema) or `(minimum: 1, format: "uuid")`. A real model
    reads and mostly follows them, so the simulated one does too."""
    text = description.rstrip()
    if not text.endswith(("}", ")")):
        return {}
    for opening in reversed(list(HINT_OPENING.finditer(text))):
        hints: dict[str, Any] = {}
        for item in re.split(r", (?=\w+: )", text[opening.end() : -1]):
            key, _, raw = item.partition(": ")
            if key in HINT_KEYS:
                hints[key] = _hint_value(raw.strip())
        if hints:
            return hints
    return {}


def _hint_value(raw: str) -> Any:
    if raw in ("True", "False"):
        return raw == "True"
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class UnsatisfiableSchema(ValueError):
    """The schema admits no finite instance (for example a required property that refers to itself)."""


def resolve(root: Schema, ref: str) -> Schema:
    """Follow a local JSON pointer (`#`, `#/$defs/X`, `#/definitions/X`)."""
    if not ref.startswith("#"):
        raise UnsatisfiableSchema(f"external $ref {ref!r} is not supported")
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def types_of(schema: Schema) -> list[str]:
    """The JSON types a node names (lower-case; `nullable` adds null)."""
    raw = schema.get("type")
    names = [raw] if isinstance(raw, str) else list(raw or [])
    names = [name.lower() for name in names]
    if schema.get("nullable") is True and "null" not in names:
        names.append("null")
    return names


def merge_all_of(root: Schema, schema: Schema) -> Schema:
    """One node equivalent to an `allOf` of object schemas (properties and required merged)."""
    merged: Schema = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = resolve(root, part["$ref"]) if "$ref" in part else part
        if "allOf" in part:
            part = merge_all_of(root, part)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted(set(merged.get("required", [])) | set(value))
            else:
                merged.setdefault(key, value)
    return merged


class InstanceBuilder:
    """Builds the valid instance of one root schema."""

    def __init__(self, root: Schema) -> None:
        self.root = root

    def build(self, schema: Any, depth: int = 0, key: str = "value", variant: int = 0) -> Any:
        if depth > LIMIT:
            raise UnsatisfiableSchema("the schema nests without end")
        if schema is True or schema == {}:
            return f"{key}-{variant}" if variant else key
        if not isinstance(schema, dict):
            raise UnsatisfiableSchema(f"not a schema: {schema!r}")
        if isinstance(schema.get("description"), str):
            schema = {**description_hints(schema["description"]), **schema}
        if "$ref" in schema:
            return self.build(resolve(self.root, schema["$ref"]), depth + 1, key, variant)
        if "allOf" in schema:
            return self.build(merge_all_of(self.root, schema), depth, key, variant)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            values = schema["enum"]
            return values[variant % len(values)]
        for union in ("anyOf", "oneOf"):
            if union in schema:
                rest = {k: v for k, v in schema.items() if k != union}
                branch = self._choose(schema[union], depth)
                return self.build(
                    {**rest, **branch} if rest.keys() - {"description", "title"} else branch, depth, key, variant
                )
        kinds = types_of(schema) or [self._infer(schema)]
        if "null" in kinds and (depth >= DEEP or kinds == ["null"]):
            return None
        kind = next(k for k in kinds if k != "null")
        return getattr(self, f"_{kind}")(schema, depth, key, variant)

    def _choose(self, branches: list[Any], depth: int) -> Schema:
        if depth >= DEEP:
            for branch in branches:
                if isinstance(branch, dict) and types_of(branch) == ["null"]:
                    return branch
            for branch in branches:
                if isinstance(branch, dict) and "$ref" not in branch and "object" not in types_of(branch):
                    return branch
        for branch in branches:
            if not (isinstance(branch, dict) and types_of(branch) == ["null"]):
                return branch
        return branches[0]

    @staticmethod
    def _infer(schema: Schema) -> str:
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def _object(self, schema: Schema, depth: int, key: str, variant: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        order = [name for name in schema.get("propertyOrdering") or [] if name in properties]
        order += [name for name in properties if name not in order]
        out = {
            name: self.build(properties[name], depth + 1, name)
            for name in order
            if name in required or depth < DEEP - 1
        }
        extra = schema.get("additionalProperties")
        if extra is not False:  # free-form maps get one entry, so their value schema is exercised too
            wanted = max(int(schema.get("minProperties") or 0), 1 if not properties and depth < DEEP else 0)
            value_schema = extra if isinstance(extra, dict) else {}
            for index in range(wanted - len(out)):
                out[f"key{index}"] = self.build(value_schema, depth + 1, f"key{index}", index)
        return out

    def _array(self, schema: Schema, depth: int, key: str, variant: int) -> list[Any]:
        prefix = schema.get("prefixItems") or (schema["items"] if isinstance(schema.get("items"), list) else [])
        items = schema.get("items") if isinstance(schema.get("items"), dict | bool) else {}
        count = max(int(schema.get("minItems") or 0), len(prefix), 1 if depth < DEEP else 0)
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        return [self.build(prefix[i] if i < len(prefix) else items, depth + 1, key, i) for i in range(count)]

    def _string(self, schema: Schema, depth: int, key: str, variant: int) -> str:
        text = FORMATS.get(str(schema.get("format", "")).lower())
        if text is None and schema.get("pattern"):
            text = string_matching(schema["pattern"])
        if text is None:
            text = f"{key}-{variant}" if variant else key
        low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if high is not None and len(text) > int(high):
            text = text[: int(high)]
        return text

    def _integer(self, schema: Schema, depth: int, key: str, variant: int) -> int:
        return int(self._number(schema, depth, key, variant, integer=True))

    def _number(self, schema: Schema, depth: int, key: str, variant: int, integer: bool = False) -> float | int:
        step = 1 if integer else 0.5
        low, high = schema.get("minimum"), schema.get("maximum")
        ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if ex_low is True:  # OpenAPI 3.0 / draft 4 boolean form
            ex_low, low = low, None
        if ex_high is True:
            ex_high, high = high, None
        lower = max(
            [v for v in (low,) if isinstance(v, int | float)]
            + [v + step for v in (ex_low,) if isinstance(v, int | float) and not isinstance(v, bool)]
            or [-math.inf]
        )
        upper = min(
            [v for v in (high,) if isinstance(v, int | float)]
            + [v - step for v in (ex_high,) if isinstance(v, int | float) and not isinstance(v, bool)]
            or [math.inf]
        )
        value: float = 1 + variant
        value = min(max(value, lower), upper)
        if not integer and isinstance(ex_low, int | float) and isinstance(ex_high, int | float) and upper < lower:
            value = (ex_low + ex_high) / 2
        multiple = schema.get("multipleOf")
        if multiple:
            steps = math.ceil(value / multiple)
            steps -= 1 if steps * multiple > upper else 0
            decimals = max(0, -int(Decimal(str(multiple)).as_tuple().exponent))
            value = round(steps * multiple, decimals)  # 4 * 0.3 is 1.2, not 1.2000000000000002
        if integer:
            return math.ceil(value) if value != int(value) else int(value)
        return int(value) if float(value).is_integer() else value

    def _boolean(self, schema: Schema, depth: int, key: str, variant: int) -> bool:
        return variant % 2 == 0

    def _null(self, schema: Schema, depth: int, key: str, variant: int) -> None:
        return None


def valid_instance(schema: Schema) -> Any:
    """The deterministic instance of `schema` the simulators answer with."""
    return InstanceBuilder(schema).build(schema)


_WRONG_VALUES: list[tuple[str, Any]] = [
    ("object", {"unexpected": True}),
    ("string", "not a valid value"),
    ("array", ["not", "valid"]),
    ("boolean", True),
    ("number", 0.5),
]


def _wrong_value(root: Schema, schema: Any) -> tuple[bool, Any]:
    """A value whose JSON type the node does not allow, if the node restricts types at all."""
    if not isinstance(schema, dict):
        return False, None
    if "$ref" in schema:
        return _wrong_value(root, resolve(root, schema["$ref"]))
    allowed: set[str] = set(types_of(schema))
    for union in ("anyOf", "oneOf"):
        for branch in schema.get(union, []):
            branch = resolve(root, branch["$ref"]) if isinstance(branch, dict) and "$ref" in branch else branch
            allowed |= set(types_of(branch)) if isinstance(branch, dict) and types_of(branch) else {"any"}
    if "enum" in schema or "const" in schema:
        return True, "not-one-of-the-allowed-values-" * 2
    if not allowed or "any" in allowed:
        return False, None
    if "integer" in allowed:
        allowed.add("number")
    for kind, value in _WRONG_VALUES:
        if kind not in allowed:
            return True, value
    return False, None


def invalid_instance(schema: Schema) -> Any:
    """Well-formed JSON that breaks `schema`: a required property missing, a wrong-typed one, or a wrong root."""
    instance = valid_instance(schema)
    node = schema
    while isinstance(node, dict) and ("$ref" in node or "allOf" in node):
        node = resolve(schema, node["$ref"]) if "$ref" in node else merge_all_of(schema, node)
    if isinstance(instance, dict):
        required = [name for name in node.get("required") or [] if name in instance]
        if required:
            del instance[required[0]]
            return instance
        for name, prop in (node.get("properties") or {}).items():
            found, wrong = _wrong_value(schema, prop)
            if found:
                instance[name] = wrong
                return instance
        if node.get("additionalProperties") is False:
            instance["unexpected_property"] = True
            return instance
    found, wrong = _wrong_value(schema, node)
    return wrong if found else {"unexpected": [instance]}
