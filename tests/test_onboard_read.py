"""Onboarding reads what a vendor holds in the plan's terms: `found` is the reverse of compile.

Each round trip applies a small plan to the sandbox, lists what the vendor then holds as
onboarding does, and reads every object back: the Found says what the plan's Item said (date,
amount, description, quantity, rate, task, the vendor options the body needs), and an Item made
from it compiles to the very body the vendor holds. `projects()` lists every project the token
can see, paged in the vendor's style. What no plan could make again is refused, with a reason.

Everything runs against the sandbox: the real providers, the real emulators.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import support
import support_coperniq as coperniq
import support_kantata as kantata
import support_wethod as wethod
from fifth_vendor.provider import LINE, Ledgerly

from compiler.apply import apply_plan
from compiler.model import Item, Observed
from compiler.onboard.found import Found
from compiler.providers import Provider
from compiler.providers.base import ProviderError
from compiler.workspace import Workspace, open_workspace

# Coperniq: the solar project, plus a product billed by a fractional quantity, which Coperniq
# takes as 1 x the amount with "(2.5 x 1200)" kept in the line's text, and a unit cost.
COPERNIQ_PLAN = coperniq.PLAN.replace(
    "    products:\n",
    "    products:\n"
    "      survey: {description: Roof survey hours, quantity: 2.5, rate: 1200,\n"
    "               date: 2026-05-04, coperniq: {catalog_item: 3004, unit_cost: 40}}\n",
)
PLANS = {
    "ruddr": support.HEAD + support.PLAN,
    "kantata": kantata.HEAD + kantata.PLAN,
    "wethod": wethod.HEAD + wethod.PLAN,
    "coperniq": coperniq.HEAD + COPERNIQ_PLAN,
}
# The options a plan need not write: what compile assumes when they are left out.
DEFAULTS: Mapping[str, Any] = {
    "group_by": "none",
    "due_in_days": 0,
    "unit_cost": 0,
    "status": "DRAFT",
}


@pytest.fixture(params=sorted(PLANS))
def applied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """The vendor's plan applied to the plan directory's sandbox, opened again to read it."""
    (tmp_path / "plan.yaml").write_text(PLANS[request.param])
    with open_workspace(tmp_path, support.AS_OF, sandbox=True) as workspace:
        state = workspace.backend.read()
        with workspace.backend.lock("test"):
            plan = workspace.plan(state, workspace.refresh(state))
            done = apply_plan(plan, workspace.providers, workspace.backend, state)
        assert done.ok, done.failures
    with open_workspace(tmp_path, support.AS_OF, sandbox=True) as workspace:
        yield workspace


def _provider(workspace: Workspace) -> Provider:
    (provider,) = workspace.providers.values()
    return provider


def _held(workspace: Workspace, *, planned: bool = False) -> dict[str, tuple[Observed, Item]]:
    """Every object the vendor holds for the plan's projects, by its address in state, with
    the item it was made from; listed as onboarding lists (without the plan) unless `planned`."""
    provider = _provider(workspace)
    ids = sorted({str(resource.project_id) for resource in workspace.resources})
    resources = list(workspace.resources) if planned else []
    listed = {obs.remote_id: obs for obs in provider.list(ids, resources)}
    entries = support.remote_ids(workspace.path)
    items = {item.address: item for item in workspace.items}
    return {address: (listed[str(remote)], items[address]) for address, remote in entries.items()}


def _needed(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that change the body: those not at compile's default."""
    return {key: value for key, value in options.items() if DEFAULTS.get(key) != value}


def _recompiled(provider: Provider, item: Item, found: Found) -> Mapping[str, Any]:
    """The body an Item saying what `found` says compiles to."""
    said = item._replace(
        kind=found.kind,
        date=found.date,
        task=found.task,
        description=found.description,
        amount=found.amount,
        quantity=found.quantity,
        rate=found.rate,
        options=dict(found.options),
    )
    resources, problems = provider.compile([said])
    assert not problems, problems
    (resource,) = resources
    return {k: v for k, v in resource.attributes.items() if k not in resource.tags}


def _body(observed: Observed) -> dict[str, Any]:
    # Kantata's external reference only tags what billplan made: a hand-made twin lacks it.
    return {k: v for k, v in observed.attributes.items() if k != "external_reference"}


def test_every_object_reads_back_as_the_item_it_was_made_from(applied: Workspace) -> None:
    provider = _provider(applied)
    held = _held(applied, planned=provider.vendor == "coperniq")
    assert held
    for address, (observed, item) in held.items():
        found = provider.found(observed, item.currency)
        assert found is not None, (address, provider.refusal(observed, item.currency))
        said = (found.date, found.task, found.description, found.amount)
        assert said == (item.date, item.task, item.description, item.amount), address
        assert (found.quantity, found.rate) == (item.quantity, item.rate), address
        assert _needed(found.options) == _needed(item.options), address
        assert (found.remote_id, found.currency, found.locked) == (
            observed.remote_id,
            item.currency,
            False,
        )


def test_an_item_saying_what_was_found_compiles_to_the_body_the_vendor_holds(
    applied: Workspace,
) -> None:
    provider = _provider(applied)
    for address, (observed, item) in _held(applied).items():
        found = provider.found(observed, item.currency)
        assert found is not None, address
        assert _recompiled(provider, item, found) == _body(observed), address


def test_ruddr_reads_the_kind_of_each_object_from_its_type(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["ruddr"])
    workspace = _applied_workspace(tmp_path)
    with workspace:
        provider = _provider(workspace)
        kinds = {
            address: provider.found(observed, "USD").kind  # type: ignore[union-attr]
            for address, (observed, _item) in _held(workspace).items()
        }
    assert kinds == {
        **dict.fromkeys(support.RETAINER, "recurring"),
        support.KICKOFF: "milestone",
        support.DESIGN: "milestone",
        support.LAUNCH: "milestone",
        support.LICENSES: "product",
    }


def test_kantata_reads_a_milestone_billed_on_completion_as_one_on_its_task(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["kantata"])
    with _applied_workspace(tmp_path) as workspace:
        observed, _item = _held(workspace)[kantata.UAT]
        found = _provider(workspace).found(observed, "USD")
    assert found is not None
    assert (found.kind, found.date, found.task, found.amount) == (
        "milestone",
        None,
        kantata.STORY,
        Decimal(7000),
    )


def test_kantata_converts_minor_units_in_the_currency_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["kantata"])
    with _applied_workspace(tmp_path) as workspace:
        observed, _item = _held(workspace)[kantata.KICKOFF]
        provider = _provider(workspace)
        in_yen = provider.found(observed, "JPY")
    # 10000.00 USD is 1000000 cents on the wire: read as yen, a million of them.
    assert in_yen is not None and in_yen.amount == Decimal(1000000)


def test_coperniq_read_without_the_plan_dates_an_invoice_by_its_due_date(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["coperniq"])
    with _applied_workspace(tmp_path) as workspace:
        observed, item = _held(workspace)[coperniq.DESIGN]
        found = _provider(workspace).found(observed, "USD")
    assert found is not None and item.date is not None
    # The plan bills on 2026-04-01 with 30 days to pay; the invoice says only the due date.
    assert found.date == date(2026, 5, 1)
    assert "due_in_days" not in found.options


def test_coperniq_keeps_the_status_of_an_issued_invoice_and_says_it_is_locked(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["coperniq"])
    with _applied_workspace(tmp_path) as workspace:
        remote = support.remote_ids(tmp_path)[coperniq.DESIGN]
        with coperniq.admin_of(workspace.sandbox) as admin:
            admin.set_status(str(remote), "SENT")
        observed, _item = _held(workspace)[coperniq.DESIGN]
        found = _provider(workspace).found(observed, "USD")
    assert found is not None
    assert found.locked and found.options["status"] == "SENT"


def test_coperniq_reads_each_line_of_a_grouped_invoice_as_the_item_it_was_made_from(
    tmp_path: Path,
) -> None:
    # group_by: date puts the project's items of a date on one invoice; found_in reads the
    # record's invoices together, a line for each item, dated by the invoice's description.
    (tmp_path / "plan.yaml").write_text(coperniq.HEAD + coperniq.with_percent(coperniq.GROUPED))
    with _applied_workspace(tmp_path) as workspace:
        provider = _provider(workspace)
        items = {item.address: item for item in workspace.items}
        found, refused = provider.found_in(provider.list([coperniq.RECORD]), "USD")
        several = next(
            o
            for o in provider.list([coperniq.RECORD])
            if len(o.attributes.get("lineItems") or []) > 1
        )
        alone = provider.refusal(several, "USD")
    assert refused == []
    by_description = {f.description: f for f in found}
    assert len(by_description) == len(items)
    for address, item in items.items():
        read = by_description[item.description]
        said = (read.date, read.amount, read.quantity, read.rate)
        assert said == (item.date, item.amount, item.quantity, item.rate), address
        if item.percent is None:
            assert _needed(read.options) == _needed(item.options), address
            assert read.entry == f"sunridge/invoices/{item.date}", address
        else:  # an invoice of its own, of no line: only its terms matter
            assert read.options == {"due_in_days": 30}, address
            assert (read.percent, read.contract_value, read.entry) == (15, 612000, None)
    # Alone, a grouped invoice does not read: its items are read with the record's others.
    assert alone is not None and "found_in" in alone


def test_wethod_refuses_an_invoice_without_notes_saying_why(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["wethod"])
    with _applied_workspace(tmp_path) as workspace:
        with wethod.admin_of(workspace.sandbox) as admin:
            made = admin.add(value=300, issue_date="2026-08-01")
        provider = _provider(workspace)
        observed = next(o for o in provider.list([wethod.BRAND]) if o.remote_id == str(made["id"]))
        assert provider.found(observed, "EUR") is None
        reason = provider.refusal(observed, "EUR")
    assert reason is not None and "notes" in reason


def test_ruddr_refuses_a_product_item_whose_fee_is_not_quantity_times_rate(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["ruddr"])
    with _applied_workspace(tmp_path) as workspace:
        with support.admin_of(workspace.sandbox) as admin:
            made = admin.add(
                support.PRODUCT_ITEM,
                description="Hand-priced licences",
                date="2026-03-01",
                quantity=3,
                rate=100,
                fee=250,
            )
        provider = _provider(workspace)
        observed = next(
            o for o in provider.list([support.PROJECT_ID]) if o.remote_id == str(made["id"])
        )
        reason = provider.refusal(observed, "USD")
    assert reason is not None and "fee" in reason


def test_an_amount_finer_than_the_currency_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["wethod"])
    with _applied_workspace(tmp_path) as workspace:
        with wethod.admin_of(workspace.sandbox) as admin:
            made = admin.add(value=1234.5, issue_date="2026-08-01", notes="Workshop")
        provider = _provider(workspace)
        observed = next(o for o in provider.list([wethod.BRAND]) if o.remote_id == str(made["id"]))
        assert provider.found(observed, "EUR") is not None
        reason = provider.refusal(observed, "JPY")
    assert reason is not None and "JPY" in reason


# ---- projects(): every project the token can see -------------------------------------------


def test_ruddr_lists_every_project_with_its_name_and_currency_page_by_page(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["ruddr"])
    with _applied_workspace(tmp_path) as workspace:
        extra = ["0b7a6f7e-0000-4000-8000-00000000000" + str(n) for n in range(1, 4)]
        with support.admin_of(workspace.sandbox) as admin:
            for n, project in enumerate(extra):
                admin._call(
                    "POST",
                    "/projects",
                    {"id": project, "name": f"Retainer {n}", "billingTypeId": "fixed",
                     "currency": "EUR"},
                )  # fmt: skip
        provider = _provider(workspace)
        provider.page_size = 2
        listed = provider.projects()
    assert sorted(listed) == sorted(
        [(support.PROJECT_ID, "Cloud Infrastructure Services", "USD")]
        + [(project, f"Retainer {n}", "EUR") for n, project in enumerate(extra)]
    )


def test_kantata_lists_every_workspace_with_its_title_and_currency_page_by_page(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["kantata"])
    with _applied_workspace(tmp_path) as workspace:
        with kantata.admin_of(workspace.sandbox) as admin:
            for workspace_id in (52001, 52002, 52003):
                admin._call(
                    "POST",
                    "/workspaces",
                    {"id": workspace_id, "title": f"Workspace {workspace_id}", "currency": "GBP"},
                )
        provider = _provider(workspace)
        provider.page_size = 2
        listed = provider.projects()
    assert sorted(listed) == sorted(
        [(kantata.WORKSPACE, "Cascade Health Partners", "USD")]
        + [(w, f"Workspace {w}", "GBP") for w in (52001, 52002, 52003)]
    )


def test_wethod_lists_the_projects_holding_invoices_without_name_or_currency(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["wethod"])
    with _applied_workspace(tmp_path) as workspace:
        provider = _provider(workspace)
        provider.page_size = 2
        listed = provider.projects()
    assert sorted(listed) == [(wethod.BRAND, "", ""), (wethod.WEB, "", "")]


def test_coperniq_lists_every_project_by_title_without_a_currency_page_by_page(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS["coperniq"])
    with _applied_workspace(tmp_path) as workspace:
        with coperniq.admin_of(workspace.sandbox) as admin:
            for record in (6001, 6002, 6003):
                admin._call("POST", "/projects", {"id": record, "title": f"Site {record}"})
        provider = _provider(workspace)
        provider.page_size = 2
        listed = provider.projects()
    assert sorted(listed) == sorted(
        [(coperniq.RECORD, "Sunridge Farm solar array", "")]
        + [(record, f"Site {record}", "") for record in (6001, 6002, 6003)]
    )


def _applied_workspace(directory: Path) -> Workspace:
    """The plan in `directory` applied to its sandbox, and the workspace opened again."""
    with open_workspace(directory, support.AS_OF, sandbox=True) as workspace:
        state = workspace.backend.read()
        with workspace.backend.lock("test"):
            plan = workspace.plan(state, workspace.refresh(state))
            done = apply_plan(plan, workspace.providers, workspace.backend, state)
        assert done.ok, done.failures
    return open_workspace(directory, support.AS_OF, sandbox=True)


def test_a_vendor_that_declares_no_reading_refuses_to_onboard_saying_why() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request was expected: {request.method} {request.url}")

    ledgerly = Ledgerly("books", {}, transport=httpx.MockTransport(never), token="t")
    observed = Observed(
        "1", LINE, 9, {"description": "Kickoff"}, False, date(2026, 1, 5), Decimal(0)
    )
    with pytest.raises(ProviderError, match="publishes no list of projects"):
        ledgerly.projects()
    assert ledgerly.found(observed, "USD") is None
    assert "cannot read Ledgerly objects back" in str(ledgerly.refusal(observed, "USD"))
