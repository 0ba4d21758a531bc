"""Adoption at scale: the diff looks the vendors' objects up in an index built once per plan
(compiler.holdings), and apply checks ownership against state indexed once per apply
(compiler.ownership.Owners). The answers are exactly those of the scans they replace: the
lowest-id unclaimed object `same()` calls equal, the first owner in state's order. What the
indexes change is how often an object is looked at, counted here (never timed).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_diff_fastpath import pairs  # the near-twin pairs the diff's fast path is held to

import compiler.model.fields
from compiler.apply import apply_plan, ownership_problem
from compiler.diff import diff
from compiler.holdings import Holdings, natural_key
from compiler.model import Observed, Resource
from compiler.model.change import Change, Plan
from compiler.model.fields import same
from compiler.ownership import Owners
from compiler.state import Entry, State

PROJECT_ID = "d077258e-2158-4f34-aabd-97e971d0c18d"
MILESTONE = "ruddr_invoice_milestone"
TAG = "external_reference"


def body(n: int, fee: Any = None) -> dict[str, Any]:
    """The n-th week of a support desk: a body unlike every other's but in amount."""
    week = date.fromordinal(date(2026, 1, 5).toordinal() + 7 * (n % 500))
    return {
        "projectId": PROJECT_ID,
        "date": week.isoformat(),
        "name": f"Support desk {n // 500}",
        "fee": Decimal(100 + n // 500) if fee is None else fee,
    }


def resource(address: str, attributes: dict[str, Any]) -> Resource:
    return Resource(
        address=address,
        provider="ruddr",
        type=MILESTONE,
        project="acme",
        project_id=PROJECT_ID,
        attributes=attributes,
        date=date.fromisoformat(attributes["date"]),
        amount=Decimal(attributes["fee"]),
        currency="USD",
    )


def held(remote_id: str, attributes: dict[str, Any], owner: str | None = None) -> Observed:
    return Observed(
        remote_id=remote_id,
        type=MILESTONE,
        project_id=PROJECT_ID,
        attributes=attributes,
        locked=False,
        date=date.fromisoformat(attributes["date"]),
        amount=Decimal(str(attributes["fee"])),
        owner=owner,
    )


def scan(
    objects: list[Observed], attributes: dict[str, Any], claimed: set[tuple[str, str]]
) -> Observed | None:
    """What the diff did before the index: every object compared, the lowest id kept."""
    matches = [
        o
        for o in objects
        if o.type == MILESTONE
        and (o.type, o.remote_id) not in claimed
        and same(o.attributes, attributes)
    ]
    return min(matches, key=lambda o: o.remote_id) if matches else None


# ---- the index answers as the scan did -------------------------------------------------------


@settings(max_examples=800, deadline=None)
@given(pairs())
def test_two_bodies_same_calls_equal_always_share_a_natural_key(pair: tuple[Any, Any]) -> None:
    before, after = pair
    if before is None or after is None or not same(before, after):
        return
    assert natural_key(before) == natural_key(after)


@settings(max_examples=400, deadline=None)
@given(st.lists(pairs(), min_size=1, max_size=6), st.data())
def test_the_index_finds_exactly_what_comparing_every_object_finds(
    found: list[tuple[Any, Any]], data: st.DataObject
) -> None:
    bodies = [b for pair in found for b in pair if b is not None]
    objects = [
        Observed(f"r{n}", MILESTONE, PROJECT_ID, attributes, False, None, Decimal(0))
        for n, attributes in enumerate(bodies)
    ]
    claimed = {(MILESTONE, o.remote_id) for o in objects if data.draw(st.booleans())}
    holdings = Holdings(objects)

    for wanted in bodies:
        assert holdings.equal(MILESTONE, PROJECT_ID, wanted, claimed) == scan(
            objects, wanted, claimed
        )


def test_of_two_equal_objects_the_lowest_unclaimed_id_is_found() -> None:
    objects = [held("30", body(1)), held("10", body(1)), held("20", body(1))]
    holdings = Holdings(objects)

    assert holdings.equal(MILESTONE, PROJECT_ID, body(1), set()) == objects[1]
    assert holdings.equal(MILESTONE, PROJECT_ID, body(1), {(MILESTONE, "10")}) == objects[2]


def test_an_equal_amount_written_another_way_is_still_found() -> None:
    remote = held("1", body(1, fee=15000.0))

    found = Holdings([remote]).equal(MILESTONE, PROJECT_ID, body(1, fee=Decimal("15000.00")), set())

    assert found == remote


def test_an_object_tagged_for_an_address_is_no_twin_to_adopt() -> None:
    holdings = Holdings([held("1", body(1), owner="acme/milestones/other")])

    assert holdings.equal(MILESTONE, PROJECT_ID, body(1), set(), untagged=True) is None
    assert holdings.tagged("acme/milestones/other", MILESTONE, set()) is not None


def test_an_object_in_another_project_is_never_found() -> None:
    elsewhere = replace(held("1", body(1)), project_id="another")

    assert Holdings([elsewhere]).equal(MILESTONE, PROJECT_ID, body(1), set()) is None


# ---- how often objects are looked at ---------------------------------------------------------


def test_adopting_a_thousand_objects_with_state_lost_asks_deepdiff_about_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every object differs from all but one of the others only in a text or an amount: before
    # the index, each item asked DeepDiff about every object it was not (half a million).
    asked = []
    deepdiff = compiler.model.fields.DeepDiff

    def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        return deepdiff(*args, **kwargs)

    monkeypatch.setattr(compiler.model.fields, "DeepDiff", counted)
    wanted = [resource(f"acme/recurring/desk/{n}", body(n)) for n in range(1000)]
    remote = [held(f"{9999 - n}", body(n)) for n in range(1000)]

    plan = diff(wanted, State(), remote, {("ruddr", PROJECT_ID): "acme"})

    assert [c.action for c in plan.changes] == ["adopt"] * 1000
    assert {c.address: c.remote_id for c in plan.changes} == {
        f"acme/recurring/desk/{n}": f"{9999 - n}" for n in range(1000)
    }
    assert asked == []


def test_objects_alike_but_for_their_amounts_are_told_apart_without_deepdiff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("DeepDiff was asked about amounts that differ")

    monkeypatch.setattr(compiler.model.fields, "DeepDiff", refuse)
    objects = [held(str(n), body(1, fee=Decimal(n))) for n in range(1, 50)]

    found = Holdings(objects).equal(MILESTONE, PROJECT_ID, body(1, fee=Decimal("42.00")), set())

    assert found is not None and found.remote_id == "42"


class CountedEntries(dict[str, Entry]):
    """State's entries, counting every entry read by walking them."""

    walked = 0

    def values(self) -> Any:
        CountedEntries.walked += len(self)
        return super().values()

    def items(self) -> Any:
        CountedEntries.walked += len(self)
        return super().items()

    def __iter__(self) -> Any:
        CountedEntries.walked += len(self)
        return super().__iter__()


class NoWrites:
    """A backend for apply_plan that writes nothing: state-only changes need no more."""

    def write(self, state: State) -> None:
        pass


# Adoptions are written to state alone: no provider is called.
NO_PROVIDERS: dict[str, Any] = {"ruddr": None}


def adoption(address: str, remote_id: str) -> Change:
    return Change(address, "adopt", "ruddr", MILESTONE, "acme", PROJECT_ID, remote_id,
                  body(0), body(0), reason="adopted")  # fmt: skip


def test_applying_two_thousand_adoptions_walks_state_once_not_once_per_change() -> None:
    changes = [adoption(f"acme/recurring/desk/{n}", f"r{n}") for n in range(2000)]
    state = State(entries=CountedEntries())
    CountedEntries.walked = 0

    result = apply_plan(Plan(changes=changes), NO_PROVIDERS, NoWrites(), state)  # type: ignore[arg-type]

    assert result.ok and len(state.entries) == 2000
    # Before the index, each check walked every entry so far: two million reads.
    assert CountedEntries.walked < 3 * 2000


# ---- the ownership index stays true while apply writes ---------------------------------------


def test_an_object_adopted_earlier_in_the_same_apply_belongs_to_its_adopter() -> None:
    state = State()
    first, second = adoption("acme/recurring/desk/1", "r1"), adoption("acme/recurring/desk/2", "r1")

    result = apply_plan(Plan(changes=[first, second]), NO_PROVIDERS, NoWrites(), state)  # type: ignore[arg-type]

    assert [f.message for f in result.failures] == [
        "not written: r1 belongs to acme/recurring/desk/1"
    ]


def test_the_index_sees_each_entry_a_checked_change_wrote() -> None:
    state = State(entries={"a": entry("a", "1")})
    owners = Owners(state)
    assert owners.owner(MILESTONE, "1") == "a"

    move = Change("b", "update", "ruddr", MILESTONE, "acme", PROJECT_ID, "1", None, None,
                  moved_from="a")  # fmt: skip
    assert ownership_problem(move, state, owners) is None
    state.entries.pop("a")
    state.entries["b"] = entry("b", "1")

    assert owners.owner(MILESTONE, "1") == "b"
    assert ownership_problem(adoption("c", "1"), state, owners) == "1 belongs to b"


def test_two_entries_holding_one_object_are_judged_in_states_order() -> None:
    state = State(entries={"b": entry("b", "1"), "a": entry("a", "1")})

    assert Owners(state).owner(MILESTONE, "1") == "b"


def entry(address: str, remote_id: str) -> Entry:
    return Entry(address, "ruddr", MILESTONE, "acme", PROJECT_ID, remote_id, body(0), "USD",
                 None, Decimal(0))  # fmt: skip
