"""Helpers for the Coperniq plan/apply tests: small Coperniq plans, the Coperniq emulator's
admin surface (`/coperniq/_sandbox/`), and the pipeline run in process against a plan
directory's sandbox or against one emulator served over loopback.

Nothing is mocked: billplan's real Coperniq provider talks to the real emulator.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import support
from support import AS_OF, AS_OF_TEXT, EmulatorAdmin, Run, billplan, hosts_outside_the_plan, serving
from support import variant as edited

from compiler.apply import Applied, apply_plan
from compiler.model.change import Change, Plan
from compiler.sandbox import SANDBOX_TOKEN, Sandbox, build_sandbox
from compiler.state import State
from compiler.workspace import open_workspace

RECORD = 5120
TOKEN_ENV = "COPERNIQ_API_KEY_TEST"  # of Coperniq's own family, as a plan may name
API = "/v1"

HEAD = """\
version: 1
providers:
  coperniq: {type: coperniq}
defaults:
  currency: USD
"""

# The project's catalog items: every Coperniq line names one.
BATTERY_ITEM, INSTALLATION_ITEM, MONITORING_ITEM = 3001, 3002, 3003

# A solar project: two quarterly monitoring fees, two milestones and a product line; the
# equipment milestone, the batteries and the first monitoring fee share 2026-07-01. The
# milestones bill the project's catalog item (installation); the fees and the batteries their own.
PLAN = f"""\
projects:
  sunridge:
    provider: coperniq
    project_id: {RECORD}
    name: Sunridge Farm solar array
    contract_value: 612000
    coperniq: {{due_in_days: 30, catalog_item: {INSTALLATION_ITEM}}}
    recurring:
      monitoring:
        description: "Monitoring {{{{ period.label }}}}"
        every: quarter
        amount: 2400
        start: 2026-07-01
        count: 2
        coperniq: {{catalog_item: {MONITORING_ITEM}}}
    milestones:
      design: {{description: Engineering design, date: 2026-04-01, amount: 48000}}
      equipment: {{description: Equipment delivered, date: 2026-07-01, amount: 275000}}
    products:
      batteries: {{description: Battery storage units, quantity: 6, rate: 11500, date: 2026-07-01,
                  coperniq: {{catalog_item: {BATTERY_ITEM}}}}}
"""

DESIGN = "sunridge/milestones/design"
EQUIPMENT = "sunridge/milestones/equipment"
BATTERIES = "sunridge/products/batteries"
MONITORING_Q3 = "sunridge/recurring/monitoring/2026-Q3"
MONITORING_Q4 = "sunridge/recurring/monitoring/2026-Q4"
ADDRESSES = sorted([DESIGN, EQUIPMENT, BATTERIES, MONITORING_Q3, MONITORING_Q4])


def variant(*edits: tuple[str, str], body: str = PLAN) -> str:
    """PLAN (or body) with each (old, new) text replaced; old must be there."""
    return edited(*edits, body=body)


GROUPED = variant(("coperniq: {due_in_days: 30,", "coperniq: {group_by: date, due_in_days: 30,"))
APRIL = "sunridge/invoices/2026-04-01"
JULY = "sunridge/invoices/2026-07-01"
OCTOBER = "sunridge/invoices/2026-10-01"
GROUPED_ADDRESSES = [APRIL, JULY, OCTOBER]

INTERCONNECTION = "sunridge/milestones/interconnection"
INTERCONNECTION_LINE = (
    "      interconnection: {description: Interconnection approved, date: 2026-10-01, "
    "percent: 15%}\n"
)


def with_percent(body: str = PLAN) -> str:
    """The plan with a milestone of 15% of the contract value on 2026-10-01."""
    return variant(("    products:", INTERCONNECTION_LINE + "    products:"), body=body)


# ---- the emulator's admin surface --------------------------------------------------------


class Admin(EmulatorAdmin):
    """The Coperniq emulator's admin surface: send or edit invoices behind billplan's back,
    seed projects, change settings, inject faults, read the request log."""

    vendor = "coperniq"

    def invoices(self) -> list[dict[str, Any]]:
        return self._call("GET", "/invoices")

    def get(self, remote_id: str | int) -> dict[str, Any]:
        found = [i for i in self.invoices() if str(i["id"]) == str(remote_id)]
        assert found, f"no invoice {remote_id} in the emulator"
        return found[0]

    def set_status(self, remote_id: str | int, status: str) -> dict[str, Any]:
        return self._call("POST", f"/invoices/{remote_id}/status", {"status": status})

    def edit(self, remote_id: str | int, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/invoices/{remote_id}", fields)

    def add_invoice(self, **fields: Any) -> dict[str, Any]:
        """An invoice made by hand in Coperniq, not by billplan."""
        return self._call("POST", "/invoices", {"recordId": RECORD, **fields})

    def add_project(self, contract_value: Any = 612000, record: int = RECORD) -> None:
        body: dict[str, Any] = {"id": record, "title": "Sunridge Farm solar array"}
        if contract_value is not None:
            body["contractValue"] = contract_value
        self._call("POST", "/projects", body)

    def add_catalog_item(self, catalog_item: int, name: str, kind: str = "SERVICE") -> None:
        self._call("POST", "/catalog-items", {"id": catalog_item, "name": name, "type": kind})

    def catalog_items(self) -> list[dict[str, Any]]:
        return self._call("GET", "/catalog-items")

    def fault(self, method: str, path: str = "/invoices", times: int = 1, **fault: Any) -> None:
        self.fault_at(method, API + path, times, **fault)


def admin_of(sandbox: Sandbox) -> contextlib.AbstractContextManager[Admin]:
    return support.admin_of(sandbox, Admin)


def plan_sandbox(directory: Path) -> contextlib.AbstractContextManager[Admin]:
    """The plan directory's embedded sandbox, through this vendor's admin surface."""
    return support.plan_sandbox(directory, Admin)


# ---- the pipeline, in process, as `--sandbox` runs it ------------------------------------


@dataclass
class Step:
    """One plan (and perhaps apply) against a plan directory's embedded sandbox, with the
    vendor requests billplan made, from that emulator's request log."""

    plan: Plan
    applied: Applied | None
    requests: list[dict[str, Any]]
    state: State
    budget: list[str]

    def change(self, address: str) -> Change:
        found = [c for c in self.plan.changes if c.address == address]
        assert len(found) == 1, f"{address}: {found}"
        return found[0]

    def why(self, address: str) -> tuple[str, str | None]:
        """The change at an address as what apply does and why."""
        change = self.change(address)
        return change.action, change.reason

    def actions(self) -> dict[str, str]:
        """Each address's change as a reviewer reads it: its action, or drift / locked."""
        return {c.address: c.label for c in self.plan.changes}

    def writes(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method]

    def methods(self) -> list[str]:
        return [r["method"] for r in self.requests]

    def failures(self) -> dict[str, str]:
        assert self.applied is not None
        return {f.address: f.message for f in self.applied.failures}


def step(
    directory: Path,
    *,
    apply: bool = False,
    as_of: date = AS_OF,
    arrange: Callable[[Admin], object] = lambda admin: None,
    between: Callable[[Admin], object] = lambda admin: None,
) -> Step:
    """Plan (and apply when asked) the plan in directory with `--sandbox`, in process, all
    against one emulator: arrange(admin) runs before the plan (set a daily limit, arm a
    fault), between(admin) after it and before the apply (send an invoice meanwhile)."""
    with open_workspace(directory, as_of, sandbox=True) as workspace:
        with admin_of(workspace.sandbox) as admin:
            admin.settings(rate_limit_per_second=None)
            arrange(admin)
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                plan = workspace.plan(state, workspace.refresh(state))
                budget = workspace.budget_problems(plan)
                applied = None
                if apply:
                    between(admin)
                    applied = apply_plan(plan, workspace.providers, workspace.backend, state)
            requests = admin.requests()
        return Step(plan, applied, requests, workspace.backend.read(), budget)


# ---- one emulator served over loopback, for the command line -----------------------------


@dataclass
class Remote:
    """A Coperniq emulator on a loopback socket whose settings, daily usage and request log
    last across `billplan` runs, with the plan head that reaches it without --sandbox."""

    root: str
    admin: Admin

    @property
    def head(self) -> str:
        return (
            "version: 1\n"
            "providers:\n"
            # The host is set outside the plan (BILLPLAN_COPERNIQ_BASE_URL), as a plan cannot.
            f"  coperniq: {{type: coperniq, token_env: {TOKEN_ENV}}}\n"
            "defaults:\n"
            "  currency: USD\n"
        )

    def spend(self, requests: int) -> None:
        """Another integration using the same API key spends some of today's requests (the
        request log is cleared after, so that it shows billplan's requests only)."""
        for _ in range(requests):
            response = self.admin.client.get(
                f"/coperniq{API}/projects/{RECORD}/invoices", headers={"x-api-key": SANDBOX_TOKEN}
            )
            assert response.status_code == 200, response.text
        self.admin.clear_requests()

    def billplan(self, *args: str | Path) -> Run:
        """`billplan ARGS` against this emulator, with --as-of and --auto-approve as needed."""
        extra: list[str] = []
        if args[0] in ("plan", "apply", "import"):
            extra += ["--as-of", AS_OF_TEXT]
        if args[0] == "apply":
            extra.append("--auto-approve")
        return billplan(*args, *extra)


@contextlib.contextmanager
def remote(*, contract_value: Any = 612000) -> Iterator[Remote]:
    """An in-memory Coperniq emulator over loopback HTTP with project RECORD and the plan's
    catalog items seeded, its address in BILLPLAN_COPERNIQ_BASE_URL and its key in TOKEN_ENV
    for the duration, the per-second limit off."""
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = SANDBOX_TOKEN
    try:
        with (
            build_sandbox() as sandbox,
            serving(sandbox) as root,
            hosts_outside_the_plan(root, "coperniq"),
            httpx.Client(base_url=root, timeout=10) as client,
        ):
            admin = Admin(client)
            admin.add_project(contract_value)
            admin.add_catalog_item(BATTERY_ITEM, "Battery storage", "PRODUCT")
            admin.add_catalog_item(INSTALLATION_ITEM, "Solar installation")
            admin.add_catalog_item(MONITORING_ITEM, "Monitoring and O&M")
            admin.settings(rate_limit_per_second=None)
            yield Remote(root, admin)
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
