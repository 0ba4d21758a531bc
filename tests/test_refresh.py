"""Refresh: a managed object a list did not return is read again by id before the plan
believes it was deleted, so a row skipped by offset or page-number paging (another object
deleted mid-read) is never created a second time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from compiler.apply import apply_plan
from compiler.sandbox import DEFAULT_ROOT
from compiler.workspace import open_workspace

AS_OF = date(2026, 3, 1)

PLANS = {
    "wethod": """\
version: 1
providers: {wethod: {type: wethod, company: acme}}
defaults: {currency: EUR}
projects:
  brand:
    provider: wethod
    project_id: 7301
    milestones:
      kickoff: {description: Kickoff, date: 2026-01-15, amount: 1000}
      launch: {description: Launch, date: 2026-02-15, amount: 2000}
""",
    "kantata": """\
version: 1
providers: {kantata: {type: kantata}}
defaults: {currency: USD}
projects:
  brand:
    provider: kantata
    project_id: 41001
    milestones:
      kickoff: {description: Kickoff, date: 2026-01-15, amount: 1000}
      launch: {description: Launch, date: 2026-02-15, amount: 2000}
""",
}
REREAD = {"wethod": ("GET", "/api/invoices/"), "kantata": ("GET", "/api/v1/billing_milestones")}


@pytest.mark.parametrize("vendor", sorted(PLANS))
def test_an_object_a_list_skipped_is_read_again_by_id_and_not_created_twice(
    vendor: str, tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(PLANS[vendor])
    with open_workspace(tmp_path, AS_OF, sandbox=True) as workspace:
        state = workspace.backend.read()
        with workspace.backend.lock("test"):
            plan = workspace.plan(state, workspace.refresh(state))
            assert apply_plan(plan, workspace.providers, workspace.backend, state).ok
        provider = workspace.providers[vendor]
        listed = provider.list(["7301" if vendor == "wethod" else "41001"])
        skipped = next(
            o for o in listed if o.remote_id == state.entries["brand/milestones/launch"].remote_id
        )
        with httpx.Client(transport=workspace.sandbox.transport, base_url=DEFAULT_ROOT) as admin:
            admin.delete(f"/{vendor}/_sandbox/requests")

            # What a list returns when another row was deleted between two of its pages.
            partial = [o for o in listed if o is not skipped]
            found = workspace.recheck_missing(state, partial)

            requests = admin.get(f"/{vendor}/_sandbox/requests").json()
        assert [o.remote_id for o in found] == [skipped.remote_id]
        method, path = REREAD[vendor]
        assert [(r["method"], r["path"].startswith(path)) for r in requests] == [(method, True)]
        again = workspace.plan(state, partial + found)
        assert not again.has_changes  # nothing to create: the launch milestone was there all along
