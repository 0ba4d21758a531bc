"""compiler.frozen makes and copies the frozen dataclasses a plan holds one of per object
(state entries, resources, observed objects) without their __init__: what it makes must be
what __init__ and dataclasses.replace make, for every class it is used on."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from compiler.frozen import altered, made
from compiler.model import Observed, Resource
from compiler.state import Entry, State

ENTRY = {
    "address": "cloud/milestones/kickoff",
    "provider": "ruddr",
    "type": "ruddr_invoice_milestone",
    "project": "cloud",
    "project_id": "p-1",
    "remote_id": "m-1",
    "attributes": {"amount": Decimal("1500.00")},
    "currency": "USD",
    "date": date(2026, 1, 15),
    "amount": Decimal("1500.00"),
    "status": "managed",
    "sent_at": None,
    "rejected": (),
    "protected": False,
}
OBSERVED = Observed("m-1", "ruddr_invoice_milestone", "p-1", {"x": 1}, False, None, Decimal(1))


@pytest.mark.parametrize("cls", [Entry, Observed, Resource])
def test_the_classes_made_in_bulk_set_nothing_beyond_their_fields(cls: type) -> None:
    # A __post_init__, __slots__ or a field __init__ does not take would be skipped.
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")
    assert all(f.init for f in dataclasses.fields(cls))


def test_made_is_what_init_makes() -> None:
    entry = made(Entry, dict(ENTRY))
    assert entry == Entry(**ENTRY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.amount = Decimal(0)  # type: ignore[misc]


def test_made_refuses_a_field_left_out() -> None:
    fields = {k: v for k, v in ENTRY.items() if k != "protected"}
    with pytest.raises(TypeError, match="protected"):
        made(Entry, fields)


def test_altered_is_what_replace_makes_and_leaves_the_original() -> None:
    copy = altered(OBSERVED, amount=Decimal("2.50"), date=date(2026, 2, 1))
    assert copy == dataclasses.replace(OBSERVED, amount=Decimal("2.50"), date=date(2026, 2, 1))
    assert OBSERVED.amount == 1 and OBSERVED.date is None


def test_altered_refuses_a_name_that_is_no_field() -> None:
    with pytest.raises(TypeError, match="amuont"):
        altered(OBSERVED, amuont=Decimal(2))


def test_a_state_read_makes_entries_equal_to_those_written() -> None:
    entry = Entry(**{**ENTRY, "status": "pending", "remote_id": None, "rejected": ("x",)})
    state = State(lineage="l-1", serial=3, entries={entry.address: entry})
    again = State.from_json(state.to_json())
    assert again.entries == {entry.address: entry}
