"""`adjust: next_open_period`: an invoiced object the plan changes gets an adjusting line for
the difference, at its address plus `/~adjust`, dated on the next open period, shown as a
create for reason `adjust`, and a plan converges after it is applied. Run through the command
line against each vendor's emulator (`--sandbox`; `billplan sandbox invoice` locks objects).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from support import (
    INVOICE_ITEM,
    MILESTONE,
    PROJECT_ID,
    Run,
    billplan,
    plan_sandbox,
    state_json,
    step,
    write_plan,
)
from support_coperniq import RECORD
from support_wethod import BRAND, PAYMENT_TERM, VAT_RATE


@dataclass(frozen=True)
class Vendor:
    name: str
    project_id: str
    options: str  # the project's option block, one line, or ""
    currency: str = "USD"


VENDORS = [
    Vendor("ruddr", PROJECT_ID, f"ruddr: {{invoice_item: {INVOICE_ITEM}}}"),
    Vendor("kantata", "41001", ""),
    Vendor(
        "wethod",
        str(BRAND),
        f"wethod: {{vat_rate_id: {VAT_RATE}, payment_term_id: {PAYMENT_TERM}}}",
        "EUR",
    ),
    Vendor("coperniq", str(RECORD), "coperniq: {catalog_item: 3002, due_in_days: 30}"),
]
RUDDR = VENDORS[0]

KICKOFF = "acme/milestones/kickoff"
JANUARY = "acme/recurring/support/2026-01"


def plan_text(
    vendor: Vendor, *, kickoff: str = "10000", support: str = "1000", adjust: bool = True
) -> str:
    head = f"version: 1\nproviders:\n  {vendor.name}: {{type: {vendor.name}"
    head += ", company: acme}\n" if vendor.name == "wethod" else "}\n"
    body = f"""\
        defaults:
          currency: {vendor.currency}
        {"  adjust: next_open_period" if adjust else ""}
        projects:
          acme:
            provider: {vendor.name}
            project_id: {vendor.project_id}
            {vendor.options}
            recurring:
              support:
                description: "Support {{{{ period.label }}}}"
                every: month
                amount: {support}
                start: 2026-01-01
                end: 2026-06-30
            milestones:
              kickoff: {{description: Kickoff, date: 2026-01-15, amount: {kickoff}}}
        """
    return head + textwrap.dedent(body)


def write(directory: Path, vendor: Vendor, **amounts: str | bool) -> Path:
    return write_plan(directory, plan_text(vendor, **amounts), head="")  # type: ignore[arg-type]


def run(*args: str | Path, as_of: str = "2026-03-10") -> Run:
    extra = ["--sandbox"]
    if args[0] in ("plan", "apply", "import"):
        extra += ["--as-of", as_of]
    if args[0] == "apply":
        extra.append("--auto-approve")
    return billplan(*args, *extra)


def entries(directory: Path) -> dict[str, dict]:
    return {e["address"]: e for e in state_json(directory)["entries"]}


def applied_and_invoiced(directory: Path, vendor: Vendor, *addresses: str) -> Path:
    """The plan applied to the vendor's sandbox, and these of its objects invoiced there."""
    write(directory, vendor)
    done = run("apply", directory)
    assert done.code == 0, done.text
    for address in addresses:
        marked = billplan("sandbox", "invoice", address, directory)
        assert marked.code == 0, marked.text
    return directory


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_an_invoiced_milestone_raised_in_the_plan_gets_an_extra_charge_and_converges(
    tmp_path: Path, vendor: Vendor
) -> None:
    directory = applied_and_invoiced(tmp_path, vendor, KICKOFF)
    write(directory, vendor, kickoff="12000")

    planned = run("plan", directory)
    done = run("apply", directory)
    again = run("plan", directory, "--detailed-exitcode", as_of="2026-03-20")

    assert planned.code == 0, planned.text
    assert f"+ create  {KICKOFF}/~adjust  2026-03-10   2,000.00 {vendor.currency}" in planned.out
    assert f"adjusting line for {KICKOFF}, invoiced at 10,000.00" in planned.out
    assert f"{KICKOFF}/~adjust bills the difference" in planned.out
    assert done.code == 0, done.text
    line = entries(directory)[f"{KICKOFF}/~adjust"]
    assert (Decimal(line["amount"]), line["date"]) == (Decimal(2000), "2026-03-10")
    assert again.code == 0, again.text


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_returning_to_the_invoiced_amount_deletes_the_adjusting_line(
    tmp_path: Path, vendor: Vendor
) -> None:
    directory = applied_and_invoiced(tmp_path, vendor, KICKOFF)
    write(directory, vendor, kickoff="9000")
    assert run("apply", directory).code == 0
    write(directory, vendor)

    planned = run("plan", directory)
    done = run("apply", directory)

    assert f"- delete  {KICKOFF}/~adjust" in planned.out, planned.text
    assert "needs no adjusting line any more" in planned.out
    assert done.code == 0, done.text
    assert f"{KICKOFF}/~adjust" not in entries(directory)
    assert run("plan", directory, "--detailed-exitcode").code == 0


def test_a_lowered_amount_is_billed_as_a_credit(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="9250.50")

    planned = run("plan", directory)

    assert f"+ create  {KICKOFF}/~adjust  2026-03-10    -749.50 USD" in planned.out
    assert "credit of -749.50 USD" in planned.out


def test_a_recurring_period_is_adjusted_on_the_next_period_not_invoiced_on_or_after_as_of(
    tmp_path: Path,
) -> None:
    february, april = "acme/recurring/support/2026-02", "acme/recurring/support/2026-04"
    directory = applied_and_invoiced(tmp_path, RUDDR, JANUARY, february)
    write(directory, RUDDR, support="1100")

    planned = run("plan", directory)

    # March is not invoiced but billed on 1 March, before as-of (10 March): April is next.
    assert f"+ create  {JANUARY}/~adjust  2026-04-01    100.00 USD" in planned.out
    assert f"+ create  {february}/~adjust  2026-04-01    100.00 USD" in planned.out
    assert f"~ update  {april}" in planned.out


def test_an_adjusting_line_keeps_its_date_on_a_later_day(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000")
    assert run("apply", directory).code == 0
    write(directory, RUDDR, kickoff="12500")

    planned = run("plan", directory, as_of="2026-05-02")

    assert f"~ update  {KICKOFF}/~adjust  2026-03-10   2,500.00 USD" in planned.out, planned.text


def test_a_change_that_bills_nothing_more_makes_no_line(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR)
    (directory / "plan.yaml").write_text(
        (directory / "plan.yaml").read_text().replace("Kickoff,", "Kick-off meeting,")
    )

    planned = run("plan", directory)

    assert "! LOCKED  acme/milestones/kickoff" in planned.out
    assert "~adjust" not in planned.out


def test_without_adjust_an_invoiced_change_is_only_locked(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000", adjust=False)

    planned = run("plan", directory)

    assert "! LOCKED  acme/milestones/kickoff" in planned.out
    assert "~adjust" not in planned.out
    assert "bill the difference with a new charge or credit" in planned.out


def test_an_invoiced_adjusting_line_is_corrected_by_a_line_of_its_own(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000")
    assert run("apply", directory).code == 0
    assert billplan("sandbox", "invoice", f"{KICKOFF}/~adjust", directory).code == 0
    write(directory, RUDDR)  # back at the invoiced 10,000

    planned = run("plan", directory, as_of="2026-04-02")
    done = run("apply", directory, as_of="2026-04-02")

    assert f"! LOCKED  {KICKOFF}/~adjust          2026-03-10   2,000.00 USD" in planned.out
    assert f"+ create  {KICKOFF}/~adjust/~adjust  2026-04-02  -2,000.00 USD" in planned.out
    assert done.code == 0, done.text
    assert run("plan", directory, "--detailed-exitcode", as_of="2026-04-02").code == 0


def test_the_saved_plan_carries_the_adjust_reason_and_applies(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000")
    saved = tmp_path / "reviewed.json"

    planned = run("plan", directory, "--out", saved)
    done = billplan(
        "apply", saved, directory, "--sandbox", "--as-of", "2026-03-10", "--auto-approve"
    )

    change = next(
        c for c in json.loads(saved.read_text())["changes"] if c["address"].endswith("~adjust")
    )
    assert planned.code == 0, planned.text
    assert (change["action"], change["action_reason"]) == ("create", "adjust")
    assert done.code == 0, done.text
    assert f"{KICKOFF}/~adjust" in entries(directory)


def test_the_markdown_comment_shows_the_adjusting_line(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000")

    planned = run("plan", directory, "--format", "markdown")

    assert "\\~adjust" in planned.out
    assert "adjusting line for acme/milestones/kickoff" in planned.out


def test_an_adjust_mode_billplan_lacks_is_a_located_error(tmp_path: Path) -> None:
    text = plan_text(RUDDR).replace("adjust: next_open_period", "adjust: this_period")
    write_plan(tmp_path, text, head="")

    checked = billplan("validate", tmp_path)

    assert checked.code == 1
    assert "plan.yaml:6:11: $.defaults.adjust: 'this_period' is not one of: next_open_period" in (
        checked.errors
    )


def test_a_plan_from_state_keeps_the_adjusting_lines_billplan_made(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000")
    assert run("apply", directory).code == 0

    planned = run("plan", directory, "--no-refresh", "ruddr")

    assert f"{KICKOFF}/~adjust" not in planned.out, planned.text


def test_a_target_on_the_invoiced_object_covers_its_adjusting_line(tmp_path: Path) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000", support="1100")

    planned = run("plan", directory, "--target", KICKOFF)

    assert f"+ create  {KICKOFF}/~adjust" in planned.out, planned.text
    assert "support" not in planned.out


def test_an_adjusting_line_whose_create_was_lost_can_be_confirmed_by_import(
    tmp_path: Path,
) -> None:
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF)
    write(directory, RUDDR, kickoff="12000")
    lose = {"lose_response": True}
    lost = step(
        directory,
        apply=True,
        as_of=date(2026, 3, 10),
        arrange=lambda admin: admin.fault("POST", "/project-invoice-milestones", **lose),
    )
    assert [f.address for f in lost.applied.failures] == [f"{KICKOFF}/~adjust"]
    with plan_sandbox(directory) as admin:
        (landed,) = [m for m in admin.objects(MILESTONE) if m["name"] == "Adjustment to Kickoff"]
        admin.edit(MILESTONE, landed["id"], name="Adjustment to Kickoff (edited)")
    shown = run("plan", directory)

    confirmed = run("import", f"{KICKOFF}/~adjust", landed["id"], directory)

    assert "unconfirmed" in shown.out, shown.text
    assert confirmed.code == 0, confirmed.text
    assert entries(directory)[f"{KICKOFF}/~adjust"]["remote_id"] == landed["id"]


def test_the_warning_counts_only_invoiced_objects_no_adjusting_line_corrects(
    tmp_path: Path,
) -> None:
    # Kickoff asks for an adjusting line; January's support does not: only January is left
    # to warn about.
    directory = applied_and_invoiced(tmp_path, RUDDR, KICKOFF, JANUARY)
    text = plan_text(RUDDR, kickoff="12000", support="1100", adjust=False).replace(
        "amount: 12000}", "amount: 12000, adjust: next_open_period}"
    )
    write_plan(directory, text, head="")
    planned = run("plan", directory)
    assert planned.code == 0, planned.text
    assert "Warning: 1 invoiced object differs from the plan and will not be changed" in planned.out
    assert "1 invoiced object differs from the plan: an adjusting line bills the difference" in (
        planned.out
    )
    markdown = run("plan", directory, "--format", "markdown")
    assert "2 locked (invoiced: billplan will not change them; 1 billed by an adjusting line)" in (
        markdown.out
    )
