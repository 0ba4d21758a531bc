"""The life of a plan against Wethod: draft invoices created, converged, changed, locked once
sent, recovered after a lost response, refused for permissions, read in filtered pages, and
every error Wethod answers surfaced with its address. billplan's real Wethod provider talks to
the real emulator, in process (`--sandbox`) or over loopback; the emulator's admin surface
plays the people who send, pay and edit invoices in Wethod behind billplan's back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import AS_OF, Clock, remote_ids, sandboxed, variant
from support_wethod import (
    ADDRESSES,
    API,
    BRAND,
    BRAND_OPTIONS,
    BUDGET_AREA,
    COMPANY,
    EXTRA,
    FINANCE,
    GO_LIVE,
    KICKOFF,
    KICKOFF_4500,
    LAUNCH,
    PAYMENT_TERM,
    PLAN,
    PURCHASE_ORDER,
    RETAINER,
    VAT_RATE,
    VIEW,
    WEB,
    WITH_EXTRA,
    WITHOUT_KICKOFF,
    Remote,
    WethodAdmin,
    admin_of,
    api_client,
    applied_ok,
    plan_sandbox,
    query_of,
    remote,
    step,
    write_plan,
)

from compiler.providers.base import ConfigurationError, ProviderError
from compiler.providers.wethod import INVOICE, Wethod
from compiler.sandbox import SANDBOX_TOKEN, Sandbox, base_url, build_sandbox
from compiler.sandbox.bootstrap import prepare
from compiler.validate import check

RETAINER_FROM_APRIL = variant(
    ("start: 2026-03-01", "start: 2026-04-01"), ("end: 2026-05-31", "end: 2026-06-30"), body=PLAN
)

# What billplan would create for the `extra` charge of WITH_EXTRA, as a person might type it.
EXTRA_TWIN: dict[str, Any] = {
    "project_id": BRAND,
    "value": 5000,
    "issue_date": "2026-09-01",
    "notes": "Extra workshop",
    **BRAND_OPTIONS,
}


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """A plan directory whose plan has been applied once to its sandbox."""
    directory = write_plan(tmp_path / "billing")
    applied_ok(directory)
    return directory


@pytest.fixture
def served() -> Iterator[Remote]:
    with remote() as wethod:
        yield wethod


def _invoice_of(directory: Path, address: str) -> dict[str, Any]:
    with plan_sandbox(directory) as admin:
        return admin.invoice(remote_ids(directory)[address])


# ---- the lifecycle -------------------------------------------------------------------------


def test_a_first_apply_creates_one_draft_invoice_per_item(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    first = applied_ok(directory)

    assert set(first.actions().values()) == {"create"}
    assert len(first.writes("POST")) == len(ADDRESSES) == 6
    assert {r["status"] for r in first.writes("POST")} == {201}
    assert sorted(remote_ids(directory)) == ADDRESSES
    with plan_sandbox(directory) as admin:
        invoices = admin.invoices()
    assert [i["status"] for i in invoices] == ["draft"] * 6
    assert sorted(i["project_id"] for i in invoices) == [BRAND] * 5 + [WEB]


def test_an_invoice_carries_value_date_notes_and_every_option_exactly(applied: Path) -> None:
    april = _invoice_of(applied, RETAINER[1])

    assert (april["project_id"], april["value"], april["issue_date"], april["notes"]) == (
        BRAND,
        6500,
        "2026-04-01",
        "Retainer April 2026",  # the description template, rendered per period
    )
    assert (april["vat_rate_id"], april["payment_term_id"]) == (VAT_RATE, PAYMENT_TERM)
    assert (april["budget_area_uid"], april["purchase_order"]) == (BUDGET_AREA, PURCHASE_ORDER)
    assert april["exchange_rate"] == Decimal("1.0850")
    assert april["invoice_number"] is None and april["payment_date"] is None


def test_an_invoice_without_options_sends_only_project_value_date_and_notes(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")

    first = applied_ok(directory)

    (go_live,) = [r for r in first.writes("POST") if r["body"]["project_id"] == WEB]
    assert go_live["body"] == {
        "project_id": WEB,
        "value": Decimal("9000.00"),
        "issue_date": "2026-06-30",
        "notes": "Website go-live",
    }


def test_a_second_apply_sends_no_writes(applied: Path) -> None:
    again = step(applied, apply=True)

    assert set(again.actions().values()) == {"no-op"}
    assert [r["method"] for r in again.requests] == ["GET"]
    assert again.plan.unmanaged == []


def test_changing_an_amount_patches_the_invoice_with_a_field_diff(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, KICKOFF_4500)

    changed = step(applied, apply=True)

    update = changed.change(KICKOFF)
    assert update.action == "update"
    assert [(f.field, f.before, f.after) for f in update.fields] == [
        ("value", Decimal("4000"), Decimal("4500.00"))
    ]
    (patch,) = changed.writes("PATCH")
    assert patch["path"] == f"{API}/{kickoff_id}"
    assert patch["body"]["value"] == 4500
    assert patch["body"]["project_id"] == BRAND  # the whole planned body, as InvoiceUpdate allows
    assert changed.writes("POST") == changed.writes("DELETE") == []
    assert _invoice_of(applied, KICKOFF)["value"] == 4500


def test_shifting_the_retainer_a_month_moves_invoices_instead_of_replacing_them(
    applied: Path,
) -> None:
    ids = remote_ids(applied)
    write_plan(applied, RETAINER_FROM_APRIL)

    shifted = step(applied, apply=True)

    june = shifted.change("brand/recurring/retainer/2026-06")
    assert (june.action, june.moved_from, june.remote_id) == (
        "update",
        RETAINER[0],
        ids[RETAINER[0]],
    )
    assert {f.field for f in june.fields} == {"issue_date", "notes"}
    assert len(shifted.writes("PATCH")) == 1
    assert shifted.writes("POST") == shifted.writes("DELETE") == []
    moved = _invoice_of(applied, "brand/recurring/retainer/2026-06")
    assert (moved["id"], moved["issue_date"], moved["notes"]) == (
        int(ids[RETAINER[0]]),
        "2026-06-01",
        "Retainer June 2026",
    )
    assert not step(applied).plan.has_changes


def test_moving_a_project_to_another_wethod_project_patches_its_invoices_in_place(
    applied: Path,
) -> None:
    go_live_id = remote_ids(applied)[GO_LIVE]
    write_plan(applied, variant((f"project_id: {WEB}", "project_id: 7303"), body=PLAN))

    moved = step(applied, apply=True)

    change = moved.change(GO_LIVE)
    assert change.action == "update"  # InvoiceUpdate takes project_id: no delete and create
    assert [(f.field, f.before, f.after) for f in change.fields] == [("project_id", WEB, 7303)]
    (patch,) = moved.writes("PATCH")
    assert (patch["path"], patch["body"]["project_id"]) == (f"{API}/{go_live_id}", 7303)
    assert moved.writes("POST") == moved.writes("DELETE") == []
    assert _invoice_of(applied, GO_LIVE)["project_id"] == 7303
    assert remote_ids(applied)[GO_LIVE] == go_live_id
    assert not step(applied).plan.has_changes


def test_removing_a_charge_deletes_its_draft_invoice_and_wethod_answers_200(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, WITHOUT_KICKOFF)

    removed = step(applied, apply=True)

    assert removed.change(KICKOFF).action == "delete"
    assert removed.applied is not None and removed.applied.ok
    (delete,) = removed.writes("DELETE")
    assert (delete["path"], delete["status"]) == (f"{API}/{kickoff_id}", 200)
    assert KICKOFF not in remote_ids(applied)
    with plan_sandbox(applied) as admin:
        assert int(kickoff_id) not in {i["id"] for i in admin.invoices()}


def test_removing_an_option_from_the_plan_clears_it_on_the_invoice(applied: Path) -> None:
    write_plan(applied, variant((f"      purchase_order: {PURCHASE_ORDER}\n", ""), body=PLAN))

    cleared = step(applied, apply=True)

    assert cleared.applied is not None and cleared.applied.ok, cleared.applied.failures
    assert cleared.plan.count("update") == 5
    assert {r["body"]["purchase_order"] for r in cleared.writes("PATCH")} == {None}
    assert _invoice_of(applied, KICKOFF)["purchase_order"] is None
    assert not step(applied).plan.has_changes


def test_an_invoice_edited_behind_billplans_back_is_drift_and_apply_restores_it(
    applied: Path,
) -> None:
    launch_id = remote_ids(applied)[LAUNCH]
    with plan_sandbox(applied) as admin:
        admin.edit(launch_id, value=5999, notes="Campaign live (edited in Wethod)")

    drifted = step(applied, apply=True)

    change = drifted.change(LAUNCH)
    assert (change.action, change.reason) == ("update", "drift")
    assert "changed outside billplan (notes, value)" in change.detail
    (patch,) = drifted.writes("PATCH")
    assert patch["path"] == f"{API}/{launch_id}"
    restored = _invoice_of(applied, LAUNCH)
    assert (restored["value"], restored["notes"]) == (6000, "Campaign live")
    assert not step(applied).plan.has_changes


def test_an_unmanaged_invoice_is_listed_and_never_touched(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        other = admin.add(value=700, issue_date="2026-08-01", notes="Hand-made")

    seen = step(applied, apply=True)

    (unmanaged,) = seen.plan.unmanaged
    assert (unmanaged.remote_id, unmanaged.project, unmanaged.type) == (
        str(other["id"]),
        "brand",
        INVOICE,
    )
    assert [r["method"] for r in seen.requests] == ["GET"]
    assert str(other["id"]) not in remote_ids(applied).values()
    assert f"brand: {INVOICE} {other['id']}  2026-08-01" in sandboxed("plan", applied).out
    with plan_sandbox(applied) as admin:
        assert admin.invoice(other["id"])["value"] == 700


def test_an_invoice_deleted_behind_billplans_back_is_created_again(applied: Path) -> None:
    old_id = remote_ids(applied)[GO_LIVE]
    with plan_sandbox(applied) as admin:
        admin.delete(old_id)

    recreated = step(applied, apply=True)

    change = recreated.change(GO_LIVE)
    assert change.action == "create"
    assert "deleted outside billplan" in change.detail
    assert len(recreated.writes("POST")) == 1
    assert remote_ids(applied)[GO_LIVE] not in (None, old_id)
    assert not step(applied).plan.has_changes


# ---- sent and paid invoices are locked -----------------------------------------------------


def test_a_sent_invoice_changed_in_the_plan_is_locked_and_never_written(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.send(kickoff_id)
    write_plan(applied, KICKOFF_4500)

    locked = step(applied, apply=True)

    change = locked.change(KICKOFF)
    assert (change.action, change.reason) == ("no-op", "locked")
    assert [f.field for f in change.fields] == ["value"]
    assert [r["method"] for r in locked.requests] == ["GET"]
    assert _invoice_of(applied, KICKOFF)["value"] == 4000


def test_a_sent_invoice_removed_from_the_plan_is_locked_and_no_delete_is_sent(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    with plan_sandbox(applied) as admin:
        admin.send(kickoff_id)
    write_plan(applied, WITHOUT_KICKOFF)

    removed = step(applied, apply=True)

    assert removed.why(KICKOFF) == ("no-op", "locked")
    assert "will not be deleted" in removed.change(KICKOFF).detail
    assert removed.writes("DELETE") == []
    assert remote_ids(applied)[KICKOFF] == kickoff_id  # still owned, still there
    assert _invoice_of(applied, KICKOFF)["status"] == "sent"


def test_an_invoice_sent_and_paid_through_the_api_is_locked(applied: Path) -> None:
    launch_id = remote_ids(applied)[LAUNCH]
    with build_sandbox(applied / ".billplan" / "sandbox.sqlite") as sandbox:
        with admin_of(sandbox) as admin:
            admin.token(*FINANCE, "invoices.edit_sent")  # a person who also sets invoices paid
        with api_client(sandbox) as api:
            assert api.post(f"/api/invoices/{launch_id}:send").status_code == 200
            paid_on = {"payment_date": "2026-08-15"}
            paid = api.post(f"/api/invoices/{launch_id}:set-paid", json=paid_on)
            assert paid.status_code == 200, paid.text
    a_month_later = variant(("2026-07-31, amount: 6000", "2026-08-31, amount: 6000"), body=PLAN)
    write_plan(applied, a_month_later)

    locked = step(applied, apply=True)

    assert locked.why(LAUNCH) == ("no-op", "locked")
    assert [f.field for f in locked.change(LAUNCH).fields] == ["issue_date"]
    assert [r["method"] for r in locked.requests] == ["GET"]
    paid_invoice = _invoice_of(applied, LAUNCH)
    assert (paid_invoice["status"], paid_invoice["issue_date"]) == ("paid", "2026-07-31")


# ---- a create whose response is lost, and adoption by exact match --------------------------


def test_a_lost_create_is_adopted_by_the_next_plan_and_never_duplicated(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    first = step(
        directory, apply=True, arrange=lambda admin, _: admin.fault("POST", lose_response=True)
    )
    (failure,) = first.applied.failures
    assert (failure.address, failure.unknown) == (KICKOFF, True)  # the first create, by address
    assert "the write may have happened" in failure.message

    second = step(directory, apply=True)

    assert second.change(KICKOFF).action == "adopt"
    assert "the create's response was lost; found it remotely" in second.change(KICKOFF).detail
    assert second.writes("POST") == []
    with plan_sandbox(directory) as admin:
        kickoffs = [i for i in admin.invoices() if i["notes"] == "Kickoff workshop"]
    assert [str(i["id"]) for i in kickoffs] == [remote_ids(directory)[KICKOFF]]
    assert not step(directory).plan.has_changes


def test_a_lost_create_is_matched_exactly_and_not_to_near_twins_beside_it(tmp_path: Path) -> None:
    sent = {"value": 4000, "issue_date": "2026-03-15", "notes": "Kickoff workshop", **BRAND_OPTIONS}
    near_twins = [
        {**sent, "notes": "Kickoff workshop (copy)"},
        {**sent, "value": Decimal("4000.01")},
        {**sent, "issue_date": "2026-03-16"},
        {**sent, "project_id": WEB},
    ]

    decoys: set[str] = set()

    def arrange(admin: WethodAdmin, _: Sandbox) -> None:
        for twin in near_twins:  # made by hand before the apply: lower ids than billplan's
            decoys.add(str(admin.add(**twin)["id"]))
        admin.fault("POST", lose_response=True)

    directory = write_plan(tmp_path / "billing")
    (lost,) = step(directory, apply=True, arrange=arrange).applied.failures
    assert (lost.address, lost.unknown) == (KICKOFF, True)

    second = step(directory, apply=True)

    adopted = second.change(KICKOFF)
    assert adopted.action == "adopt"
    assert adopted.remote_id not in decoys
    assert {u.remote_id for u in second.plan.unmanaged} == decoys
    assert second.writes("POST") == []


@pytest.mark.parametrize(
    "difference",
    [
        {"notes": "Extra workshop (draft)"},
        {"value": Decimal("5000.01")},
        {"issue_date": "2026-09-02"},
        {"project_id": WEB},
        {"vat_rate_id": None},
    ],
    ids=["notes", "value", "issue-date", "project", "vat-rate"],
)
def test_an_unmanaged_invoice_that_differs_in_one_field_is_not_adopted(
    applied: Path, difference: dict[str, Any]
) -> None:
    with plan_sandbox(applied) as admin:
        near = admin.add(**{**EXTRA_TWIN, **difference})
    write_plan(applied, WITH_EXTRA)

    planned = step(applied)

    assert planned.change(EXTRA).action == "create"
    assert [u.remote_id for u in planned.plan.unmanaged] == [str(near["id"])]


def test_an_unmanaged_invoice_equal_to_a_planned_create_is_adopted_without_a_post(
    applied: Path,
) -> None:
    with plan_sandbox(applied) as admin:
        twin = admin.add(**EXTRA_TWIN)
    write_plan(applied, WITH_EXTRA)

    adopted = step(applied, apply=True)

    assert (adopted.change(EXTRA).action, adopted.change(EXTRA).remote_id) == (
        "adopt",
        str(twin["id"]),
    )
    assert [r["method"] for r in adopted.requests] == ["GET"]
    assert remote_ids(applied)[EXTRA] == str(twin["id"])
    assert not step(applied).plan.has_changes


# ---- permissions, company and configuration ------------------------------------------------


def test_a_token_without_create_other_is_refused_403_with_the_address_and_the_permission(
    served: Remote, tmp_path: Path
) -> None:
    served.admin.token(*VIEW, "invoices.create", user="ann")  # ann manages neither project
    directory = write_plan(tmp_path / "billing", head=served.head())

    run = served.billplan("apply", directory)

    assert run.code == 1
    assert (
        f"{KICKOFF}: Wethod 403: Creating invoices of project {BRAND}, where you are neither PM "
        "nor Account, requires invoices.create_other. — Wethod refused to create an invoice for "
        "connection 'wethod': the token's user lacks invoices.create (for projects where they "
        "are PM or Account) or invoices.create_other (for every other project); ask a Wethod "
        "administrator to grant it to the user's role"
    ) in run.errors
    assert "Apply incomplete: nothing; 6 failed." in run.out
    assert served.admin.invoices() == []


def test_a_token_without_a_view_permission_fails_the_plan_naming_the_operation_and_the_keys(
    served: Remote, tmp_path: Path
) -> None:
    served.admin.revoke("invoices.view_other")  # the token's user manages neither project
    directory = write_plan(tmp_path / "billing", head=served.head())

    run = served.billplan("plan", directory)

    assert run.code == 1
    assert (
        f"Wethod 403: Listing invoices of projects {BRAND}, {WEB}, where you are neither PM nor "
        "Account, requires invoices.view_other. — Wethod refused to list invoices for "
        "connection 'wethod': the token's user lacks invoices.view (for projects where they are "
        "PM or Account) or invoices.view_other (for every other project); ask a Wethod "
        "administrator to grant it to the user's role"
    ) in run.errors
    assert [r["method"] for r in served.admin.requests()] == ["GET"]  # nothing was written


def test_a_token_without_edit_other_fails_each_update_naming_the_edit_keys(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, KICKOFF_4500)

    refused = step(
        applied, apply=True, arrange=lambda admin, _: admin.revoke("invoices.edit_other")
    )

    (failure,) = refused.applied.failures
    assert failure.address == KICKOFF
    assert (
        f"Wethod refused to update invoice {kickoff_id} for connection 'wethod': the token's "
        "user lacks invoices.edit (for projects where they are PM or Account) or "
        "invoices.edit_other (for every other project)"
    ) in failure.message
    assert [r["status"] for r in refused.writes("PATCH")] == [403]


def test_a_token_without_delete_other_fails_each_delete_naming_the_delete_keys(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, WITHOUT_KICKOFF)

    refused = step(
        applied, apply=True, arrange=lambda admin, _: admin.revoke("invoices.delete_other")
    )

    (failure,) = refused.applied.failures
    assert (
        f"Wethod refused to delete invoice {kickoff_id} for connection 'wethod': the token's "
        "user lacks invoices.delete (for projects where they are PM or Account) or "
        "invoices.delete_other (for every other project)"
    ) in failure.message
    assert remote_ids(applied)[KICKOFF] == kickoff_id  # not deleted, so still owned


def test_an_invoice_moved_to_a_project_the_user_cannot_see_fails_its_reread_naming_view_other(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]

    def ann_manages_the_plans_projects(admin: WethodAdmin, _: Sandbox) -> None:
        admin.token("invoices.view", "invoices.create", "invoices.edit", "invoices.delete",
                    user="ann")  # fmt: skip
        admin.edit_project(BRAND, pm="ann")
        admin.edit_project(WEB, account="ann")
        admin.add_project(7303)  # ann is neither PM nor Account
        admin.edit(kickoff_id, project_id=7303)  # moved by someone in Wethod

    with pytest.raises(ProviderError) as refused:
        step(applied, arrange=ann_manages_the_plans_projects)

    assert (
        f"Wethod refused to read invoice {kickoff_id} for connection 'wethod': the token's user "
        "lacks invoices.view (for projects where they are PM or Account) or "
        "invoices.view_other (for every other project)"
    ) in str(refused.value)


def test_seeding_the_sandbox_binds_its_token_to_the_plans_company_and_keeps_its_permissions(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    checked = check(directory, AS_OF)
    assert checked.document is not None
    root = checked.document.root
    with build_sandbox() as sandbox:
        with admin_of(sandbox) as admin:
            admin.revoke("invoices.delete")  # taken away before billplan seeds the sandbox
        prepare(sandbox, checked.items, root["projects"], root["providers"])
        with admin_of(sandbox) as admin:
            (token,) = admin.tokens()

    assert token["company"] == COMPANY  # bound to the plan's company
    assert token["permissions"] == [p for p in FINANCE if p != "invoices.delete"]  # kept


def test_a_token_with_invoices_create_may_invoice_projects_its_user_manages(
    served: Remote, tmp_path: Path
) -> None:
    served.admin.token("invoices.view", "invoices.create", user="ann")  # the own-project keys
    served.admin.edit_project(BRAND, pm="ann")
    served.admin.edit_project(WEB, account="ann")
    directory = write_plan(tmp_path / "billing", head=served.head())

    run = served.billplan("apply", directory)

    assert run.code == 0, run.text
    assert "Apply complete: 6 created." in run.out
    assert len(served.admin.invoices()) == 6


def test_deleting_an_invoice_sent_between_plan_and_apply_is_refused_403_for_edit_sent(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, WITHOUT_KICKOFF)

    raced = step(applied, apply=True, between=lambda admin, _: admin.send(kickoff_id))

    assert raced.change(KICKOFF).action == "delete"  # planned while still a draft
    (failure,) = raced.applied.failures
    assert failure.address == KICKOFF
    assert (
        f"Wethod 403: Deleting invoice {kickoff_id}, which is sent, requires invoices.edit_sent."
        in failure.message
    )
    assert "If the invoice was sent or paid since the plan" in failure.message
    assert [r["status"] for r in raced.writes("DELETE")] == [403]
    assert remote_ids(applied)[KICKOFF] == kickoff_id  # not deleted, so still owned
    assert step(applied).why(KICKOFF) == ("no-op", "locked")


def test_a_company_that_is_not_the_tokens_fails_the_plan_with_412(
    served: Remote, tmp_path: Path
) -> None:
    served.admin.add_company("globex")
    served.admin.token("invoices.create", "invoices.create_other", company="globex")
    directory = write_plan(tmp_path / "billing", head=served.head())

    run = served.billplan("plan", directory)

    assert run.code == 1
    assert "Wethod 412: The access token does not belong to the company 'acme'." in run.errors


def test_a_wethod_connection_without_company_is_refused_before_any_request(
    served: Remote, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing", head=served.head(company=None))

    run = served.billplan("plan", directory)

    assert run.code == 1
    assert "$.providers.wethod: `company` is required here but missing; add it" in run.errors
    assert served.admin.requests() == []  # refused before any request
    with pytest.raises(ConfigurationError, match="needs `company`"):
        Wethod("wethod", {"type": "wethod"}, token=SANDBOX_TOKEN)


def test_a_wethod_connection_without_company_is_refused_in_the_sandbox_too(
    tmp_path: Path,
) -> None:
    head = "version: 1\nproviders:\n  wethod: {type: wethod}\ndefaults:\n  currency: EUR\n"
    directory = write_plan(tmp_path / "billing", head=head)

    run = sandboxed("plan", directory)

    assert run.code == 1
    assert "$.providers.wethod: `company` is required here but missing; add it" in run.errors


# ---- reads: one filtered, paged query --------------------------------------------------------


def test_reading_two_projects_takes_one_filtered_request(applied: Path) -> None:
    again = step(applied)

    (read,) = again.requests
    assert (read["method"], read["path"]) == ("GET", API)
    assert query_of(read) == {"project_id": f"in:{BRAND},{WEB}", "limit": "100", "offset": "0"}


WEEKLY_130 = f"""\
projects:
  brand:
    provider: wethod
    project_id: {BRAND}
    recurring:
      support:
        description: "Support {{{{ period.label }}}}"
        every: week
        amount: 200
        start: 2026-01-05
        count: 130
"""


def test_more_than_100_invoices_are_read_across_pages(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", WEEKLY_130)
    assert len(applied_ok(directory).writes("POST")) == 130

    again = step(directory, apply=True)

    assert not again.plan.has_changes
    assert set(again.actions().values()) == {"no-op"} and len(again.actions()) == 130
    assert [(r["method"], query_of(r)["offset"]) for r in again.requests] == [
        ("GET", "0"),
        ("GET", "100"),
    ]
    assert {query_of(r)["limit"] for r in again.requests} == {"100"}


def test_invoices_of_other_projects_and_other_companies_are_not_picked_up(
    applied: Path,
) -> None:
    with plan_sandbox(applied) as admin:
        admin.add_project(7303)
        admin.add(project_id=7303, value=4000, issue_date="2026-03-15", notes="Kickoff workshop")
        admin.add_company("globex")
        admin.add_project(9001, company="globex")
        admin.add(project_id=9001, value=4000, issue_date="2026-03-15", notes="Kickoff workshop")

    seen = step(applied)

    assert seen.plan.unmanaged == []
    assert not seen.plan.has_changes
    assert len(seen.requests) == 1


# ---- errors Wethod answers ---------------------------------------------------------------------


def test_a_vat_rate_wethod_does_not_know_fails_with_each_field_named(
    served: Remote, tmp_path: Path
) -> None:
    body = variant(
        (f"vat_rate_id: {VAT_RATE}", "vat_rate_id: 999"),
        (f"budget_area_uid: {BUDGET_AREA}", "budget_area_uid: print"),
        body=PLAN,
    )
    directory = write_plan(tmp_path / "billing", body, head=served.head())

    run = served.billplan("apply", directory)

    assert run.code == 1
    assert (
        f"{KICKOFF}: Wethod 400: You provided invalid data. Check 'failures' for details. "
        "(budget_area_uid: Budget area 'print' does not belong to project 7301.; "
        "vat_rate_id: No VAT rate with ID 999 exists in this company.)"
    ) in run.errors
    assert "Apply incomplete: 1 created; 5 failed." in run.out  # the web project has no options
    assert sorted(remote_ids(directory, sandbox=False)) == [GO_LIVE]


def test_a_token_wethod_does_not_accept_fails_the_plan_with_401(
    served: Remote, tmp_path: Path
) -> None:
    served.admin.settings(tokens=["rotated-token"])
    directory = write_plan(tmp_path / "billing", head=served.head())

    run = served.billplan("plan", directory)

    assert run.code == 1
    assert "Wethod 401: The access token is missing or invalid." in run.errors


def test_an_update_of_an_invoice_deleted_meanwhile_fails_404_and_the_next_plan_recreates_it(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, KICKOFF_4500)

    raced = step(applied, apply=True, between=lambda admin, _: admin.delete(kickoff_id))

    (failure,) = raced.applied.failures
    assert failure.address == KICKOFF
    assert f"Wethod 404: Invoice {kickoff_id} does not exist." in failure.message
    again = step(applied, apply=True)
    assert again.change(KICKOFF).action == "create"
    assert len(again.writes("POST")) == 1
    assert _invoice_of(applied, KICKOFF)["value"] == 4500
    assert not step(applied).plan.has_changes


def test_a_delete_of_an_invoice_already_deleted_meanwhile_succeeds_and_drops_it_from_state(
    applied: Path,
) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]
    write_plan(applied, WITHOUT_KICKOFF)

    raced = step(applied, apply=True, between=lambda admin, _: admin.delete(kickoff_id))

    assert raced.applied is not None and raced.applied.ok, raced.applied.failures
    assert [r["status"] for r in raced.writes("DELETE")] == [404]  # gone is what was wanted
    assert KICKOFF not in remote_ids(applied)
    assert not step(applied).plan.has_changes


# ---- the rate limit ------------------------------------------------------------------------


def test_a_429_is_retried_after_the_seconds_in_x_ratelimit_retry_after() -> None:
    clock = Clock()
    with _brand_sandbox(
        clock, tokens=FINANCE, rate_limit_per_second=None, hourly_limit=2
    ) as sandbox:
        provider = _provider(sandbox, clock)
        provider.create(INVOICE, [_body(0)])
        clock.sleep(3590)
        provider.create(INVOICE, [_body(1)])
        clock.slept.clear()
        provider.create(INVOICE, [_body(2)])  # the first request's place frees up 10 s later
        provider.close()

    assert clock.slept == [10.0]  # as Wethod asked, not billplan's own shorter backoff


def test_an_hour_of_requests_used_up_stops_at_once_saying_when_to_run_again() -> None:
    clock = Clock()
    with _brand_sandbox(
        clock, tokens=FINANCE, rate_limit_per_second=None, hourly_limit=1
    ) as sandbox:
        provider = _provider(sandbox, clock)
        provider.create(INVOICE, [_body(0)])
        with pytest.raises(ProviderError) as refused:
            provider.create(INVOICE, [_body(1)])
        provider.close()

    assert clock.slept == []  # an hour is no retry
    assert str(refused.value) == (
        "Wethod 429: The limit of 1 requests an hour for this token is reached. — Wethod asks to "
        "wait 3600 s, longer than billplan waits (a token may make 5,000 requests an hour); run "
        "billplan again then (what was applied stays applied)"
    )


def test_an_apply_needing_more_than_an_hour_of_requests_is_refused_before_it_starts() -> None:
    provider = Wethod("wethod", {"type": "wethod", "company": COMPANY}, token=SANDBOX_TOKEN)

    assert provider.check_budget(4999) is None
    assert provider.check_budget(5001) == (
        "Wethod: this apply needs 5,001 requests after the 0 this run has made, but a Wethod "
        "token may make 5,000 an hour; nothing was applied. Apply part of the plan (--target) "
        "now and the rest an hour later."
    )


@contextlib.contextmanager
def _brand_sandbox(clock: Clock, tokens: tuple[str, ...], **settings: Any) -> Iterator[Sandbox]:
    """The sandbox on `clock`, holding the company, its brand project and a token with these
    permissions, with its settings (the hour's limit, a rate a second) as given."""
    with build_sandbox(clock=clock) as sandbox:
        with admin_of(sandbox) as admin:
            admin.add_company(COMPANY)
            admin.add_project(BRAND)
            admin.token(*tokens)
            if settings:
                admin.settings(**settings)
        yield sandbox


def _provider(sandbox: Sandbox, clock: Clock) -> Wethod:
    return Wethod(
        "wethod",
        {"type": "wethod", "company": COMPANY},
        transport=sandbox.transport,
        base_url=base_url("wethod"),
        token=SANDBOX_TOKEN,
        sleep=clock.sleep,
    )


def _body(n: int) -> dict[str, Any]:
    return {"project_id": BRAND, "value": Decimal(100 + n), "issue_date": "2026-01-01",
            "notes": f"Invoice {n}"}  # fmt: skip


def test_a_429_is_retried_after_the_seconds_wethod_asks_for_and_creates_once() -> None:
    clock = Clock()
    with _brand_sandbox(
        clock, tokens=("invoices.create", "invoices.create_other"), hourly_limit=10
    ) as sandbox:
        provider = _provider(sandbox, clock)
        for n in range(10):
            provider.create(INVOICE, [_body(n)])
        clock.sleep(3550)  # the hour's ten were all made at 0 s: their places free at 3,600
        clock.slept.clear()
        for n in range(10, 12):
            provider.create(INVOICE, [_body(n)])
        provider.close()
        with admin_of(sandbox) as admin:
            statuses = [r["status"] for r in admin.requests("POST")]
            invoices = admin.invoices()

    assert statuses == [201] * 10 + [429, 201, 201]
    assert clock.slept == [50.0]  # x-ratelimit-retry-after: 50, not the client's own backoff
    assert sorted(i["notes"] for i in invoices) == sorted(f"Invoice {n}" for n in range(12))


def test_a_hundred_reads_go_out_at_once_without_waiting_or_a_429() -> None:
    # Wethod documents no rate a second: a plan's reads, well within the hour, need no pacing.
    clock = Clock()
    with _brand_sandbox(clock, tokens=FINANCE) as sandbox:
        provider = _provider(sandbox, clock)
        provider.limiter.clock, provider.limiter.sleep = clock, clock.sleep
        statuses = [provider.request("GET", "/api/invoices").status_code for _ in range(100)]
        provider.close()

    assert statuses == [200] * 100
    assert clock.slept == []


def test_the_client_sends_a_fifth_of_the_hour_at_once_and_spreads_the_rest_over_the_hour() -> None:
    clock = Clock()
    provider = Wethod("wethod", {"type": "wethod", "company": COMPANY}, token=SANDBOX_TOKEN)
    limiter = provider.limiter
    limiter.clock, limiter.sleep = clock, clock.sleep
    for _ in range(1000):
        limiter.wait()
    assert clock.slept == []
    limiter.wait()
    # The other 4,000 of the hour, evenly (at 97 %: Wethod counts arrivals, not departures).
    assert clock.slept == [pytest.approx(3600 / 4000 / 0.97)]


def test_the_client_alone_never_spends_more_than_5000_requests_in_any_hour() -> None:
    clock = Clock()
    provider = Wethod("wethod", {"type": "wethod", "company": COMPANY}, token=SANDBOX_TOKEN)
    limiter = provider.limiter
    limiter.clock, limiter.sleep = clock, clock.sleep
    sent = []
    for _ in range(9000):  # over two hours of requests, as fast as it lets them go
        limiter.wait()
        sent.append(clock.now)
    # Any 5,001 requests in a row span more than an hour: Wethod's rolling hour never refuses.
    assert min(later - first for first, later in zip(sent, sent[5000:], strict=False)) > 3600
