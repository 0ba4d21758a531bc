"""`billplan generate` on Coperniq invoices of several lines and PERCENTAGE invoices, made by
hand through the emulator's admin surface: each comes back as what a plan writes to make it
(the charges of a `group_by: date` invoice, a `percent` milestone of the contract value), with
state as apply would record it, and `billplan plan` then finds nothing to change. What no plan
makes is left out, unmanaged, with its reason.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import support_coperniq as coperniq
from hypothesis import given, settings
from hypothesis import strategies as st
from support import AS_OF_TEXT, billplan, sandboxed, state_json

BATTERY, INSTALLATION, MONITORING = (
    coperniq.BATTERY_ITEM,
    coperniq.INSTALLATION_ITEM,
    coperniq.MONITORING_ITEM,
)


def _line(catalog_item: int, description: str, price: Any, quantity: int = 1, **more: Any) -> dict:
    return {"catalogItemId": catalog_item, "description": description, "quantity": quantity,
            "unitPrice": price, **more}  # fmt: skip


def _grouped(day: str, due: str, *lines: dict, project: str = "sunridge", **more: Any) -> dict:
    """An invoice of a project's lines of one day, as billplan's `group_by: date` writes it."""
    return {"calculationMethod": "LINE_ITEMS", "description": f"{project}: billing for {day}",
            "dueDate": f"{due}T00:00:00.000Z", "lineItems": list(lines), **more}  # fmt: skip


def _percentage(percentage: Any, description: str, due: str) -> dict:
    return {"calculationMethod": "PERCENTAGE", "percentage": percentage,
            "description": description, "dueDate": f"{due}T00:00:00.000Z"}  # fmt: skip


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A plan directory holding only its Coperniq connection, and the solar project (contract
    value 612000) with its catalog, but no invoice yet."""
    directory = tmp_path / "plans"
    directory.mkdir()
    (directory / "providers.yaml").write_text(coperniq.HEAD, encoding="utf-8")
    with coperniq.plan_sandbox(directory) as admin:
        admin.add_project()
        admin.add_catalog_item(BATTERY, "Battery storage", "PRODUCT")
        admin.add_catalog_item(INSTALLATION, "Solar installation")
        admin.add_catalog_item(MONITORING, "Monitoring and O&M")
    return directory


def _invoices(directory: Path, *bodies: dict) -> list[str]:
    """Each invoice made by hand in Coperniq; their ids."""
    with coperniq.plan_sandbox(directory) as admin:
        return [str(admin.add_invoice(**body)["id"]) for body in bodies]


def _generate(directory: Path) -> str:
    run = billplan("generate", directory, "--all", "--sandbox", "--as-of", AS_OF_TEXT)
    assert run.code == 0, run.text
    return run.text


def _fragment(directory: Path, key: str = "sunridge") -> str:
    return (directory / f"{key}.yaml").read_text(encoding="utf-8")


def _plans_no_changes(directory: Path) -> None:
    planned = sandboxed("plan", directory, "--detailed-exitcode")
    assert planned.code == 0, planned.text
    # Nothing the vendor works out differently either (a contract value, say).
    assert "the vendor bills" not in planned.out, planned.out


def _entries(directory: Path) -> dict[str, dict[str, Any]]:
    return {e["address"]: e for e in state_json(directory)["entries"]}


JULY = _grouped(
    "2026-07-01",
    "2026-07-31",
    _line(INSTALLATION, "Modules and inverters delivered to site", 275000),
    _line(BATTERY, "Battery storage units", 11500, quantity=6, unitCost=7900),
    _line(MONITORING, "Monitoring and O&M, 2026-Q3", 2400),
)
MONITORING_LATER = [
    _grouped(day, due, _line(MONITORING, f"Monitoring and O&M, {label}", 2400))
    for day, due, label in [
        ("2026-10-01", "2026-10-31", "2026-Q4"),
        ("2027-01-01", "2027-01-31", "2027-Q1"),
    ]
]


def test_a_grouped_invoice_becomes_the_charges_whose_items_compile_to_it(
    directory: Path,
) -> None:
    _invoices(directory, JULY, *MONITORING_LATER)
    text = _generate(directory)
    assert "left out" not in text, text
    written = _fragment(directory)  # the key the invoices are billed for
    assert "group_by: date" in written and "due_in_days: 30" in written, written
    assert "every: quarter\n        start: 2026-07-01\n        end: 2027-03-31" in written, written
    assert "quantity: 6\n        rate: 11500" in written and "unit_cost: 7900" in written
    assert "date: 2026-07-01\n        amount: 275000.00" in written, written
    _plans_no_changes(directory)


def test_a_grouped_invoice_is_recorded_at_its_invoice_address_as_apply_records_it(
    directory: Path,
) -> None:
    (july, *_) = _invoices(directory, JULY, *MONITORING_LATER)
    _generate(directory)
    entries = _entries(directory)
    assert sorted(entries) == [
        "sunridge/invoices/2026-07-01",
        "sunridge/invoices/2026-10-01",
        "sunridge/invoices/2027-01-01",
    ]
    entry = entries["sunridge/invoices/2026-07-01"]
    # Billed on the invoice's date, for the invoice's total: what apply writes for it.
    assert (entry["remote_id"], entry["date"]) == (july, "2026-07-01")
    assert float(entry["amount"]) == 275000 + 6 * 11500 + 2400
    assert len(entry["attributes"]["lineItems"]) == 3


def test_generating_grouped_invoices_again_names_their_entries_and_overwrites_them_in_place(
    directory: Path,
) -> None:
    _invoices(directory, JULY, *MONITORING_LATER)
    _generate(directory)
    # --all passes over a project the plan has; naming it asks for it again.
    again = billplan("generate", directory, "--project", "5120", "--sandbox", "--as-of", AS_OF_TEXT)
    assert again.code == 1, again.text
    assert "state already has sunridge/invoices/2026-07-01" in again.text, again.text
    # The invoice state owns is at the address it is generated for: no second owner.
    overwritten = billplan(
        "generate", directory, "--all", "--sandbox", "--as-of", AS_OF_TEXT, "--overwrite"
    )
    assert overwritten.code == 0, overwritten.text
    assert len(_entries(directory)) == 3
    _plans_no_changes(directory)


def test_an_issued_grouped_invoice_comes_back_locked_with_its_status(directory: Path) -> None:
    (july, *_) = _invoices(directory, JULY, *MONITORING_LATER)
    with coperniq.plan_sandbox(directory) as admin:
        admin.set_status(july, "SENT")
    text = _generate(directory)
    assert "left out" not in text, text
    assert "locked items: sunridge/milestones/modules-and-inverters-delivered-to-site" in text
    assert "status: SENT" in _fragment(directory)
    _plans_no_changes(directory)


def test_a_percentage_invoice_becomes_a_percent_milestone_of_the_contract_value(
    directory: Path,
) -> None:
    (made,) = _invoices(
        directory, _percentage(12.5, "Interconnection approved (12.5%)", "2026-10-01")
    )
    text = _generate(directory)
    assert "left out" not in text, text
    written = _fragment(directory, "sunridge-farm-solar-array")
    assert "contract_value: 612000" in written, written
    assert "percent: 12.5%" in written and "amount:" not in written, written
    (entry,) = _entries(directory).values()
    assert entry["remote_id"] == made and float(entry["amount"]) == 76500
    _plans_no_changes(directory)


def test_the_due_days_of_grouped_invoices_date_the_record_s_other_invoices(
    directory: Path,
) -> None:
    # billplan reads a record's invoices with one number of days to pay (in_plan_terms): the
    # grouped invoices say 30, so the PERCENTAGE invoice due 2026-10-31 bills on 2026-10-01.
    _invoices(directory, JULY, _percentage(15, "Interconnection approved", "2026-10-31"))
    _generate(directory)
    written = _fragment(directory)
    interconnection = written.split("interconnection-approved:")[1]
    assert "date: 2026-10-01\n        percent: 15%" in interconnection, written
    assert "due_in_days: 30" in interconnection, written
    _plans_no_changes(directory)


def test_an_invoice_of_several_lines_described_by_a_person_is_left_out_saying_why(
    directory: Path,
) -> None:
    hand_made = {**JULY, "description": "July: equipment and batteries"}
    (made,) = _invoices(directory, hand_made)
    text = _generate(directory)
    assert "1 object left out, unmanaged" in text, text
    assert "PROJECT: billing for DATE" in text and made in text, text
    assert f"#   {made}: a Coperniq invoice of 3 lines" in _fragment(
        directory, "sunridge-farm-solar-array"
    )
    assert not state_json(directory)["entries"]
    _plans_no_changes(directory)


def test_a_second_grouped_invoice_of_one_date_is_left_out(directory: Path) -> None:
    # group_by: date makes one invoice of a project's items of a date: no plan makes two.
    again = _grouped("2026-07-01", "2026-07-31", _line(BATTERY, "Spare battery", 11500))
    first, _second = _invoices(directory, JULY, again)
    text = _generate(directory)
    assert "1 object left out, unmanaged" in text, text
    assert f"(the first is {first})" in text, text
    assert list(_entries(directory)) == ["sunridge/invoices/2026-07-01"]
    assert _entries(directory)["sunridge/invoices/2026-07-01"]["remote_id"] == first
    _plans_no_changes(directory)


def test_grouped_invoices_billed_for_another_project_key_are_left_out(directory: Path) -> None:
    elsewhere = _grouped(
        "2026-10-01", "2026-10-31", _line(MONITORING, "Monitoring", 2400), project="other-site"
    )
    _invoices(directory, JULY, elsewhere)
    text = _generate(directory)
    assert "1 object left out, unmanaged" in text, text
    assert "billed for project other-site, where the record's others are billed for sunridge" in (
        " ".join(text.split())
    ), text
    _plans_no_changes(directory)


def test_grouped_invoices_whose_project_key_the_plan_has_already_are_left_out(
    directory: Path,
) -> None:
    # Their description names the plan's project: taken by another, no plan makes them here.
    (directory / "other.yaml").write_text(
        "version: 1\nprojects:\n  sunridge: {provider: coperniq, project_id: 9999,\n"
        "    coperniq: {catalog_item: 3002}}\n"
    )
    with coperniq.plan_sandbox(directory) as admin:
        admin.add_project(record=9999)
    _invoices(directory, JULY)
    run = billplan("generate", directory, "--project", str(coperniq.RECORD), "--sandbox",
                   "--as-of", AS_OF_TEXT)  # fmt: skip
    assert run.code == 0, run.text
    assert "1 object left out, unmanaged" in run.text, run.text
    assert "billed for project sunridge, and the plan's project is sunridge-farm" in run.text
    assert not state_json(directory)["entries"]


# ---- a property: for any Coperniq schedule, generate then plan is a no-op -------------------

_PRICE = st.decimals(Decimal("-500"), Decimal("90000"), places=2).filter(bool)
_GROUPED = st.tuples(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),  # the day it bills
    st.lists(  # its lines: a catalog item each, at most once
        st.tuples(st.sampled_from([BATTERY, INSTALLATION, MONITORING]), st.integers(1, 5), _PRICE),
        min_size=1,
        max_size=3,
        unique_by=lambda line: line[0],
    ),
    st.booleans(),  # issued
)
_PERCENTAGE = st.tuples(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),  # due
    st.decimals(Decimal("0.5"), Decimal("40"), places=3),
)
_SINGLE = st.tuples(st.dates(date(2026, 1, 1), date(2027, 12, 31)), _PRICE)


@settings(max_examples=10, deadline=None)
@given(
    grouped=st.lists(_GROUPED, max_size=3, unique_by=lambda invoice: invoice[0]),
    days=st.sampled_from([0, 15, 30]),
    percentages=st.lists(_PERCENTAGE, max_size=2),
    singles=st.lists(_SINGLE, max_size=2),
)
def test_for_any_coperniq_schedule_generate_then_plan_is_a_no_op(
    grouped: list[tuple[date, list[tuple[int, int, Decimal]]], bool],
    days: int,
    percentages: list[tuple[date, Decimal]],
    singles: list[tuple[date, Decimal]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "plans"
        directory.mkdir()
        (directory / "providers.yaml").write_text(coperniq.HEAD, encoding="utf-8")
        with coperniq.plan_sandbox(directory) as admin:
            admin.add_project()
            for number, (day, lines, issued) in enumerate(grouped):
                due = (day + timedelta(days=days)).isoformat()
                body = _grouped(day.isoformat(), due, *(
                    _line(item, f"Line {number}.{item}", float(price), quantity)
                    for item, quantity, price in lines
                ))  # fmt: skip
                made = admin.add_invoice(**body)
                if issued:
                    admin.set_status(made["id"], "SENT")
            for number, (due_day, percentage) in enumerate(percentages):
                body = _percentage(float(percentage), f"Share {number}", due_day.isoformat())
                admin.add_invoice(**body)
            for number, (due_day, price) in enumerate(singles):
                line = _line(INSTALLATION, f"Single {number}", float(price))
                admin.add_invoice(calculationMethod="LINE_ITEMS", description=f"Single {number}",
                                  dueDate=f"{due_day.isoformat()}T00:00:00.000Z",
                                  lineItems=[line])  # fmt: skip
        _generate(directory)
        _plans_no_changes(directory)
