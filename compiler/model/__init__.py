"""The values that cross stages, below every stage that uses them: an Item is one dated,
priced, provider-neutral occurrence; a Resource is what billplan wants a vendor to hold; an
Observed is what a vendor holds, in the same shape.

expand() produces Items; providers compile them into Resources and read Observed objects back;
diff compares the two into a Plan of Changes: the change model, in compiler.model.change.
All of them are immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from compiler.diagnostics import Mark
from compiler.schedule import Period

Kind = Literal["recurring", "milestone", "product"]
# The options of an item that has none: one empty mapping no one can change.
_NOTHING: Mapping[str, Any] = MappingProxyType({})
KINDS: tuple[Kind, ...] = ("recurring", "milestone", "product")
# The plan's section for each kind, which is also the middle of every address.
SECTION: dict[Kind, str] = {
    "recurring": "recurring",
    "milestone": "milestones",
    "product": "products",
}


class Item(NamedTuple):
    """One dated, priced occurrence of a charge, as the plan says it should be billed.

    A named tuple: a plan of 100,000 items makes each one once (and a second process's
    items again, compiler/expand/parallel.py), and a frozen dataclass's constructor cost
    several times as much. Equality leaves out where things were written, as it always did.
    """

    address: str  # PROJECT/recurring/CHARGE/LABEL, PROJECT/milestones/CHARGE[/PART], ...
    project: str  # the plan's key for the project
    kind: Kind
    charge: str
    label: str | None  # period label, split part key, or None for a one-off
    date: date | None  # None only for an on-completion milestone
    period: Period | None
    description: str
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal  # rounded to the currency's exponent
    currency: str
    provider: str  # the plan's name for the provider connection
    provider_type: str  # ruddr | kantata | wethod | coperniq
    project_id: str | int  # the vendor's id for the project
    task: str | int | None = None  # on_completion task (Kantata story) id
    percent: Decimal | None = None  # for percent-of-contract milestones
    options: Mapping[str, Any] = _NOTHING  # resolved provider options
    # Where each option was written (defaults, project, template or charge), for errors.
    option_marks: Mapping[str, Mark] = _NOTHING
    mark: Mark | None = None  # where the charge is written
    # `adjust:` in force: how a change to it, once invoiced, is billed (compiler.adjust).
    adjust: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Item):
            return NotImplemented
        return self[:_MARKS] == other[:_MARKS] and self[_MARKS + 2 :] == other[_MARKS + 2 :]

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self[:_MARKS], self[_MARKS + 2 :]))


# Where option_marks and mark sit in an Item: equality leaves them out.
_MARKS = Item._fields.index("option_marks")


@dataclass(frozen=True)
class Resource:
    """What billplan wants to exist remotely: the exact create body, at an address."""

    address: str
    provider: str  # the plan's connection name
    type: str  # e.g. ruddr_invoice_milestone
    project: str  # the plan's project key
    project_id: str | int
    attributes: Mapping[str, Any]  # the wire body of the create request
    date: date | None
    amount: Decimal
    currency: str
    # Attributes that only mark the object as billplan's (Kantata's external reference): an
    # object made by hand lacks them but is otherwise the same thing, and can be adopted.
    tags: frozenset[str] = frozenset()
    # Attributes the vendor cannot change on an existing object (the project it is in): a
    # difference there is a replacement, not an update.
    fixed: frozenset[str] = frozenset()
    # What the provider needs to write it later and the body does not say (like Terraform's
    # Private): opaque to every other stage, never compared, carried by the change into the
    # saved plan. Plain JSON values, so that it reads back as it was written.
    private: Mapping[str, Any] = field(default_factory=dict)
    # The plan's `protect:` for it (compiler.keep): True or False as written, None when the
    # plan says nothing (then what state remembers stands).
    protected: bool | None = None
    # Attributes a person may edit at the vendor without billplan restoring them (the plan's
    # `ignore:`), each with the plan's name for it: attribute -> description | date.
    ignored: Mapping[str, str] = field(default_factory=dict)
    # The items it bills (several for a grouped invoice), for messages that point into the
    # plan's YAML. Not saved: a stage that needs them has the plan's items.
    items: tuple[Item, ...] = field(default=(), compare=False)

    @classmethod
    def of(
        cls, item: Item, type_name: str, project_id: str | int, body: Mapping[str, Any], **more: Any
    ) -> Resource:
        """The resource one item compiles to (`more` overrides address, amount, tags,
        private, items)."""
        fields: dict[str, Any] = {
            "address": item.address,
            "provider": item.provider,
            "type": type_name,
            "project": item.project,
            "project_id": project_id,
            "attributes": body,
            "date": item.date,
            "amount": item.amount,
            "currency": item.currency,
            "items": (item,),
        }
        return cls(**{**fields, **more})


@dataclass(frozen=True)
class Observed:
    """What the vendor holds, normalised into the same shape as Resource.attributes."""

    remote_id: str
    type: str
    project_id: str | int
    attributes: Mapping[str, Any]
    locked: bool
    date: date | None
    amount: Decimal
    # The address the object says it belongs to, for vendors that let billplan tag what it
    # creates (Kantata's external references): ownership that survives a lost response.
    owner: str | None = None
    # False where the vendor keeps no billing date (a Coperniq draft) and `date` is worked out
    # by the client; the diff then dates a managed object from what state remembers.
    dated_by_vendor: bool = True
    # What a read learned that a later write of this object needs and its attributes do not
    # say (Coperniq's line ids), like Resource.private; never compared.
    private: Mapping[str, Any] = field(default_factory=dict)
    # When the vendor made it (UTC), where the vendor says: a lost create can only have made
    # an object no older than the moment it was sent. None: the vendor did not say.
    created: datetime | None = None
