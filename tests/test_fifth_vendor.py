"""A fifth vendor is one provider file and one emulator file, each registered by one line.

Ledgerly, a made-up PSA, exists only in the test suite: its provider (tests/fifth_vendor/
provider.py) declares the vendor as data over compiler/providers/, its emulator (tests/
fifth_vendor/emulator.py) declares it over the sandbox kit. The `ledgerly` fixture registers
each with one line, and gives the validator the plan schema generated from the registry
that now holds it (a real vendor runs `python -m compiler.schema_vendors --write` instead).
Then a plan for it validates, plans, applies, converges, updates, locks and deletes in the
in-process sandbox, through the same `billplan` commands as the real vendors.

The contract plugin checks no Ledgerly exchange: it has no published contract for the vendor,
and its checker passes exchanges of such a vendor by name (tests/contract/checker.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from contract.checker import ContractChecker, Exchange
from fifth_vendor.emulator import LedgerlyEmulator
from fifth_vendor.provider import LINE, Ledgerly
from support import AS_OF, EmulatorAdmin, billplan, plan_sandbox, remote_ids, sandboxed, write_plan

from compiler import sandbox, schema_check
from compiler.operations.sandbox_server import vendor_roots
from compiler.providers import PROVIDERS
from compiler.providers.traits import LockRule, MoneyUnit, PageStyle, ProjectScope
from compiler.sandbox.bootstrap import bootstrap_of
from compiler.schema_vendors import generate
from compiler.validate import check

HEAD = """\
version: 1
providers:
  books: {type: ledgerly}
defaults:
  currency: EUR
  ledgerly: {ledger_code: "4000"}
"""

PLAN = """\
projects:
  atlas:
    provider: books
    project_id: 42
    name: Atlas rollout
    recurring:
      support:
        description: "Support {{ period.start | month_name }}"
        every: month
        amount: 1200
        start: 2026-01-01
        end: 2026-02-28
    milestones:
      kickoff: {description: Kickoff, date: 2026-01-15, amount: 5000}
    products:
      seats: {description: Seats, quantity: 10, rate: 12.50, date: 2026-01-20}
"""

SUPPORT = ["atlas/recurring/support/2026-01", "atlas/recurring/support/2026-02"]
KICKOFF = "atlas/milestones/kickoff"
SEATS = "atlas/products/seats"
ADDRESSES = sorted([*SUPPORT, KICKOFF, SEATS])
MILESTONES = (
    "    milestones:\n      kickoff: {description: Kickoff, date: 2026-01-15, amount: 5000}\n"
)

# The compiled schema the validator keeps beside the schema itself.
COMPILED = (schema_check.plan_validator, schema_check.kind_validator, schema_check.fast_check)


@pytest.fixture(autouse=True)
def ledgerly(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ledgerly registered: one line per side, then the schema the registry generates."""
    monkeypatch.setitem(PROVIDERS, Ledgerly.vendor, Ledgerly)
    monkeypatch.setattr(sandbox, "EMULATORS", (*sandbox.EMULATORS, LedgerlyEmulator))
    schema = generate(schema_check.plan_schema(), PROVIDERS)
    monkeypatch.setattr(schema_check, "plan_schema", lambda: schema)
    forget_compiled_schema()
    yield
    monkeypatch.undo()  # first, so that what is compiled next is the checked-in schema's
    forget_compiled_schema()


def forget_compiled_schema() -> None:
    for compiled in COMPILED:
        compiled.cache_clear()


class LedgerlyAdmin(EmulatorAdmin):
    vendor = "ledgerly"

    def lines(self) -> dict[str, dict[str, Any]]:
        return {str(line["id"]): line for line in self._call("GET", "/lines")}


def ledgerly_plan(directory: Path, body: str = PLAN) -> Path:
    return write_plan(directory, body, head=HEAD)


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    directory = ledgerly_plan(tmp_path / "billing")
    run = sandboxed("apply", directory)
    assert run.code == 0, run.text
    return directory


def lines(directory: Path) -> dict[str, dict[str, Any]]:
    """The plan's Ledgerly lines in its sandbox, by the address state holds each under."""
    with plan_sandbox(directory, LedgerlyAdmin) as admin:
        held = admin.lines()
    return {address: held[key] for address, key in remote_ids(directory).items() if key in held}


def test_the_provider_declares_each_trait_the_base_drives() -> None:
    assert isinstance(Ledgerly.paging, PageStyle)
    assert isinstance(Ledgerly.scope, ProjectScope)
    assert isinstance(Ledgerly.lock, LockRule)
    assert isinstance(Ledgerly.money, MoneyUnit)
    assert Ledgerly.fixed_fields == {"project_id"}
    assert set(Ledgerly.types) == {LINE}


def test_the_emulator_declares_the_vendor_its_provider_is_registered_as() -> None:
    assert LedgerlyEmulator.vendor == Ledgerly.vendor
    assert sandbox.emulator_for("ledgerly") is LedgerlyEmulator
    assert set(bootstrap_of(LedgerlyEmulator).locks) == {LINE}


def test_a_served_sandbox_lists_the_registered_emulators_api() -> None:
    roots = dict(vendor_roots("http://127.0.0.1:8765"))

    assert roots["ledgerly"] == "http://127.0.0.1:8765/ledgerly/v1"


def test_the_contract_checker_passes_ledgerly_exchanges_unchecked_having_no_contract() -> None:
    billplan_sent = (("user-agent", "billplan/1"),)
    sent = Exchange("ledgerly", "POST", "/lines", request_headers=billplan_sent, status=201)

    verdict = ContractChecker().check(sent)

    assert (verdict.operation, verdict.violations) == (None, ())


def test_a_plan_with_a_recurring_charge_a_milestone_and_a_product_validates(
    tmp_path: Path,
) -> None:
    checked = check(ledgerly_plan(tmp_path / "billing") / "plan.yaml", AS_OF)

    assert checked.diagnostics == []
    assert sorted(item.address for item in checked.items) == ADDRESSES
    assert {item.options["ledger_code"] for item in checked.items} == {"4000"}


def test_a_ledgerly_option_of_the_wrong_type_is_a_located_schema_error(tmp_path: Path) -> None:
    body = PLAN.replace(
        "name: Atlas rollout", "name: Atlas rollout\n    ledgerly: {ledger_code: 4}"
    )

    checked = check(ledgerly_plan(tmp_path / "billing", body) / "plan.yaml", AS_OF)

    assert [(d.path, d.message) for d in checked.diagnostics] == [
        ("$.projects.atlas.ledgerly.ledger_code", "expected text, got a number 4")
    ]


def test_plan_shows_a_create_for_each_line(tmp_path: Path) -> None:
    run = sandboxed("plan", ledgerly_plan(tmp_path / "billing"))

    assert run.code == 0, run.text
    for address in ADDRESSES:
        assert f"+ create  {address}" in run.out
    assert "4 to create" in run.out


def test_apply_creates_each_line_once_in_minor_units(applied: Path) -> None:
    created = lines(applied)

    assert sorted(created) == ADDRESSES
    assert [created[a]["amount_cents"] for a in SUPPORT] == [120000, 120000]
    assert (created[KICKOFF]["description"], created[KICKOFF]["amount_cents"]) == (
        "Kickoff",
        500000,
    )
    assert (created[SEATS]["amount_cents"], created[SEATS]["currency"]) == (12500, "EUR")
    assert {line["project_id"] for line in created.values()} == {42}


def test_a_second_plan_shows_no_changes(applied: Path) -> None:
    run = sandboxed("plan", applied, "--detailed-exitcode")

    assert run.code == 0, run.text
    assert "No changes" in run.out


def test_editing_an_amount_updates_its_line_and_converges(applied: Path) -> None:
    kickoff = remote_ids(applied)[KICKOFF]
    ledgerly_plan(applied, PLAN.replace("amount: 5000}", "amount: 5250.75}"))

    planned = sandboxed("plan", applied)
    run = sandboxed("apply", applied)

    assert f"~ update  {KICKOFF}" in planned.out
    assert "1 to update" in planned.out
    assert run.code == 0, run.text
    assert remote_ids(applied)[KICKOFF] == kickoff
    assert lines(applied)[KICKOFF]["amount_cents"] == 525075
    assert sandboxed("plan", applied, "--detailed-exitcode").code == 0


def test_a_line_invoiced_through_the_emulators_lock_is_locked(applied: Path) -> None:
    invoiced = billplan("sandbox", "invoice", KICKOFF, applied)
    ledgerly_plan(applied, PLAN.replace("amount: 5000}", "amount: 6000}"))

    planned = sandboxed("plan", applied)
    run = sandboxed("apply", applied)

    assert invoiced.code == 0, invoiced.text
    assert lines(applied)[KICKOFF]["status"] == "invoiced"
    assert "locked" in planned.out
    assert run.code == 0, run.text
    assert lines(applied)[KICKOFF]["amount_cents"] == 500000


def test_removing_a_charge_deletes_its_line(applied: Path) -> None:
    kickoff = remote_ids(applied)[KICKOFF]
    ledgerly_plan(applied, PLAN.replace(MILESTONES, ""))

    run = sandboxed("apply", applied)

    assert run.code == 0, run.text
    assert KICKOFF not in remote_ids(applied)
    with plan_sandbox(applied, LedgerlyAdmin) as admin:
        assert kickoff not in admin.lines()
    assert sandboxed("plan", applied, "--detailed-exitcode").code == 0


def test_a_saved_plan_applies_as_it_was_planned(tmp_path: Path) -> None:
    directory = ledgerly_plan(tmp_path / "billing")
    saved = tmp_path / "reviewed.plan"

    planned = sandboxed("plan", directory, "--out", saved)
    run = sandboxed("apply", saved, directory)

    assert planned.code == 0, planned.text
    assert run.code == 0, run.text
    assert sorted(lines(directory)) == ADDRESSES
