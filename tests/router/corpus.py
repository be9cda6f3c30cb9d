"""A corpus of Pydantic output models, the kinds callers really send, with what each provider's dialect does
with them: carried strictly, carried without strict decoding (OpenAI, free-form parts), or refused before
any call (the documented cases of docs/structured-output.md).

The simulators answer with an instance generated from the wire schema; like a model, they follow the
constraints the normalizer moved into descriptions. `Even` is not in the corpus: its rule is in no schema
at all, so only Pydantic enforces it (tests/router/test_repair_loop.py).
"""

from datetime import date, datetime, time
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, create_model, field_validator

PROVIDERS = ("openai", "anthropic", "gemini", "xai")
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash", "xai": "grok-4"}


class Contact(BaseModel):
    name: str
    phone: str
    age: int


class Address(BaseModel):
    street: str
    city: str
    postcode: str
    country: str = "NL"


class Customer(BaseModel):
    name: str
    address: Address = Field(description="where the customer is billed")
    shipping: Address | None = None


class Profile(BaseModel):
    handle: str
    nickname: str | None = None
    age: int | None = None
    bio: str | None  # required, but may be null


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"


class Ticket(BaseModel):
    title: str
    priority: Priority
    status: Literal["open", "closed"] = "open"


class Level(IntEnum):
    info = 1
    warning = 2
    critical = 3


class Alert(BaseModel):
    level: Level
    message: str


class Switch(BaseModel):
    mode: Literal["on", "off"]
    kind: Literal["switch"] = "switch"


class Tags(BaseModel):
    tags: list[str]
    scores: list[float]


class OrderLine(BaseModel):
    sku: str
    quantity: int = Field(ge=1)
    unit_price: float = Field(ge=0)


class Order(BaseModel):
    order_id: str
    lines: list[OrderLine]
    notes: list[str] = []


class Measurement(BaseModel):
    value: int | float | str
    unit: str | None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Adoption(BaseModel):
    adopter: str
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


class TreeNode(BaseModel):
    label: str
    children: list["TreeNode"] = []


class Chain(BaseModel):
    value: int
    next: "Chain | None" = None


class Rating(BaseModel):
    stars: int = Field(ge=1, le=5, description="one to five stars")
    confidence: float = Field(ge=0.0, le=1.0)
    votes: int = Field(ge=0, multiple_of=1)


class Sku(BaseModel):
    code: str = Field(min_length=1, max_length=20, pattern=r"^[a-z]+$")


class Shortlist(BaseModel):
    picks: list[str] = Field(min_length=1, max_length=3)


class Meeting(BaseModel):
    title: str
    starts_at: datetime
    day: date
    doors_open: time


class Event(BaseModel):
    name: str
    payload: dict[str, Any]


class Inventory(BaseModel):
    counts: dict[str, int]


class Envelope(BaseModel):
    kind: str
    data: Any


class RetryPolicy(BaseModel):
    retries: int = 3
    backoff_s: float = 0.5
    verbose: bool = False


class Lead(BaseModel):
    """A sales lead, qualified from an inbound message."""

    company: str = Field(description="the company's legal name")
    employees: int = Field(ge=0, description="head count, best estimate")
    tier: Literal["gold", "silver", "bronze"] = Field(description="how much we want them")


class Share(BaseModel):
    ratio: float = Field(gt=0, lt=1)


class Even(BaseModel):
    n: int

    @field_validator("n")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even")
        return value


class Identity(BaseModel):
    id: UUID
    handle: str


class Member(BaseModel):
    name: str
    role: str


class Team(BaseModel):
    name: str
    members: list[Member]


class Department(BaseModel):
    name: str
    teams: list[Team]


class Org(BaseModel):
    name: str
    departments: list[Department]


class Price(BaseModel):
    amount: Decimal
    currency: Literal["EUR", "USD"]


class Point(BaseModel):
    xy: tuple[float, float]


class Palette(BaseModel):
    colors: set[str]


class InvoiceLine(BaseModel):
    description: str
    amount: float


class Discount(BaseModel):
    percent: float = Field(ge=0, le=100)


class Invoice(BaseModel):
    number: str
    lines: list[InvoiceLine]
    discount: Discount | None = None
    tags: list[str] | None = None


class Circle(BaseModel):
    radius: float


class Square(BaseModel):
    side: float


class Drawing(BaseModel):
    shape: Circle | Square | None


class Dice(BaseModel):
    face: Literal[1, 2, 3, 4, 5, 6]


class Directory(BaseModel):
    people: dict[str, Contact]


_FIELD_TYPES: list[Any] = [str, int, float, bool, str | None, list[str], Address, Priority, date, Literal["a", "b"]]
LargeRecord: type[BaseModel] = create_model(  # 60 fields of every common kind
    "LargeRecord", **{f"field_{i:02d}": (_FIELD_TYPES[i % len(_FIELD_TYPES)], ...) for i in range(60)}
)

CORPUS: list[type[BaseModel]] = [
    Contact, Customer, Profile, Ticket, Alert, Switch, Tags, Order, Measurement, Adoption, TreeNode, Chain,
    Rating, Sku, Shortlist, Meeting, Event, Inventory, Envelope, RetryPolicy, Lead, Share, Identity, Org, Price,
    Point, Palette, Invoice, Drawing, Dice, Directory, LargeRecord,
]  # fmt: skip

_RECURSIVE = {"anthropic", "xai"}  # dialects without recursion
_FREE_FORM = {"anthropic", "xai"}  # dialects that need every object closed
REFUSED: dict[str, set[str]] = {
    "TreeNode": _RECURSIVE,
    "Chain": _RECURSIVE,
    "Event": _FREE_FORM,
    "Inventory": _FREE_FORM,
    "Directory": _FREE_FORM,
    "Point": set(PROVIDERS),  # tuples (prefixItems) have no form in any dialect here
}
NON_STRICT: dict[str, set[str]] = {"Event": {"openai"}, "Inventory": {"openai"}, "Directory": {"openai"}}
NON_STRICT["Envelope"] = {"openai"}  # Any has no type, which strict mode requires


def outcome(model: type[BaseModel], provider: str) -> str:
    """What the corpus expects: refused | non_strict | strict."""
    name = model.__name__
    if provider in REFUSED.get(name, set()):
        return "refused"
    return "non_strict" if provider in NON_STRICT.get(name, set()) else "strict"
