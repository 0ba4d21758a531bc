"""Helpers for the Wethod tests: small plans, the Wethod emulator's admin surface, a plan run
in process with `--sandbox`, and a Wethod emulator served over loopback for the CLI.

Nothing is mocked: billplan's real Wethod provider talks to the real emulator, through the
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
from urllib.parse import parse_qs

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
    variant,
)

from compiler.apply import apply_plan
from compiler.sandbox import SANDBOX_TOKEN, Sandbox, base_url, build_sandbox
from compiler.workspace import open_workspace

COMPANY = "acme"
BRAND = 7301  # the plan's main project
WEB = 7302  # a second project in the same plan
VAT_RATE = 101
PAYMENT_TERM = 201
BUDGET_AREA = "design"
PURCHASE_ORDER = "LO-2026-117"
TOKEN_ENV = "WETHOD_API_TOKEN_TEST"  # of Wethod's own family, as a plan may name
API = "/api/invoices"

# What billplan's token needs (README: Wethod permissions): the view keys to plan, the create,
# edit and delete keys to apply; never invoices.edit_sent. The sandbox token holds these.
VIEW = ("invoices.view", "invoices.view_other")
FINANCE = (*VIEW, "invoices.create", "invoices.create_other", "invoices.edit",
           "invoices.edit_other", "invoices.delete", "invoices.delete_other")  # fmt: skip

HEAD = f"""\
version: 1
providers:
  wethod: {{type: wethod, company: {COMPANY}}}
defaults:
  currency: EUR
"""

# Three months of retainer, a kickoff and a launch on the brand project, every Wethod option
# set on the project; one go-live on a second project. Six draft invoices in all.
PLAN = f"""\
projects:
  brand:
    provider: wethod
    project_id: {BRAND}
    name: Lakeside brand refresh
    wethod:
      vat_rate_id: {VAT_RATE}
      payment_term_id: {PAYMENT_TERM}
      budget_area_uid: {BUDGET_AREA}
      purchase_order: {PURCHASE_ORDER}
      exchange_rate: 1.0850
    recurring:
      retainer:
        description: "Retainer {{{{ period.start | month_name }}}} {{{{ period.start.year }}}}"
        every: month
        amount: 6500
        start: 2026-03-01
        end: 2026-05-31
    milestones:
      kickoff: {{description: Kickoff workshop, date: 2026-03-15, amount: 4000}}
      launch: {{description: Campaign live, date: 2026-07-31, amount: 6000}}
  web:
    provider: wethod
    project_id: {WEB}
    name: Lakeside website
    milestones:
      go-live: {{description: Website go-live, date: 2026-06-30, amount: 9000}}
"""

RETAINER = [f"brand/recurring/retainer/2026-0{m}" for m in (3, 4, 5)]
KICKOFF = "brand/milestones/kickoff"
LAUNCH = "brand/milestones/launch"
GO_LIVE = "web/milestones/go-live"
ADDRESSES = sorted([*RETAINER, KICKOFF, LAUNCH, GO_LIVE])

KICKOFF_LINE = "      kickoff: {description: Kickoff workshop, date: 2026-03-15, amount: 4000}\n"
EXTRA = "brand/milestones/extra"
EXTRA_LINE = "      extra: {description: Extra workshop, date: 2026-09-01, amount: 5000}\n"
WITH_EXTRA = variant((KICKOFF_LINE, EXTRA_LINE + KICKOFF_LINE), body=PLAN)
WITHOUT_KICKOFF = variant((KICKOFF_LINE, ""), body=PLAN)
KICKOFF_4500 = variant(("2026-03-15, amount: 4000}", "2026-03-15, amount: 4500}"), body=PLAN)

# What billplan sends for every invoice of the brand project, besides value, date and notes.
BRAND_OPTIONS = {
    "vat_rate_id": VAT_RATE,
    "payment_term_id": PAYMENT_TERM,
    "budget_area_uid": BUDGET_AREA,
    "purchase_order": PURCHASE_ORDER,
    "exchange_rate": 1.085,
}


def write_plan(directory: Path, body: str = PLAN, head: str = HEAD) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.yaml").write_text(head + body, encoding="utf-8")
    return directory


# ---- the emulator's admin surface --------------------------------------------------------


class WethodAdmin(EmulatorAdmin):
    """The Wethod emulator's admin surface (`/wethod/_sandbox/`): companies, projects with PM
    and Account, tokens with permissions, invoices made, edited, sent or paid by hand, faults,
    settings and the request log."""

    vendor = "wethod"

    # invoices
    def invoices(self) -> list[dict[str, Any]]:
        return self._call("GET", "/invoices")

    def invoice(self, remote_id: str | int) -> dict[str, Any]:
        found = [i for i in self.invoices() if str(i["id"]) == str(remote_id)]
        assert found, f"no invoice {remote_id} in the emulator"
        return found[0]

    def add(self, **fields: Any) -> dict[str, Any]:
        """An invoice made by hand in Wethod, not by billplan: a draft on the brand project."""
        return self._call("POST", "/invoices", {"project_id": BRAND, **fields})

    def edit(self, remote_id: str | int, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/invoices/{remote_id}", fields)

    def delete(self, remote_id: str | int) -> None:
        self._call("DELETE", f"/invoices/{remote_id}")

    def send(self, remote_id: str | int) -> None:
        self._call("POST", f"/invoices/{remote_id}/send")

    def set_paid(self, remote_id: str | int, payment_date: str) -> None:
        self._call("POST", f"/invoices/{remote_id}/set-paid", {"payment_date": payment_date})

    # companies, projects, tokens
    def add_company(self, slug: str) -> None:
        self._call("POST", "/companies", {"slug": slug, "name": slug.title()})

    def add_project(self, project_id: int, company: str = COMPANY, **fields: Any) -> None:
        body = {"id": project_id, "company": company, "name": f"Project {project_id}", **fields}
        self._call("POST", "/projects", body)

    def add_setting(self, collection: str, company: str = COMPANY, **fields: Any) -> None:
        """A VAT rate (`vat-rates`) or payment term (`payment-terms`) of a company."""
        self._call("POST", f"/{collection}", {"company": company, **fields})

    def edit_project(self, project_id: int, **fields: Any) -> None:
        self._call("PATCH", f"/projects/{project_id}", fields)

    def token(self, *permissions: str, company: str = COMPANY, user: str = "sandbox-user") -> None:
        """Bind the sandbox token to a company, a user and exactly these permissions."""
        grant = {"token": SANDBOX_TOKEN, "company": company, "user": user,
                 "permissions": list(permissions)}  # fmt: skip
        self.settings(tokens=[grant])

    def tokens(self) -> list[dict[str, Any]]:
        return self._call("GET", "/tokens")

    def revoke(self, permission: str) -> None:
        """Take one permission away from the sandbox token's user, as a Wethod admin might."""
        self._call("DELETE", f"/tokens/{SANDBOX_TOKEN}/permissions/{permission}")

    def grant(self, permission: str) -> None:
        self._call("PUT", f"/tokens/{SANDBOX_TOKEN}/permissions/{permission}")

    # faults, settings, the request log
    def fault(self, method: str, path: str = API, times: int = 1, **fault: Any) -> None:
        self.fault_at(method, path, times, **fault)


def query_of(logged: dict[str, Any]) -> dict[str, str]:
    """A logged request's query string as {name: value}."""
    return {name: values[-1] for name, values in parse_qs(logged["query"]).items()}


def admin_of(sandbox: Sandbox) -> contextlib.AbstractContextManager[WethodAdmin]:
    return support.admin_of(sandbox, WethodAdmin)


def plan_sandbox(directory: Path) -> contextlib.AbstractContextManager[WethodAdmin]:
    """The plan directory's embedded sandbox, through this vendor's admin surface."""
    return support.plan_sandbox(directory, WethodAdmin)


def api_client(sandbox: Sandbox, company: str = COMPANY) -> httpx.Client:
    """A Wethod API client as a person's own script would hold one, with the sandbox token."""
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "Wethod-Company": company,
               "Wethod-Version": "2024-06-15"}  # fmt: skip
    return httpx.Client(transport=sandbox.transport, base_url=base_url("wethod"), headers=headers)


# ---- the pipeline, in process, as `--sandbox` runs it ------------------------------------


def step(
    directory: Path,
    *,
    apply: bool = False,
    as_of: date = AS_OF,
    arrange: Callable[[WethodAdmin, Sandbox], object] = lambda admin, sandbox: None,
    between: Callable[[WethodAdmin, Sandbox], object] = lambda admin, sandbox: None,
) -> Step:
    """Plan (and apply when asked) the plan in directory with `--sandbox`, in process, with
    Wethod's rate limit off. arrange(admin, sandbox) runs before the plan, against this run's
    emulator (its token is bound to the plan's company by then); between(admin, sandbox) runs
    after the plan and before the apply, as a person acting meanwhile would."""
    with open_workspace(directory, as_of, sandbox=True) as workspace:
        with admin_of(workspace.sandbox) as admin:
            admin.no_rate_limit()
            arrange(admin, workspace.sandbox)
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                plan = workspace.plan(state, workspace.refresh(state))
                applied = None
                if apply:
                    between(admin, workspace.sandbox)
                    applied = apply_plan(plan, workspace.providers, workspace.backend, state)
            requests = admin.requests()
        return Step(plan, applied, requests, workspace.backend.read())


def applied_ok(directory: Path) -> Step:
    done = step(directory, apply=True)
    assert done.applied is not None and done.applied.ok, done.applied
    return done


# ---- a Wethod emulator served over loopback, for the command line ------------------------


@dataclass
class Remote:
    """A Wethod emulator on a loopback socket, seeded with the company and projects the plans
    use, and the environment billplan needs to reach it without --sandbox."""

    root: str
    admin: WethodAdmin
    sandbox: Sandbox

    def head(self, company: str | None = COMPANY) -> str:
        # The host is set outside the plan (BILLPLAN_WETHOD_BASE_URL), as a plan cannot.
        connection = f"type: wethod, token_env: {TOKEN_ENV}"
        if company is not None:
            connection += f", company: {company}"
        return f"version: 1\nproviders:\n  wethod: {{{connection}}}\ndefaults:\n  currency: EUR\n"

    def billplan(self, *args: str | Path) -> Run:
        """`billplan ARGS` against this emulator (no --sandbox)."""
        extra: list[str] = []
        if args[0] in ("plan", "apply", "import"):
            extra += ["--as-of", AS_OF_TEXT]
        if args[0] == "apply":
            extra.append("--auto-approve")
        return billplan(*args, *extra)


@contextlib.contextmanager
def remote() -> Iterator[Remote]:
    """An in-memory Wethod emulator served over loopback HTTP: company acme with the plan's
    projects, VAT rate and payment term; its token bound to acme with the permissions billplan
    needs (FINANCE) and in TOKEN_ENV, its address in BILLPLAN_WETHOD_BASE_URL, for the
    duration; the rate limit off."""
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = SANDBOX_TOKEN
    try:
        with (
            build_sandbox() as sandbox,
            serving(sandbox) as root,
            hosts_outside_the_plan(root, "wethod"),
            httpx.Client(base_url=root, timeout=10) as client,
        ):
            admin = WethodAdmin(client)
            admin.add_company(COMPANY)
            admin.add_project(BRAND, budget_areas=[BUDGET_AREA])
            admin.add_project(WEB)
            admin.add_setting("vat-rates", id=VAT_RATE, rate=22)
            admin.add_setting("payment-terms", id=PAYMENT_TERM, days=30)
            admin.token(*FINANCE)
            admin.no_rate_limit()
            yield Remote(root, admin, sandbox)
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
