"""Schema normalization: a Pydantic model's JSON schema rewritten into one provider's structured-output dialect.

Each dialect is a transformer walking the schema, children first; each rewrite is a named step whose docstring
gives its reason. Whatever a step drops from the wire is still enforced: Pydantic validates every reply and a
violation goes to the repair loop (structured.py). The choices per dialect are tabled in docs/structured-output.md.
"""

import json
from typing import Any, ClassVar

from services.common.errors import MeshError

Schema = dict[str, Any]
BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
LENGTHS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "uniqueItems"})
NO_EQUIVALENT = frozenset({"not", "if", "then", "else", "prefixItems", "dependentSchemas", "patternProperties"})


class SchemaUnsupported(MeshError, ValueError):
    """The dialect cannot carry this schema: a bad_request raised before any call, so routing can move on."""

    def __init__(self, reason: str) -> None:
        super().__init__("bad_request", f"output_type: {reason}", field="output_type")


class Dialect:
    """A JSON-schema transformer for one provider: `steps` run on every subschema, children first."""

    name: ClassVar[str]
    steps = ("refuse_no_equivalent", "drop_titles", "oneof_as_anyof", "const_as_enum", "move_unsupported")
    moved: ClassVar[frozenset[str]]  # keywords the dialect rejects: moved into the description
    formats: ClassVar[frozenset[str]]  # string formats the dialect knows; others go into the description
    keeps_refs: ClassVar[bool] = False

    def __init__(self) -> None:
        self.at = "$"
        self.strict = True

    def transform(self, schema: Schema) -> Schema:
        defs, root = schema.get("$defs", {}), {key: value for key, value in schema.items() if key != "$defs"}
        if "$ref" in root:  # a recursive model's root points into $defs; the wire root must be the object itself
            root = defs[root["$ref"].rsplit("/", 1)[-1]]
        wire = self.walk(root if self.keeps_refs else inline_refs(root, defs))
        if self.keeps_refs and defs:
            wire["$defs"] = {name: self.walk(sub, name) for name, sub in defs.items()}
        return wire

    def walk(self, node: Any, at: str = "$") -> Any:
        if not isinstance(node, dict):
            return node
        node = {key: self.walk_children(key, value, at) for key, value in node.items()}
        self.at = at
        for step in self.steps:
            node = getattr(self, step)(node)
        return node

    def walk_children(self, key: str, value: Any, at: str) -> Any:
        if key in ("properties", "$defs"):
            return {name: self.walk(sub, f"{at}.{name}") for name, sub in value.items()}
        if key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            return [self.walk(sub, f"{at}|{i}") for i, sub in enumerate(value)]
        if key in ("items", "additionalProperties", "not"):
            return self.walk(value, f"{at}[]")
        return value

    def refuse_no_equivalent(self, node: Schema) -> Schema:
        """Keywords with no form in the dialect would change the meaning silently: refuse before any call."""
        found = sorted(NO_EQUIVALENT & node.keys()) + (["allOf"] if len(node.get("allOf", [])) > 1 else [])
        if found:
            raise SchemaUnsupported(f"{self.at}: {self.name} cannot express {', '.join(found)}")
        return {**node.pop("allOf", [{}])[0], **node}

    def drop_titles(self, node: Schema) -> Schema:
        """Titles repeat the field and class names: tokens without meaning, and some dialects choke on them."""
        node.pop("title", None)
        return node

    def oneof_as_anyof(self, node: Schema) -> Schema:
        """Dialects take anyOf only; Pydantic still checks the discriminator, so the union stays exact."""
        node.pop("discriminator", None)
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        return node

    def const_as_enum(self, node: Schema) -> Schema:
        """A one-value enum means the same as const and every dialect knows enum."""
        if "const" in node:
            node["enum"] = [node.pop("const")]
        return node

    def move_unsupported(self, node: Schema) -> Schema:
        """What the dialect rejects still guides the model as text; Pydantic enforces it on the reply."""
        moved = {key: node.pop(key) for key in sorted(self.moved & node.keys())}
        if node.get("format") not in (None, *self.formats):
            moved["format"] = node.pop("format")
        if moved:
            notes = ", ".join(f"{key}: {json.dumps(value)}" for key, value in moved.items())
            node["description"] = f"{node.get('description', '')} ({notes})".strip()
        return node

    def close_objects(self, node: Schema) -> Schema:
        """Constrained decoding needs every key declared: objects are closed, a free-form one cannot be carried."""
        if node.get("type") == "object" and node.get("additionalProperties", False) is not False:
            self.free_form(node)
        elif node.get("type") == "object":
            node["additionalProperties"] = False
        return node

    def lone_refs(self, node: Schema) -> Schema:
        """A $ref may not have siblings: a one-branch anyOf keeps the field's description beside it."""
        if "$ref" in node and len(node) > 1:
            return {"anyOf": [{"$ref": node.pop("$ref")}], **node}
        return node

    def free_form(self, node: Schema) -> None:
        raise SchemaUnsupported(f"{self.at}: {self.name} cannot carry a free-form object; declare its fields")


class OpenAIStrict(Dialect):
    """OpenAI json_schema with strict: true; a free-form object switches the request to strict: false."""

    name = "openai"
    steps = (*Dialect.steps, "close_objects", "untyped_is_free_form", "require_all_properties", "lone_refs")
    moved = frozenset({"default", "minLength", "maxLength", "uniqueItems"})
    formats = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
    keeps_refs = True

    def transform(self, schema: Schema) -> Schema:
        wire = super().transform(schema)
        if wire.get("type") != "object":
            raise SchemaUnsupported("$: openai needs an object at the root; wrap the value in a model")
        return wire

    def free_form(self, node: Schema) -> None:
        self.strict = False

    def untyped_is_free_form(self, node: Schema) -> Schema:
        """Strict mode needs a type on every node; an Any field (`{}`) can only go in non-strict mode."""
        if not node.keys() & {"type", "$ref", "anyOf", "enum", "const"}:
            self.free_form(node)
        return node

    def require_all_properties(self, node: Schema) -> Schema:
        """Strict mode wants every property required; Optional fields already admit null, defaults are described."""
        if "properties" in node:
            node["required"] = list(node["properties"])
        return node


class AnthropicNative(Dialect):
    """Anthropic output_config json_schema: closed objects, no recursion, no numeric or length bounds."""

    name = "anthropic"
    steps = (*Dialect.steps, "close_objects")
    moved = BOUNDS | LENGTHS
    formats = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"})


class GeminiJsonSchema(Dialect):
    """Gemini response_json_schema: a JSON Schema subset with refs (so recursion), generated in declaration order."""

    name = "gemini"
    steps = (*Dialect.steps, "order_properties", "lone_refs")
    moved = LENGTHS - {"minItems", "maxItems"} | {"default", "pattern", "exclusiveMinimum", "exclusiveMaximum"}
    moved |= {"multipleOf"}
    formats = frozenset({"date-time", "date", "time"})
    keeps_refs = True

    def order_properties(self, node: Schema) -> Schema:
        """Gemini orders keys alphabetically unless told; declaration order reads better and helps the model."""
        if len(node.get("properties", {})) > 1:
            node["propertyOrdering"] = list(node["properties"])
        return node


class XAIResponseFormat(Dialect):
    """xAI response_format json_schema: anyOf, non-circular refs, closed objects, no length bounds."""

    name = "xai"
    steps = (*Dialect.steps, "close_objects")
    moved = LENGTHS | {"pattern"}
    formats = frozenset({"date-time", "date", "time", "email", "uri", "uuid"})


DIALECTS = {dialect.name: dialect for dialect in (OpenAIStrict, AnthropicNative, GeminiJsonSchema, XAIResponseFormat)}


def inline_refs(node: Any, defs: Schema, seen: tuple[str, ...] = ()) -> Any:
    """The schema with every $ref replaced by its definition; recursion has no finite inline form."""
    if isinstance(node, list):
        return [inline_refs(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise SchemaUnsupported(f"{name} is recursive; only the OpenAI and Gemini dialects carry recursion")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {**inline_refs(defs[name], defs, (*seen, name)), **inline_refs(siblings, defs, seen)}
    return {key: inline_refs(value, defs, seen) for key, value in node.items()}


def dialect_for(provider: str, schema: Schema) -> tuple[Schema, bool]:
    """The wire schema and whether it can go in the provider's strict mode (False only for free-form objects)."""
    if provider not in DIALECTS:
        raise SchemaUnsupported(f"no schema dialect for provider {provider!r}")
    dialect = DIALECTS[provider]()
    return dialect.transform(schema), dialect.strict


def to_wire_schema(provider: str, schema: Schema) -> Schema:
    """The exact schema the provider's adapter sends, or SchemaUnsupported naming the field and the reason."""
    return dialect_for(provider, schema)[0]


def is_strict(provider: str, schema: Schema) -> bool:
    """Whether the adapter may ask for strict decoding (OpenAI strict: false when an object is free-form)."""
    return dialect_for(provider, schema)[1]
