"""The life of a plan against Kantata OX: apply, converge, change, move, lock, drift, import;
batches of 100 and lists of 200; external references as the proof of ownership that survives
a lost response or a lost state file; exact minor units; milestones billed upon completion of a
task; and every error Kantata can answer, as `billplan plan` / `apply` report it.

billplan's real Kantata provider talks to the real emulator: in process through the sandbox of
a plan directory (`--sandbox`), or over loopback for the command-line error tests. The
emulator's admin surface plays the people who invoice and edit milestones in Kantata.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import support
from support import AS_OF, remote_ids, sandboxed, state_file, state_json
from support_kantata import (
    ADDRESSES,
    COLLECTION,
    CREDIT,
    KICKOFF,
    KICKOFF_LINE,
    PLAN,
    STORY,
    SUPPORT,
    UAT,
    WORKSPACE,
    Remote,
    admin_of,
    assert_state_consistent,
    plan_sandbox,
    reference_of,
    remote,
    step,
    variant,
    write_plan,
)

from compiler.apply import apply_plan
from compiler.model import Resource
from compiler.providers.kantata import MILESTONE, Kantata
from compiler.sandbox import SANDBOX_TOKEN, base_url
from compiler.workspace import open_workspace

WORKSPACES = "/api/v1/workspaces"
KICKOFF_12000 = variant(("amount: 10000}", "amount: 12000}"))
WITHOUT_KICKOFF = variant((KICKOFF_LINE, ""))
SUPPORT_FROM_FEBRUARY = variant(
    ("start: 2026-01-01", "start: 2026-02-01"), ("end: 2026-03-31", "end: 2026-04-30")
)
WORKSHOP = "cascade/milestones/workshop"
WORKSHOP_LINE = "      workshop: {description: Workshop, date: 2026-06-01, amount: 5000}\n"
WITH_WORKSHOP = variant((KICKOFF_LINE, KICKOFF_LINE + WORKSHOP_LINE))


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """A plan directory whose plan has been applied once to its sandbox."""
    directory = write_plan(tmp_path / "billing")
    first = step(directory, apply=True)
    assert first.applied is not None and first.applied.ok, first.applied
    return directory


def untouched(requests: list[dict[str, Any]]) -> bool:
    """Only reads: no POST, PUT or DELETE."""
    return all(r["method"] == "GET" for r in requests)


# ---- the lifecycle ---------------------------------------------------------------------------


def test_a_first_apply_creates_all_six_milestones_in_one_request(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    first = step(directory, apply=True)

    assert set(first.actions().values()) == {"create"}
    (post,) = first.writes("POST")
    assert len(post["body"]["billing_milestones"]) == 6
    assert sorted(remote_ids(directory)) == ADDRESSES
    with plan_sandbox(directory) as admin:
        assert len(admin.milestones()) == 6


def test_every_milestone_billplan_creates_carries_its_address_as_an_external_reference(
    applied: Path,
) -> None:
    with plan_sandbox(applied) as admin:
        held = {m["id"]: m for m in admin.milestones()}

    for address, remote_id in remote_ids(applied).items():
        reference = reference_of(held[remote_id])
        assert (
            reference["service_name"],
            reference["service_model"],
            reference["service_model_ref"],
        ) == ("billplan", "billing_milestone", address)


def test_a_plan_right_after_apply_shows_no_changes(applied: Path) -> None:
    again = step(applied)

    assert set(again.actions().values()) == {"no-op"}
    assert not again.plan.has_changes
    assert again.plan.unmanaged == []


def test_a_second_apply_sends_no_writes(applied: Path) -> None:
    again = step(applied, apply=True)

    assert [r["method"] for r in again.requests] == ["GET", "GET"]  # milestones, workspace


def test_the_workspace_is_read_with_one_list_request_of_200_per_page(applied: Path) -> None:
    read, workspaces = step(applied).requests

    assert (read["method"], read["path"]) == ("GET", COLLECTION)
    query = parse_qs(read["query"])
    assert query["workspace_ids"] == [str(WORKSPACE)]
    assert query["per_page"] == ["200"]
    assert "external_references" in query["include"][0]
    # and the planned workspace itself, once, before any write (GetWorkspaces, `only`)
    assert (workspaces["path"], parse_qs(workspaces["query"])["only"]) == (
        WORKSPACES,
        [str(WORKSPACE)],
    )


def test_changing_an_amount_updates_the_milestone_with_a_field_diff(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, KICKOFF_12000)

    changed = step(applied, apply=True)

    update = changed.change(KICKOFF)
    assert update.action == "update"
    assert [(f.field, f.before, f.after) for f in update.fields] == [
        ("amount_in_cents", 1000000, 1200000)
    ]
    (put,) = changed.writes("PUT")
    assert put["path"] == f"{COLLECTION}/{kickoff_id}"
    assert put["body"]["billing_milestone"]["amount_in_cents"] == 1200000
    assert "workspace_id" not in put["body"]["billing_milestone"]  # Kantata refuses it
    assert changed.writes("POST") == changed.writes("DELETE") == []
    with plan_sandbox(applied) as admin:
        assert admin.milestone(kickoff_id)["amount_in_cents"] == 1200000


def test_shifting_the_schedule_moves_a_milestone_and_its_reference_follows_the_new_address(
    applied: Path,
) -> None:
    ids = remote_ids(applied)
    april = "cascade/recurring/support/2026-04"
    write_plan(applied, SUPPORT_FROM_FEBRUARY)

    shifted = step(applied, apply=True)

    moved = shifted.change(april)
    assert (moved.action, moved.moved_from, moved.remote_id) == (
        "update",
        SUPPORT[0],
        ids[SUPPORT[0]],
    )
    assert {f.field for f in moved.fields} == {"date_to_invoice", "title", "external_reference"}
    assert len(shifted.writes("PUT")) == 1
    assert shifted.writes("POST") == shifted.writes("DELETE") == []
    with plan_sandbox(applied) as admin:
        milestone = admin.milestone(ids[SUPPORT[0]])
    assert len(milestone["external_references"]) == 1  # updated in place, not a second one
    assert reference_of(milestone)["service_model_ref"] == april
    assert milestone["date_to_invoice"] == "2026-04-01"
    assert remote_ids(applied)[april] == ids[SUPPORT[0]]
    assert not step(applied).plan.has_changes


def test_removing_a_charge_deletes_its_milestone(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, WITHOUT_KICKOFF)

    removed = step(applied, apply=True)

    assert removed.change(KICKOFF).action == "delete"
    (delete,) = removed.writes("DELETE")
    assert delete["path"] == f"{COLLECTION}/{kickoff_id}"
    assert KICKOFF not in remote_ids(applied)
    with plan_sandbox(applied) as admin:
        assert kickoff_id not in {m["id"] for m in admin.milestones()}


def test_an_invoiced_milestone_changed_in_the_plan_is_locked_and_never_written(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.invoice(kickoff_id)
    write_plan(applied, KICKOFF_12000)

    locked = step(applied, apply=True)

    change = locked.change(KICKOFF)
    assert (change.action, change.reason) == ("no-op", "locked")
    assert [f.field for f in change.fields] == ["amount_in_cents"]
    assert "invoiced" in change.detail
    assert untouched(locked.requests)
    with plan_sandbox(applied) as admin:
        assert admin.milestone(kickoff_id)["amount_in_cents"] == 1000000


def test_an_invoiced_charge_removed_from_the_plan_is_locked_not_deleted(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.invoice(kickoff_id)
    write_plan(applied, WITHOUT_KICKOFF)

    removed = step(applied, apply=True)

    assert removed.why(KICKOFF) == ("no-op", "locked")
    assert untouched(removed.requests)
    assert remote_ids(applied)[KICKOFF] == kickoff_id


def test_a_milestone_is_locked_by_the_invoice_it_names_never_by_an_invoiced_field() -> None:
    # kantata-billing-milestones.openapi.yml: BillingMilestone has `invoice_id` (and, with
    # include=invoices, `invoice_ids`), and no `invoiced` field at all.
    kantata = Kantata("kantata", {"type": "kantata"}, token="unused")
    held = {"id": "7", "title": "Kickoff", "amount_in_cents": 100, "workspace_id": str(WORKSPACE)}

    assert kantata.observe(MILESTONE, {**held, "invoice_id": "31"}).locked
    assert kantata.observe(MILESTONE, {**held, "invoice_id": None, "invoice_ids": ["31"]}).locked
    assert not kantata.observe(MILESTONE, {**held, "invoice_id": None, "invoiced": True}).locked
    kantata.close()


def test_a_milestone_whose_invoice_is_deleted_can_be_changed_again(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        invoice = admin.invoice(kickoff_id)["invoice_id"]
        admin.delete_invoice(invoice)
    write_plan(applied, KICKOFF_12000)

    freed = step(applied, apply=True)

    assert freed.change(KICKOFF).action == "update"
    with plan_sandbox(applied) as admin:
        assert admin.milestone(kickoff_id)["amount_in_cents"] == 1200000


def test_a_create_sends_no_null_field(tmp_path: Path) -> None:
    # The spec types story_id an integer and date_to_invoice a date: null is neither.
    first = step(write_plan(tmp_path / "billing"), apply=True)

    (post,) = first.writes("POST")
    sent = post["body"]["billing_milestones"]
    assert [name for body in sent for name, value in body.items() if value is None] == []
    uat = next(b for b in sent if b["external_reference"]["service_model_ref"] == UAT)
    assert (uat["billing_type"], uat["story_id"], "date_to_invoice" in uat) == (
        "upon_completion",
        STORY,
        False,
    )


def test_a_milestone_edited_in_kantata_is_drift_and_apply_restores_it(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.edit(kickoff_id, amount_in_cents=1, title="Kickoff (edited in Kantata)")

    drifted = step(applied, apply=True)

    change = drifted.change(KICKOFF)
    assert (change.action, change.reason) == ("update", "drift")
    assert "changed outside billplan (amount_in_cents, title)" in change.detail
    assert len(drifted.writes("PUT")) == 1
    with plan_sandbox(applied) as admin:
        restored = admin.milestone(kickoff_id)
    assert (restored["title"], restored["amount_in_cents"]) == ("Kickoff", 1000000)
    assert not step(applied).plan.has_changes


def test_a_hand_made_milestone_without_a_billplan_reference_is_listed_and_never_touched(
    applied: Path,
) -> None:
    with plan_sandbox(applied) as admin:
        other = admin.add(
            title="Travel expenses", amount_in_cents=45000, date_to_invoice="2026-05-01"
        )

    seen = step(applied, apply=True)

    (unmanaged,) = seen.plan.unmanaged
    assert (unmanaged.remote_id, unmanaged.project) == (other["id"], "cascade")
    assert untouched(seen.requests)
    assert other["id"] not in remote_ids(applied).values()
    assert f"{other['id']}  2026-05-01" in sandboxed("plan", applied).out
    with plan_sandbox(applied) as admin:
        assert admin.milestone(other["id"])["amount_in_cents"] == 45000


def test_a_hand_made_twin_of_a_planned_milestone_is_adopted_and_tagged_not_duplicated(
    applied: Path,
) -> None:
    write_plan(applied, PLAN.replace(KICKOFF_LINE, KICKOFF_LINE + KICKOFF_LINE.replace(
        "kickoff: {description: Kickoff", "workshop: {description: Workshop")))  # fmt: skip
    with plan_sandbox(applied) as admin:
        twin = admin.add(
            title="Workshop", amount_in_cents=1000000, date_to_invoice="2026-01-15",
            workspace_id=WORKSPACE,
        )  # fmt: skip

    adopted = step(applied, apply=True)

    workshop = "cascade/milestones/workshop"
    change = next(c for c in adopted.plan.changes if c.address == workshop)
    assert (change.action, change.remote_id) == ("update", twin["id"])
    assert [r["method"] for r in adopted.requests if r["method"] != "GET"] == ["PUT"]
    with plan_sandbox(applied) as admin:
        assert reference_of(admin.milestone(twin["id"]))["service_model_ref"] == workshop
        assert len(admin.milestones()) == len(ADDRESSES) + 1
    assert not step(applied).plan.has_changes


def test_import_takes_a_hand_made_milestone_and_the_next_apply_tags_it(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        draft = admin.add(
            title="Workshop (draft)", amount_in_cents=400000, date_to_invoice="2026-06-01"
        )
    write_plan(applied, WITH_WORKSHOP)

    imported = sandboxed("import", WORKSHOP, draft["id"], applied)

    assert imported.code == 0, imported.text
    updated = step(applied, apply=True)
    change = updated.change(WORKSHOP)
    assert (change.action, change.remote_id) == ("update", draft["id"])
    # Written for its title and amount; billplan's tag goes with that write.
    assert {f.field for f in change.fields} == {"title", "amount_in_cents", "external_reference"}
    assert updated.writes("POST") == []
    with plan_sandbox(applied) as admin:
        assert reference_of(admin.milestone(draft["id"]))["service_model_ref"] == WORKSHOP
    assert not step(applied).plan.has_changes


def test_an_imported_milestone_as_planned_is_no_change_though_it_lacks_the_tag(
    applied: Path,
) -> None:
    # Issue 16: after onboarding (or import) the plan is a no-op. The tag serves only objects
    # state does not own yet; state holds this one's id, so the tag waits for a billing write.
    with plan_sandbox(applied) as admin:
        draft = admin.add(title="Workshop", amount_in_cents=500000, date_to_invoice="2026-06-01")
    write_plan(applied, WITH_WORKSHOP)

    imported = sandboxed("import", WORKSHOP, draft["id"], applied)

    assert imported.code == 0, imported.text
    after = step(applied, apply=True)
    assert after.change(WORKSHOP).action == "no-op"
    assert not after.plan.has_changes
    assert untouched(after.requests)
    with plan_sandbox(applied) as admin:
        assert admin.milestone(draft["id"])["external_references"] == []


def test_a_managed_milestone_deleted_in_kantata_is_created_again(applied: Path) -> None:
    old_id = remote_ids(applied)[CREDIT]
    with plan_sandbox(applied) as admin:
        admin.delete(old_id)

    recreated = step(applied, apply=True)

    assert recreated.change(CREDIT).action == "create"
    assert "deleted outside billplan" in recreated.change(CREDIT).detail
    assert remote_ids(applied)[CREDIT] not in (None, old_id)
    assert not step(applied).plan.has_changes


def test_the_whole_lifecycle_converges_and_no_address_changes_hands(applied: Path) -> None:
    first = remote_ids(applied)
    with plan_sandbox(applied) as admin:
        admin.invoice(first[KICKOFF])
        admin.edit(first[CREDIT], amount_in_cents=-1)
        admin.delete(first[UAT])
        hand_made = admin.add(title="Hand-made", amount_in_cents=100, date_to_invoice="2026-08-01")
    write_plan(applied, variant(("amount: 10000}", "amount: 13000}"), body=SUPPORT_FROM_FEBRUARY))
    mixed = step(applied, apply=True)
    assert mixed.applied.ok, mixed.applied.failures
    april = "cascade/recurring/support/2026-04"
    assert {a: mixed.actions()[a] for a in (KICKOFF, CREDIT, UAT, april)} == {
        KICKOFF: "locked",
        CREDIT: "drift",
        UAT: "create",
        april: "update",
    }
    assert mixed.change(april).moved_from == SUPPORT[0]

    final = step(applied, apply=True)

    assert not final.plan.has_changes
    assert untouched(final.requests)
    assert [u.remote_id for u in final.plan.unmanaged] == [hand_made["id"]]
    last = remote_ids(applied)
    for address in (KICKOFF, CREDIT, SUPPORT[1], SUPPORT[2]):
        assert last[address] == first[address], address
    assert last[april] == first[SUPPORT[0]]
    assert SUPPORT[0] not in last


# ---- batches of 100, pages of 200 --------------------------------------------------------------

WEEKLY_250 = f"""\
projects:
  cascade:
    provider: kantata
    project_id: {WORKSPACE}
    recurring:
      report:
        description: "Status report {{{{ period.label }}}}"
        every: week
        amount: 250
        start: 2026-01-05
        count: 250
"""


@pytest.fixture
def weekly(tmp_path: Path) -> tuple[Path, support.Step]:
    directory = write_plan(tmp_path / "billing", WEEKLY_250)
    return directory, step(directory, apply=True)


def test_250_new_milestones_are_created_in_three_requests(
    weekly: tuple[Path, support.Step],
) -> None:
    directory, first = weekly

    assert first.applied.ok
    assert [len(p["body"]["billing_milestones"]) for p in first.writes("POST")] == [100, 100, 50]
    assert len({i for i in remote_ids(directory).values() if i}) == 250


def test_creates_in_several_projects_share_batches_ceil_n_over_100_requests(
    tmp_path: Path,
) -> None:
    projects = "".join(
        f"""  team-{n}:
    provider: kantata
    project_id: {WORKSPACE + n}
    recurring:
      report: {{description: "Report {{{{ period.label }}}}", every: week, amount: 250,
               start: 2026-01-05, count: 40}}
"""
        for n in range(3)
    )
    directory = write_plan(tmp_path / "billing", "projects:\n" + projects)

    first = step(directory, apply=True)

    assert first.applied.ok
    batches = [p["body"]["billing_milestones"] for p in first.writes("POST")]
    assert [len(b) for b in batches] == [100, 20]  # 120 creates: ceil(120 / 100) requests
    assert len({m["workspace_id"] for m in batches[0]}) == 3
    assert len({i for i in remote_ids(directory).values() if i}) == 120


def test_250_milestones_are_read_in_two_pages_never_one_get_per_milestone(
    weekly: tuple[Path, support.Step],
) -> None:
    directory, _ = weekly

    again = step(directory)

    assert not again.plan.has_changes
    assert [(r["method"], r["path"]) for r in again.requests] == [
        ("GET", COLLECTION),
        ("GET", COLLECTION),
        ("GET", WORKSPACES),
    ]
    pages = [parse_qs(r["query"]) for r in again.requests[:2]]
    assert [(q["page"], q["per_page"], q["workspace_ids"]) for q in pages] == [
        (["1"], ["200"], [str(WORKSPACE)]),
        (["2"], ["200"], [str(WORKSPACE)]),
    ]


def test_apply_completes_under_kantatas_real_rate_limit_backing_off_on_its_own(
    tmp_path: Path,
) -> None:
    twenty_months = variant(("end: 2026-03-31", "end: 2027-08-31"))
    directory = write_plan(tmp_path / "billing", twenty_months)
    assert step(directory, apply=True).applied.ok
    # One list and twenty updates: twice Kantata's burst of ten requests a second.
    write_plan(directory, variant(("amount: 1234.56", "amount: 1300"), body=twenty_months))
    slept: list[float] = []

    def wait(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    with open_workspace(directory, AS_OF, sandbox=True) as workspace:  # the default limit
        kantata = Kantata(
            "kantata",
            {"type": "kantata", "max_rps": 1000},  # outpace the limit: 429s must be waited out
            transport=workspace.sandbox.transport,
            base_url=base_url("kantata"),
            token=SANDBOX_TOKEN,
            sleep=wait,
        )
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        result = apply_plan(plan, {"kantata": kantata}, workspace.backend, state)
        kantata.close()
        with admin_of(workspace.sandbox) as admin:
            statuses = [r["status"] for r in admin.requests()]

    assert result.ok, result.failures
    assert plan.count("update") == 20
    assert statuses.count(429) >= 1
    assert statuses.count(200) == 2 + 20  # the list, the workspace, the updates
    # Kantata documents no Retry-After: every 429 is waited out by billplan's own backoff.
    assert len(slept) == statuses.count(429)
    assert all(0 < seconds <= Kantata.backoff_cap for seconds in slept)
    assert not step(directory).plan.has_changes


# ---- a lost create response, a lost state file ----------------------------------------------


def lose_the_create(directory: Path) -> support.Step:
    """An apply during which Kantata created the batch but its answer never arrived."""
    first = step(
        directory,
        apply=True,
        arrange=lambda admin: admin.fault("POST", lose_response=True),
    )
    assert first.applied is not None
    return first


def test_a_create_whose_response_is_lost_is_reported_for_every_address_as_possibly_written(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")

    first = lose_the_create(directory)

    assert sorted(f.address for f in first.applied.failures) == ADDRESSES
    assert all(f.unknown for f in first.applied.failures)
    assert "the write may have happened" in first.applied.failures[0].message
    assert set(remote_ids(directory).values()) == {None}  # pending: look for them next time
    with plan_sandbox(directory) as admin:
        assert len(admin.milestones()) == 6  # created all the same


def test_after_a_lost_create_the_next_plan_adopts_each_milestone_by_its_reference(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    lose_the_create(directory)

    second = step(directory, apply=True)

    assert set(second.actions().values()) == {"adopt"}
    assert "found by the address billplan tagged it with" in second.change(KICKOFF).detail
    assert untouched(second.requests)
    with plan_sandbox(directory) as admin:
        owners = {reference_of(m)["service_model_ref"]: m["id"] for m in admin.milestones()}
    assert len(owners) == 6
    assert remote_ids(directory) == owners
    assert not step(directory).plan.has_changes


def test_a_lost_create_whose_charge_changed_since_is_updated_not_created_twice(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    lose_the_create(directory)
    write_plan(directory, KICKOFF_12000)

    second = step(directory, apply=True)

    assert second.change(KICKOFF).action == "update"
    assert second.plan.count("adopt") == 5
    assert second.writes("POST") == []
    with plan_sandbox(directory) as admin:
        kickoffs = [m for m in admin.milestones() if m["title"] == "Kickoff"]
    assert [m["amount_in_cents"] for m in kickoffs] == [1200000]
    assert not step(directory).plan.has_changes


def test_a_lost_create_whose_charge_was_removed_since_is_found_and_deleted(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    lose_the_create(directory)
    write_plan(directory, WITHOUT_KICKOFF)

    second = step(directory, apply=True)

    assert second.change(KICKOFF).action == "delete"
    assert second.plan.unmanaged == []
    with plan_sandbox(directory) as admin:
        assert "Kickoff" not in {m["title"] for m in admin.milestones()}


def test_with_the_state_file_deleted_the_next_plan_adopts_by_reference_not_duplicates(
    applied: Path,
) -> None:
    before = remote_ids(applied)
    state_file(applied).unlink()

    again = step(applied, apply=True)

    assert set(again.actions().values()) == {"adopt"}
    assert untouched(again.requests)
    assert remote_ids(applied) == before
    with plan_sandbox(applied) as admin:
        assert len(admin.milestones()) == 6
    assert not step(applied).plan.has_changes


def test_with_the_state_file_deleted_a_changed_charge_is_updated_in_place(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    state_file(applied).unlink()
    write_plan(applied, KICKOFF_12000)

    again = step(applied, apply=True)

    change = again.change(KICKOFF)
    assert (change.action, change.remote_id) == ("update", kickoff_id)
    assert again.writes("POST") == []
    assert remote_ids(applied)[KICKOFF] == kickoff_id


# ---- money in minor units ------------------------------------------------------------------

CURRENCIES = """\
projects:
  usd:
    provider: kantata
    project_id: 41001
    milestones:
      fee: {description: Fee, date: 2026-03-01, amount: 1234.56}
      credit: {description: SLA credit, date: 2026-03-02, amount: -680.25}
  jpy:
    provider: kantata
    project_id: 41002
    currency: JPY
    milestones:
      fee: {description: Localisation, date: 2026-03-01, amount: 1333333}
  kwd:
    provider: kantata
    project_id: 41003
    currency: KWD
    milestones:
      fee: {description: Support desk, date: 2026-03-01, amount: 3150.755}
"""


@pytest.fixture(scope="module")
def currencies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_plan(tmp_path_factory.mktemp("currencies"), CURRENCIES)
    assert step(directory, apply=True).applied.ok
    return directory


@pytest.mark.parametrize(
    ("address", "minor_units"),
    [
        ("usd/milestones/fee", 123456),
        ("usd/milestones/credit", -68025),
        ("jpy/milestones/fee", 1333333),  # exponent 0: yen are the minor unit
        ("kwd/milestones/fee", 3150755),  # exponent 3: fils
    ],
)
def test_an_amount_becomes_exact_minor_units_of_its_currency(
    currencies: Path, address: str, minor_units: int
) -> None:
    with plan_sandbox(currencies) as admin:
        milestone = admin.milestone(remote_ids(currencies)[address])

    assert milestone["amount_in_cents"] == minor_units


def test_amounts_in_every_currency_read_back_equal_and_converge(currencies: Path) -> None:
    again = step(currencies)

    assert not again.plan.has_changes
    impact = again.plan.impact()
    held = {"USD": Decimal("554.31"), "JPY": Decimal("1333333"), "KWD": Decimal("3150.755")}
    assert impact.before == impact.after == held
    assert impact.by_month == {}


def test_a_project_in_another_currency_than_its_workspace_is_refused_before_any_write(
    applied: Path,
) -> None:
    in_yen = variant(
        (
            "    name: Cascade Health Partners\n",
            "    name: Cascade Health Partners\n    currency: JPY\n",
        ),
        ("amount: 1234.56", "amount: 1234"),
        ("amount: -500", "amount: -5"),
    )
    write_plan(applied, in_yen)

    run = sandboxed("apply", applied)

    assert run.code == 1
    assert (
        f"Kantata workspace {WORKSPACE} bills in USD, but the plan gives its project JPY: "
        "Kantata would read every amount as USD." in run.errors
    )
    with plan_sandbox(applied) as admin:
        assert admin.milestone(remote_ids(applied)[KICKOFF])["amount_in_cents"] == 1000000


# ---- on completion of a task ---------------------------------------------------------------


def test_an_on_completion_milestone_is_upon_completion_of_its_story_with_no_date(
    applied: Path,
) -> None:
    with plan_sandbox(applied) as admin:
        uat = admin.milestone(remote_ids(applied)[UAT])

    assert (uat["billing_type"], uat["story_id"], uat["date_to_invoice"]) == (
        "upon_completion",
        str(STORY),
        None,
    )


def test_the_sandbox_creates_the_task_on_first_use_and_says_so(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = sandboxed("plan", directory)

    assert run.code == 0, run.text
    assert f"sandbox: created Kantata task {STORY} in workspace {WORKSPACE}" in run.err
    with plan_sandbox(directory) as admin:
        assert [(s["id"], s["workspace_id"]) for s in admin.stories()] == [
            (str(STORY), str(WORKSPACE))
        ]


def test_a_dated_milestone_moved_to_on_completion_is_billed_on_its_task_with_no_date(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, variant(("date: 2026-01-15,", f"on_completion: {{task: {STORY}}},")))

    switched = step(applied, apply=True)

    change = switched.change(KICKOFF)
    assert change.action == "update"
    assert {f.field for f in change.fields} == {"billing_type", "date_to_invoice", "story_id"}
    (put,) = switched.writes("PUT")
    sent = put["body"]["billing_milestone"]
    # No null: the spec types date_to_invoice as a date. The date Kantata still holds is
    # ignored for a milestone billed upon completion.
    assert (sent["billing_type"], sent["story_id"], "date_to_invoice" in sent) == (
        "upon_completion",
        STORY,
        False,
    )
    with plan_sandbox(applied) as admin:
        kickoff = admin.milestone(kickoff_id)
    assert (kickoff["billing_type"], kickoff["story_id"]) == ("upon_completion", str(STORY))
    again = step(applied)
    assert not again.plan.has_changes
    assert again.change(KICKOFF).before_side.date is None  # billed "on completion", no month


def test_an_on_completion_milestone_moved_to_a_date_is_billed_on_that_date(
    applied: Path,
) -> None:
    uat_id = remote_ids(applied)[UAT]
    write_plan(applied, variant((f"on_completion: {{task: {STORY}}},", "date: 2026-07-01,")))

    switched = step(applied, apply=True)

    assert switched.applied.ok
    (put,) = switched.writes("PUT")
    assert "story_id" not in put["body"]["billing_milestone"]  # never null: an integer id
    with plan_sandbox(applied) as admin:
        uat = admin.milestone(uat_id)
    assert (uat["billing_type"], uat["date_to_invoice"]) == ("fixed_date", "2026-07-01")
    assert not step(applied).plan.has_changes


# ---- Ruddr and Kantata in one plan ---------------------------------------------------------

MIXED_HEAD = f"""\
version: 1
providers:
  ruddr: {{type: ruddr}}
  kantata: {{type: kantata}}
defaults:
  currency: USD
  ruddr: {{invoice_item: {support.INVOICE_ITEM}}}
"""
MIXED = PLAN + support.PLAN.removeprefix("projects:\n")


def test_a_plan_with_ruddr_and_kantata_projects_applies_in_one_run_and_converges(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", MIXED, head=MIXED_HEAD)

    run = sandboxed("apply", directory)

    assert run.code == 0, run.text
    assert "Apply complete: 13 created." in run.out
    providers = {e["provider"] for e in state_json(directory)["entries"]}
    assert providers == {"ruddr", "kantata"}
    with plan_sandbox(directory) as kantata, support.plan_sandbox(directory) as ruddr:
        assert len(kantata.milestones()) == 6
        assert len(ruddr.objects(support.MILESTONE)) == 6
    assert sandboxed("plan", directory, "--detailed-exitcode").code == 0


# ---- errors, as the command line reports them -------------------------------------------------


@pytest.fixture
def kantata() -> Iterator[Remote]:
    with remote() as served:
        yield served


@pytest.fixture
def served(kantata: Remote, tmp_path: Path) -> Path:
    """A plan applied to the loopback emulator."""
    directory = write_plan(tmp_path / "billing", head=kantata.head)
    run = kantata.billplan("apply", directory)
    assert run.code == 0, run.text
    return directory


def test_a_batch_refused_for_one_milestone_is_sent_again_without_it(
    kantata: Remote, tmp_path: Path
) -> None:
    too_long = variant(("description: Kickoff,", f"description: Kickoff {'x' * 250},"))
    directory = write_plan(tmp_path / "billing", too_long, head=kantata.head)

    run = kantata.billplan("apply", directory)

    assert run.code == 1
    assert (
        f"{KICKOFF}: Kantata OX 422: {KICKOFF}: title: Title is too long (maximum is 255 "
        "characters) (Kantata refused the whole batch of 6: none of it was created; billplan "
        "sends the others again without the refused items)"
    ) in " ".join(run.errors.split())
    assert "Apply incomplete: 5 created; 1 failed." in run.out
    posts = kantata.admin.requests("POST")
    assert [p["status"] for p in posts] == [422, 200]  # all or nothing, then the other five
    made = kantata.admin.milestones()
    assert len(made) == len(ADDRESSES) - 1
    entries = state_json(directory, sandbox=False)["entries"]
    assert sorted(e["address"] for e in entries) == sorted(set(ADDRESSES) - {KICKOFF})
    assert all(e["status"] == "managed" for e in entries)


def test_an_amount_beyond_kantatas_32_bit_integers_is_refused_by_plan_naming_the_charge(
    kantata: Remote, tmp_path: Path
) -> None:
    # kantata-billing-milestones.openapi.yml: amount_in_cents is `format: int32`.
    directory = write_plan(
        tmp_path / "billing", variant(("amount: 10000}", "amount: 30000000}")), head=kantata.head
    )

    run = kantata.billplan("apply", directory)

    assert run.code == 1
    assert KICKOFF in run.errors
    assert (
        "Kantata amounts are 32-bit integers of minor units (-2147483648 to 2147483647); "
        "30000000.00 USD is 3000000000: split the charge into smaller ones"
    ) in " ".join(run.errors.split())
    assert kantata.admin.requests("POST") == []


def test_a_token_kantata_does_not_accept_fails_the_plan_with_401(
    kantata: Remote, tmp_path: Path
) -> None:
    kantata.admin.settings(tokens=["rotated-token"])
    directory = write_plan(tmp_path / "billing", head=kantata.head)

    run = kantata.billplan("plan", directory)

    assert run.code == 1
    assert "Kantata OX 401: Invalid OAuth 2 Request" in run.errors


def test_a_workspace_the_token_cannot_see_fails_the_plan_with_403(
    kantata: Remote, tmp_path: Path
) -> None:
    kantata.admin.edit_workspace(accessible=False)
    directory = write_plan(tmp_path / "billing", head=kantata.head)

    run = kantata.billplan("plan", directory)

    assert run.code == 1
    assert f"Kantata OX 403: You do not have access to workspace {WORKSPACE}." in run.errors
    # kantata.errors.yml: roles and project participation, not OAuth scopes.
    assert "by the user's role and project participation, not by token scopes" in run.errors
    assert "add the token's user to the workspace" in run.errors


def test_an_archived_workspace_is_named_by_plan_before_any_write(
    kantata: Remote, tmp_path: Path
) -> None:
    # kantata-workspaces.openapi.yml: archived projects are left out of GetWorkspaces.
    kantata.admin.edit_workspace(archived=True)
    directory = write_plan(tmp_path / "billing", head=kantata.head)

    run = kantata.billplan("apply", directory)

    assert run.code == 1
    assert "Kantata OX would refuse this plan; nothing was written" in run.errors
    assert (
        f"Kantata workspace {WORKSPACE} was not found: it does not exist, is archived, or the "
        "token's user cannot see it" in " ".join(run.errors.split())
    )
    assert kantata.admin.requests("POST") == []


def test_an_unknown_workspace_is_named_by_plan_before_any_write(
    kantata: Remote, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing", head=kantata.head)
    write_plan(directory, variant((f"project_id: {WORKSPACE}", "project_id: 41999")), kantata.head)

    run = kantata.billplan("plan", directory)

    assert run.code == 1
    assert "Kantata workspace 41999 was not found" in run.errors
    assert [r["method"] for r in kantata.admin.requests()] == ["GET", "GET"]


def test_planned_workspaces_are_read_a_page_of_them_to_a_request(kantata: Remote) -> None:
    kantata.admin.add_workspace(41002)

    class OnePerPage(Kantata):
        page_size = 1  # as if more workspaces were planned than a page of 200 holds

    where = base_url("kantata", kantata.root)
    reader = OnePerPage("kantata", {}, base_url=where, token=SANDBOX_TOKEN)
    reader.list([WORKSPACE, 41002], [_planned(WORKSPACE), _planned(41002)])
    reader.close()

    reads = [r for r in kantata.admin.requests() if r["path"] == WORKSPACES]
    assert [parse_qs(r["query"])["only"] for r in reads] == [[str(WORKSPACE)], ["41002"]]


def test_an_update_answered_404_names_the_address_and_state_keeps_the_old_values(
    kantata: Remote, served: Path
) -> None:
    kantata.admin.fault("PUT", status=404)
    write_plan(served, KICKOFF_12000, head=kantata.head)

    run = kantata.billplan("apply", served)

    assert run.code == 1
    assert f"{KICKOFF}: Kantata OX 404: Page Not Found" in run.errors
    entry = next(e for e in state_json(served, sandbox=False)["entries"] if e["address"] == KICKOFF)
    assert entry["attributes"]["amount_in_cents"] == 1000000
    assert_state_consistent(served, kantata.admin, sandbox=False)


def test_a_milestone_invoiced_between_plan_and_apply_is_refused_with_422_and_then_locked(
    kantata: Remote, served: Path
) -> None:
    kickoff_id = remote_ids(served, sandbox=False)[KICKOFF]
    write_plan(served, KICKOFF_12000, head=kantata.head)
    with open_workspace(served, AS_OF, sandbox=False) as workspace:
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        assert plan.count("update") == 1
        kantata.admin.invoice(kickoff_id)  # someone invoices it meanwhile

        result = apply_plan(plan, workspace.providers, workspace.backend, state)

    (failure,) = result.failures
    assert (failure.address, failure.unknown) == (KICKOFF, False)
    assert (
        f"Kantata OX 422: base: Billing milestone {kickoff_id} has been invoiced and can no "
        "longer be changed" in failure.message
    )
    assert kantata.admin.milestone(kickoff_id)["amount_in_cents"] == 1000000
    again = kantata.billplan("plan", served)
    assert "! LOCKED" in again.out and "1 locked." in again.out


def test_a_milestone_invoiced_between_plan_and_apply_is_not_deleted_and_stays_owned(
    kantata: Remote, served: Path
) -> None:
    kickoff_id = remote_ids(served, sandbox=False)[KICKOFF]
    write_plan(served, WITHOUT_KICKOFF, head=kantata.head)
    with open_workspace(served, AS_OF, sandbox=False) as workspace:
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        kantata.admin.invoice(kickoff_id)

        result = apply_plan(plan, workspace.providers, workspace.backend, state)

    (failure,) = result.failures
    assert failure.address == KICKOFF
    assert "has been invoiced and can no longer be deleted" in failure.message
    assert remote_ids(served, sandbox=False)[KICKOFF] == kickoff_id
    assert_state_consistent(served, kantata.admin, sandbox=False)


def test_a_create_still_refused_after_every_429_retry_is_reported_and_not_recorded(
    kantata: Remote, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing", head=kantata.head)
    kantata.admin.fault("POST", status=429, times=Kantata.max_attempts)
    slept: list[float] = []
    with open_workspace(directory, AS_OF, sandbox=False) as workspace:
        # The same provider, told to record its waits instead of sleeping through them.
        config = workspace.document.root["providers"]["kantata"]
        where = workspace.providers["kantata"].base_url  # set outside the plan
        patient = Kantata("kantata", config, base_url=where, sleep=slept.append)
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        result = apply_plan(plan, {"kantata": patient}, workspace.backend, state)
        patient.close()

    assert sorted(f.address for f in result.failures) == ADDRESSES
    assert "Kantata OX 429: Too many requests; retry after a small delay." in (
        result.failures[0].message
    )
    assert not any(f.unknown for f in result.failures)  # a 429 is refused before it runs
    assert [r["status"] for r in kantata.admin.requests("POST")] == [429] * Kantata.max_attempts
    # No Retry-After is documented: billplan waits by its own capped, doubling backoff.
    ceilings = [
        min(Kantata.backoff_cap, Kantata.backoff_base * 2**n)
        for n in range(Kantata.max_attempts - 1)
    ]
    assert all(c / 2 <= s <= c for s, c in zip(slept, ceilings, strict=True)), slept
    assert state_json(directory, sandbox=False)["entries"] == []
    assert kantata.admin.milestones() == []


def test_a_503_on_a_create_says_the_write_may_have_happened_and_is_not_retried(
    kantata: Remote, tmp_path: Path
) -> None:
    kantata.admin.fault("POST", status=503)
    directory = write_plan(tmp_path / "billing", head=kantata.head)

    run = kantata.billplan("apply", directory)

    assert run.code == 1
    assert f"{KICKOFF}: Kantata OX 503: Service is unavailable" in run.errors
    assert "the write may have happened" in run.errors
    assert set(remote_ids(directory, sandbox=False).values()) == {None}  # pending
    assert len(kantata.admin.requests("POST")) == 1  # a create is never retried blindly


def test_after_a_503_on_a_create_the_next_apply_creates_each_milestone_once(
    kantata: Remote, tmp_path: Path
) -> None:
    kantata.admin.fault("POST", status=503)
    directory = write_plan(tmp_path / "billing", head=kantata.head)
    assert kantata.billplan("apply", directory).code == 1

    run = kantata.billplan("apply", directory)

    assert run.code == 0, run.text
    assert "holds nothing it could have made: creating it again" in " ".join(run.out.split())
    assert len(kantata.admin.milestones()) == 6
    assert_state_consistent(directory, kantata.admin, sandbox=False)
    assert kantata.billplan("plan", directory, "--detailed-exitcode").code == 0


def test_a_503_on_a_read_is_retried_and_the_plan_succeeds(kantata: Remote, served: Path) -> None:
    kantata.admin.fault("GET", status=503)

    run = kantata.billplan("plan", served, "--detailed-exitcode")

    assert run.code == 0, run.text
    lists = [r for r in kantata.admin.requests("GET") if r["path"] == COLLECTION]
    assert [r["status"] for r in lists][-2:] == [503, 200]


def _planned(workspace: int, currency: str = "USD") -> Resource:
    """A milestone the plan wants in a workspace, as compile makes it (enough to list by)."""
    body = {"title": "Kickoff", "amount_in_cents": 100, "workspace_id": workspace}
    return Resource("acme/milestones/kickoff", "kantata", MILESTONE, "acme", workspace, body,
                    None, Decimal(1), currency)  # fmt: skip
