"""Reads that must be complete are proven complete (issue 15, case 2).

A paged list is not a snapshot: when a person deletes a row on an earlier page while billplan
reads the list, every later row moves up one place and the first row of the next page is never
served. When that row is the object of a create whose response was lost, the plan used to
believe the create never landed and send it again: a duplicate, and every later plan said "No
changes". A project with a pending create is therefore read again until two reads in a row
hold the same ids; one whose reads never agree is left unproven, and nothing is created there.

Each test drives the vendor's emulator through its admin surface: a create whose response is
lost, then the `then_delete` fault deleting a hand-made row right after the first page of the
list is served, with pages just small enough that the lost create's object is the first row of
the second page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import support
import support_coperniq
import support_kantata
import support_wethod

from compiler.model import Observed
from compiler.providers import Provider
from compiler.providers.coperniq import Coperniq
from compiler.providers.kantata import Kantata
from compiler.providers.ruddr import Ruddr
from compiler.providers.wethod import Wethod
from compiler.workspace import open_workspace


@dataclass(frozen=True)
class Vendor:
    """One vendor's plan, emulator and admin surface, as these tests use them."""

    name: str
    provider: type[Provider]
    plan: str  # the plan as first applied
    with_extra: str  # the plan with one more charge, whose create's response is lost
    extra: str  # that charge's address
    list_path: str  # the list the fault is armed on, below the admin helper's prefix
    admin_path: str  # where the admin surface deletes one object of that list
    write_plan: Callable[[Path, str], Path]
    # step(directory, apply, arrange(admin)) -> support.Step
    step: Callable[..., Any]
    objects: Callable[[Any], list[dict[str, Any]]]  # what the listed collection holds
    by_hand: Callable[[Any], dict[str, Any]]  # a row a person made, not billplan
    listings: int  # requests for list_path in a plan of the project: one per page


def _wethod_step(directory: Path, *, apply: bool = False, arrange: Any = None) -> Any:
    return support_wethod.step(
        directory, apply=apply, arrange=lambda admin, _: arrange and arrange(admin)
    )


def _step(module: Any) -> Callable[..., Any]:
    def run(directory: Path, *, apply: bool = False, arrange: Any = None) -> Any:
        return module.step(directory, apply=apply, arrange=arrange or (lambda admin: None))

    return run


KANTATA_EXTRA = "      extra: {description: Extra workshop, date: 2026-06-01, amount: 5000}\n"
COPERNIQ_EXTRA = "      extra: {description: Extra survey, date: 2026-10-15, amount: 5000}\n"

RUDDR = Vendor(
    name="ruddr",
    provider=Ruddr,
    plan=support.PLAN,
    with_extra=support.WITH_EXTRA,
    extra=support.EXTRA,
    list_path="/project-invoice-milestones",
    admin_path="/project-invoice-milestones",
    write_plan=lambda directory, body: support.write_plan(directory, body),
    step=_step(support),
    objects=lambda admin: admin.objects(support.MILESTONE),
    by_hand=lambda admin: admin.add(
        support.MILESTONE, date="2026-06-02", name="Hand-made", fee=100, typeId="custom"
    ),
    listings=1,  # the milestones' list (product items have a list of their own)
)
WETHOD = Vendor(
    name="wethod",
    provider=Wethod,
    plan=support_wethod.PLAN,
    with_extra=support_wethod.WITH_EXTRA,
    extra=support_wethod.EXTRA,
    list_path=support_wethod.API,
    admin_path="/invoices",
    write_plan=support_wethod.write_plan,
    step=_wethod_step,
    objects=lambda admin: admin.invoices(),
    by_hand=lambda admin: admin.add(value=700, issue_date="2026-08-01", notes="Hand-made"),
    listings=1,
)
COPERNIQ = Vendor(
    name="coperniq",
    provider=Coperniq,
    plan=support_coperniq.PLAN,
    with_extra=support_coperniq.variant(("    products:", COPERNIQ_EXTRA + "    products:")),
    extra="sunridge/milestones/extra",
    list_path=f"/projects/{support_coperniq.RECORD}/invoices",
    admin_path="/invoices",
    write_plan=lambda directory, body: support.write_plan(directory, body, support_coperniq.HEAD),
    step=_step(support_coperniq),
    objects=lambda admin: admin.invoices(),
    by_hand=lambda admin: admin.add_invoice(description="Hand-made"),
    listings=1,
)
KANTATA = Vendor(
    name="kantata",
    provider=Kantata,
    plan=support_kantata.PLAN,
    with_extra=support_kantata.variant(
        (support_kantata.KICKOFF_LINE, support_kantata.KICKOFF_LINE + KANTATA_EXTRA)
    ),
    extra="cascade/milestones/extra",
    list_path=support_kantata.COLLECTION,
    admin_path="/billing_milestones",
    write_plan=support_kantata.write_plan,
    step=_step(support_kantata),
    objects=lambda admin: admin.milestones(),
    by_hand=lambda admin: admin.add(
        title="Hand-made", amount_in_cents=45000, date_to_invoice="2026-05-01"
    ),
    listings=1,
)
VENDORS = [RUDDR, WETHOD, COPERNIQ, KANTATA]


def _plan_sandbox(vendor: Vendor, directory: Path) -> Any:
    return {
        "ruddr": support.plan_sandbox,
        "wethod": support_wethod.plan_sandbox,
        "coperniq": support_coperniq.plan_sandbox,
        "kantata": support_kantata.plan_sandbox,
    }[vendor.name](directory)


def a_landed_create_whose_response_was_lost(vendor: Vendor, directory: Path) -> dict[str, Any]:
    """Apply the plan; a person adds a row by hand; then the extra charge is applied and its
    create lands, but its response is lost. The hand-made row is returned."""
    vendor.write_plan(directory, vendor.plan)
    first = vendor.step(directory, apply=True)
    assert first.applied.ok, first.applied.failures
    with _plan_sandbox(vendor, directory) as admin:
        by_hand = vendor.by_hand(admin)
    vendor.write_plan(directory, vendor.with_extra)
    lost = vendor.step(
        directory, apply=True, arrange=lambda admin: admin.fault("POST", lose_response=True)
    )
    assert [(f.address, f.unknown) for f in lost.applied.failures] == [(vendor.extra, True)]
    return by_hand


def pages_ending_before_the_last_row(
    vendor: Vendor, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages one row shorter than the list: its newest row, the lost create's object, is the
    first row of the second page (Ruddr lists newest first: it is on the first page)."""
    with _plan_sandbox(vendor, directory) as admin:
        rows = len(vendor.objects(admin))
    monkeypatch.setattr(vendor.provider, "page_size", rows - 1)


def the_extra_charges(vendor: Vendor, directory: Path, by_hand: dict[str, Any]) -> list[str]:
    """The ids of the objects the vendor holds besides those of the first plan and the
    hand-made row: the extra charge's, however many there are."""
    with _plan_sandbox(vendor, directory) as admin:
        held = [str(o["id"]) for o in vendor.objects(admin)]
    first = {
        str(rid)
        for address, rid in support.remote_ids(directory).items()
        if address != vendor.extra and rid is not None
    }
    assert str(by_hand["id"]) not in held  # the fault did delete it
    return [rid for rid in held if rid not in first]


@pytest.mark.parametrize("vendor", VENDORS, ids=[v.name for v in VENDORS])
def test_a_row_deleted_on_an_earlier_page_while_billplan_reads_does_not_duplicate_a_lost_create(
    vendor: Vendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "billing"
    by_hand = a_landed_create_whose_response_was_lost(vendor, directory)
    pages_ending_before_the_last_row(vendor, directory, monkeypatch)
    deleted = f"{vendor.admin_path}/{by_hand['id']}"

    seen = vendor.step(
        directory,
        apply=True,
        arrange=lambda admin: admin.fault("GET", vendor.list_path, then_delete=deleted),
    )

    assert seen.applied.ok, seen.applied.failures
    assert seen.change(vendor.extra).action == "adopt"
    extra = the_extra_charges(vendor, directory, by_hand)
    assert extra == [support.remote_ids(directory)[vendor.extra]]  # one object, billplan's
    assert not vendor.step(directory).plan.has_changes


def list_requests(vendor: Vendor, requests: list[dict[str, Any]]) -> int:
    """How many of the logged requests read the list of the charges (a page each)."""
    return len([r for r in requests if r["method"] == "GET" and vendor.list_path in r["path"]
                and "only=" not in r["query"]])  # fmt: skip


@pytest.mark.parametrize("vendor", VENDORS, ids=[v.name for v in VENDORS])
def test_a_plan_with_no_pending_create_reads_each_list_once(vendor: Vendor, tmp_path: Path) -> None:
    directory = vendor.write_plan(tmp_path / "billing", vendor.with_extra)
    assert vendor.step(directory, apply=True).applied.ok

    seen = vendor.step(directory)

    assert not seen.plan.has_changes
    assert list_requests(vendor, seen.requests) == vendor.listings


@pytest.mark.parametrize("vendor", VENDORS, ids=[v.name for v in VENDORS])
def test_a_pending_create_costs_one_more_read_of_its_project_when_the_two_reads_agree(
    vendor: Vendor, tmp_path: Path
) -> None:
    directory = tmp_path / "billing"
    a_landed_create_whose_response_was_lost(vendor, directory)

    seen = vendor.step(directory)

    assert seen.change(vendor.extra).action == "adopt"
    assert list_requests(vendor, seen.requests) == 2 * vendor.listings


def _rows_made_by_hand(directory: Path, count: int) -> list[Any]:
    with support_wethod.plan_sandbox(directory) as admin:
        return [WETHOD.by_hand(admin)["id"] for _ in range(count)]


def _deleted_one_after_each_read(admin: Any, made: list[Any]) -> None:
    """A person deleting a row after each read billplan makes: no two reads agree."""
    admin.no_rate_limit()
    for remote_id in made:
        admin.fault("GET", then_delete=f"/invoices/{remote_id}")


def test_a_listing_that_changes_on_every_read_leaves_the_project_unproven(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    a_landed_create_whose_response_was_lost(WETHOD, directory)
    made = _rows_made_by_hand(directory, 3)

    with (
        open_workspace(directory, support.AS_OF, sandbox=True) as workspace,
        support_wethod.admin_of(workspace.sandbox) as admin,
    ):
        _deleted_one_after_each_read(admin, made)
        workspace.refresh(workspace.backend.read())
        reads = list_requests(WETHOD, admin.requests())

    assert workspace.unproven == {("wethod", str(support_wethod.BRAND))}
    assert reads == 3


# ---- the rule itself, on reads given in turn ------------------------------------------------


class GivenReads:
    """A provider whose list endpoints answer the given reads in turn."""

    def proven(self, *arguments: Any) -> Any:
        return Provider.proven(self, *arguments)  # type: ignore[arg-type]

    def __init__(self, *reads: list[str]) -> None:
        self.reads = list(reads)
        self.made = 0

    def listed(self, project_ids: Any, planned: Any = ()) -> list[Observed]:
        self.made += 1
        return self.observed(self.reads.pop(0))

    @staticmethod
    def observed(ids: list[str]) -> list[Observed]:
        return [
            Observed(remote_id=i, type="invoice", project_id="7", attributes={}, locked=False,
                     date=None, amount=Decimal(0))
            for i in ids
        ]  # fmt: skip


def test_an_object_made_between_the_first_two_reads_is_read_a_third_time_and_kept() -> None:
    reads = GivenReads(["a", "b"], ["a", "b"])

    proof = reads.proven(["7"], [], GivenReads.observed(["a"]))

    assert [o.remote_id for o in proof.observed] == ["a", "b"]
    assert (proof.unproven, reads.made) == (frozenset(), 2)


def test_two_reads_that_agree_prove_the_project_with_one_more_request() -> None:
    reads = GivenReads(["a"])

    proof = reads.proven(["7"], [], GivenReads.observed(["a"]))

    assert (proof.unproven, reads.made) == (frozenset(), 1)


def test_three_reads_that_never_agree_leave_the_project_unproven_as_last_read() -> None:
    reads = GivenReads(["b"], ["c"])

    proof = reads.proven(["7"], [], GivenReads.observed(["a"]))

    assert [o.remote_id for o in proof.observed] == ["c"]
    assert (proof.unproven, reads.made) == (frozenset({"7"}), 2)


def test_a_lost_create_in_a_project_never_read_the_same_twice_is_not_created_again(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    WETHOD.write_plan(directory, WETHOD.plan)
    assert WETHOD.step(directory, apply=True).applied.ok
    WETHOD.write_plan(directory, WETHOD.with_extra)
    refused = WETHOD.step(  # answered 500: to billplan, the create may or may not have landed
        directory, apply=True, arrange=lambda admin: admin.fault("POST", status=500)
    )
    assert [(f.address, f.unknown) for f in refused.applied.failures] == [(WETHOD.extra, True)]
    made = _rows_made_by_hand(directory, 3)

    with (
        open_workspace(directory, support.AS_OF, sandbox=True) as workspace,
        support_wethod.admin_of(workspace.sandbox) as admin,
    ):
        _deleted_one_after_each_read(admin, made)
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))

    # Never a create on guesswork: the rows the person deleted look like it (unconfirmed), and
    # the project's listing never came back the same twice (unproven).
    assert workspace.unproven == {("wethod", str(support_wethod.BRAND))}
    (extra,) = [c for c in plan.changes if c.address == WETHOD.extra]
    assert extra.action == "no-op"
    assert extra.reason in ("unconfirmed", "unproven")
