"""The schema dialect rules each simulator enforces, one small function per rule.

A rule looks at one schema node (`Node`: the sub-schema, its JSON pointer, the root) and yields a message for
every way the node breaks it; a document rule looks at the whole schema once. A dialect is a named list of
both. The simulators reject a wire schema with the first violation, naming the rule and the JSON pointer,
in the vendor's 400 error shape. The schema normalizer (services/router/schema.py) must produce schemas that
pass these checks; `check(dialect, schema)` is the single entry point.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


@dataclass(frozen=True)
class Node:
    schema: Schema
    pointer: str
    root: Schema


@dataclass(frozen=True)
class Violation:
    rule: str
    pointer: str
    message: str

    def describe(self) -> str:
        return f"{self.message} (rule {self.rule}, at {self.pointer or '#'})"


NodeRule = Callable[[Node], Iterator[str]]
DocumentRule = Callable[[Schema], Iterator[tuple[str, str]]]  # yields (pointer, message)

_CHILD_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_CHILD_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_CHILD_ONE = ("additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def walk(schema: Any, pointer: str = "#", root: Schema | None = None) -> Iterator[Node]:
    """Every sub-schema of `schema` (the schema itself first), with its JSON pointer."""
    if not isinstance(schema, dict):
        return
    root = schema if root is None else root
    yield Node(schema, pointer, root)
    for key in _CHILD_MAPS:
        if isinstance(schema.get(key), dict):
            for name, child in schema[key].items():
                yield from walk(child, f"{pointer}/{key}/{_escape(name)}", root)
    for key in _CHILD_LISTS:
        for index, child in enumerate(schema.get(key) or []):
            yield from walk(child, f"{pointer}/{key}/{index}", root)
    items = schema.get("items")
    if isinstance(items, list):
        for index, child in enumerate(items):
            yield from walk(child, f"{pointer}/items/{index}", root)
    else:
        yield from walk(items, f"{pointer}/items", root)
    for key in _CHILD_ONE:
        yield from walk(schema.get(key), f"{pointer}/{key}", root)


def _type_names(schema: Schema) -> list[str]:
    raw = schema.get("type")
    return [t.lower() for t in ([raw] if isinstance(raw, str) else raw or []) if isinstance(t, str)]


def _is_object(schema: Schema) -> bool:
    return "object" in _type_names(schema) or ("properties" in schema and "type" not in schema)


def _resolve(root: Schema, ref: str) -> Any:
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node


# ---- node rules -------------------------------------------------------------------------------------------


def additional_properties_false(node: Node) -> Iterator[str]:
    """OpenAI strict, Anthropic: every object must close itself with `additionalProperties: false`."""
    if _is_object(node.schema) and node.schema.get("additionalProperties") is not False:
        yield "'additionalProperties' is required to be supplied and to be false"


def all_properties_required(node: Node) -> Iterator[str]:
    """OpenAI strict: every property is listed in `required` (optional fields become unions with null)."""
    missing = [name for name in node.schema.get("properties") or {} if name not in (node.schema.get("required") or [])]
    if missing:
        yield (
            "'required' is required to be supplied and to be an array including every key in properties."
            f" Missing {missing[0]!r}"
        )


OPENAI_UNSUPPORTED = (
    "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "patternProperties",
    "unevaluatedProperties", "propertyNames", "minProperties", "maxProperties", "unevaluatedItems", "contains",
    "minContains", "maxContains", "uniqueItems",
)  # fmt: skip


def openai_supported_keywords(node: Node) -> Iterator[str]:
    """OpenAI strict: composition (`allOf`, `not`, `if`/`then`/`else`) and some object/array keywords are refused."""
    for key in OPENAI_UNSUPPORTED:
        if key in node.schema:
            yield f"'{key}' is not permitted"


def no_default(node: Node) -> Iterator[str]:
    """OpenAI strict: `default` is not permitted."""
    if "default" in node.schema:
        yield "'default' is not permitted"


def ref_without_siblings(node: Node) -> Iterator[str]:
    """OpenAI strict: a `$ref` node carries no other keywords (not even a description)."""
    if "$ref" in node.schema and len(node.schema) > 1:
        yield f"$ref cannot have keywords {sorted(k for k in node.schema if k != '$ref')}"


def array_has_items(node: Node) -> Iterator[str]:
    """OpenAI strict: every array says what its items are."""
    if "array" in _type_names(node.schema) and "items" not in node.schema:
        yield "array schema missing items"


def has_type(node: Node) -> Iterator[str]:
    """OpenAI strict: every node names a type (or is a `$ref`, `anyOf`, `enum` or `const`)."""
    if not node.schema.keys() & {"type", "$ref", "anyOf", "enum", "const"}:
        yield "schema must have a 'type' key"


def no_numeric_bounds(node: Node) -> Iterator[str]:
    """Anthropic native: numeric bounds are not supported (move them into the description)."""
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        if key in node.schema:
            yield f"For '{'/'.join(_type_names(node.schema)) or 'number'}' type, property '{key}' is not supported"


def no_length_bounds(node: Node) -> Iterator[str]:
    """Anthropic native: string length bounds are not supported."""
    for key in ("minLength", "maxLength"):
        if key in node.schema:
            yield f"For 'string' type, property '{key}' is not supported"


def array_bounds_zero_or_one(node: Node) -> Iterator[str]:
    """Anthropic native: arrays allow only `minItems` 0 or 1, no `maxItems` and no `uniqueItems`."""
    if node.schema.get("minItems", 0) not in (0, 1):
        yield "For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    for key in ("maxItems", "uniqueItems"):
        if key in node.schema:
            yield f"For 'array' type, property '{key}' is not supported"


def anthropic_supported_keywords(node: Node) -> Iterator[str]:
    """Anthropic native: conditional and object-size keywords are not supported."""
    for key in ("not", "if", "then", "else", "minProperties", "maxProperties", "patternProperties", "dependentSchemas"):
        if key in node.schema:
            yield f"property '{key}' is not supported"


ANTHROPIC_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}


def anthropic_supported_format(node: Node) -> Iterator[str]:
    """Anthropic native: only the documented string formats."""
    fmt = node.schema.get("format")
    if fmt is not None and fmt not in ANTHROPIC_FORMATS:
        yield f"string format {fmt!r} is not supported (supported: {', '.join(sorted(ANTHROPIC_FORMATS))})"


GEMINI_FIELDS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
}  # fmt: skip
GEMINI_TYPES = {"type_unspecified", "string", "number", "integer", "boolean", "array", "object", "null"}


def gemini_known_fields(node: Node) -> Iterator[str]:
    """Gemini responseSchema: only the fields of its OpenAPI-subset Schema message (no $ref, $defs,
    additionalProperties, oneOf, allOf, const, exclusive bounds ...)."""
    for key in node.schema:
        if key not in GEMINI_FIELDS:
            yield f'Invalid JSON payload received. Unknown name "{key}": Cannot find field'


def gemini_single_type(node: Node) -> Iterator[str]:
    """Gemini responseSchema: `type` is one enum name (STRING, OBJECT, ...), never a list."""
    raw = node.schema.get("type")
    if raw is not None and (not isinstance(raw, str) or raw.lower() not in GEMINI_TYPES):
        yield f"Invalid value at 'type' ({raw!r}): must be one of {', '.join(sorted(t.upper() for t in GEMINI_TYPES))}"


def gemini_enum_strings(node: Node) -> Iterator[str]:
    """Gemini responseSchema: `enum` holds strings and is only allowed for STRING type."""
    if "enum" in node.schema:
        if _type_names(node.schema) not in ([], ["string"]) or not all(isinstance(v, str) for v in node.schema["enum"]):
            yield "enum: only allowed for STRING type"


def gemini_object_has_properties(node: Node) -> Iterator[str]:
    """Gemini responseSchema: an OBJECT names its properties (free-form maps cannot be expressed)."""
    if "object" in _type_names(node.schema) and not node.schema.get("properties"):
        yield "properties: should be non-empty for OBJECT type"


def required_properties_exist(node: Node) -> Iterator[str]:
    """Gemini responseSchema: every `required` name is a declared property."""
    properties = node.schema.get("properties") or {}
    for name in node.schema.get("required") or []:
        if name not in properties:
            yield f"required: property {name!r} is not defined"


def all_of_single_entry(node: Node) -> Iterator[str]:
    """xAI: `allOf` is accepted only with a single entry."""
    if len(node.schema.get("allOf") or []) > 1:
        yield "allOf with more than one entry is not supported"


def local_refs(node: Node) -> Iterator[str]:
    """Everyone: `$ref` points inside the document and resolves."""
    ref = node.schema.get("$ref")
    if ref is None:
        return
    if not isinstance(ref, str) or not ref.startswith("#"):
        yield f"external $ref {ref!r} is not supported"
    elif _resolve(node.root, ref) is None:
        yield f"$ref {ref!r} does not resolve"


# ---- document rules ---------------------------------------------------------------------------------------


def root_is_object(schema: Schema) -> Iterator[tuple[str, str]]:
    """OpenAI strict: the root is an object (not an array, scalar or anyOf)."""
    if "object" not in _type_names(schema) or "anyOf" in schema:
        got = schema.get("type", "anyOf" if "anyOf" in schema else None)
        yield "#", f"schema must be a JSON Schema of 'type: \"object\"', got 'type: {got!r}'"


def _object_depth(schema: Any, root: Schema, seen: frozenset[str], memo: dict[str, int]) -> int:
    """Deepest object nesting, following `$ref` (a recursive reference counts once; each target is measured once)."""
    if not isinstance(schema, dict):
        return 0
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return 0
        if ref not in memo:
            memo[ref] = _object_depth(_resolve(root, ref), root, seen | {ref}, memo)
        return memo[ref]
    own = 1 if _is_object(schema) else 0
    children = [*(schema.get("properties") or {}).values(), *(schema.get("anyOf") or []), *(schema.get("oneOf") or [])]
    children += [schema["items"]] if isinstance(schema.get("items"), dict) else []
    children += [schema["additionalProperties"]] if isinstance(schema.get("additionalProperties"), dict) else []
    return own + max((_object_depth(child, root, seen, memo) for child in children), default=0)


def openai_nesting_depth(schema: Schema) -> Iterator[tuple[str, str]]:
    """OpenAI strict: at most 10 levels of object nesting."""
    depth = _object_depth(schema, schema, frozenset({"#"}), {})
    if depth > 10:
        yield "#", f"schema nesting depth {depth} exceeds the limit of 10"


def openai_size_limits(schema: Schema) -> Iterator[tuple[str, str]]:
    """OpenAI strict: <= 5000 properties, <= 1000 enum values, <= 120000 characters of names and values,
    and an enum of more than 250 strings totals <= 15000 characters."""
    nodes = list(walk(schema))
    properties = sum(len(node.schema.get("properties") or {}) for node in nodes)
    if properties > 5000:
        yield "#", f"schema has {properties} object properties in total, the limit is 5000"
    enums = [(node.pointer, node.schema["enum"]) for node in nodes if isinstance(node.schema.get("enum"), list)]
    if sum(len(values) for _, values in enums) > 1000:
        yield "#", f"schema has {sum(len(v) for _, v in enums)} enum values in total, the limit is 1000"
    for pointer, values in enums:
        length = sum(len(str(v)) for v in values)
        if len(values) > 250 and length > 15000:
            yield pointer, f"enum with {len(values)} values has total string length {length}, the limit is 15000"
    names = sum(len(name) for node in nodes for name in node.schema.get("properties") or {})
    names += sum(len(name) for key in ("$defs", "definitions") for name in schema.get(key) or {})
    names += sum(len(str(v)) for _, values in enums for v in values)
    names += sum(len(str(node.schema["const"])) for node in nodes if "const" in node.schema)
    if names > 120000:
        yield "#", f"total string length of names, enum and const values is {names}, the limit is 120000"


def _refs_inside(schema: Any, pointer: str, root: Schema) -> list[tuple[str, str]]:
    """(target, pointer of the `$ref` node) for the local references in a schema, not counting its `$defs`."""
    found = []
    for node in walk(schema, pointer, root):
        below = node.pointer[len(pointer) :]
        ref = node.schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#") and "/$defs/" not in below and "/definitions/" not in below:
            found.append((ref, node.pointer))
    return found


def no_recursion(schema: Schema) -> Iterator[tuple[str, str]]:
    """Anthropic native, xAI: no schema may refer to itself through `$ref` (a depth-first search over targets)."""
    state: dict[str, str] = {}

    def visit(ref: str) -> tuple[str, str] | None:
        state[ref] = "active"
        for target, pointer in _refs_inside(_resolve(schema, ref), ref, schema):
            if state.get(target) == "active":
                return pointer, target
            if target not in state and (found := visit(target)):
                return found
        state[ref] = "done"
        return None

    cycle = visit("#")
    if cycle:
        yield cycle[0], f"recursive schemas are not supported ($ref {cycle[1]!r} refers back to an enclosing schema)"


# ---- dialects -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    name: str
    node_rules: tuple[NodeRule, ...]
    document_rules: tuple[DocumentRule, ...] = ()


DIALECTS = {
    d.name: d
    for d in (
        Dialect(
            "openai_strict",
            (has_type, additional_properties_false, all_properties_required, openai_supported_keywords,
             no_default, ref_without_siblings, array_has_items, local_refs),
            (root_is_object, openai_nesting_depth, openai_size_limits),
        ),
        Dialect(
            "anthropic_native",
            (additional_properties_false, no_numeric_bounds, no_length_bounds, array_bounds_zero_or_one,
             anthropic_supported_keywords, anthropic_supported_format, local_refs),
            (no_recursion,),
        ),
        Dialect(
            "gemini_response_schema",
            (gemini_known_fields, gemini_single_type, gemini_enum_strings, gemini_object_has_properties,
             required_properties_exist),
        ),
        Dialect("gemini_json_schema", (local_refs,)),
        Dialect("xai", (all_of_single_entry, local_refs), (no_recursion,)),
    )
}  # fmt: skip


def rule_name(rule: Callable[..., Any]) -> str:
    return rule.__name__


def check(dialect: str, schema: Any) -> list[Violation]:
    """Every violation of `dialect` in `schema` (empty when the provider would accept it)."""
    if not isinstance(schema, dict):
        return [Violation("schema_is_object", "#", "the schema must be a JSON object")]
    rules = DIALECTS[dialect]
    found = [
        Violation(rule_name(rule), node.pointer, message)
        for node in walk(schema)
        for rule in rules.node_rules
        for message in rule(node)
    ]
    found += [
        Violation(rule_name(rule), pointer, message)
        for rule in rules.document_rules
        for pointer, message in rule(schema)
    ]
    return found
