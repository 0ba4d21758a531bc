"""Shared helpers for the plan/apply tests: small plans on disk, the CLI run in process, and
the Ruddr emulator's admin surface, in process (`--sandbox`) or over a loopback socket.

Nothing is mocked: billplan's real provider talks to the real emulator, either through the
sandbox's in-process transport or over HTTP to a uvicorn server the test starts and stops.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import uvicorn

from compiler import jsonio
from compiler.apply import Applied, apply_plan
from compiler.cli import main
from compiler.credentials import base_url_env
from compiler.model.change import Change, Plan
from compiler.sandbox import DEFAULT_ROOT, SANDBOX_TOKEN, Sandbox, base_url, build_sandbox
from compiler.state import State
from compiler.workspace import open_workspace

AS_OF = date(2026, 11, 23)
AS_OF_TEXT = AS_OF.isoformat()
PROJECT_ID = "d077258e-2158-4f34-aabd-97e971d0c18d"
INVOICE_ITEM = "aba04832-216c-463e-8998-c520948f707c"
# A token variable of Ruddr's own family, as a plan may name one (RUDDR_API_TOKEN_<SUFFIX>).
TOKEN_ENV = "RUDDR_API_TOKEN_TEST"

MILESTONE = "ruddr_invoice_milestone"
PRODUCT_ITEM = "ruddr_product_item"
ADMIN_PATHS = {MILESTONE: "project-invoice-milestones", PRODUCT_ITEM: "project-product-items"}
API = "/api/workspace"

HEAD = f"""\
version: 1
providers:
  ruddr: {{type: ruddr}}
defaults:
  currency: USD
  ruddr: {{invoice_item: {INVOICE_ITEM}}}
"""

# A retainer for three months, a kickoff milestone, a milestone split in two, and a product:
# seven objects in one Ruddr project.
PLAN = f"""\
projects:
  cloud-infra:
    provider: ruddr
    project_id: {PROJECT_ID}
    name: Cloud Infrastructure Services
    recurring:
      retainer:
        description: "Retainer {{{{ period.start | month_name }}}} {{{{ period.start.year }}}}"
        every: month
        amount: 15000
        start: 2026-01-01
        end: 2026-03-31
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-15, amount: 10000}}
      delivery:
        split:
          total: 50000
          parts:
            design: {{description: Design sign-off, date: 2026-02-01, share: 40%}}
            launch: {{description: Go-live, date: 2026-04-01, share: 60%}}
    products:
      licenses: {{description: CRM licenses, quantity: 10, rate: 150, date: 2026-02-04}}
"""

RETAINER = [f"cloud-infra/recurring/retainer/2026-0{m}" for m in (1, 2, 3)]
KICKOFF = "cloud-infra/milestones/kickoff"
DESIGN = "cloud-infra/milestones/delivery/design"
LAUNCH = "cloud-infra/milestones/delivery/launch"
LICENSES = "cloud-infra/products/licenses"
ADDRESSES = sorted([*RETAINER, KICKOFF, DESIGN, LAUNCH, LICENSES])


def variant(*edits: tuple[str, str], body: str = PLAN) -> str:
    """PLAN with each (old, new) text replaced; old must be there, so a typo fails loudly."""
    for old, new in edits:
        assert old in body, f"{old!r} is not in the plan"
        body = body.replace(old, new)
    return body


KICKOFF_LINE = "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}\n"
EXTRA = "cloud-infra/milestones/extra"
EXTRA_LINE = "      extra: {description: Extra workshop, date: 2026-06-01, amount: 5000}\n"
WITH_EXTRA = variant(("    products:", EXTRA_LINE + "    products:"))


def write_plan(directory: Path, body: str = PLAN, head: str = HEAD) -> Path:
    """Write head + body as plan.yaml in directory (replacing any earlier version)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "plan.yaml"
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return directory


def loopback_head() -> str:
    """A plan head whose Ruddr token comes from TOKEN_ENV; the host is set outside the plan
    (`hosts_outside_the_plan`), as a plan cannot name one."""
    return (
        "version: 1\n"
        "providers:\n"
        f"  ruddr: {{type: ruddr, token_env: {TOKEN_ENV}}}\n"
        "defaults:\n"
        "  currency: USD\n"
        f"  ruddr: {{invoice_item: {INVOICE_ITEM}}}\n"
    )


# ---- the CLI, in process ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def errors(self) -> str:
        """stderr with rich's line folding undone: one space between words."""
        return " ".join(self.err.split())


def billplan(*args: str | Path) -> Run:
    """Run the `billplan` command line in this process and capture what it prints. Its
    stdin is not a terminal, as in CI."""
    out, err = io.StringIO(), io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO("")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse and a few early checks exit
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = stdin
    return Run(code, out.getvalue(), err.getvalue())


def sandboxed(*args: str | Path) -> Run:
    """`billplan ARGS --sandbox`, with `--as-of AS_OF` where the command takes it and
    `--auto-approve` for apply."""
    extra: list[str] = ["--sandbox"]
    if args[0] in ("plan", "apply", "import"):
        extra += ["--as-of", AS_OF_TEXT]
    if args[0] == "apply":
        extra.append("--auto-approve")
    return billplan(*args, *extra)


# ---- the emulator's admin surface --------------------------------------------------------


class EmulatorAdmin:
    """One emulator's admin surface (`/<vendor>/_sandbox/`): the calls every vendor shares
    (faults, settings, the request log); each vendor's admin adds its own objects."""

    vendor: ClassVar[str]

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        content = None if body is None else jsonio.dumps(body)
        headers = {"Content-Type": "application/json"} if content else None
        response = self.client.request(
            method, f"/{self.vendor}/_sandbox{path}", content=content, headers=headers
        )
        assert response.status_code < 400, f"{method} {path}: {response.text}"
        return jsonio.loads(response.content) if response.content else None

    def fault_at(self, method: str, path: str, times: int = 1, **fault: Any) -> None:
        """Arm a fault on vendor paths starting with `path` (the full path below the mount)."""
        self._call("POST", "/faults", {"method": method, "path": path, "times": times, **fault})

    def settings(self, **settings: Any) -> dict[str, Any]:
        return self._call("PUT", "/settings", settings)

    def reset(self) -> None:
        """Back to an empty workspace with the default settings."""
        self._call("POST", "/reset")

    def no_rate_limit(self) -> None:
        self.settings(rate_limit_per_second=None)

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        log = self._call("GET", "/requests")
        return [r for r in log if method is None or r["method"] == method]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")


class Admin(EmulatorAdmin):
    """The Ruddr emulator's admin surface (`/ruddr/_sandbox/`): invoice, edit behind billplan's
    back, create unmanaged objects, inject faults, read the request log."""

    vendor = "ruddr"

    # objects
    def objects(self, type_name: str = MILESTONE) -> list[dict[str, Any]]:
        return self._call("GET", f"/{ADMIN_PATHS[type_name]}")

    def get(self, type_name: str, remote_id: str) -> dict[str, Any]:
        found = [o for o in self.objects(type_name) if o["id"] == remote_id]
        assert found, f"no {type_name} {remote_id} in the emulator"
        return found[0]

    def invoice(self, type_name: str, remote_id: str) -> None:
        self._call("POST", f"/{ADMIN_PATHS[type_name]}/{remote_id}/invoice")

    def edit(self, type_name: str, remote_id: str, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/{ADMIN_PATHS[type_name]}/{remote_id}", fields)

    def delete(self, type_name: str, remote_id: str) -> None:
        self._call("DELETE", f"/{ADMIN_PATHS[type_name]}/{remote_id}")

    def add(self, type_name: str, **fields: Any) -> dict[str, Any]:
        """An object made by hand in Ruddr, not by billplan."""
        body = {"projectId": PROJECT_ID, "invoiceItemId": INVOICE_ITEM, **fields}
        return self._call("POST", f"/{ADMIN_PATHS[type_name]}", body)

    def add_project(self, project_id: str = PROJECT_ID, billing: str = "fixed_recurring") -> None:
        self._call(
            "POST",
            "/projects",
            {"id": project_id, "name": "Cloud Infrastructure Services", "billingTypeId": billing},
        )

    def add_invoice_item(self, item_id: str = INVOICE_ITEM) -> None:
        self._call("POST", "/invoice-items", {"id": item_id, "name": "Services"})

    def fault(self, method: str, path: str = "", times: int = 1, **fault: Any) -> None:
        self.fault_at(method, API + path, times, **fault)


AdminT = TypeVar("AdminT", bound=EmulatorAdmin)


@contextlib.contextmanager
def admin_of(sandbox: Sandbox, kind: type[AdminT] = Admin) -> Iterator[AdminT]:
    """An emulator's admin surface in a running sandbox (Ruddr's unless `kind` says)."""
    with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client:
        yield kind(client)


@contextlib.contextmanager
def plan_sandbox(directory: Path, kind: type[AdminT] = Admin) -> Iterator[AdminT]:
    """The embedded sandbox of a plan directory (`.billplan/sandbox.sqlite`), opened beside
    billplan's own: the objects are shared through the file; settings, faults and the
    request log are not (they belong to each running emulator)."""
    with (
        build_sandbox(directory / ".billplan" / "sandbox.sqlite") as sandbox,
        admin_of(sandbox, kind) as admin,
    ):
        yield admin


# ---- the pipeline, in process, as `--sandbox` runs it ------------------------------------


@dataclass
class Step:
    """One plan (and perhaps apply) against a plan directory's embedded sandbox, with the
    vendor requests billplan made, read from that emulator's request log."""

    plan: Plan
    applied: Applied | None
    requests: list[dict[str, Any]]
    state: State

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


def step(
    directory: Path,
    *,
    apply: bool = False,
    as_of: date = AS_OF,
    arrange: Callable[[Admin], object] = lambda admin: None,
) -> Step:
    """Plan (and apply when asked) the plan in directory with `--sandbox`, in process.
    arrange(admin) runs first against this run's emulator: arm a fault, say."""
    with open_workspace(directory, as_of, sandbox=True) as workspace:
        with admin_of(workspace.sandbox) as admin:
            admin.no_rate_limit()
            arrange(admin)
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                plan = workspace.plan(state, workspace.refresh(state))
                applied = None
                if apply:
                    applied = apply_plan(plan, workspace.providers, workspace.backend, state)
            requests = admin.requests()
        return Step(plan, applied, requests, workspace.backend.read())


def state_file(directory: Path, sandbox: bool = True) -> Path:
    name = "sandbox-state.json" if sandbox else "state.json"
    return directory / ".billplan" / name


def state_json(directory: Path, sandbox: bool = True) -> dict[str, Any]:
    return json.loads(state_file(directory, sandbox).read_text(encoding="utf-8"))


def remote_ids(directory: Path, sandbox: bool = True) -> dict[str, str | None]:
    return {e["address"]: e["remote_id"] for e in state_json(directory, sandbox)["entries"]}


# ---- a sandbox served over loopback --------------------------------------------------------


@contextlib.contextmanager
def serving(sandbox: Sandbox) -> Iterator[str]:
    """Serve the sandbox with uvicorn on 127.0.0.1, an ephemeral port, in a thread of this
    test; yields the root URL and stops the server on exit."""
    config = uvicorn.Config(
        sandbox.app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="billplan-test-uvicorn", daemon=True)
    thread.start()
    try:
        started = threading.Event()
        for _ in range(1000):
            if server.started:
                break
            started.wait(0.005)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def hosts_outside_the_plan(root: str, *vendors: str) -> Iterator[None]:
    """BILLPLAN_<VENDOR>_BASE_URL naming the emulators served at `root`, for the duration:
    what a workflow sets where billplan runs, since a plan cannot name a host."""
    values = {base_url_env(vendor): base_url(vendor, root) for vendor in vendors}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Remote:
    """A Ruddr emulator on a loopback socket, with the project and invoice item the plans
    use, and the environment billplan needs to reach it without --sandbox."""

    root: str
    admin: Admin
    sandbox: Sandbox

    @property
    def head(self) -> str:
        return loopback_head()

    def billplan(self, *args: str | Path) -> Run:
        """`billplan ARGS` against this emulator (no --sandbox), as sandboxed() does."""
        extra: list[str] = []
        if args[0] in ("plan", "apply", "import"):
            extra += ["--as-of", AS_OF_TEXT]
        if args[0] == "apply":
            extra.append("--auto-approve")
        return billplan(*args, *extra)


@contextlib.contextmanager
def remote(*, rate_limit: bool = False, seed: bool = True) -> Iterator[Remote]:
    """An in-memory Ruddr emulator served over loopback HTTP, seeded with the project and
    invoice item the plans use, its address in BILLPLAN_RUDDR_BASE_URL and its token in
    TOKEN_ENV for the duration. The rate limit is
    off unless asked for, so that timing never slows a test."""
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = SANDBOX_TOKEN
    try:
        with (
            build_sandbox() as sandbox,
            serving(sandbox) as root,
            hosts_outside_the_plan(root, "ruddr"),
            httpx.Client(base_url=root, timeout=10) as client,
        ):
            admin = Admin(client)
            if seed:
                admin.add_project()
                admin.add_invoice_item()
            if not rate_limit:
                admin.no_rate_limit()
            yield Remote(root, admin, sandbox)
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous


def assert_state_consistent(directory: Path, admin: Admin, *, sandbox: bool = False) -> None:
    """The state file parses, has one entry per address, and every object it owns exists."""
    entries = state_json(directory, sandbox)["entries"]
    addresses = [e["address"] for e in entries]
    assert len(addresses) == len(set(addresses)), addresses
    held = {o["id"] for t in ADMIN_PATHS for o in admin.objects(t)}
    for entry in entries:
        if entry["remote_id"] is not None:
            assert entry["remote_id"] in held, entry["address"]


# ---- concurrent runs ---------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[1]

# `billplan` in a process of its own, as a second CI job would run it. It loads billplan,
# says so, and waits for a line on stdin before it runs: the test then decides exactly when
# each apply starts, without Python's start-up time in the race.
_WAITING_BILLPLAN = """\
import sys
from compiler.cli import main
from compiler.credentials import base_url_env
print("ready", flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[1:]))
"""


class WaitingApply:
    def __init__(self, directory: Path, *extra: str) -> None:
        """`billplan apply DIRECTORY --auto-approve`, loaded in a process; go() starts it."""
        argv = ["apply", str(directory), "--auto-approve", "--as-of", AS_OF_TEXT, *extra]
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WAITING_BILLPLAN, *argv],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "1000"},
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "ready\n"

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def outcome(self) -> tuple[int, str]:
        out, err = self.process.communicate(timeout=90)
        return self.process.returncode, out + err


class Clock:
    """A clock moved only by sleeps: the emulators' rate limits, billplan's rate limiter and
    its backoff all read it, so a run under a rate limit takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
