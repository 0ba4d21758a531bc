"""Providers keep nothing between stages: what `list` needs to read a vendor in the plan's terms
comes in the planned resources it is given, and what a write needs beyond its body in the
change's `private` part, which the saved plan carries. So a provider that never compiled the
plan lists, dates, checks and writes exactly as the one that did.

Everything runs against the plan directory's sandbox: the real providers, the real emulators.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import support
import support_coperniq as coperniq

from compiler import planfile
from compiler.apply import apply_plan
from compiler.diff import Change, Plan
from compiler.providers import PROVIDERS, Provider
from compiler.sandbox import DEFAULT_ROOT, SANDBOX_TOKEN, base_url
from compiler.workspace import Workspace, open_workspace

# One plan per vendor, each with what its provider once kept from compile: Ruddr's planned
# projects and invoice items (checked before any write), Kantata's currency, Coperniq's due
# days and catalog items.
PLANS = {
    "ruddr": (support.AS_OF, support.HEAD + support.PLAN),
    "kantata": (
        support.AS_OF,
        """\
version: 1
defaults: {currency: JPY}
providers: {ox: {type: kantata}}
projects:
  tokyo-office:
    project_id: 41001
    provider: ox
    milestones:
      survey: {description: Site survey, date: 2026-01-20, amount: 100000}
      fit-out: {description: Fit-out, date: 2026-02-20, amount: 200000}
""",
    ),
    "wethod": (
        support.AS_OF,
        """\
version: 1
defaults: {currency: EUR}
providers: {agency: {type: wethod, company: acme}}
projects:
  rebrand:
    project_id: 7301
    provider: agency
    milestones:
      moodboard: {description: Moodboard, date: 2026-01-20, amount: 1500}
""",
    ),
    "coperniq": (coperniq.AS_OF, coperniq.HEAD + coperniq.GROUPED),
}
# What a fresh provider must still ask before anything is compared.
CHECKS = {
    "ruddr": [f"/projects/{support.PROJECT_ID}", f"/invoice-items/{support.INVOICE_ITEM}"],
    "kantata": ["/workspaces"],
    "wethod": [],
    "coperniq": ["/catalog-items"],
}


def _fresh(workspace: Workspace, name: str) -> Provider:
    """A client for connection `name` that has compiled nothing: as `apply FILE` would
    make one from the saved plan alone."""
    config = workspace.document.root["providers"][name]
    cls = PROVIDERS[config["type"]]
    return cls(
        name,
        config,
        transport=workspace.sandbox.transport,
        base_url=base_url(cls.vendor),
        token=SANDBOX_TOKEN,
        limiter=None,
    )


def _requests(workspace: Workspace, vendor: str, clear: bool = False) -> list[dict[str, Any]]:
    with httpx.Client(transport=workspace.sandbox.transport, base_url=DEFAULT_ROOT) as admin:
        if clear:
            admin.delete(f"/{vendor}/_sandbox/requests")
            return []
        return admin.get(f"/{vendor}/_sandbox/requests").json()


def _applied(directory: Path, as_of: date) -> None:
    with open_workspace(directory, as_of, sandbox=True) as workspace:
        state = workspace.backend.read()
        with workspace.backend.lock("test"):
            plan = workspace.plan(state, workspace.refresh(state))
            applied = apply_plan(plan, workspace.providers, workspace.backend, state)
        assert applied.ok, applied.failures


@pytest.mark.parametrize("vendor", sorted(PLANS))
def test_a_provider_that_never_compiled_the_plan_lists_and_checks_it_given_the_resources(
    vendor: str, tmp_path: Path
) -> None:
    as_of, text = PLANS[vendor]
    (tmp_path / "plan.yaml").write_text(text)
    _applied(tmp_path, as_of)
    with open_workspace(tmp_path, as_of, sandbox=True) as workspace:
        name = next(iter(workspace.providers))
        ids = sorted({str(r.project_id) for r in workspace.resources})
        fresh = _fresh(workspace, name)
        _requests(workspace, vendor, clear=True)

        listed = fresh.list(ids, workspace.planned()[name])

        paths = [r["path"] for r in _requests(workspace, vendor)]
        state = workspace.backend.read()
        fresh.close()
    # Read in the plan's terms (currency, dates): nothing differs from what was applied.
    assert not workspace.plan(state, listed).has_changes
    assert {(o.date, o.amount) for o in listed} == {(r.date, r.amount) for r in workspace.resources}
    # And the plan's own checks against the vendor were made, with nothing compiled.
    for path in CHECKS[vendor]:
        assert any(p.endswith(path) for p in paths), (path, paths)


def test_a_coperniq_invoice_is_dated_by_the_due_days_of_the_resources_it_is_listed_with(
    tmp_path: Path,
) -> None:
    as_of, text = PLANS["coperniq"]
    (tmp_path / "plan.yaml").write_text(text)
    _applied(tmp_path, as_of)
    with open_workspace(tmp_path, as_of, sandbox=True) as workspace:
        fresh = _fresh(workspace, "coperniq")
        alone = fresh.list([str(coperniq.RECORD)])
        planned = fresh.list([str(coperniq.RECORD)], workspace.planned()["coperniq"])
        fresh.close()
    # Without the plan there is only the due date; with it, the billing date 30 days before.
    by_id = {o.remote_id: o.date for o in alone}
    assert {o.date for o in planned} == {r.date for r in workspace.resources}
    assert all(by_id[o.remote_id] == o.date + timedelta(days=30) for o in planned)


SENT_AND_GROUPED = coperniq.variant(
    ("amount: 48000}", "amount: 48000, coperniq: {status: SENT}}"), body=coperniq.GROUPED
)


def test_a_saved_plan_writes_what_compile_decided_with_a_provider_that_never_compiled_it(
    tmp_path: Path,
) -> None:
    # The April invoice is created already SENT, and July's lines go in sections by kind:
    # neither is in the compared body, both are in the saved plan's private parts.
    (tmp_path / "plan.yaml").write_text(coperniq.HEAD + SENT_AND_GROUPED)
    saved = tmp_path / "plan.json"
    with open_workspace(tmp_path, coperniq.AS_OF, sandbox=True) as workspace:
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        text = planfile.dumps(plan, plan_path=str(tmp_path), as_of=coperniq.AS_OF, sandbox=True)
        planfile.write(saved, text)
        fresh = _fresh(workspace, "coperniq")
        _requests(workspace, "coperniq", clear=True)

        with workspace.backend.lock("test"):
            applied = apply_plan(
                planfile.load(saved).plan, {"coperniq": fresh}, workspace.backend, state
            )

        posts = [r["body"] for r in _requests(workspace, "coperniq") if r["method"] == "POST"]
        fresh.close()
    assert applied.ok, applied.failures
    by_description = {body["description"]: body for body in posts}
    april = by_description["sunridge: billing for 2026-04-01"]
    assert (april["status"], april["issueDate"]) == ("SENT", "2026-04-01T00:00:00.000Z")
    july = by_description["sunridge: billing for 2026-07-01"]
    assert july["status"] == "DRAFT" and "lineItems" not in july
    assert [s["name"] for s in july["sections"]] == ["Recurring fees", "Milestones", "Products"]


def test_a_changes_private_part_is_saved_and_read_back_as_written(tmp_path: Path) -> None:
    private = {"status": "SENT", "issue_date": "2026-04-01", "sections": {"3001": "Products"}}
    change = Change(
        address="sunridge/invoices/2026-04-01",
        action="create",
        provider="coperniq",
        type="coperniq_invoice",
        project="sunridge",
        project_id=5120,
        remote_id=None,
        before=None,
        after={"recordId": 5120},
        private=private,
    )
    saved = tmp_path / "plan.json"
    text = planfile.dumps(
        Plan(changes=[change]), plan_path="x", as_of=date(2026, 1, 1), sandbox=True
    )
    planfile.write(saved, text)

    (read,) = planfile.load(saved).plan.changes

    assert read.private == private
