"""Helpers for the Kantata OX tests: small Kantata plans, the Kantata emulator's admin surface
(`/kantata/_sandbox/`), one plan (and apply) in process that reads Kantata's request log, and a
Kantata emulator served over loopback for the command-line error tests.

Nothing is mocked: billplan's real Kantata provider talks to the real emulator, through the
sandbox's in-process transport or over HTTP to a uvicorn server the test starts and stops.
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
from support import (
    AS_OF,
    AS_OF_TEXT,
    EmulatorAdmin,
    Run,
    Step,
    billplan,
    hosts_outside_the_plan,
    serving,
    state_json,
)

from compiler.apply import apply_plan
from compiler.sandbox import DEFAULT_ROOT, SANDBOX_TOKEN, Sandbox, build_sandbox
from compiler.workspace import open_workspace

WORKSPACE = 41001
STORY = 88123
MILESTONE = "kantata_billing_milestone"
COLLECTION = "/api/v1/billing_milestones"  # the vendor path, as the request log shows it
TOKEN_ENV = "KANTATA_API_TOKEN_TEST"  # of Kantata's own family, as a plan may name

HEAD = """\
version: 1
providers:
  kantata: {type: kantata}
defaults:
  currency: USD
"""

# Three months of support, a kickoff, a credit and a milestone billed when task 88123 is done:
# six billing milestones in one Kantata workspace.
PLAN = f"""\
projects:
  cascade:
    provider: kantata
    project_id: {WORKSPACE}
    name: Cascade Health Partners
    recurring:
      support:
        description: "Support {{{{ period.start | month_name }}}} {{{{ period.start.year }}}}"
        every: month
        amount: 1234.56
        start: 2026-01-01
        end: 2026-03-31
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-15, amount: 10000}}
      credit: {{description: "SLA credit, January", date: 2026-02-15, amount: -500}}
      uat: {{description: UAT signed off, on_completion: {{task: {STORY}}}, amount: 7000}}
"""

SUPPORT = [f"cascade/recurring/support/2026-0{m}" for m in (1, 2, 3)]
KICKOFF = "cascade/milestones/kickoff"
CREDIT = "cascade/milestones/credit"
UAT = "cascade/milestones/uat"
ADDRESSES = sorted([*SUPPORT, KICKOFF, CREDIT, UAT])
KICKOFF_LINE = "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}\n"


def variant(*edits: tuple[str, str], body: str = PLAN) -> str:
    """PLAN with each (old, new) text replaced; old must be there, so a typo fails loudly."""
    for old, new in edits:
        assert old in body, f"{old!r} is not in the plan"
        body = body.replace(old, new)
    return body


def write_plan(directory: Path, body: str = PLAN, head: str = HEAD) -> Path:
    """Write head + body as plan.yaml in directory (replacing any earlier version)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.yaml").write_text(head + body, encoding="utf-8")
    return directory


# ---- the emulator's admin surface --------------------------------------------------------


class KantataAdmin(EmulatorAdmin):
    """The Kantata emulator's admin surface: seed workspaces and stories, invoice and edit
    milestones behind billplan's back, add hand-made ones, inject faults, read the request log."""

    vendor = "kantata"

    # workspaces and stories
    def add_workspace(self, workspace: int = WORKSPACE, currency: str = "USD") -> None:
        body = {"id": workspace, "title": "Cascade Health Partners", "currency": currency}
        self._call("POST", "/workspaces", body)

    def edit_workspace(self, workspace: int = WORKSPACE, **fields: Any) -> None:
        self._call("PATCH", f"/workspaces/{workspace}", fields)

    def add_story(self, story: int = STORY, workspace: int = WORKSPACE) -> None:
        self._call("POST", "/stories", {"id": story, "workspace_id": workspace, "title": "UAT"})

    def stories(self) -> list[dict[str, Any]]:
        return self._call("GET", "/stories")

    # milestones, each with its external references written out in full
    def milestones(self) -> list[dict[str, Any]]:
        return self._call("GET", "/billing_milestones")

    def milestone(self, remote_id: str) -> dict[str, Any]:
        found = [m for m in self.milestones() if m["id"] == str(remote_id)]
        assert found, f"no billing milestone {remote_id} in the emulator"
        return found[0]

    def add(self, **fields: Any) -> dict[str, Any]:
        """A milestone made by hand in Kantata's UI: no external reference unless given."""
        return self._call("POST", "/billing_milestones", {"workspace_id": WORKSPACE, **fields})

    def edit(self, remote_id: str, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/billing_milestones/{remote_id}", fields)

    def delete(self, remote_id: str) -> None:
        self._call("DELETE", f"/billing_milestones/{remote_id}")

    def invoice(self, remote_id: str, **terms: Any) -> dict[str, Any]:
        """Put the milestone on a new invoice (`draft`, `payment_schedule` as Kantata's)."""
        return self._call("POST", f"/billing_milestones/{remote_id}/invoice", terms or None)

    def invoices(self) -> list[dict[str, Any]]:
        return self._call("GET", "/invoices")

    def delete_invoice(self, invoice_id: str) -> None:
        """Delete the invoice in Kantata: its milestones are on no invoice any more."""
        self._call("DELETE", f"/invoices/{invoice_id}")

    # faults, settings, the request log
    def fault(self, method: str, path: str = COLLECTION, times: int = 1, **fault: Any) -> None:
        self.fault_at(method, path, times, **fault)


def reference_of(milestone: dict[str, Any]) -> dict[str, Any]:
    """The milestone's billplan external reference, as the admin surface shows it."""
    (ours,) = [r for r in milestone["external_references"] if r["service_name"] == "billplan"]
    return ours


def admin_of(sandbox: Sandbox) -> contextlib.AbstractContextManager[KantataAdmin]:
    return support.admin_of(sandbox, KantataAdmin)


def plan_sandbox(directory: Path) -> contextlib.AbstractContextManager[KantataAdmin]:
    """The plan directory's embedded sandbox, through this vendor's admin surface."""
    return support.plan_sandbox(directory, KantataAdmin)


# ---- the pipeline, in process, as `--sandbox` runs it ------------------------------------


def step(
    directory: Path,
    *,
    apply: bool = False,
    as_of: date = AS_OF,
    arrange: Callable[[KantataAdmin], object] = lambda admin: None,
) -> Step:
    """Plan (and apply when asked) the plan in directory with `--sandbox`, in process, with
    every emulator's rate limit off. arrange(admin) runs first against this run's Kantata
    emulator; the requests returned are Kantata's."""
    with open_workspace(directory, as_of, sandbox=True) as workspace:
        with httpx.Client(transport=workspace.sandbox.transport, base_url=DEFAULT_ROOT) as client:
            for vendor in workspace.sandbox.emulators:
                client.put(f"/{vendor}/_sandbox/settings", json={"rate_limit_per_second": None})
            admin = KantataAdmin(client)
            arrange(admin)
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                plan = workspace.plan(state, workspace.refresh(state))
                applied = None
                if apply:
                    applied = apply_plan(plan, workspace.providers, workspace.backend, state)
            requests = admin.requests()
        return Step(plan, applied, requests, workspace.backend.read())


# ---- a Kantata emulator served over loopback ------------------------------------------------


@dataclass
class Remote:
    """A Kantata emulator on a loopback socket, seeded with the workspace and story the plans
    use, and the environment billplan needs to reach it without --sandbox."""

    root: str
    admin: KantataAdmin

    @property
    def head(self) -> str:
        # The host is set outside the plan (BILLPLAN_KANTATA_BASE_URL), as a plan cannot.
        return HEAD.replace(
            "kantata: {type: kantata}", f"kantata: {{type: kantata, token_env: {TOKEN_ENV}}}"
        )

    def billplan(self, *args: str | Path) -> Run:
        """`billplan ARGS` against this emulator (no --sandbox)."""
        extra: list[str] = []
        if args[0] in ("plan", "apply", "import"):
            extra += ["--as-of", AS_OF_TEXT]
        if args[0] == "apply":
            extra.append("--auto-approve")
        return billplan(*args, *extra)


@contextlib.contextmanager
def remote(*, rate_limit: bool = False) -> Iterator[Remote]:
    """An in-memory Kantata emulator over loopback HTTP with workspace 41001 (USD) and story
    88123, its address in BILLPLAN_KANTATA_BASE_URL and its token in TOKEN_ENV meanwhile;
    the rate limit is off unless asked for."""
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = SANDBOX_TOKEN
    try:
        with (
            build_sandbox() as sandbox,
            serving(sandbox) as root,
            hosts_outside_the_plan(root, "kantata"),
            httpx.Client(base_url=root, timeout=10) as client,
        ):
            admin = KantataAdmin(client)
            admin.add_workspace()
            admin.add_story()
            if not rate_limit:
                admin.no_rate_limit()
            yield Remote(root, admin)
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous


def assert_state_consistent(directory: Path, admin: KantataAdmin, *, sandbox: bool) -> None:
    """The state file parses, has one entry per address, and every object it owns exists."""
    entries = state_json(directory, sandbox)["entries"]
    addresses = [e["address"] for e in entries]
    assert len(addresses) == len(set(addresses)), addresses
    held = {m["id"] for m in admin.milestones()}
    for entry in entries:
        if entry["remote_id"] is not None:
            assert entry["remote_id"] in held, entry["address"]
