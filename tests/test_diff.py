"""The diff on its own: desired resources, state and what the vendor holds become a plan.
Values are built by hand in the shapes the Ruddr provider uses, so each rule reads plainly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from compiler import drift
from compiler.diff import diff
from compiler.model import Observed, Resource
from compiler.model.change import Change, Label, Plan, Side, billing_impact, unlabel
from compiler.model.fields import field_changes
from compiler.state import Entry, EntryStatus, State

PROJECT_ID = "d077258e-2158-4f34-aabd-97e971d0c18d"
MILESTONE = "ruddr_invoice_milestone"


def attributes(when: str, fee: Any, name: str = "Retainer") -> dict[str, Any]:
    return {"projectId": PROJECT_ID, "date": when, "name": name, "fee": fee}


def resource(address: str, when: str, fee: str, name: str = "Retainer") -> Resource:
    return Resource(
        address=address,
        provider="ruddr",
        type=MILESTONE,
        project=address.split("/")[0],
        project_id=PROJECT_ID,
        attributes=attributes(when, Decimal(fee), name),
        date=date.fromisoformat(when),
        amount=Decimal(fee),
        currency="USD",
    )


def observed(
    remote_id: str, when: str, fee: Any, name: str = "Retainer", *, locked: bool = False
) -> Observed:
    return Observed(
        remote_id=remote_id,
        type=MILESTONE,
        project_id=PROJECT_ID,
        attributes=attributes(when, fee, name),
        locked=locked,
        date=date.fromisoformat(when),
        amount=Decimal(str(fee)),
    )


def entry(address: str, obs: Observed, *, status: EntryStatus = "managed") -> Entry:
    return Entry(
        address=address,
        provider="ruddr",
        type=MILESTONE,
        project=address.split("/")[0],
        project_id=PROJECT_ID,
        remote_id=None if status == "pending" else obs.remote_id,
        attributes=dict(obs.attributes),
        currency="USD",
        date=obs.date,
        amount=obs.amount,
        status=status,
    )


def plan_of(
    wanted: list[Resource], held: dict[str, Observed], extra: Sequence[Observed] = ()
) -> Plan:
    """diff() where state owns exactly `held` (address -> the object it made)."""
    state = State(entries={a: entry(a, o) for a, o in held.items()})
    return diff(wanted, state, [*held.values(), *extra], {("ruddr", PROJECT_ID): "acme"})


def _kickoff_edited_behind_billplans_back() -> tuple[State, list[Resource], Observed]:
    """State as billplan wrote the kickoff (fee 10000), the plan unchanged, the vendor's 9000."""
    made = observed("k", "2026-01-15", 10000, "Kickoff")
    edited = observed("k", "2026-01-15", 9000, "Kickoff")
    state = State(entries={"acme/milestones/kickoff": entry("acme/milestones/kickoff", made)})
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "10000", "Kickoff")]
    return state, wanted, edited


def by_address(plan: Plan) -> dict[str, Change]:
    return {c.address: c for c in plan.changes}


# ---- pairing moved occurrences ---------------------------------------------------------


def test_a_shifted_schedule_pairs_old_and_new_occurrences_in_date_order() -> None:
    held = {
        "acme/recurring/retainer/2026-02": observed("r2", "2026-02-01", 100),
        "acme/recurring/retainer/2026-01": observed("r1", "2026-01-01", 100),
    }
    wanted = [
        resource("acme/recurring/retainer/2026-06", "2026-06-01", "100"),
        resource("acme/recurring/retainer/2026-05", "2026-05-01", "100"),
    ]

    changes = by_address(plan_of(wanted, held))

    assert set(changes) == {"acme/recurring/retainer/2026-05", "acme/recurring/retainer/2026-06"}
    may, june = (
        changes["acme/recurring/retainer/2026-05"],
        changes["acme/recurring/retainer/2026-06"],
    )
    assert (may.action, may.moved_from, may.remote_id) == (
        "update",
        "acme/recurring/retainer/2026-01",
        "r1",
    )
    assert (june.action, june.moved_from, june.remote_id) == (
        "update",
        "acme/recurring/retainer/2026-02",
        "r2",
    )
    assert [f.field for f in may.fields] == ["date"]


def test_occurrences_of_different_charges_never_pair() -> None:
    held = {"acme/recurring/retainer/2026-01": observed("r1", "2026-01-01", 100)}
    wanted = [resource("acme/recurring/support/2026-01", "2026-01-01", "100")]

    changes = by_address(plan_of(wanted, held))

    assert changes["acme/recurring/retainer/2026-01"].action == "delete"
    assert changes["acme/recurring/support/2026-01"].action == "create"
    assert changes["acme/recurring/support/2026-01"].moved_from is None


def test_unpaired_occurrences_beyond_the_pairs_stay_creates() -> None:
    held = {"acme/recurring/retainer/2026-01": observed("r1", "2026-01-01", 100)}
    wanted = [
        resource("acme/recurring/retainer/2026-03", "2026-03-01", "100"),
        resource("acme/recurring/retainer/2026-02", "2026-02-01", "100"),
    ]

    changes = by_address(plan_of(wanted, held))

    assert changes["acme/recurring/retainer/2026-02"].moved_from == (
        "acme/recurring/retainer/2026-01"
    )
    assert changes["acme/recurring/retainer/2026-03"].action == "create"
    assert "acme/recurring/retainer/2026-01" not in changes


def test_a_kept_address_is_compared_in_place_and_never_paired() -> None:
    held = {
        "acme/recurring/retainer/2026-01": observed("r1", "2026-01-01", 100),
        "acme/recurring/retainer/2026-02": observed("r2", "2026-02-01", 100),
    }
    wanted = [
        resource("acme/recurring/retainer/2026-02", "2026-02-01", "100"),
        resource("acme/recurring/retainer/2026-03", "2026-03-01", "100"),
    ]

    changes = by_address(plan_of(wanted, held))

    assert changes["acme/recurring/retainer/2026-02"].action == "no-op"
    assert changes["acme/recurring/retainer/2026-03"].moved_from == (
        "acme/recurring/retainer/2026-01"
    )


# ---- equality ----------------------------------------------------------------------------


def test_numbers_compare_by_value_so_15000_equals_15000_point_0() -> None:
    assert field_changes({"fee": Decimal("15000")}, {"fee": 15000.0}) == ()
    assert field_changes({"fee": 15000}, {"fee": Decimal("15000.00")}) == ()


def test_a_different_number_is_a_field_change_with_both_values() -> None:
    (change,) = field_changes({"fee": Decimal("15000")}, {"fee": Decimal("15000.01")})

    assert (change.field, change.before, change.after) == (
        "fee",
        Decimal("15000"),
        Decimal("15000.01"),
    )


def test_a_field_set_to_null_is_the_same_as_a_field_left_out() -> None:
    assert field_changes({"fee": 1, "quantity": None, "rate": None}, {"fee": 1}) == ()
    assert [f.field for f in field_changes({"fee": 1}, {"fee": 1, "quantity": 2})] == ["quantity"]


def test_an_object_that_differs_only_in_number_types_is_a_no_op() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 15000, "Kickoff")}
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "15000.00", "Kickoff")]

    (change,) = plan_of(wanted, held).changes

    assert change.action == "no-op"


# ---- actions -----------------------------------------------------------------------------


def test_a_changed_amount_of_an_owned_object_is_an_update() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff")}
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "12000", "Kickoff")]

    (change,) = plan_of(wanted, held).changes

    assert (change.action, [f.field for f in change.fields]) == ("update", ["fee"])


def test_an_owned_object_changed_behind_billplans_back_is_drift() -> None:
    state, wanted, edited = _kickoff_edited_behind_billplans_back()

    (change,) = diff(wanted, state, [edited], {}).changes

    assert (change.action, change.reason, change.label) == ("update", "drift", "drift")
    assert "changed outside billplan (fee)" in change.detail


def test_a_wanted_change_to_an_invoiced_object_is_locked() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff", locked=True)}
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "12000", "Kickoff")]

    (change,) = plan_of(wanted, held).changes

    assert (change.action, change.reason) == ("no-op", "locked")
    assert change.before_locked


def test_an_unowned_object_exactly_like_a_create_is_adopted() -> None:
    twin = observed("t", "2026-01-15", 10000, "Kickoff")
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "10000.00", "Kickoff")]

    (change,) = diff(wanted, State(), [twin], {}).changes

    assert (change.action, change.remote_id) == ("adopt", "t")


def test_a_pending_create_found_remotely_is_adopted_as_a_lost_response() -> None:
    made = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(
        entries={
            "acme/milestones/kickoff": entry("acme/milestones/kickoff", made, status="pending")
        }
    )
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "10000", "Kickoff")]

    (change,) = diff(wanted, state, [made], {}).changes

    assert change.action == "adopt"
    assert change.detail == "the create's response was lost; found it remotely"


def test_an_unowned_object_that_differs_is_unmanaged_and_not_a_change() -> None:
    other = observed("o", "2026-07-01", 700, "Hand-made")

    plan = plan_of([], {}, [other])

    assert plan.changes == []
    assert [(u.remote_id, u.project) for u in plan.unmanaged] == [("o", "acme")]


def test_an_owned_object_gone_remotely_and_gone_from_the_plan_is_forgotten() -> None:
    gone = observed("g", "2026-01-15", 10000)
    state = State(entries={"acme/milestones/old": entry("acme/milestones/old", gone)})

    (change,) = diff([], state, [], {}).changes

    assert change.action == "forget"


# ---- why: every change says what apply does and, apart from it, why ----------------------


def test_an_invoiced_object_the_plan_would_change_is_a_no_op_that_reads_as_locked() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff", locked=True)}
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "12000", "Kickoff")]

    plan = plan_of(wanted, held)

    assert [(c.action, c.reason, c.label) for c in plan.changes] == [("no-op", "locked", "locked")]
    assert not plan.has_changes


def test_an_invoiced_object_removed_from_the_plan_is_a_no_op_because_it_is_locked() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff", locked=True)}

    (change,) = plan_of([], held).changes

    assert (change.action, change.reason, change.label) == ("no-op", "locked", "locked")
    assert change.before_locked and "will not be deleted" in change.detail


def test_each_plain_change_has_the_usual_reason_of_its_action() -> None:
    held = {
        "acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff"),
        "acme/milestones/old": observed("o", "2026-02-15", 500, "Old"),
    }
    wanted = [
        resource("acme/milestones/kickoff", "2026-01-15", "12000", "Kickoff"),
        resource("acme/milestones/new", "2026-03-15", "700", "New"),
    ]

    plan = plan_of(wanted, held)

    assert {c.address: (c.action, c.reason) for c in plan.changes} == {
        "acme/milestones/kickoff": ("update", "changed"),
        "acme/milestones/new": ("create", "new"),
        "acme/milestones/old": ("delete", "removed"),
    }


def test_an_object_deleted_remotely_is_created_again_because_it_is_gone() -> None:
    made = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(entries={"acme/milestones/kickoff": entry("acme/milestones/kickoff", made)})
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "10000", "Kickoff")]

    (change,) = diff(wanted, state, [], {}).changes

    assert (change.action, change.reason) == ("create", "gone")


# ---- billplan's tag (Kantata's external reference) ---------------------------------------
#
# The tag lets billplan recognise an object it made when state does not hold its id (a lost
# create, a lost state) and tell states apart. An object state owns by remote id needs neither,
# so a tag it lacks is added with the next write made for a billing reason, never on its own.

TAG = "ref"


def tagged(address: str, when: str, fee: str, name: str = "Retainer") -> Resource:
    """A resource that, like a Kantata milestone, carries its address as billplan's tag."""
    plain = resource(address, when, fee, name)
    return replace(plain, attributes={**plain.attributes, TAG: address}, tags=frozenset({TAG}))


def test_an_owned_object_that_lacks_only_billplans_tag_is_no_change() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff")}
    wanted = [tagged("acme/milestones/kickoff", "2026-01-15", "10000", "Kickoff")]

    plan = plan_of(wanted, held)

    (change,) = plan.changes
    assert (change.action, change.reason, change.fields) == ("no-op", "unchanged", ())
    assert not plan.has_changes


def test_an_owned_object_updated_for_its_amount_gets_billplans_tag_in_the_same_write() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff")}
    wanted = [tagged("acme/milestones/kickoff", "2026-01-15", "12000", "Kickoff")]

    (change,) = plan_of(wanted, held).changes

    assert (change.action, change.reason) == ("update", "changed")
    assert [f.field for f in change.fields] == ["fee", TAG]
    assert change.after is not None and change.after[TAG] == "acme/milestones/kickoff"


def test_an_invoiced_owned_object_that_lacks_only_billplans_tag_differs_in_nothing() -> None:
    held = {"acme/milestones/kickoff": observed("k", "2026-01-15", 10000, "Kickoff", locked=True)}
    wanted = [tagged("acme/milestones/kickoff", "2026-01-15", "10000", "Kickoff")]

    (change,) = plan_of(wanted, held).changes

    assert (change.action, change.reason, change.fields) == ("no-op", "unchanged", ())
    assert change.detail == "invoiced"


def test_an_owned_object_whose_tag_a_person_removed_is_no_change() -> None:
    # billplan wrote the tag (state remembers it), someone removed it: state still holds the
    # id, so this is no reason to write; `plan --refresh-only` still shows the vendor's change.
    address = "acme/milestones/kickoff"
    written = tagged(address, "2026-01-15", "10000", "Kickoff")
    untagged = observed("k", "2026-01-15", 10000, "Kickoff")
    made = replace(untagged, attributes=dict(written.attributes))
    state = State(entries={address: entry(address, made)})

    (change,) = diff([written], state, [untagged], {}).changes
    (seen,) = drift.refresh_only(state, [untagged]).changes

    assert (change.action, change.fields) == ("no-op", ())
    assert (seen.reason, [f.field for f in seen.fields]) == ("drift", [TAG])


def test_an_owned_object_tagged_for_another_address_is_retagged_with_its_own() -> None:
    # A tag naming another address (the address was renamed) is wrong, not missing: a lost
    # state would take the object back at that address, so the plan corrects it.
    held = {"acme/milestones/kick-off": observed("k", "2026-01-15", 10000, "Kickoff")}
    held["acme/milestones/kick-off"] = replace(
        held["acme/milestones/kick-off"],
        attributes={**held["acme/milestones/kick-off"].attributes, TAG: "acme/milestones/kickoff"},
    )
    wanted = [tagged("acme/milestones/kick-off", "2026-01-15", "10000", "Kickoff")]

    (change,) = plan_of(wanted, held).changes

    assert (change.action, [f.field for f in change.fields]) == ("update", [TAG])


def test_an_unowned_twin_that_lacks_only_billplans_tag_is_adopted_and_tagged() -> None:
    # State does not hold its id yet: the tag is what would find it again after a lost state.
    twin = observed("t", "2026-01-15", 10000, "Kickoff")
    wanted = [tagged("acme/milestones/kickoff", "2026-01-15", "10000", "Kickoff")]

    (change,) = diff(wanted, State(), [twin], {}).changes

    assert (change.action, change.reason, change.remote_id) == ("update", "adopted", "t")
    assert [f.field for f in change.fields] == [TAG]


# ---- refresh-only: the same drift, as a plan mode ----------------------------------------


def test_an_object_edited_outside_billplan_is_drift_in_both_plan_modes() -> None:
    state, wanted, edited = _kickoff_edited_behind_billplans_back()

    (restore,) = diff(wanted, state, [edited], {}).changes
    (seen,) = drift.refresh_only(state, [edited]).changes

    assert (restore.action, restore.reason) == ("update", "drift")
    assert (seen.action, seen.reason) == ("no-op", "drift")
    # The refresh-only change runs from what billplan wrote to what the vendor holds now.
    assert [(f.field, f.before, f.after) for f in seen.fields] == [("fee", 10000, 9000)]


def test_a_refresh_only_plan_has_one_no_op_per_managed_object_and_nothing_to_apply() -> None:
    kept = observed("k", "2026-01-15", 10000, "Kickoff")
    gone = observed("g", "2026-02-15", 500, "Gone")
    state = State(
        entries={
            "acme/milestones/kickoff": entry("acme/milestones/kickoff", kept),
            "acme/milestones/gone": entry("acme/milestones/gone", gone),
        }
    )

    plan = drift.refresh_only(state, [kept])

    assert plan.mode == "refresh-only"
    assert [(c.address, c.action, c.reason) for c in plan.changes] == [
        ("acme/milestones/gone", "no-op", "gone"),
        ("acme/milestones/kickoff", "no-op", "unchanged"),
    ]
    assert not plan.has_changes


def test_a_refresh_only_plan_ignores_what_the_plan_wants() -> None:
    made = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(entries={"acme/milestones/kickoff": entry("acme/milestones/kickoff", made)})

    (change,) = drift.refresh_only(state, [made]).changes

    assert (change.action, change.reason, change.fields) == ("no-op", "unchanged", ())


def test_a_refresh_only_plan_lists_a_create_of_unknown_outcome_as_pending() -> None:
    sent = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(
        entries={
            "acme/milestones/kickoff": entry("acme/milestones/kickoff", sent, status="pending")
        }
    )

    plan = drift.refresh_only(state, [])

    assert (plan.changes, plan.pending) == ([], ["acme/milestones/kickoff"])


# ---- billing impact and the summary ------------------------------------------------------


def _change(label: Label, before: Side | None = None, after: Side | None = None) -> Change:
    action, reason = unlabel(label)
    return Change(
        address=f"acme/milestones/{label}-{id(before)}-{id(after)}",
        action=action,
        reason=reason,
        provider="ruddr",
        type=MILESTONE,
        project="acme",
        project_id=PROJECT_ID,
        remote_id=None,
        before=None,
        after=None,
        before_side=before,
        after_side=after,
    )


def _side(when: str, amount: str) -> Side:
    return Side(date.fromisoformat(when), Decimal(amount), "USD")


IMPACT_CHANGES = [
    _change("create", after=_side("2026-03-01", "5000")),
    _change("delete", before=_side("2026-01-15", "1000")),
    _change("update", before=_side("2026-01-01", "100"), after=_side("2026-02-01", "150")),
    _change("locked", before=_side("2026-04-01", "700"), after=_side("2026-04-01", "900")),
    _change("no-op", before=_side("2026-05-01", "300"), after=_side("2026-05-01", "300")),
]


def test_billing_impact_totals_what_is_scheduled_before_and_after() -> None:
    impact = billing_impact(IMPACT_CHANGES)

    assert impact.before == {"USD": Decimal("2100")}  # 1000 + 100 + 700 + 300
    assert impact.after == {"USD": Decimal("6150")}  # 5000 + 150 + 700 (locked stays) + 300


def test_billing_impact_gives_the_net_change_per_month() -> None:
    impact = billing_impact(IMPACT_CHANGES)

    assert impact.by_month == {
        ("2026-01", "USD"): Decimal("-1100"),
        ("2026-02", "USD"): Decimal("150"),
        ("2026-03", "USD"): Decimal("5000"),
    }


def test_the_summary_line_counts_creates_updates_deletes_and_locked() -> None:
    plan = Plan(
        changes=[
            _change("create", after=_side("2026-01-01", "1")),
            _change("create", after=_side("2026-01-02", "1")),
            _change("create", after=_side("2026-01-03", "1")),
            _change("update", before=_side("2026-01-04", "1"), after=_side("2026-01-04", "2")),
            _change("locked", before=_side("2026-01-05", "1")),
            _change("locked", before=_side("2026-01-06", "1")),
            _change("no-op", before=_side("2026-01-07", "1"), after=_side("2026-01-07", "1")),
        ]
    )

    assert plan.summary() == "Plan: 3 to create, 1 to update, 0 to delete, 2 locked."


def test_the_summary_line_names_adoptions_only_when_there_are_some() -> None:
    plan = Plan(changes=[_change("adopt", after=_side("2026-01-01", "1"))])

    assert plan.summary() == "Plan: 0 to create, 0 to update, 0 to delete, 1 to adopt, 0 locked."


def test_a_pending_create_found_as_sent_but_since_changed_in_the_plan_is_an_update() -> None:
    sent = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(
        entries={
            "acme/milestones/kickoff": entry("acme/milestones/kickoff", sent, status="pending")
        }
    )
    wanted = [resource("acme/milestones/kickoff", "2026-01-15", "12000", "Kickoff")]

    (change,) = diff(wanted, state, [sent], {}).changes

    assert (change.action, change.remote_id) == ("update", "k")
    assert [f.field for f in change.fields] == ["fee"]


def test_a_pending_create_of_a_charge_since_removed_is_forgotten_not_deleted_if_it_landed() -> None:
    # Issue 15: content alone never proves billplan made an object, so it is never deleted.
    sent = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(
        entries={
            "acme/milestones/kickoff": entry("acme/milestones/kickoff", sent, status="pending")
        }
    )

    plan = diff([], state, [sent], {})

    (change,) = plan.changes
    assert (change.action, change.remote_id) == ("forget", None)
    assert "ruddr holds k, which looks like it and stays as it is" in change.detail
    assert [u.remote_id for u in plan.unmanaged] == ["k"]


def test_a_pending_create_of_a_charge_since_removed_is_forgotten_if_it_never_landed() -> None:
    sent = observed("k", "2026-01-15", 10000, "Kickoff")
    state = State(
        entries={
            "acme/milestones/kickoff": entry("acme/milestones/kickoff", sent, status="pending")
        }
    )

    (change,) = diff([], state, [], {}).changes

    assert change.action == "forget"
    assert "billplan forgets it and deletes nothing it cannot prove it made" in change.detail


def test_a_change_that_would_write_an_invoiced_object_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="an invoiced object is never written"):
        Change.to(resource("acme/milestones/k", "2026-01-15", "1"), "update", "locked",
                  remote_id="k", before=None, after=None)  # fmt: skip


def test_each_object_state_holds_is_compared_with_the_plan_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A no-op plan makes this comparison for every object it holds: 10,000 in a portfolio.
    import compiler.diff

    compared: list[Any] = []

    def counting(before: Any, after: Any) -> Any:
        compared.append((before, after))
        return field_changes(before, after)

    monkeypatch.setattr(compiler.diff, "field_changes", counting)
    held = {f"acme/fee/{n}": observed(f"r{n}", f"2026-0{n}-01", 1000 + n) for n in (1, 2, 3)}
    wanted = [
        resource(a, f"2026-0{n}-01", str(1000 + n)) for n, a in zip((1, 2, 3), held, strict=True)
    ]

    plan = plan_of(wanted, held)

    assert not plan.has_changes
    assert len(compared) == 3


def test_an_unchanged_object_invoiced_at_the_vendor_says_so() -> None:
    held = {"acme/fee/1": observed("r1", "2026-01-01", 1000, locked=True)}

    plan = plan_of([resource("acme/fee/1", "2026-01-01", "1000")], held)

    (change,) = plan.changes
    assert (change.action, change.detail) == ("no-op", "invoiced")
