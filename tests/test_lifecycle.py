"""The life of a plan against Ruddr, in process: apply, converge, change, lock, drift, adopt,
import and forget. billplan's real Ruddr provider talks to the real emulator through the
sandbox transport of the plan directory (`--sandbox`); the emulator's admin surface plays the
people who invoice and edit objects in Ruddr behind billplan's back.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from support import (
    ADDRESSES,
    DESIGN,
    EXTRA,
    KICKOFF,
    KICKOFF_LINE,
    LAUNCH,
    LICENSES,
    MILESTONE,
    PLAN,
    PRODUCT_ITEM,
    PROJECT_ID,
    RETAINER,
    WITH_EXTRA,
    plan_sandbox,
    remote_ids,
    sandboxed,
    state_json,
    step,
    variant,
    write_plan,
)

WITHOUT_KICKOFF = variant((KICKOFF_LINE, ""))
KICKOFF_12000 = variant(("amount: 10000}", "amount: 12000}"))
RETAINER_FROM_FEBRUARY = variant(
    ("start: 2026-01-01", "start: 2026-02-01"), ("end: 2026-03-31", "end: 2026-04-30")
)


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """A plan directory whose plan has been applied once to its sandbox."""
    directory = write_plan(tmp_path / "billing")
    first = step(directory, apply=True)
    assert first.applied is not None and first.applied.ok, first.applied
    return directory


WORKSHOP = "cloud-infra/milestones/workshop"
WORKSHOP_LINE = (
    "      workshop: {description: Workshop days, date: 2026-05-01, quantity: 3, rate: 1500}\n"
)
WITH_WORKSHOP = variant((KICKOFF_LINE, KICKOFF_LINE + WORKSHOP_LINE))


def test_a_milestone_priced_by_quantity_and_rate_is_sent_without_a_fee(tmp_path: Path) -> None:
    # ruddr.openapi.yml MilestoneCreate: `fee`, or `quantity` and `rate`, never all three.
    directory = write_plan(tmp_path / "billing", WITH_WORKSHOP)

    first = step(directory, apply=True)

    assert first.applied.ok, first.applied.failures
    by_name = {
        r["body"].get("name") or r["body"]["description"]: r["body"] for r in first.writes("POST")
    }
    workshop = by_name["Workshop days"]
    assert (workshop["quantity"], workshop["rate"], "fee" in workshop) == (3, 1500, False)
    assert (by_name["Kickoff"]["fee"], "quantity" in by_name["Kickoff"]) == (10000, False)
    licenses = by_name["CRM licenses"]  # a product item sends the fee beside its pair
    assert (licenses["quantity"], licenses["rate"], licenses["fee"]) == (10, 150, 1500)
    with plan_sandbox(directory) as admin:
        assert admin.get(MILESTONE, remote_ids(directory)[WORKSHOP])["fee"] == 4500
    assert not step(directory).plan.has_changes


def test_a_priced_milestone_changed_to_a_fee_clears_its_pair_and_back(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", WITH_WORKSHOP)
    assert step(directory, apply=True).applied.ok
    write_plan(
        directory, variant(("quantity: 3, rate: 1500}", "amount: 4000}"), body=WITH_WORKSHOP)
    )

    to_fee = step(directory, apply=True)

    (patch,) = to_fee.writes("PATCH")
    assert (patch["body"]["fee"], patch["body"]["quantity"], patch["body"]["rate"]) == (
        4000,
        None,
        None,
    )
    write_plan(
        directory,
        variant(("quantity: 3, rate: 1500}", "quantity: 2, rate: 1600}"), body=WITH_WORKSHOP),
    )
    to_pair = step(directory, apply=True)
    (patch,) = to_pair.writes("PATCH")
    assert (patch["body"]["quantity"], patch["body"]["rate"], "fee" in patch["body"]) == (
        2,
        1600,
        False,
    )
    with plan_sandbox(directory) as admin:
        assert admin.get(MILESTONE, remote_ids(directory)[WORKSHOP])["fee"] == 3200
    assert not step(directory).plan.has_changes


def test_a_first_apply_creates_each_item_once(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    first = step(directory, apply=True)

    assert set(first.actions().values()) == {"create"}
    assert len(first.writes("POST")) == len(ADDRESSES) == 7
    assert sorted(remote_ids(directory)) == ADDRESSES
    with plan_sandbox(directory) as admin:
        assert len(admin.objects(MILESTONE)) == 6
        assert len(admin.objects(PRODUCT_ITEM)) == 1


def test_a_split_milestone_becomes_one_ruddr_milestone_per_part(applied: Path) -> None:
    ids = remote_ids(applied)
    with plan_sandbox(applied) as admin:
        design = admin.get(MILESTONE, ids[DESIGN])
        launch = admin.get(MILESTONE, ids[LAUNCH])

    assert (design["name"], design["date"], design["fee"]) == (
        "Design sign-off",
        "2026-02-01",
        20000,
    )
    assert (launch["name"], launch["date"], launch["fee"]) == ("Go-live", "2026-04-01", 30000)


def test_a_product_becomes_a_product_item_with_quantity_and_rate(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        licenses = admin.get(PRODUCT_ITEM, remote_ids(applied)[LICENSES])

    assert (licenses["quantity"], licenses["rate"], licenses["fee"]) == (10, 150, 1500)
    assert licenses["description"] == "CRM licenses"


def test_a_plan_right_after_apply_shows_no_changes(applied: Path) -> None:
    again = step(applied)

    assert set(again.actions().values()) == {"no-op"}
    assert not again.plan.has_changes
    assert again.plan.unmanaged == []


def test_a_second_apply_sends_no_writes(applied: Path) -> None:
    again = step(applied, apply=True)

    # one list per type, then the project and the invoice item, checked before any write
    assert [r["method"] for r in again.requests] == ["GET"] * 4


def test_changing_an_amount_updates_the_object_with_a_field_diff(applied: Path) -> None:
    ids = remote_ids(applied)
    write_plan(applied, KICKOFF_12000)

    changed = step(applied, apply=True)

    update = changed.change(KICKOFF)
    assert update.action == "update"
    assert [(f.field, f.before, f.after) for f in update.fields] == [
        ("fee", Decimal("10000"), Decimal("12000.00"))
    ]
    (patch,) = changed.writes("PATCH")
    assert patch["path"].endswith(ids[KICKOFF])
    assert patch["body"]["fee"] == 12000
    assert changed.writes("POST") == changed.writes("DELETE") == []
    assert remote_ids(applied)[KICKOFF] == ids[KICKOFF]


def test_shifting_the_retainer_a_month_moves_an_occurrence_instead_of_replacing_it(
    applied: Path,
) -> None:
    ids = remote_ids(applied)
    write_plan(applied, RETAINER_FROM_FEBRUARY)

    shifted = step(applied, apply=True)

    moved = shifted.change("cloud-infra/recurring/retainer/2026-04")
    assert moved.action == "update"
    assert moved.moved_from == RETAINER[0]
    assert moved.remote_id == ids[RETAINER[0]]
    assert {f.field for f in moved.fields} == {"date", "name"}
    assert shifted.plan.count("create") == shifted.plan.count("delete") == 0
    assert len(shifted.writes("PATCH")) == 1
    assert shifted.writes("POST") == shifted.writes("DELETE") == []
    after = remote_ids(applied)
    assert RETAINER[0] not in after
    assert after["cloud-infra/recurring/retainer/2026-04"] == ids[RETAINER[0]]
    assert after[RETAINER[1]] == ids[RETAINER[1]]


def test_a_shifted_schedule_pairs_old_and_new_occurrences_in_date_order(applied: Path) -> None:
    ids = remote_ids(applied)
    write_plan(
        applied,
        variant(("start: 2026-01-01", "start: 2026-05-01"), ("end: 2026-03-31", "end: 2026-07-31")),
    )

    shifted = step(applied, apply=True)

    moves = {
        c.address.rsplit("/", 1)[1]: c.moved_from.rsplit("/", 1)[1]
        for c in shifted.plan.changes
        if c.moved_from
    }
    assert moves == {"2026-05": "2026-01", "2026-06": "2026-02", "2026-07": "2026-03"}
    assert shifted.writes("POST") == shifted.writes("DELETE") == []
    assert remote_ids(applied)["cloud-infra/recurring/retainer/2026-07"] == ids[RETAINER[2]]
    assert not step(applied).plan.has_changes


def test_removing_a_charge_deletes_its_object(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, WITHOUT_KICKOFF)

    removed = step(applied, apply=True)

    assert removed.change(KICKOFF).action == "delete"
    (delete,) = removed.writes("DELETE")
    assert delete["path"].endswith(kickoff_id)
    assert KICKOFF not in remote_ids(applied)
    with plan_sandbox(applied) as admin:
        assert kickoff_id not in {m["id"] for m in admin.objects(MILESTONE)}


def test_an_invoiced_milestone_changed_in_the_plan_is_locked_and_never_written(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.invoice(MILESTONE, kickoff_id)
    write_plan(applied, KICKOFF_12000)

    locked = step(applied, apply=True)

    change = locked.change(KICKOFF)
    assert (change.action, change.reason) == ("no-op", "locked")
    assert [f.field for f in change.fields] == ["fee"]
    assert "invoiced" in change.detail
    assert locked.writes("PATCH") == locked.writes("POST") == locked.writes("DELETE") == []
    with plan_sandbox(applied) as admin:
        assert admin.get(MILESTONE, kickoff_id)["fee"] == 10000


def test_a_locked_change_is_shown_loudly(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        admin.invoice(MILESTONE, remote_ids(applied)[KICKOFF])
    write_plan(applied, KICKOFF_12000)

    shown = sandboxed("plan", applied)

    assert shown.code == 0
    assert f"! LOCKED  {KICKOFF}  2026-01-15  10,000.00 USD" in shown.out
    assert "fee: 10,000.00 -> 12,000.00" in shown.out
    assert "Warning: 1 invoiced object differs from the plan and will not be changed." in shown.out
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 locked." in shown.out


def test_an_invoiced_charge_removed_from_the_plan_is_locked_not_deleted(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.invoice(MILESTONE, kickoff_id)
    write_plan(applied, WITHOUT_KICKOFF)

    removed = step(applied, apply=True)

    assert removed.why(KICKOFF) == ("no-op", "locked")
    assert removed.plan.count("delete") == 0
    assert removed.writes("DELETE") == []
    assert remote_ids(applied)[KICKOFF] == kickoff_id  # still owned, still there
    with plan_sandbox(applied) as admin:
        assert admin.get(MILESTONE, kickoff_id)["invoiced"] is True


def test_an_object_edited_behind_billplans_back_is_drift_and_apply_restores_it(
    applied: Path,
) -> None:
    design_id = remote_ids(applied)[DESIGN]
    with plan_sandbox(applied) as admin:
        admin.edit(MILESTONE, design_id, fee=21000, name="Design (edited in Ruddr)")

    drifted = step(applied, apply=True)

    change = drifted.change(DESIGN)
    assert (change.action, change.reason) == ("update", "drift")
    assert "changed outside billplan (fee, name)" in change.detail
    assert len(drifted.writes("PATCH")) == 1
    with plan_sandbox(applied) as admin:
        restored = admin.get(MILESTONE, design_id)
    assert (restored["name"], restored["fee"]) == ("Design sign-off", 20000)
    assert not step(applied).plan.has_changes


def test_an_unmanaged_twin_of_a_planned_create_is_adopted_without_a_post(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        twin = admin.add(
            MILESTONE, date="2026-06-01", name="Extra workshop", fee=5000, typeId="custom"
        )
    write_plan(applied, WITH_EXTRA)

    adopted = step(applied, apply=True)

    change = adopted.change(EXTRA)
    assert (change.action, change.remote_id) == ("adopt", twin["id"])
    assert [r["method"] for r in adopted.requests] == ["GET"] * 4  # no POST, no PATCH
    assert remote_ids(applied)[EXTRA] == twin["id"]
    assert not step(applied).plan.has_changes


def test_an_unmanaged_object_that_differs_is_listed_and_never_touched(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        other = admin.add(MILESTONE, date="2026-06-01", name="Hand-made", fee=700)

    seen = step(applied, apply=True)

    assert [u.remote_id for u in seen.plan.unmanaged] == [other["id"]]
    assert seen.plan.unmanaged[0].project == "cloud-infra"
    assert [r["method"] for r in seen.requests] == ["GET"] * 4
    assert other["id"] not in remote_ids(applied).values()
    shown = sandboxed("plan", applied)
    assert f"{other['id']}  2026-06-01  700  Hand-made" in shown.out
    with plan_sandbox(applied) as admin:
        assert admin.get(MILESTONE, other["id"])["fee"] == 700


def test_a_hand_made_object_of_a_type_the_plan_does_not_use_is_listed_under_its_project(
    tmp_path: Path,
) -> None:
    without_products = PLAN[: PLAN.index("    products:")]
    directory = write_plan(tmp_path / "billing", without_products)
    assert step(directory, apply=True).applied.ok
    with plan_sandbox(directory) as admin:
        other = admin.add(PRODUCT_ITEM, date="2026-08-01", description="Hardware", fee=99)

    seen = step(directory)

    (unmanaged,) = seen.plan.unmanaged
    assert (unmanaged.remote_id, unmanaged.provider, unmanaged.project) == (
        other["id"],
        "ruddr",
        "cloud-infra",
    )
    assert f"cloud-infra: {PRODUCT_ITEM} {other['id']}" in sandboxed("plan", directory).out


def test_a_managed_object_deleted_remotely_is_created_again(applied: Path) -> None:
    old_id = remote_ids(applied)[LICENSES]
    with plan_sandbox(applied) as admin:
        admin.delete(PRODUCT_ITEM, old_id)

    recreated = step(applied, apply=True)

    change = recreated.change(LICENSES)
    assert change.action == "create"
    assert "deleted outside billplan" in change.detail
    assert len(recreated.writes("POST")) == 1
    assert remote_ids(applied)[LICENSES] not in (None, old_id)
    assert not step(applied).plan.has_changes


def test_import_takes_ownership_and_the_next_plan_shows_an_update(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        hand_made = admin.add(
            MILESTONE, date="2026-06-01", name="Workshop (draft)", fee=4000, typeId="custom"
        )
    write_plan(applied, WITH_EXTRA)

    imported = sandboxed("import", EXTRA, hand_made["id"], applied)

    assert imported.code == 0, imported.text
    assert f"Imported {hand_made['id']} as {EXTRA}" in imported.out
    planned = step(applied)
    change = planned.change(EXTRA)
    assert (change.action, change.remote_id) == ("update", hand_made["id"])
    assert {f.field for f in change.fields} == {"name", "fee"}
    assert planned.plan.unmanaged == []


def test_state_rm_leaves_the_object_unmanaged(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]

    removed = sandboxed("state", "rm", KICKOFF, applied)
    write_plan(applied, WITHOUT_KICKOFF)

    assert removed.code == 0, removed.text
    assert "now unmanaged" in removed.out
    after = step(applied, apply=True)
    assert KICKOFF not in after.actions()
    assert [u.remote_id for u in after.plan.unmanaged] == [kickoff_id]
    assert after.writes("DELETE") == []
    with plan_sandbox(applied) as admin:
        assert kickoff_id in {m["id"] for m in admin.objects(MILESTONE)}


WEEKLY_130 = f"""\
projects:
  cloud-infra:
    provider: ruddr
    project_id: {PROJECT_ID}
    recurring:
      support:
        description: "Support {{{{ period.label }}}}"
        every: week
        amount: 2000
        start: 2026-01-05
        count: 130
"""


def test_a_project_with_more_objects_than_one_page_converges(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", WEEKLY_130)
    assert step(directory, apply=True).applied.ok

    again = step(directory, apply=True)

    assert not again.plan.has_changes
    # 2 pages of milestones, the product items, then the project and the invoice item
    assert [r["method"] for r in again.requests] == ["GET"] * 5
    assert "startingAfter=" in again.requests[1]["query"]
    assert len(remote_ids(directory)) == 130


def test_the_whole_lifecycle_converges_and_no_address_changes_hands(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    assert step(directory, apply=True).applied.ok
    first = remote_ids(directory)

    # Each change of the plan or behind its back, applied in turn.
    write_plan(directory, KICKOFF_12000)
    assert step(directory, apply=True).applied.ok
    with plan_sandbox(directory) as admin:
        admin.invoice(MILESTONE, first[KICKOFF])
        admin.edit(MILESTONE, first[DESIGN], fee=1)
        admin.delete(PRODUCT_ITEM, first[LICENSES])
        twin = admin.add(MILESTONE, date="2026-06-01", name="Extra workshop", fee=5000)
    write_plan(
        directory,
        variant(("amount: 10000}", "amount: 13000}"), body=WITH_EXTRA)
        .replace("start: 2026-01-01", "start: 2026-02-01")
        .replace("end: 2026-03-31", "end: 2026-04-30"),
    )
    mixed = step(directory, apply=True)
    assert mixed.applied.ok, mixed.applied.failures
    assert {a: mixed.actions()[a] for a in (KICKOFF, DESIGN, LICENSES, EXTRA)} == {
        KICKOFF: "locked",
        DESIGN: "drift",
        LICENSES: "create",
        EXTRA: "adopt",
    }

    final = step(directory, apply=True)

    assert not final.plan.has_changes
    assert [r["method"] for r in final.requests] == ["GET"] * 4
    assert final.plan.count("locked") == 1
    last = remote_ids(directory)
    # Every address that was never deleted or moved still owns the object it first made.
    for address in (KICKOFF, DESIGN, LAUNCH, RETAINER[1], RETAINER[2]):
        assert last[address] == first[address], address
    assert last[EXTRA] == twin["id"]
    assert last["cloud-infra/recurring/retainer/2026-04"] == first[RETAINER[0]]
    assert sorted(e["address"] for e in state_json(directory)["entries"]) == sorted(
        {*ADDRESSES, EXTRA, "cloud-infra/recurring/retainer/2026-04"} - {RETAINER[0]}
    )
