"""Instances generated from wire schemas: the valid one validates, the invalid one does not."""

import datetime
import enum
import uuid
from typing import Annotated, Any, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field

from sim.instances import invalid_instance, valid_instance
from sim.patterns import string_matching


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str = Field(min_length=3, max_length=40)
    postcode: str = Field(pattern=r"^[0-9]{5}$")


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=120)
    score: float = Field(gt=0, lt=1)
    even: int = Field(multiple_of=2, ge=3)
    colour: Colour
    kind: Literal["lead", "customer"]
    tags: list[str] = Field(min_length=2, max_length=3)
    unique: set[int]
    address: Address
    previous: Address | None = None
    born: datetime.date
    seen: datetime.datetime
    id: uuid.UUID
    email: Annotated[str, Field(pattern=r"^\S+@\S+\.\S+$")]
    attributes: dict[str, int]
    anything: Any = None


class Tree(BaseModel):
    label: str
    children: list["Tree"] = []
    parent: Optional["Tree"] = None


class Cat(BaseModel):
    pet: Literal["cat"]
    lives: int


class Dog(BaseModel):
    pet: Literal["dog"]
    good: bool


class Owner(BaseModel):
    pet: Cat | Dog = Field(discriminator="pet")
    either: int | str
    pair: tuple[int, str]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int
    b: str | None


class Large(BaseModel):
    fields: list[Person]
    tree: Tree
    owners: list[Owner]


MODELS = [Address, Person, Tree, Owner, Closed, Large]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_valid_instance_validates_against_schema_and_model(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    instance = valid_instance(schema)
    jsonschema.Draft202012Validator(schema).validate(instance)
    model.model_validate(instance)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_invalid_instance_breaks_the_schema(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    assert not jsonschema.Draft202012Validator(schema).is_valid(invalid_instance(schema))


def test_instances_are_deterministic() -> None:
    schema = Large.model_json_schema()
    assert valid_instance(schema) == valid_instance(schema)


def test_gemini_openapi_subset_with_upper_case_types_and_nullable() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING", "nullable": True},
            "count": {"type": "INTEGER", "minimum": 3},
            "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
            "items": {"type": "ARRAY", "items": {"type": "NUMBER"}, "minItems": 2},
        },
        "required": ["name", "count", "kind", "items"],
        "propertyOrdering": ["kind", "name", "count", "items"],
    }
    instance = valid_instance(schema)
    assert list(instance) == ["kind", "name", "count", "items"]
    assert instance == {"kind": "a", "name": "name", "count": 3, "items": [1, 2]}


def test_closed_object_without_required_gets_an_unexpected_property() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    assert not jsonschema.Draft202012Validator(schema).is_valid(invalid_instance(schema))


@pytest.mark.parametrize(
    "pattern", [r"^[A-Z]{3}-\d{4}$", r"^(foo|bar)+$", r"^\+?[1-9]\d{1,14}$", r"^[^@\s]+@[a-z]+\.com$"]
)
def test_pattern_strings_match(pattern: str) -> None:
    import re

    text = string_matching(pattern)
    assert text is not None and re.search(pattern, text)


def test_constraints_written_into_descriptions_are_followed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "description": "years\n\n{minimum: 18, multipleOf: 5}"},
            "code": {"type": "string", "description": "{pattern: ^[A-Z]{3}$}"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "{minItems: 2, uniqueItems: True}"},
        },
        "required": ["age", "code", "tags"],
    }
    assert valid_instance(schema) == {"age": 20, "code": "AAA", "tags": ["tags", "tags-1"]}


def test_parenthesized_json_hints_are_followed_too() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": '(format: "uuid")'},
            "stars": {"type": "integer", "description": "(note: whole) one to five (maximum: 5, minimum: 3)"},
        },
        "required": ["id", "stars"],
    }
    assert valid_instance(schema) == {"id": "123e4567-e89b-42d3-a456-426614174000", "stars": 3}
