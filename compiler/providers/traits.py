"""How the vendors differ, as small values the provider base reads: the page style of a list
(cursor, page number, offset), how a listing narrows to projects, where the projects a token
can see are listed, when an object is locked, and the unit money travels in. A vendor states
its own on its class; the base walks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from compiler.money import from_minor_units, to_minor_units
from compiler.providers.values import decimal

# -- page styles: where a list page's rows are, and how to ask for the next one ---------------


@dataclass(frozen=True)
class Cursor:
    """Ask for what follows the last object seen (Ruddr's `startingAfter`), while the page
    says more follow and holds something: a page saying more but holding nothing would page
    forever."""

    after: str  # the parameter naming the last object seen
    size: str  # the parameter for the page size
    rows: str  # the key of the page's objects
    more: str  # the key of the flag saying another page follows
    key: str = "id"  # the field of an object that `after` names

    def ask(self, at: Any, page_size: int) -> dict[str, Any]:
        return {self.size: page_size} | ({self.after: at} if at else {})

    def following(self, at: Any, page: Any, rows: Sequence[Any], page_size: int) -> Any:
        more = bool(page.get(self.more)) and bool(rows)
        return rows[-1][self.key] if more else None


@dataclass(frozen=True)
class PageNumber:
    """Ask for page 1, 2, ...: while the page says more follow (`more`, and it held something),
    up to the page count it gives (`count`, a dotted path such as `meta.page_count`), or, when
    it says neither (Coperniq's bare arrays), until a page comes back short."""

    number: str  # the parameter for the page number
    size: str  # the parameter for the page size
    rows: str | None  # the key of the page's objects; None: the vendor unpacks the page
    more: str | None = None
    count: str | None = None

    def ask(self, at: Any, page_size: int) -> dict[str, Any]:
        return {self.number: at or 1, self.size: page_size}

    def following(self, at: Any, page: Any, rows: Sequence[Any], page_size: int) -> Any:
        number = at or 1
        if self.count is not None:
            last = int(_dotted(page, self.count) or 1)
            return number + 1 if number < last else None
        if self.more is None:
            return number + 1 if len(rows) == page_size else None
        return number + 1 if page.get(self.more) is True and rows else None


@dataclass(frozen=True)
class Offset:
    """Ask for the rows from an offset on, until a page comes back short (Wethod's bare
    arrays, `limit` and `offset`)."""

    offset: str  # the parameter for the offset
    size: str  # the parameter for the page size
    rows: str | None = None  # None: the page is a bare array of objects

    def ask(self, at: Any, page_size: int) -> dict[str, Any]:
        return {self.size: page_size, self.offset: at or 0}

    def following(self, at: Any, page: Any, rows: Sequence[Any], page_size: int) -> Any:
        return (at or 0) + len(rows) if len(rows) == page_size else None


PageStyle = Cursor | PageNumber | Offset


def _dotted(value: Any, path: str) -> Any:
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


# -- listings: how one list request narrows to the plan's projects ----------------------------


@dataclass(frozen=True)
class Listing:
    """One list request to walk: the type it lists, where, with which filter."""

    type: str
    path: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class PerProject:
    """One listing per project and type: the project id in a query parameter (`param`), or in
    a path of its own (`path`, with `{project}`) instead of the type's collection."""

    param: str | None = None
    path: str | None = None

    def listings(
        self, types: Mapping[str, str], projects: Sequence[str], extra: Mapping[str, Any]
    ) -> list[Listing]:
        return [
            Listing(
                type_name,
                self.path.format(project=project) if self.path else path,
                {self.param: project, **extra} if self.param else dict(extra),
            )
            for project in projects
            for type_name, path in types.items()
        ]


@dataclass(frozen=True)
class AllProjects:
    """One listing per type for all the projects: their ids joined by commas into one
    parameter, written into `template` (Wethod's operator prefix, `in:{}`)."""

    param: str
    template: str = "{}"

    def listings(
        self, types: Mapping[str, str], projects: Sequence[str], extra: Mapping[str, Any]
    ) -> list[Listing]:
        if not projects:
            return []
        joined = self.template.format(",".join(projects))
        return [Listing(t, path, {self.param: joined, **extra}) for t, path in types.items()]


ProjectScope = PerProject | AllProjects


@dataclass(frozen=True)
class ProjectList:
    """Where the projects a token can see are listed (onboarding's first read), in which page
    style, and the fields of one project that hold its id, its name and its currency (None:
    the vendor keeps no currency on a project, and the person onboarding gives it)."""

    path: str
    paging: PageStyle
    name: str
    currency: str | None
    id: str = "id"
    params: Mapping[str, Any] = field(default_factory=dict)


# -- lock rules: when the vendor will not let billplan change or delete an object -------------


@dataclass(frozen=True)
class WhenTrue:
    """Locked when a flag is set (Ruddr's `invoiced`)."""

    field: str

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return bool(obj.get(self.field))


@dataclass(frozen=True)
class WhenNamed:
    """Locked when it names another object: an id in one of `ids`, or a non-empty list in
    one of `lists` (Kantata's milestone on an invoice)."""

    ids: tuple[str, ...]
    lists: tuple[str, ...] = ()

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return any(obj.get(f) is not None for f in self.ids) or any(
            bool(obj.get(f)) for f in self.lists
        )


@dataclass(frozen=True)
class Status:
    """Locked by status: in one of the `locked` statuses (Wethod's sent and paid), or in any
    but the `editable` ones (Coperniq's DRAFT); `default` when the object gives none."""

    field: str
    default: str
    locked: frozenset[str] = frozenset()
    editable: frozenset[str] | None = None

    def holds(self, obj: Mapping[str, Any]) -> bool:
        status = str(obj.get(self.field) or self.default)
        if self.editable is not None:
            return status not in self.editable
        return status in self.locked


LockRule = WhenTrue | WhenNamed | Status


# -- money units ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MajorUnits:
    """Money as decimal numbers of the currency (12000.50), the amount of an object in
    `field`."""

    field: str

    def wire(self, amount: Decimal, currency: str) -> Decimal:
        return amount

    def read(self, value: Any, currency: str) -> Decimal:
        return decimal(value)


@dataclass(frozen=True)
class MinorUnits:
    """Money as whole numbers of the currency's minor units (1200050 cents), in `field`: what
    it is worth depends on the currency, so a reading is in the plan's currency for the
    project when the plan has one (base.Provider.in_plan_terms). The field holds the same
    number in the object as read and in its attributes."""

    field: str

    def wire(self, amount: Decimal, currency: str) -> int:
        return to_minor_units(amount, currency)

    def read(self, value: Any, currency: str) -> Decimal:
        return from_minor_units(int(value or 0), currency)


MoneyUnit = MajorUnits | MinorUnits
