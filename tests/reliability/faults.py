"""Helpers for the reliability tests: the four emulators served by `billplan sandbox serve` in a
process of their own (so that they outlive a billplan run the test kills), their admin surfaces
over HTTP, small plans for every vendor, and `billplan` run as a separate process.

Nothing is mocked: billplan's real providers talk HTTP to the real emulators, and faults are
armed through the emulators' admin surfaces (`/<vendor>/_sandbox/faults`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from support import Clock

from compiler import jsonio
from compiler.apply import Applied, apply_plan
from compiler.credentials import base_url_env
from compiler.model.change import Plan
from compiler.providers import PROVIDERS
from compiler.providers.base import RateLimiter
from compiler.sandbox import DEFAULT_ROOT, EXCHANGE_LOG_ENV, SANDBOX_TOKEN, base_url
from compiler.sandbox.base import TokenBucket
from compiler.workspace import open_workspace

VENDORS = ("ruddr", "kantata", "wethod", "coperniq")
AS_OF = "2026-11-23"
ROOT = Path(__file__).resolve().parents[2]
BILLPLAN = [sys.executable, "-m", "compiler"]
# Token variables of each vendor's own family, as a plan may name them (RUDDR_API_TOKEN_<SUFFIX>).
TOKEN_ENVS = {vendor: f"{PROVIDERS[vendor].default_token_env}_RELIABILITY" for vendor in VENDORS}
WRITES = "POST,PATCH,PUT,DELETE"

RUDDR_PROJECT = "d077258e-2158-4f34-aabd-97e971d0c18d"
RUDDR_INVOICE_ITEM = "aba04832-216c-463e-8998-c520948f707c"
COPERNIQ_CATALOG_ITEM = 3001  # every Coperniq line names one
PROJECT_IDS = {"ruddr": RUDDR_PROJECT, "kantata": 41001, "wethod": 7301, "coperniq": 5120}
# The admin collections that list every object billplan may create, per vendor.
ROWS = {
    "ruddr": ("project-invoice-milestones", "project-product-items"),
    "kantata": ("billing_milestones",),
    "wethod": ("invoices",),
    "coperniq": ("invoices",),
}
# Where a vendor's API lives below its mount, for faults (`path` is a prefix of it).
API_ROOTS = {"ruddr": "/api/workspace", "kantata": "/api/v1", "wethod": "/api", "coperniq": "/v1"}


def head(vendors: tuple[str, ...] = VENDORS, **settings: Any) -> str:
    """The `providers:` and `defaults:` of a plan whose connections take their tokens from
    TOKEN_ENVS (--sandbox uses its own); `settings` go into every connection (max_rps,
    timeout). A plan names no host: `environment(root=...)` sets them, as a workflow would."""
    lines = ["version: 1", "providers:"]
    extra = "".join(f", {key}: {value}" for key, value in settings.items())
    for vendor in vendors:
        company = ", company: acme" if vendor == "wethod" else ""
        token = f", token_env: {TOKEN_ENVS[vendor]}"
        lines.append(f"  {vendor}: {{type: {vendor}{company}{token}{extra}}}")
    lines += ["defaults:", "  currency: USD", f"  ruddr: {{invoice_item: {RUDDR_INVOICE_ITEM}}}",
              f"  coperniq: {{catalog_item: {COPERNIQ_CATALOG_ITEM}}}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def project(vendor: str, version: int = 0, months: int = 4) -> str:
    """One project of `vendor` in the plan's version `version`: every version changes every
    amount (an update each) and the number of months (creates or deletes), so that each step
    from one version to the next writes at least `months - 1` objects."""
    count = months + version % 3
    amount = 1000 + 10 * version
    return textwrap.indent(
        textwrap.dedent(f"""\
            {vendor}-work:
              provider: {vendor}
              project_id: {PROJECT_IDS[vendor]}
              name: Reliability {vendor}
              recurring:
                fee:
                  description: "Fee {{{{ period.label }}}}"
                  every: month
                  amount: {amount}
                  start: 2026-01-01
                  count: {count}
              milestones:
                kickoff: {{description: "Kickoff v{version % 2}", date: 2026-01-15, amount: 500}}
            """),
        "  ",
    )


def plan_text(
    vendors: tuple[str, ...] = VENDORS,
    version: int = 0,
    months: int = 4,
    **settings: Any,
) -> str:
    body = "".join(project(vendor, version, months) for vendor in vendors)
    return head(vendors, **settings) + "projects:\n" + body


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.yaml").write_text(text, encoding="utf-8")
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(
    token: str = SANDBOX_TOKEN, *, root: str | None = None, **more: str
) -> dict[str, str]:
    """The environment billplan runs in: every vendor's token set to `token` and, given the
    root of a served sandbox, every vendor's host set to it (BILLPLAN_<VENDOR>_BASE_URL), as
    a workflow sets them outside the plan; none of the caller's BILLPLAN_ settings but the
    exchange log the contract tests read."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BILLPLAN_") or k == EXCHANGE_LOG_ENV
    }
    env.update({name: token for name in TOKEN_ENVS.values()})
    if root is not None:
        env.update({base_url_env(vendor): base_url(vendor, root) for vendor in VENDORS})
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "200"  # keep rich from folding lines the tests read
    env.update(more)
    return env


def run(
    *args: str | Path, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`billplan ARGS` in a process of its own; plan and apply get --as-of, apply
    --auto-approve."""
    return subprocess.run(
        [*BILLPLAN, *map(str, args), *_defaults(args)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def spawn(*args: str | Path, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`billplan ARGS` started in the background, its output in `log` (read it after)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*BILLPLAN, *map(str, args), *_defaults(args)],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def _defaults(args: tuple[str | Path, ...]) -> list[str]:
    extra = ["--as-of", AS_OF] if args[0] in ("plan", "apply") else []
    return extra + (["--auto-approve"] if args[0] == "apply" else [])


@dataclass
class Served:
    """`billplan sandbox serve` in its own process: all four emulators over one SQLite file."""

    root: str
    process: subprocess.Popen[bytes]
    client: httpx.Client
    log: Path
    counts: dict[str, int] = field(default_factory=dict)

    def admin(self, vendor: str, method: str, path: str, body: Any = None) -> Any:
        content = None if body is None else jsonio.dumps(body)
        headers = {"Content-Type": "application/json"} if content else None
        response = self.client.request(
            method, f"/{vendor}/_sandbox{path}", content=content, headers=headers
        )
        assert response.status_code < 400, f"{vendor} {method} {path}: {response.text}"
        return jsonio.loads(response.content) if response.content else None

    def fault(self, vendor: str, **fault: Any) -> None:
        """Arm a fault on the vendor's API (`path` below its API root, default all of it)."""
        fault["path"] = API_ROOTS[vendor] + fault.get("path", "")
        self.admin(vendor, "POST", "/faults", fault)

    def clear_faults(self, vendor: str) -> None:
        self.admin(vendor, "DELETE", "/faults")

    def settings(self, vendor: str, **settings: Any) -> dict[str, Any]:
        return self.admin(vendor, "PUT", "/settings", settings)

    def requests(self, vendor: str) -> list[dict[str, Any]]:
        return self.admin(vendor, "GET", "/requests")

    def clear_requests(self, vendor: str) -> None:
        self.admin(vendor, "DELETE", "/requests")

    def rows(self, vendor: str) -> list[dict[str, Any]]:
        """Every object of the kinds billplan creates, as the vendor holds them."""
        return [row for kind in ROWS[vendor] for row in self.admin(vendor, "GET", f"/{kind}")]

    def writes(self, vendor: str) -> list[dict[str, Any]]:
        return [r for r in self.requests(vendor) if r["method"] in WRITES.split(",")]


@contextlib.contextmanager
def served(directory: Path) -> Iterator[Served]:
    """Start `billplan sandbox serve --db DIR/sandbox.sqlite` on a free port, seeded with the
    projects of every vendor's plan, every emulator's rate limit off; stop it (by its process
    id) on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "serve.log"
    seed = write(directory / "seed", plan_text()) / "plan.yaml"
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = free_port()
        root = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*BILLPLAN, "sandbox", "serve", "--db", str(directory / "sandbox.sqlite"),
                 "--port", str(port), "--seed", str(seed)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=environment(),
            )  # fmt: skip
        client = httpx.Client(base_url=root, timeout=10)
        if _wait_until_up(client, process):
            break
        client.close()
        _stop(process)
    else:
        raise AssertionError(f"billplan sandbox serve did not start: {log.read_text()}")
    server = Served(root, process, client, log)
    try:
        for vendor in VENDORS:
            server.settings(vendor, rate_limit_per_second=None)
        yield server
    finally:
        client.close()
        _stop(process)


def _wait_until_up(client: httpx.Client, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(httpx.TransportError):
            if client.get("/").status_code == 200:
                return True
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- the in-process sandbox (`--sandbox`), faults armed before a run ------------------------


@dataclass
class Attempt:
    """One plan (and apply) against a plan directory's embedded sandbox."""

    plan: Plan
    applied: Applied | None
    requests: dict[str, list[dict[str, Any]]]  # per vendor, from the emulator's log
    rows: dict[str, list[dict[str, Any]]]  # per vendor, what it holds afterwards
    slept: list[float]  # billplan's waits (backoff, Retry-After), never really slept

    def sent(self, vendor: str, methods: str = "POST") -> list[dict[str, Any]]:
        return [r for r in self.requests[vendor] if r["method"] in methods.split(",")]


def attempt(
    directory: Path,
    *,
    faults: Mapping[str, list[dict[str, Any]]] | None = None,
    apply: bool = True,
    clock: Clock | None = None,
    client_rps: float | None = None,
) -> Attempt:
    """Plan (and apply) `directory` with --sandbox in this process, after arming `faults` (per
    vendor, paths below the vendor's API root). Without `clock`, rate limits are off and
    billplan's waits are recorded, not slept. With `clock`, every emulator enforces its default
    limit on that clock and billplan paces at its vendor's limit (or `client_rps`)."""
    slept: list[float] = []
    with open_workspace(directory, date.fromisoformat(AS_OF), sandbox=True) as workspace:
        sandbox = workspace.sandbox
        for name, provider in workspace.providers.items():
            vendor = workspace.document.root["providers"][name]["type"]
            emulator = sandbox.emulators[vendor]
            if clock is None:
                provider.sleep = slept.append
                emulator.settings = replace(emulator.settings, rate_limit_per_second=None)
                emulator.limiter.configure(None, 1)
            else:
                provider.sleep = clock.sleep
                settings = emulator.default_settings
                enforced = settings.rate_limit_per_second  # None: Wethod's, only an hour
                emulator.limiter = TokenBucket(
                    clock, None if enforced is None else float(enforced), settings.burst
                )
                rate = client_rps if client_rps is not None else type(provider).rate_limit
                # As billplan paces a connection: the vendor's rate, and the burst it allows.
                burst = type(provider).rate_burst
                provider.limiter = RateLimiter(rate, burst, clock=clock, sleep=clock.sleep)
        with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client:
            for vendor, armed in (faults or {}).items():
                for fault in armed:
                    body = {**fault, "path": API_ROOTS[vendor] + fault.get("path", "")}
                    response = client.post(f"/{vendor}/_sandbox/faults", json=body)
                    assert response.status_code == 201, response.text
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                plan = workspace.plan(state, workspace.refresh(state))
                applied = None
                if apply:
                    applied = apply_plan(plan, workspace.providers, workspace.backend, state)

            def admin(vendor: str, path: str) -> Any:
                response = client.get(f"/{vendor}/_sandbox{path}")
                assert response.status_code == 200, response.text
                return response.json()

            requests = {vendor: admin(vendor, "/requests") for vendor in VENDORS}
            rows = {
                vendor: [row for kind in ROWS[vendor] for row in admin(vendor, f"/{kind}")]
                for vendor in VENDORS
            }
    return Attempt(plan, applied, requests, rows, slept if clock is None else clock.slept)


def state_entries(directory: Path, sandbox: bool = True) -> list[dict[str, Any]]:
    name = "sandbox-state.json" if sandbox else "state.json"
    return json.loads((directory / ".billplan" / name).read_text(encoding="utf-8"))["entries"]


def assert_exactly_planned(directory: Path, vendor: str) -> Attempt:
    """With --sandbox: the vendor holds one object per planned item, each owned by state, and a
    new plan has nothing to do."""
    after = attempt(directory, apply=False)
    entries = state_entries(directory)
    assert all(e["status"] == "managed" and e["remote_id"] for e in entries), entries
    held = sorted(str(row["id"]) for row in after.rows[vendor])
    assert held == sorted(str(e["remote_id"]) for e in entries if e["provider"] == vendor)
    assert not after.plan.has_changes, after.plan.summary()
    return after
