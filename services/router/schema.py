"""Schema normalization: a Pydantic model's JSON schema rewritten into one provider's structured-output dialect.

Each dialect is a transformer walking the schema, children first; each rewrite is a named step whose docstring
gives its reason. Whatever a step drops from the wire is still enforced: Pydantic validates every reply and a
violation goes to the repair loop (structured.py). The choices per dialect are tabled in docs/structured-output.md.
"""

import json
import re
from typing import Any, ClassVar

from services.common.errors import MeshError

Schema = dict[str, Any]
BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
LENGTHS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "uniqueItems"})
NO_EQUIVALENT = frozenset("allOf not if then else prefixItems dependentSchemas patternProperties".split())
REF = re.compile(r'"\$ref": "#/\$defs/([^"]+)"')


class SchemaUnsupported(MeshError, ValueError):
    """The dialect cannot carry this schema: a bad_request raised before any call, so routing can move on."""

    def __init__(self, reason: str) -> None:
        super().__init__("bad_request", f"output_type: {reason}", field="output_type")


class Dialect:
    """A JSON-schema transformer for one provider: `steps` run on every subschema, children first."""

    steps = ("refuse_no_equivalent", "oneof_as_anyof", "const_as_enum", "move_unsupported", "lone_refs")
    name, moved = "", frozenset[str]()  # moved: the keywords the dialect rejects, moved into the description
    formats: ClassVar[frozenset[str] | None] = None  # string formats it knows (None: all); others are moved
    recursion: ClassVar[bool] = True
    at, strict = "$", True  # where the walk is (for errors); whether strict decoding can carry the result

    def transform(self, schema: Schema) -> Schema:
        defs, root = schema.get("$defs", {}), {key: value for key, value in schema.items() if key != "$defs"}
        if "$ref" in root:  # a recursive model's root points into $defs; the wire root must be the object itself
            root = defs[root["$ref"].rsplit("/", 1)[-1]]
        if not self.recursion and (name := recursive_definition(defs)):
            raise SchemaUnsupported(f"{name} is recursive, which the {self.name} dialect cannot carry")
        wire = self.walk(root)
        return wire | ({"$defs": {name: self.walk(sub, name) for name, sub in defs.items()}} if defs else {})

    def walk(self, node: Any, at: str = "$") -> Any:
        if not isinstance(node, dict):
            return node
        node = {key: self.walk_children(key, value, at) for key, value in node.items()}
        self.at = at
        for step in self.steps:
            node = getattr(self, step)(node)
        return node

    def walk_children(self, key: str, value: Any, at: str) -> Any:
        if key == "properties":
            return {name: self.walk(sub, f"{at}.{name}") for name, sub in value.items()}
        if key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            return [self.walk(sub, f"{at}|{i}") for i, sub in enumerate(value)]
        if key in ("items", "additionalProperties", "not"):
            return self.walk(value, f"{at}[]")
        return value

    def refuse_no_equivalent(self, node: Schema) -> Schema:
        """Keywords with no form in the dialect would change the meaning silently: refuse before any call."""
        if found := sorted(NO_EQUIVALENT & node.keys()):
            raise SchemaUnsupported(f"{self.at}: {self.name} cannot express {', '.join(found)}")
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
        if self.formats is not None and node.get("format") not in (None, *self.formats):
            moved["format"] = node.pop("format")
        if moved:
            notes = ", ".join(f"{key}: {json.dumps(value)}" for key, value in moved.items())
            node["description"] = f"{node.get('description', '')} ({notes})".strip()
        return node

    def lone_refs(self, node: Schema) -> Schema:
        """A $ref may not have siblings: a one-branch anyOf keeps the field's description beside it."""
        if "$ref" in node and len(node) > 1:
            return {"anyOf": [{"$ref": node.pop("$ref")}], **node}
        return node

    def close_objects(self, node: Schema) -> Schema:
        """Constrained decoding needs every key declared: objects are closed, a free-form one cannot be carried."""
        if node.get("type") == "object" and node.setdefault("additionalProperties", False) is not False:
            self.free_form(node)
        return node

    def free_form(self, node: Schema) -> None:
        raise SchemaUnsupported(f"{self.at}: {self.name} cannot carry a free-form object; declare its fields")


class OpenAIStrict(Dialect):
    """OpenAI json_schema with strict: true; a free-form object switches the request to strict: false."""

    name = "openai"
    steps = (*Dialect.steps, "close_objects", "untyped_is_free_form", "require_all_properties", "object_root")
    moved = frozenset({"default", "minLength", "maxLength", "uniqueItems"})
    formats = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})

    def object_root(self, node: Schema) -> Schema:
        """OpenAI wants an object at the root; a list or a scalar must be wrapped in a model by the caller."""
        if self.at == "$" and node.get("type") != "object":
            raise SchemaUnsupported("$: openai needs an object at the root; wrap the value in a model")
        return node

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

    name, recursion = "anthropic", False
    steps = (*Dialect.steps, "close_objects")
    moved = BOUNDS | LENGTHS
    formats = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"})


class GeminiJsonSchema(Dialect):
    """Gemini response_json_schema: JSON Schema with refs and recursion, inclusive bounds, no defaults."""

    name = "gemini"
    moved = frozenset({"default", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern", "minLength"})
    moved |= {"maxLength", "uniqueItems"}


class XAIResponseFormat(Dialect):
    """xAI response_format json_schema: anyOf, non-circular refs, closed objects, no length bounds."""

    name, recursion = "xai", False
    steps = (*Dialect.steps, "close_objects")
    moved = LENGTHS | {"pattern"}


DIALECTS = {dialect.name: dialect for dialect in (OpenAIStrict, AnthropicNative, GeminiJsonSchema, XAIResponseFormat)}


def recursive_definition(defs: Schema) -> str | None:
    """A definition that refers back to itself, directly or through others; None when there is none."""
    refers = {name: set(REF.findall(json.dumps(sub))) for name, sub in defs.items()}
    for _ in defs:  # one more hop of indirection per round: after len(defs) rounds, every path is in
        refers = {name: targets.union(*(refers.get(t, ()) for t in targets)) for name, targets in refers.items()}
    return next((name for name, targets in refers.items() if name in targets), None)


def to_wire_schema(provider: str, schema: Schema) -> Schema:
    """The exact schema the provider's adapter sends, or SchemaUnsupported naming the field and the reason."""
    return DIALECTS[provider]().transform(schema)


def is_strict(provider: str, schema: Schema) -> bool:
    """Whether the adapter may ask for strict decoding (OpenAI strict: false when an object is free-form)."""
    dialect = DIALECTS[provider]()
    dialect.transform(schema)
    return dialect.strict
