"""The life of a plan against Coperniq: one DRAFT invoice per item, or one per project and date
with `group_by: date`; percentage invoices priced by Coperniq; invoices that leave DRAFT are
locked; a rolling daily request budget that billplan never overspends.

billplan's real Coperniq provider talks to the real emulator: in process through a plan
directory's sandbox (`step`), or over loopback for the command line (`remote`), where the
emulator's daily usage lasts from one `billplan` run to the next.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import remote_ids, sandboxed, write_plan
from support_coperniq import (
    ADDRESSES,
    APRIL,
    BATTERIES,
    BATTERY_ITEM,
    DESIGN,
    EQUIPMENT,
    GROUPED,
    GROUPED_ADDRESSES,
    HEAD,
    INSTALLATION_ITEM,
    INTERCONNECTION,
    JULY,
    MONITORING_ITEM,
    MONITORING_Q3,
    PLAN,
    RECORD,
    TOKEN_ENV,
    Admin,
    Remote,
    plan_sandbox,
    remote,
    step,
    variant,
    with_percent,
)

DESIGN_LINE = "      design: {description: Engineering design, date: 2026-04-01, amount: 48000}\n"
EQUIPMENT_280000 = variant(("amount: 275000}", "amount: 280000}"))
WITHOUT_DESIGN = variant((DESIGN_LINE, ""))
DESIGN_SENT = variant(("amount: 48000}", "amount: 48000, coperniq: {status: SENT}}"))


# What a plan reads from Coperniq before comparing: the catalog (once), then each project's
# invoices.
PLAN_READS = ["GET", "GET"]


def ids(directory: Path) -> dict[str, int]:
    return {address: int(remote) for address, remote in remote_ids(directory).items() if remote}


def line_of(line: dict[str, Any]) -> tuple[Any, ...]:
    """(catalogItemId, description, quantity, unitCost, unitPrice) of a line."""
    return tuple(
        line[k] for k in ("catalogItemId", "description", "quantity", "unitCost", "unitPrice")
    )


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """A plan directory whose ungrouped plan has been applied once to its sandbox."""
    directory = write_plan(tmp_path / "billing", PLAN, head=HEAD)
    first = step(directory, apply=True)
    assert first.applied is not None and first.applied.ok, first.applied
    return directory


@pytest.fixture
def grouped(tmp_path: Path) -> Path:
    """A plan directory whose `group_by: date` plan has been applied once to its sandbox."""
    directory = write_plan(tmp_path / "billing", GROUPED, head=HEAD)
    first = step(directory, apply=True)
    assert first.applied is not None and first.applied.ok, first.applied
    return directory


# ---- one invoice per item ------------------------------------------------------------------


def test_each_item_becomes_one_draft_invoice_with_one_exact_line(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        batteries = admin.get(ids(applied)[BATTERIES])
        design = admin.get(ids(applied)[DESIGN])

    assert sorted(ids(applied)) == ADDRESSES
    assert (batteries["status"], batteries["calculationMethod"]) == ("DRAFT", "LINE_ITEMS")
    assert [line_of(line) for line in batteries["lineItems"]] == [
        (BATTERY_ITEM, "Battery storage units", 6, 0, 11500)
    ]
    assert batteries["amount"] == 69000
    assert [line_of(line) for line in design["lineItems"]] == [
        (INSTALLATION_ITEM, "Engineering design", 1, 0, 48000)
    ]


def test_the_due_date_is_the_billing_date_plus_due_in_days(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        design = admin.get(ids(applied)[DESIGN])  # billed 2026-04-01, due 30 days later

    assert design["dueDate"] == "2026-05-01T00:00:00.000Z"
    assert design["issueDate"] is None  # a DRAFT is not issued yet


def test_a_second_apply_sends_no_writes(applied: Path) -> None:
    again = step(applied, apply=True)

    assert set(again.actions().values()) == {"no-op"}
    assert not again.plan.has_changes
    assert again.methods() == PLAN_READS  # the catalog, and one list of the project's invoices


def test_changing_an_amount_patches_only_that_invoice(applied: Path) -> None:
    equipment = ids(applied)[EQUIPMENT]
    write_plan(applied, EQUIPMENT_280000, head=HEAD)

    changed = step(applied, apply=True)

    with plan_sandbox(applied) as admin:
        (line,) = admin.get(equipment)["lineItems"]
    assert changed.change(EQUIPMENT).action == "update"
    assert changed.methods() == [*PLAN_READS, "PATCH"]  # no read after the write
    (patch,) = changed.writes("PATCH")
    assert patch["path"] == f"/v1/invoices/{equipment}"
    assert patch["body"]["lineItems"] == [
        {
            "catalogItemId": INSTALLATION_ITEM,
            "description": "Equipment delivered",
            "quantity": 1,
            "unitCost": 0,
            "unitPrice": Decimal("280000.00"),
            "id": line["id"],  # the line it changes, not a new one
        }
    ]
    assert not {"recordId", "calculationMethod", "status", "issueDate"} & set(patch["body"])
    with plan_sandbox(applied) as admin:
        assert admin.get(equipment)["amount"] == 280000
        assert [new["id"] for new in admin.get(equipment)["lineItems"]] == [line["id"]]
    assert not step(applied).plan.has_changes


def test_removing_a_charge_deletes_its_invoice(applied: Path) -> None:
    design = ids(applied)[DESIGN]
    write_plan(applied, WITHOUT_DESIGN, head=HEAD)

    removed = step(applied, apply=True)

    assert removed.change(DESIGN).action == "delete"
    assert [(r["method"], r["path"]) for r in removed.requests[2:]] == [
        ("DELETE", f"/v1/invoices/{design}")
    ]
    assert DESIGN not in remote_ids(applied)
    with plan_sandbox(applied) as admin:
        assert design not in {i["id"] for i in admin.invoices()}


def test_an_invoice_edited_in_coperniq_is_drift_and_apply_restores_it(applied: Path) -> None:
    batteries = ids(applied)[BATTERIES]
    with plan_sandbox(applied) as admin:
        line = {"catalogItemId": BATTERY_ITEM, "quantity": 5, "unitPrice": 11500}
        admin.edit(batteries, lineItems=[{**line, "description": "Battery storage units"}])

    drifted = step(applied, apply=True)

    change = drifted.change(BATTERIES)
    assert (change.action, change.reason) == ("update", "drift")
    assert "changed outside billplan (lineItems)" in change.detail
    assert len(drifted.writes("PATCH")) == 1
    with plan_sandbox(applied) as admin:
        assert admin.get(batteries)["amount"] == 69000
    assert not step(applied).plan.has_changes


def test_a_sent_invoice_changed_in_the_plan_is_locked_and_never_written(applied: Path) -> None:
    equipment = ids(applied)[EQUIPMENT]
    with plan_sandbox(applied) as admin:
        admin.set_status(equipment, "SENT")
    write_plan(applied, EQUIPMENT_280000, head=HEAD)

    locked = step(applied, apply=True)

    change = locked.change(EQUIPMENT)
    assert (change.action, change.reason) == ("no-op", "locked")
    assert [f.field for f in change.fields] == ["lineItems"]
    assert locked.methods() == PLAN_READS
    with plan_sandbox(applied) as admin:
        assert admin.get(equipment)["amount"] == 275000


def test_a_sent_invoice_removed_from_the_plan_is_locked_not_deleted(applied: Path) -> None:
    design = ids(applied)[DESIGN]
    with plan_sandbox(applied) as admin:
        admin.set_status(design, "PAID")
    write_plan(applied, WITHOUT_DESIGN, head=HEAD)

    kept = step(applied, apply=True)

    assert kept.why(DESIGN) == ("no-op", "locked")
    assert kept.methods() == PLAN_READS
    assert ids(applied)[DESIGN] == design


def test_a_sent_invoice_the_plan_would_change_is_shown_loudly(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        admin.set_status(ids(applied)[EQUIPMENT], "SENT")
    write_plan(applied, EQUIPMENT_280000, head=HEAD)

    shown = sandboxed("plan", applied)

    assert shown.code == 0, shown.text
    assert f"! LOCKED  {EQUIPMENT}  2026-07-01  275,000.00 USD" in shown.out
    assert "Warning: 1 invoiced object differs from the plan and will not be changed." in shown.out
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 locked." in shown.out


def test_changing_due_in_days_moves_no_billing_between_months(applied: Path) -> None:
    write_plan(applied, variant(("due_in_days: 30", "due_in_days: 45")), head=HEAD)

    longer = step(applied)

    assert {c.action for c in longer.plan.changes} == {"update"}  # five new due dates
    assert longer.plan.impact().by_month == {}


# ---- one invoice per project and date ------------------------------------------------------


def test_items_on_one_date_become_one_invoice_with_a_section_per_kind(grouped: Path) -> None:
    with plan_sandbox(grouped) as admin:
        july = admin.get(ids(grouped)[JULY])

    assert sorted(ids(grouped)) == GROUPED_ADDRESSES
    assert [(line["sectionName"], line["description"]) for line in july["lineItems"]] == [
        ("Recurring fees", "Monitoring 2026-Q3"),
        ("Milestones", "Equipment delivered"),
        ("Products", "Battery storage units"),
    ]
    assert july["amount"] == 2400 + 275000 + 6 * 11500
    assert (july["description"], july["dueDate"]) == (
        "sunridge: billing for 2026-07-01",
        "2026-07-31T00:00:00.000Z",
    )


def test_a_grouped_plan_converges(grouped: Path) -> None:
    again = step(grouped, apply=True)

    assert set(again.actions().values()) == {"no-op"}
    assert again.methods() == PLAN_READS


def test_changing_one_line_patches_its_dates_invoice_with_every_section(grouped: Path) -> None:
    july = ids(grouped)[JULY]
    write_plan(grouped, variant(("rate: 11500", "rate: 12000"), body=GROUPED), head=HEAD)

    changed = step(grouped, apply=True)

    assert changed.actions()[JULY] == "update"
    assert changed.methods() == [*PLAN_READS, "PATCH"]
    (patch,) = changed.writes("PATCH")
    assert patch["path"] == f"/v1/invoices/{july}"
    assert [s["name"] for s in patch["body"]["sections"]] == [
        "Recurring fees",
        "Milestones",
        "Products",
    ]
    with plan_sandbox(grouped) as admin:
        assert admin.get(july)["amount"] == 2400 + 275000 + 6 * 12000
    assert not step(grouped).plan.has_changes


def test_adding_an_item_on_an_existing_date_updates_that_dates_invoice(grouped: Path) -> None:
    april = ids(grouped)[APRIL]
    survey = (
        "      survey: {description: Site survey, quantity: 2, rate: 750, date: 2026-04-01,\n"
        "               coperniq: {catalog_item: 3004}}\n"
    )
    write_plan(
        grouped, variant(("    products:\n", "    products:\n" + survey), body=GROUPED), HEAD
    )

    added = step(grouped, apply=True)

    assert added.actions()[APRIL] == "update"
    assert added.methods() == [*PLAN_READS, "PATCH"]  # no second invoice for the same date
    with plan_sandbox(grouped) as admin:
        invoice = admin.get(april)
    assert [(line["sectionName"], *line_of(line)) for line in invoice["lineItems"]] == [
        ("Milestones", INSTALLATION_ITEM, "Engineering design", 1, 0, 48000),
        ("Products", 3004, "Site survey", 2, 0, 750),
    ]
    assert not step(grouped).plan.has_changes


def test_removing_every_item_of_a_date_deletes_its_invoice(grouped: Path) -> None:
    april = ids(grouped)[APRIL]
    write_plan(grouped, variant((DESIGN_LINE, ""), body=GROUPED), head=HEAD)

    removed = step(grouped, apply=True)

    assert removed.actions()[APRIL] == "delete"
    assert [(r["method"], r["path"]) for r in removed.requests[2:]] == [
        ("DELETE", f"/v1/invoices/{april}")
    ]
    assert sorted(ids(grouped)) == [JULY, "sunridge/invoices/2026-10-01"]
    assert not step(grouped).plan.has_changes


def test_items_sharing_a_grouped_invoice_must_agree_on_its_terms(tmp_path: Path) -> None:
    sent_batteries = (
        f"coperniq: {{catalog_item: {BATTERY_ITEM}}}}}",
        f"coperniq: {{catalog_item: {BATTERY_ITEM}, status: SENT}}}}",
    )
    directory = write_plan(tmp_path / "billing", variant(sent_batteries, body=GROUPED), HEAD)

    run = sandboxed("plan", directory)

    assert run.code == 1
    assert f"{BATTERIES}: the items billed on 2026-07-01 share one Coperniq invoice" in (run.errors)
    assert "(due_in_days 30, status DRAFT; due_in_days 30, status SENT)" in run.errors


# ---- percentage invoices -------------------------------------------------------------------


def test_a_percent_milestone_becomes_a_percentage_invoice_priced_by_coperniq(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", with_percent(), head=HEAD)

    first = step(directory, apply=True)

    (post,) = [r for r in first.writes("POST") if r["body"]["calculationMethod"] == "PERCENTAGE"]
    assert post["body"]["percentage"] == 15 and "lineItems" not in post["body"]
    with plan_sandbox(directory) as admin:
        invoice = admin.get(ids(directory)[INTERCONNECTION])
    assert (invoice["percentage"], invoice["baseAmount"], invoice["amount"]) == (15, 612000, 91800)
    assert invoice["lineItems"] == []
    assert first.change(INTERCONNECTION).after_side.amount == Decimal("91800.00")


def test_a_percentage_invoice_converges(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", with_percent(), head=HEAD)
    assert step(directory, apply=True).applied.ok

    again = step(directory, apply=True)

    assert again.actions()[INTERCONNECTION] == "no-op"
    assert again.methods() == PLAN_READS


def test_changing_the_percent_replaces_the_draft_coperniq_cannot_update(tmp_path: Path) -> None:
    # update-invoice takes no percentage (InvoiceUpdate has none): a new percent is a new invoice.
    directory = write_plan(tmp_path / "billing", with_percent(), head=HEAD)
    assert step(directory, apply=True).applied.ok
    old = ids(directory)[INTERCONNECTION]
    write_plan(directory, with_percent().replace("percent: 15%", "percent: 20%"), head=HEAD)

    changed = step(directory, apply=True)

    assert sorted(c.action for c in changed.plan.changes if c.address == INTERCONNECTION) == [
        "create",
        "delete",
    ]
    assert [(r["method"], r["path"]) for r in changed.requests[2:]] == [
        ("DELETE", f"/v1/invoices/{old}"),
        ("POST", "/v1/invoices"),
    ]
    assert changed.writes("POST")[0]["body"]["percentage"] == 20
    with plan_sandbox(directory) as admin:
        assert admin.get(ids(directory)[INTERCONNECTION])["amount"] == 122400
    assert not step(directory).plan.has_changes


def test_a_percentage_coperniq_prices_apart_from_the_plan_is_noted_not_rewritten(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", with_percent(), head=HEAD)
    assert step(directory, apply=True).applied.ok
    cheaper = with_percent().replace("contract_value: 612000", "contract_value: 600000")
    write_plan(directory, cheaper, head=HEAD)

    again = step(directory, apply=True)

    assert again.actions()[INTERCONNECTION] == "no-op"
    assert again.methods() == PLAN_READS
    assert again.plan.notes == [
        f"{INTERCONNECTION}: the vendor bills 91800 USD where the plan expects 90000.00; "
        "check the figures it computes from (a contract value?)"
    ]


def test_turning_an_amount_into_a_percent_replaces_the_invoice_coperniq_cannot_convert(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", PLAN, head=HEAD)
    assert step(directory, apply=True).applied.ok
    old = ids(directory)[DESIGN]
    as_percent = ("date: 2026-04-01, amount: 48000}", "date: 2026-04-01, percent: 10%}")
    write_plan(directory, variant(as_percent), head=HEAD)

    replaced = step(directory, apply=True)

    assert sorted(c.action for c in replaced.plan.changes if c.address == DESIGN) == [
        "create",
        "delete",
    ]
    assert replaced.applied.ok, replaced.applied.failures
    assert [r["method"] for r in replaced.requests if r["method"] != "GET"] == ["DELETE", "POST"]
    assert ids(directory)[DESIGN] != old
    assert not step(directory).plan.has_changes


# ---- statuses ------------------------------------------------------------------------------


def test_status_sent_creates_a_sent_invoice_issued_on_its_billing_date(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", DESIGN_SENT, head=HEAD)

    first = step(directory, apply=True)

    (post,) = [r for r in first.writes("POST") if r["body"]["description"] == "Engineering design"]
    assert (post["body"]["status"], post["body"]["issueDate"]) == (
        "SENT",
        "2026-04-01T00:00:00.000Z",
    )
    with plan_sandbox(directory) as admin:
        invoices = {i["description"]: i for i in admin.invoices()}
    assert invoices["Engineering design"]["status"] == "SENT"
    assert invoices["Engineering design"]["issueDate"] == "2026-04-01T00:00:00.000Z"
    others = {i["status"] for name, i in invoices.items() if name != "Engineering design"}
    assert others == {"DRAFT"}  # the option is the charge's own


def test_an_invoice_created_sent_is_locked_from_then_on(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", DESIGN_SENT, head=HEAD)
    assert step(directory, apply=True).applied.ok
    assert not step(directory).plan.has_changes
    write_plan(directory, DESIGN_SENT.replace("amount: 48000,", "amount: 50000,"), head=HEAD)

    changed = step(directory, apply=True)

    assert changed.why(DESIGN) == ("no-op", "locked")
    assert changed.methods() == PLAN_READS


def test_an_invoice_sent_between_plan_and_apply_is_refused_naming_the_address(
    applied: Path,
) -> None:
    equipment = ids(applied)[EQUIPMENT]
    write_plan(applied, EQUIPMENT_280000, head=HEAD)

    raced = step(applied, apply=True, between=lambda admin: admin.set_status(equipment, "SENT"))

    assert raced.failures() == {
        EQUIPMENT: f"Coperniq 400: Invoice {equipment} is SENT; only a DRAFT invoice's lines, "
        "dates and description can be changed (field status)"
    }
    assert ids(applied)[EQUIPMENT] == equipment
    assert step(applied).why(EQUIPMENT) == ("no-op", "locked")


def test_coperniqs_refusal_of_a_create_is_shown_with_its_message(tmp_path: Path) -> None:
    with remote(contract_value=None) as coperniq:  # a project with no contract value
        directory = write_plan(tmp_path / "billing", with_percent(), head=coperniq.head)

        run = coperniq.billplan("apply", directory)

    assert run.code == 1
    assert (
        f"{INTERCONNECTION}: Coperniq 400: record {RECORD} has no contract value to take a "
        "percentage of (field recordId)"
    ) in run.errors
    assert "Apply incomplete: 5 created; 1 failed." in run.out
    assert INTERCONNECTION not in remote_ids(directory, sandbox=False)


# ---- the daily request budget --------------------------------------------------------------


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[tuple[Remote, Path]]:
    """A Coperniq key allowed 20 requests a day, and the ungrouped plan (5 invoices)."""
    with remote() as coperniq:
        coperniq.admin.settings(daily_limit=20)
        yield coperniq, write_plan(tmp_path / "billing", PLAN, head=coperniq.head)


def test_a_low_daily_budget_is_noted_in_the_plan(budgeted: tuple[Remote, Path]) -> None:
    coperniq, directory = budgeted
    coperniq.spend(15)  # 20 - 15 - 2 reads (the catalog, the invoices) = 3 left

    run = coperniq.billplan("plan", directory)

    assert run.code == 0, run.text
    note = "Coperniq: 3 of 20 requests left in the rolling 24-hour budget for this API key"
    assert f"Note: {note}" in " ".join(run.out.split())


def test_a_low_daily_budget_is_listed_in_the_json_plans_notes(
    budgeted: tuple[Remote, Path],
) -> None:
    coperniq, directory = budgeted
    coperniq.spend(15)

    run = coperniq.billplan("plan", directory, "--format", "json")

    assert json.loads(run.out)["notes"] == [
        "Coperniq: 3 of 20 requests left in the rolling 24-hour budget for this API key"
    ]


def test_a_plan_with_budget_to_spare_has_no_note(budgeted: tuple[Remote, Path]) -> None:
    coperniq, directory = budgeted

    run = coperniq.billplan("plan", directory, "--format", "json")

    assert json.loads(run.out)["notes"] == []


def test_an_apply_needing_more_requests_than_remain_is_refused_before_any_write(
    budgeted: tuple[Remote, Path],
) -> None:
    coperniq, directory = budgeted
    coperniq.spend(14)  # 20 - 14 - 2 reads = 4 left; the plan needs 5 creates

    run = coperniq.billplan("apply", directory)

    assert run.code == 1
    assert (
        "Coperniq: this apply needs 5 requests but only 4 of the key's 20 daily requests are "
        "left; nothing was applied."
    ) in run.errors
    assert [r["method"] for r in coperniq.admin.requests()] == PLAN_READS
    assert coperniq.admin.invoices() == []


def test_an_exhausted_daily_budget_is_not_waited_for(budgeted: tuple[Remote, Path]) -> None:
    coperniq, directory = budgeted
    coperniq.spend(20)

    run = coperniq.billplan("plan", directory)

    assert run.code == 1
    assert "Coperniq 429" in run.errors
    assert [r["method"] for r in coperniq.admin.requests()] == ["GET"]  # asked once, not 8 times


def test_an_apply_within_the_budget_proceeds_to_its_last_request(
    budgeted: tuple[Remote, Path],
) -> None:
    coperniq, directory = budgeted
    coperniq.spend(13)  # 20 - 13 - 2 reads = 5 left: exactly the 5 creates

    run = coperniq.billplan("apply", directory)

    assert run.code == 0, run.text
    assert "Apply complete: 5 created." in run.out
    assert [r["status"] for r in coperniq.admin.requests()] == [200, 200] + [201] * 5


WEEKLY_130 = f"""\
projects:
  sunridge:
    provider: coperniq
    project_id: {RECORD}
    coperniq: {{catalog_item: {MONITORING_ITEM}}}
    recurring:
      monitoring:
        description: "Monitoring {{{{ period.label }}}}"
        every: week
        amount: 200
        start: 2026-01-05
        count: 130
"""


def test_each_page_of_a_project_is_listed_once_and_each_invoice_posted_once(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", WEEKLY_130, head=HEAD)

    first = step(directory, apply=True)
    again = step(directory, apply=True)

    assert first.methods() == PLAN_READS + ["POST"] * 130  # no read after any write
    assert [(r["path"], r["query"]) for r in again.requests] == [
        ("/v1/catalog-items", ""),
        (f"/v1/projects/{RECORD}/invoices", "page=1&page_size=100"),
        (f"/v1/projects/{RECORD}/invoices", "page=2&page_size=100"),
    ]
    assert not again.plan.has_changes


# ---- lost responses ------------------------------------------------------------------------


def lose_first_create(admin: Admin) -> None:
    admin.fault("POST", "/invoices", lose_response=True)


@pytest.mark.parametrize(
    ("body", "address"), [(PLAN, DESIGN), (GROUPED, APRIL)], ids=["ungrouped", "grouped"]
)
def test_a_create_whose_response_was_lost_is_adopted_by_the_next_plan_without_a_duplicate(
    tmp_path: Path, body: str, address: str
) -> None:
    directory = write_plan(tmp_path / "billing", body, head=HEAD)
    first = step(directory, apply=True, arrange=lose_first_create)
    (failure,) = first.applied.failures
    assert (failure.address, failure.unknown) == (address, True)
    assert remote_ids(directory)[address] is None  # pending: sent, answer lost

    second = step(directory, apply=True)

    assert second.change(address).action == "adopt"
    # No second POST; the project is read twice, as a pending create's must be (issue 15).
    assert second.methods() == [*PLAN_READS, "GET"]
    with plan_sandbox(directory) as admin:
        held = {i["id"]: i["description"] for i in admin.invoices()}
    assert len(held) == len(set(held.values())) == len(ids(directory))  # one each, no twin
    assert ids(directory)[address] in held
    assert not step(directory).plan.has_changes


# ---- the key -------------------------------------------------------------------------------


def test_a_key_coperniq_does_not_accept_fails_the_plan_with_401(tmp_path: Path) -> None:
    with remote() as coperniq:
        coperniq.admin.settings(tokens=["rotated-key"])
        directory = write_plan(tmp_path / "billing", PLAN, head=coperniq.head)

        run = coperniq.billplan("plan", directory)

    assert run.code == 1
    assert (
        "Coperniq 401: API key is missing or invalid: send a valid key in the x-api-key header. "
        f"(Coperniq did not accept the token in ${TOKEN_ENV} of connection 'coperniq': it "
        "may be mistyped, rotated or revoked; set a current one)"
    ) in " ".join(run.errors.split())


def test_a_key_revoked_during_apply_fails_each_write_with_401_naming_its_address(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", PLAN, head=HEAD)

    revoked = step(
        directory, apply=True, between=lambda admin: admin.settings(tokens=["rotated-key"])
    )

    failures = revoked.failures()
    assert sorted(failures) == ADDRESSES
    assert failures[MONITORING_Q3].startswith(
        "Coperniq 401: API key is missing or invalid: send a valid key in the x-api-key header"
    )
    assert remote_ids(directory) == {}  # refused: nothing was created, nothing pending


# ---- catalog items, unit costs and whole quantities ----------------------------------------


def located(directory: Path, text: str, value: str) -> str:
    """FILE:LINE:COL of `value` on the first line of the plan that holds `text`."""
    path = directory / "plan.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if text in line)
    return f"{path}:{number + 1}:{lines[number].index(value, lines[number].index(text)) + 1}"


def test_every_line_names_its_catalog_item_a_unit_cost_and_a_whole_quantity(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", PLAN, head=HEAD)

    first = step(directory, apply=True)

    lines = {r["body"]["description"]: r["body"]["lineItems"] for r in first.writes("POST")}
    assert lines["Battery storage units"] == [
        {
            "catalogItemId": BATTERY_ITEM,
            "description": "Battery storage units",
            "quantity": 6,
            "unitCost": 0,  # billplan does not know your cost unless the plan says
            "unitPrice": 11500,
        }
    ]
    assert [line_of(line) for line in lines["Monitoring 2026-Q3"]] == [
        (MONITORING_ITEM, "Monitoring 2026-Q3", 1, 0, Decimal("2400.00"))
    ]


def test_a_line_without_a_catalog_item_is_an_error_where_its_charge_is_written(
    tmp_path: Path,
) -> None:
    without = variant((f", catalog_item: {INSTALLATION_ITEM}}}", "}"))
    directory = write_plan(tmp_path / "billing", without, head=HEAD)

    run = sandboxed("plan", directory)

    assert run.code == 1
    design = located(directory, "design:", "design")
    assert (
        f"{design}: {DESIGN}: Coperniq needs a catalog item for every invoice line: set "
        "`coperniq: {catalog_item: <id>}` under defaults, on the project or on the charge"
    ) in run.errors
    assert EQUIPMENT in run.errors and INTERCONNECTION not in run.errors


def test_a_percent_milestone_needs_no_catalog_item(tmp_path: Path) -> None:
    only_percent = f"""\
projects:
  sunridge:
    provider: coperniq
    project_id: {RECORD}
    contract_value: 612000
    milestones:
      interconnection: {{description: Interconnection approved, date: 2026-10-01, percent: 15%}}
"""
    directory = write_plan(tmp_path / "billing", only_percent, head=HEAD)

    first = step(directory, apply=True)

    assert first.applied.ok
    assert first.methods() == ["GET", "POST"]  # no catalog to check


def test_the_unit_cost_is_sent_as_each_units_cost_and_converges(tmp_path: Path) -> None:
    costed = variant(
        (f"catalog_item: {BATTERY_ITEM}}}", f"catalog_item: {BATTERY_ITEM}, unit_cost: 9200}}")
    )
    directory = write_plan(tmp_path / "billing", costed, head=HEAD)

    first = step(directory, apply=True)

    (post,) = [
        r for r in first.writes("POST") if r["body"]["description"] == "Battery storage units"
    ]
    assert [line_of(line) for line in post["body"]["lineItems"]] == [
        (BATTERY_ITEM, "Battery storage units", 6, 9200, 11500)
    ]
    assert not step(directory).plan.has_changes


def test_a_fractional_quantity_is_billed_as_one_line_of_the_exact_amount(tmp_path: Path) -> None:
    survey = (
        "      survey: {description: Site survey, quantity: 2.5, rate: 750.10, date: 2026-04-01,\n"
        "               coperniq: {catalog_item: 3004, unit_cost: 300}}\n"
    )
    directory = write_plan(
        tmp_path / "billing", variant(("    products:\n", "    products:\n" + survey)), HEAD
    )

    first = step(directory, apply=True)

    with plan_sandbox(directory) as admin:
        invoice = admin.get(ids(directory)["sunridge/products/survey"])
    assert [line_of(line) for line in invoice["lineItems"]] == [
        (3004, "Site survey (2.5 x 750.10)", 1, 750, Decimal("1875.25"))
    ]
    assert invoice["amount"] == Decimal("1875.25")  # 2.5 x 750.10, to the cent
    assert first.change("sunridge/products/survey").after_side.amount == Decimal("1875.25")
    assert not step(directory).plan.has_changes


def test_two_charges_on_one_catalog_item_cannot_share_a_grouped_invoice(tmp_path: Path) -> None:
    # Without its own catalog item the batteries line takes the project's, as equipment does,
    # and both are billed on 2026-07-01.
    shared = variant(
        (f",\n                  coperniq: {{catalog_item: {BATTERY_ITEM}}}}}", "}"), body=GROUPED
    )
    directory = write_plan(tmp_path / "billing", shared, head=HEAD)

    run = sandboxed("plan", directory)

    assert run.code == 1
    assert (
        f"{EQUIPMENT} and {BATTERIES} are billed on 2026-07-01 on one Coperniq invoice "
        f"(group_by: date) with the same catalog item {INSTALLATION_ITEM}, and Coperniq takes a "
        "catalog item once per invoice: give each charge its own "
        "`coperniq: {catalog_item: <id>}`, or set `group_by: none` on one of them to bill it on "
        "an invoice of its own"
    ) in run.errors
    assert f"{located(directory, 'batteries:', 'batteries')}: {BATTERIES}: " in run.errors


def test_the_plan_reads_the_catalog_once_for_the_connection(tmp_path: Path) -> None:
    with remote() as coperniq:
        directory = write_plan(tmp_path / "billing", PLAN, head=coperniq.head)

        run = coperniq.billplan("plan", directory)

        assert run.code == 0, run.text
        assert [r["path"] for r in coperniq.admin.requests()] == [
            "/v1/catalog-items",
            f"/v1/projects/{RECORD}/invoices",
        ]


def test_an_unknown_catalog_item_fails_the_plan_naming_it_its_connection_and_where_it_is_set(
    tmp_path: Path,
) -> None:
    with remote() as coperniq:
        unknown = variant((f"catalog_item: {MONITORING_ITEM}", "catalog_item: 3999"))
        directory = write_plan(tmp_path / "billing", unknown, head=coperniq.head)

        run = coperniq.billplan("plan", directory)

        assert run.code == 1
        where = located(directory, "catalog_item: 3999", "3999")
        assert (
            "Coperniq connection 'coperniq' has no catalog item 3999 (the catalog, "
            "GET /catalog-items, has 3 items). Set `catalog_item` to the id of a product or "
            "service in the catalog, or add it to Coperniq's catalog first: "
            f"{where}: catalog_item 3999, used by {MONITORING_Q3} and sunridge/recurring/"
            "monitoring/2026-Q4"
        ) in run.errors
        assert [r["path"] for r in coperniq.admin.requests()] == ["/v1/catalog-items"]


def test_a_sandbox_run_creates_the_plans_catalog_items_once_and_says_so(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", PLAN, head=HEAD)

    first = sandboxed("plan", directory)
    again = sandboxed("plan", directory)

    assert first.code == 0, first.text
    for note in (
        f"sandbox: created Coperniq catalog item {BATTERY_ITEM} (Batteries)",
        f"sandbox: created Coperniq catalog item {INSTALLATION_ITEM} (Design, equipment)",
        f"sandbox: created Coperniq catalog item {MONITORING_ITEM} (Monitoring)",
    ):
        assert note in first.errors
    assert "catalog item" not in again.errors
    with plan_sandbox(directory) as admin:
        assert [(i["id"], i["type"]) for i in admin.catalog_items()] == [
            (BATTERY_ITEM, "PRODUCT"),
            (INSTALLATION_ITEM, "SERVICE"),
            (MONITORING_ITEM, "SERVICE"),
        ]


def test_a_full_page_that_says_no_more_follow_ends_the_list(tmp_path: Path) -> None:
    directory = write_plan(
        tmp_path / "billing", WEEKLY_130.replace("count: 130", "count: 100"), head=HEAD
    )
    assert step(directory, apply=True).applied.ok

    again = step(directory)

    assert [r["query"] for r in again.requests] == ["", "page=1&page_size=100"]


def test_a_recurring_charge_without_a_catalog_item_is_reported_once_not_per_period(
    tmp_path: Path,
) -> None:
    without = WEEKLY_130.replace(f"    coperniq: {{catalog_item: {MONITORING_ITEM}}}\n", "")
    directory = write_plan(tmp_path / "billing", without, head=HEAD)

    run = sandboxed("plan", directory)

    assert run.code == 1
    assert run.errors.count("Coperniq needs a catalog item") == 1  # not 130 times


def test_a_negative_quantity_is_sent_as_a_discount_line_with_a_negative_unit_price(
    tmp_path: Path,
) -> None:
    returned = (
        "      returned: {description: Panels returned, quantity: -2, rate: 350, "
        "date: 2026-04-01,\n                 coperniq: {catalog_item: 3004}}\n"
    )
    body = variant(("    products:\n", "    products:\n" + returned))
    directory = write_plan(tmp_path / "billing", body, head=HEAD)

    assert step(directory, apply=True).applied.ok

    with plan_sandbox(directory) as admin:
        invoice = admin.get(ids(directory)["sunridge/products/returned"])
    assert [line_of(line) for line in invoice["lineItems"]] == [
        (3004, "Panels returned", 2, 0, -350)
    ]
    assert invoice["amount"] == -700
    assert not step(directory).plan.has_changes
