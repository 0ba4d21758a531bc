"""A no-op `billplan plan` of a large portfolio over loopback HTTP, against `terraform plan` of
as many `terraform_data` resources; then the same plan under the vendors' real rate limits.

Setup (untimed): a portfolio of ~100 items per project across Ruddr, Kantata, Wethod and
Coperniq (bench/portfolio.py), `billplan sandbox serve` in a subprocess with every emulator's
rate limit lifted, and one `billplan apply` that creates it all (state written by billplan).

1. `billplan plan --detailed-exitcode` in a fresh process, best of --repeat, limits lifted:
   what billplan itself costs.
2. Terraform: a config of `count = N` `terraform_data` resources whose inputs are shaped like
   billplan's state entries, its state written directly (3 applied for real, the instance
   replicated N times: applying 10,000 takes over 40 minutes), then one timed
   `terraform plan -refresh=true`. Printed beside billplan's time, with the ratio.
3. The same no-op plan with the vendors' real limits on (a restarted server, so that
   Coperniq's daily budget starts full), the median of --limited-repeat runs beside the
   concurrent bound the limits set: the slowest vendor's share, where a vendor's share is the
   requests the plan needs beyond the burst its limit lets through at once, at its rate (the
   vendors are read at once). With --against, another checkout's billplan is timed in turn,
   run for run, in the same conditions. The requests each vendor served are counted from the
   emulator's request log and printed beside the lower bound of one list request per page per
   project, with the 429s it answered; each run's wall is split where the slowest vendor's
   first and last requests arrived (the log's `received`): what billplan does before its
   first request, the span its limit stretches the requests over, and what it does after.

    .venv/bin/python bench/bench_noop.py                    # everything, ~10,000 items
    .venv/bin/python bench/bench_noop.py --skip-terraform   # billplan only, quick
    .venv/bin/python bench/bench_noop.py --skip-terraform --work /tmp/noop \
        --limited-repeat 5 --against /path/to/main/.venv/bin/billplan   # old against new
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from portfolio import AS_OF, write_portfolio  # bench/portfolio.py: these scripts run from bench/

from compiler.credentials import base_url_env
from compiler.sandbox import EMULATORS, SANDBOX_TOKEN, base_url
from compiler.state.local import LocalBackend

VENV_BIN = Path(sys.executable).parent
BILLPLAN = str(VENV_BIN / "billplan")
VENDORS = ("ruddr", "kantata", "wethod", "coperniq")
# Every vendor's default token variable, set to the sandbox's token for the CLI runs.
TOKEN_ENV = {
    "ruddr": "RUDDR_API_TOKEN",
    "kantata": "KANTATA_API_TOKEN",
    "wethod": "WETHOD_API_TOKEN",
    "coperniq": "COPERNIQ_API_KEY",
}
assert {e.name for e in EMULATORS} == set(VENDORS)
# billplan paces its own requests at each vendor's limit; with the emulators' limits lifted,
# the plan lifts that too, or the benchmark would measure the pacing.
UNPACED = 1_000_000.0
# A timed run: its start and end (Unix time), and when each vendor's requests arrived.
Arrivals = tuple[float, float, dict[str, list[float]]]
CONNECTION = re.compile(r"^  (?:ruddr|kantata|wethod|coperniq): \{(?=type: )", re.MULTILINE)


# --------------------------------------------------------------------------------------------
# The sandbox, served over loopback in a subprocess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    """`billplan sandbox serve` on a loopback port, and a client for its admin surface."""

    root: str
    process: subprocess.Popen[bytes]
    admin: httpx.Client

    def settings(self, vendor: str) -> dict[str, Any]:
        return self._ok(self.admin.get(f"/{vendor}/_sandbox/settings")).json()

    def configure(self, vendor: str, **settings: Any) -> dict[str, Any]:
        return self._ok(self.admin.put(f"/{vendor}/_sandbox/settings", json=settings)).json()

    def lift_limits(self) -> None:
        """No rate limit anywhere, and no Wethod hour or Coperniq day to run out."""
        for vendor in VENDORS:
            self.configure(vendor, rate_limit_per_second=None)
        self.configure("wethod", hourly_limit=None)
        self.configure("coperniq", daily_limit=10**9)

    def requests(self, vendor: str) -> list[dict[str, Any]]:
        return self._ok(self.admin.get(f"/{vendor}/_sandbox/requests")).json()

    def clear_requests(self) -> None:
        for vendor in VENDORS:
            self._ok(self.admin.delete(f"/{vendor}/_sandbox/requests"))

    @staticmethod
    def _ok(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise RuntimeError(
                f"sandbox admin {response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text[:300]}"
            )
        return response


@contextlib.contextmanager
def serve(db: Path, seed: Path | None, log: Path) -> Iterator[Served]:
    """The sandbox in a subprocess on a free loopback port, stopped on the way out; meanwhile
    every vendor's host is set to it in this process's environment (BILLPLAN_<VENDOR>_BASE_URL,
    which the billplan runs inherit), as a workflow sets hosts outside the plan."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    hosts = {base_url_env(vendor): base_url(vendor, root) for vendor in VENDORS}
    previous = {name: os.environ.get(name) for name in hosts}
    os.environ.update(hosts)
    command = [BILLPLAN, "sandbox", "serve", "--db", str(db), "--port", str(port)]
    if seed is not None:
        command += ["--seed", str(seed)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    admin = httpx.Client(base_url=root, timeout=60)
    try:
        deadline = time.monotonic() + 300  # seeding 100 projects takes a while
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the sandbox server exited ({process.returncode}):\n{tail}")
            with contextlib.suppress(httpx.TransportError):
                if admin.get("/").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox server did not answer on {root}; see {log}")
            time.sleep(0.2)
        yield Served(root=root, process=process, admin=admin)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        admin.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(dict.fromkeys(TOKEN_ENV.values(), SANDBOX_TOKEN))
    env.pop("NO_COLOR", None)
    return env


def billplan(
    *args: str | Path, check: bool = True, program: str = BILLPLAN
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the CLI (`program`: this checkout's, or another's to compare with) in a fresh
    process; its wall time and what it printed."""
    command = [program, *map(str, args), "--as-of", AS_OF.isoformat()]
    started = time.perf_counter()
    run = subprocess.run(command, env=cli_env(), capture_output=True, text=True)
    took = time.perf_counter() - started
    if check and run.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(command)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return took, run


# --------------------------------------------------------------------------------------------
# The portfolio, applied once


def build(
    directory: Path,
    projects: int,
    *,
    providers: Sequence[str] = VENDORS,
    max_rps: float | None = UNPACED,
) -> int:
    """Write the portfolio; the number of items it plans. Each connection's client-side pace
    is `max_rps` (None: the vendor's own limit). Its hosts are set by `serve`."""
    items = write_portfolio(directory, projects, providers=providers)
    if max_rps is not None:
        pace(directory, providers, max_rps)
    return items


def pace(directory: Path, providers: Sequence[str], max_rps: float) -> None:
    """Set `max_rps` on every provider connection of the portfolio's head fragment."""
    head = directory / "00-head.yaml"
    number = str(int(max_rps)) if max_rps == int(max_rps) else repr(max_rps)  # YAML: no 1e+06
    text, found = CONNECTION.subn(rf"\g<0>max_rps: {number}, ", head.read_text())
    if found != len(set(providers)):
        raise RuntimeError(f"{head}: expected a `{{type: ...}}` line per provider, found {found}")
    head.write_text(text)


def projects_for(items: int) -> int:
    """The fewest projects whose portfolio holds at least `items` items."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = 8
        per_project = write_portfolio(Path(tmp), probe) / probe
        projects = max(1, round(items / per_project))
        while write_portfolio(Path(tmp), projects) < items:
            projects += 1
        while projects > 1 and write_portfolio(Path(tmp), projects - 1) >= items:
            projects -= 1
    return projects


def state_size(directory: Path) -> tuple[int, int]:
    """(entries, bytes) of the plan's state file."""
    path = directory / ".billplan" / "state.json"
    return len(LocalBackend(path).read().entries), path.stat().st_size


def prepare(work: Path, projects: int) -> tuple[Path, Path, int]:
    """The plan directory and the sandbox database, the portfolio applied; reused when
    `work` already holds them from an earlier run of the same size."""
    plan_dir, db = work / "plan", work / "sandbox.sqlite"
    marker = work / "applied.json"
    if marker.exists() and json.loads(marker.read_text()).get("projects") == projects:
        return plan_dir, db, int(json.loads(marker.read_text())["items"])
    shutil.rmtree(work, ignore_errors=True)
    plan_dir.mkdir(parents=True)
    # The server seeds the projects from the plan, so write it first.
    items = build(plan_dir, projects)
    with serve(db, plan_dir, work / "server.log") as served:
        served.lift_limits()
        print(f"setup: applying {items:,} items to the sandbox (untimed) ...", flush=True)
        took, run = billplan("apply", plan_dir, "--auto-approve")
        print(f"setup: applied in {took:.0f} s: {run.stdout.strip().splitlines()[-1]}")
        _, again = billplan("plan", plan_dir, "--detailed-exitcode")
        if again.returncode != 0:
            raise RuntimeError(f"the plan after apply is not a no-op:\n{again.stdout[-3000:]}")
    marker.write_text(json.dumps({"projects": projects, "items": items}))
    return plan_dir, db, items


# --------------------------------------------------------------------------------------------
# Requests a no-op plan needs


def list_bounds(directory: Path) -> dict[str, tuple[int, str]]:
    """Per vendor: the fewest requests a no-op plan can make to read every managed object, and
    how that is counted. From the state billplan wrote: objects per project and type."""
    from compiler.providers import PROVIDERS

    entries = LocalBackend(directory / ".billplan" / "state.json").read().entries.values()
    per: dict[str, Counter[tuple[str, str]]] = {v: Counter() for v in VENDORS}
    invoice_items: set[str] = set()
    for entry in entries:
        per[entry.provider][(str(entry.project_id), entry.type)] += 1
        if entry.provider == "ruddr":
            invoice_items.add(str(entry.attributes.get("invoiceItemId")))
    bounds: dict[str, tuple[int, str]] = {}
    for vendor, counts in per.items():
        size = PROVIDERS[vendor].page_size
        projects = {project for project, _ in counts}
        if vendor == "kantata":
            total = sum(counts.values())
            # and the planned workspaces, read once before any write (GetWorkspaces, only=)
            bound = max(1, math.ceil(total / size)) + math.ceil(len(projects) / size)
            how = (
                f"{total:,} milestones in one workspace_ids query, {size} a page, + the "
                f"{len(projects)} workspaces in one only= read"
            )
        elif vendor == "ruddr":
            types = PROVIDERS[vendor].types
            # A list per type per project, cursor-paged: hasMore says when a page is the last.
            bound = sum(
                max(1, math.ceil(counts.get((project, name), 0) / size))
                for project in projects
                for name in types
            )
            # The planned projects (billing type, currency) from the list of projects (the
            # sandbox's workspace holds only the plan's), and each invoice item, before any
            # write; fewer than 4 projects are read by id.
            project_reads = math.ceil(len(projects) / size) if len(projects) >= 4 else 0
            project_reads = project_reads or len(projects)
            bound += project_reads + len(invoice_items)
            how = (
                f"{len(projects)} projects x {len(types)} types paged at {size} + "
                f"{project_reads} project read(s) + {len(invoice_items)} invoice item read(s)"
            )
        elif vendor == "wethod":
            total = sum(counts.values())
            bound = _pages(total, size)
            how = f"{total:,} invoices in one project_id=in: query, {size} a page (bare array)"
        else:
            # Coperniq: `has_more` says when a page is the last; the catalog is read once.
            bound = 1 + sum(
                max(1, math.ceil(sum(n for (p, _), n in counts.items() if p == project) / size))
                for project in projects
            )
            how = f"{len(projects)} projects, {size} a page (has_more ends it) + a catalog read"
        bounds[vendor] = (bound, how)
    return bounds


def _pages(count: int, size: int) -> int:
    """Requests to read `count` objects `size` a page from a bare-array list, where only a
    short page ends it (a full last page needs one more, empty, read)."""
    return count // size + 1


def counted(served: Served) -> dict[str, int]:
    return {vendor: len(served.requests(vendor)) for vendor in VENDORS}


# --------------------------------------------------------------------------------------------
# Terraform

TERRAFORM_CONFIG = """\
variable "n" {
  type = number
}

locals {
  invoice_item = "aba04832-216c-463e-8998-c520948f707c"
}

# One resource per billplan state entry, its input shaped like one.
resource "terraform_data" "item" {
  count = var.n
  input = {
    address    = format("p%03d/recurring/fee/%04d", floor(count.index / 100), count.index % 100)
    provider   = "ruddr"
    type       = "ruddr_invoice_milestone"
    project    = format("p%03d", floor(count.index / 100))
    project_id = format("00000000-0000-4000-8000-%012d", floor(count.index / 100))
    remote_id  = format("10000000-0000-4000-8000-%012d", count.index)
    status     = "managed"
    currency   = "USD"
    date       = format("2026-%02d-01", count.index % 12 + 1)
    amount     = 1000 + count.index % 7
    attributes = {
      projectId     = format("00000000-0000-4000-8000-%012d", floor(count.index / 100))
      invoiceItemId = local.invoice_item
      date          = format("2026-%02d-01", count.index % 12 + 1)
      name          = format("Retainer %d", count.index)
      typeId        = "recurring"
      fee           = 1000 + count.index % 7
    }
  }
}
"""


def terraform_input(index: int) -> dict[str, Any]:
    """What TERRAFORM_CONFIG evaluates `input` to for one index."""
    project = index // 100
    project_id = f"00000000-0000-4000-8000-{project:012d}"
    when = f"2026-{index % 12 + 1:02d}-01"
    return {
        "address": f"p{project:03d}/recurring/fee/{index % 100:04d}",
        "amount": 1000 + index % 7,
        "attributes": {
            "date": when,
            "fee": 1000 + index % 7,
            "invoiceItemId": "aba04832-216c-463e-8998-c520948f707c",
            "name": f"Retainer {index}",
            "projectId": project_id,
            "typeId": "recurring",
        },
        "currency": "USD",
        "date": when,
        "project": f"p{project:03d}",
        "project_id": project_id,
        "provider": "ruddr",
        "remote_id": f"10000000-0000-4000-8000-{index:012d}",
        "status": "managed",
        "type": "ruddr_invoice_milestone",
    }


def terraform(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"}
    return subprocess.run(
        ["terraform", *args], cwd=directory, env=env, capture_output=True, text=True
    )


def terraform_state(directory: Path, count: int) -> int:
    """Apply 3 resources for real, then write the state of `count`: the applied instance
    replicated with its index, a fresh id and the input the config gives that index. Returns
    the state file's size in bytes."""
    (directory / "main.tf").write_text(TERRAFORM_CONFIG)
    for args in (("init", "-input=false"), ("apply", "-auto-approve", "-var", "n=3")):
        run = terraform(directory, *args)
        if run.returncode != 0:
            raise RuntimeError(f"terraform {args[0]} failed:\n{run.stdout}\n{run.stderr}")
    path = directory / "terraform.tfstate"
    state = json.loads(path.read_text())
    (resource,) = state["resources"]
    template = resource["instances"][0]
    if template["attributes"]["input"]["value"] != terraform_input(0):
        raise RuntimeError("terraform_input() no longer matches what the config evaluates to")
    instances = []
    for index in range(count):
        instance = json.loads(json.dumps(template))
        instance["index_key"] = index
        instance["attributes"]["id"] = str(uuid.UUID(int=index + 1))
        for key in ("input", "output"):  # terraform_data's output is its input
            instance["attributes"][key]["value"] = terraform_input(index)
        instances.append(instance)
    resource["instances"] = instances
    state["serial"] += 1  # same lineage, a later serial: the state Terraform wrote, grown
    path.write_text(json.dumps(state, indent=2))
    return path.stat().st_size


def time_terraform(count: int, repeat: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-tf-") as tmp:
        directory = Path(tmp)
        size = terraform_state(directory, count)
        best = math.inf
        for _ in range(repeat):
            started = time.perf_counter()
            run = terraform(
                directory, "plan", "-refresh=true", "-detailed-exitcode", "-var", f"n={count}"
            )
            took = time.perf_counter() - started
            if run.returncode != 0:  # 2: changes, which a no-op must not have
                raise RuntimeError(
                    f"terraform plan is not a no-op ({run.returncode}):\n{run.stdout[-2000:]}"
                    f"\n{run.stderr[-2000:]}"
                )
            best = min(best, took)
        return best, size


# --------------------------------------------------------------------------------------------


def time_plans(plan_dir: Path, served: Served, repeat: int) -> tuple[float, dict[str, int]]:
    """Best wall time of a fresh `billplan plan` process, and the requests of the last run."""
    best = math.inf
    requests: dict[str, int] = {}
    for _ in range(repeat):
        served.clear_requests()
        took, run = billplan("plan", plan_dir, "--detailed-exitcode")
        if run.returncode != 0:
            raise RuntimeError(f"not a no-op ({run.returncode}):\n{run.stdout[-3000:]}")
        requests = counted(served)
        best = min(best, took)
    return best, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="portfolio size (about)")
    parser.add_argument("--repeat", type=int, default=5, help="billplan plans to time (best of)")
    parser.add_argument("--skip-terraform", action="store_true", help="billplan only")
    parser.add_argument(
        "--terraform-resources",
        type=int,
        default=10_000,
        help="terraform_data resources (at least the state's entries)",
    )
    parser.add_argument("--skip-limited", action="store_true", help="no run at real limits")
    parser.add_argument(
        "--limited-repeat", type=int, default=1, help="plans to time at real limits (median)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout's billplan (its .venv/bin/billplan) to time in turn at real limits",
    )
    parser.add_argument(
        "--settle", type=float, default=4.0, help="seconds between runs at real limits"
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the applied portfolio and sandbox here, and reuse them on the next run",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        projects = projects_for(args.items)
        plan_dir, db, items = prepare(work, projects)
        entries, size = state_size(plan_dir)
        print(f"portfolio: {items:,} items in {projects} projects; state {entries:,} "
              f"entries, {size / 1e6:.1f} MB")  # fmt: skip
        bounds = list_bounds(plan_dir)

        with serve(db, plan_dir, work / "server.log") as served:
            build(plan_dir, projects)  # unpaced again, after a run at the real limits
            served.lift_limits()
            ours, requests = time_plans(plan_dir, served, args.repeat)
        print(f"billplan plan (no-op, rate limits lifted): {ours:.2f} s, best of {args.repeat}")
        report_requests(requests, bounds)

        if not args.skip_terraform:
            count = max(args.terraform_resources, entries)
            theirs, tf_size = time_terraform(count, 1)
            print(f"terraform plan -refresh=true, {count:,} terraform_data (state "
                  f"{tf_size / 1e6:.1f} MB): {theirs:.1f} s")  # fmt: skip
            print(f"ratio: terraform / billplan = {theirs / ours:.1f}x (target >= 40x)")

        if not args.skip_limited:
            limited(args, work, plan_dir, db, projects, bounds, entries, ours)


def limited(
    args: argparse.Namespace,
    work: Path,
    plan_dir: Path,
    db: Path,
    projects: int,
    bounds: Mapping[str, tuple[int, str]],
    entries: int,
    unlimited: float,
) -> None:
    """The no-op plan with each emulator at its vendor's real limits (a fresh server, so that
    Coperniq's day starts full), timed --limited-repeat times, against the bound the limits
    set. With --against, another checkout's billplan is timed in turn with this one, run for
    run in the same conditions (between runs, --settle seconds let the vendors' buckets
    fill again, as they would between two CI jobs). `unlimited`: this checkout's plan with
    the limits lifted, what billplan's own work costs on this machine now; the plan can be
    no faster than that either."""
    programs = {"this": BILLPLAN} | ({"against": str(args.against)} if args.against else {})
    times: dict[str, list[float]] = {name: [] for name in programs}
    # Each run's wall split at the slowest vendor's first and last request, as its emulator
    # logged their arrival: before, the requests' own span, after.
    spans: dict[str, list[Arrivals]] = {name: [] for name in programs}
    requests: dict[str, dict[str, int]] = {}
    refused: dict[str, Counter[str]] = {name: Counter() for name in programs}
    load_before = os.getloadavg()
    with serve(db, plan_dir, work / "server.log") as served:
        build(plan_dir, projects, max_rps=None)
        settings = {v: served.settings(v) for v in VENDORS}
        for _ in range(args.limited_repeat):
            for name, program in programs.items():
                time.sleep(args.settle)
                served.clear_requests()
                started = time.time()
                took, run = billplan("plan", plan_dir, "--detailed-exitcode", program=program)
                ended = time.time()
                if run.returncode != 0:
                    raise RuntimeError(f"{name}: not a no-op ({run.returncode}):\n{run.stdout}")
                times[name].append(took)
                logged = {v: served.requests(v) for v in VENDORS}  # each log read once
                requests[name] = {v: len(logged[v]) for v in VENDORS}
                spans[name].append((started, ended, {v: arrivals(logged[v]) for v in VENDORS}))
                for vendor in VENDORS:
                    refused[name][vendor] += [r["status"] for r in logged[vendor]].count(429)
    load_after = os.getloadavg()
    admits = {v: admitted(settings[v]) for v in VENDORS}
    rates = {v: admits[v][1] for v in VENDORS}
    # A vendor's share of the bound: its requests beyond the burst its limit lets through at
    # once (the smaller of the emulator's and the one the client uses: PROVIDERS), at its rate.
    from compiler.providers import PROVIDERS

    bursts = {v: min(admits[v][0], PROVIDERS[v].rate_burst) for v in VENDORS}
    share = {v: max(0, bounds[v][0] - bursts[v]) / rates[v] for v in VENDORS}
    bound = max(share.values())
    print(
        f"at the real limits ({args.limited_repeat} runs each, alternating; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after, {os.cpu_count()} cores):"
    )
    for vendor in VENDORS:
        print(
            f"  {vendor:>8}: {bounds[vendor][0]:>3} requests at {rates[vendor]:g}/s, burst "
            f"{bursts[vendor]:>3}: {share[vendor]:.2f} s; in turn at a burst of 1: "
            f"{bounds[vendor][0] / rates[vendor]:.2f} s"
        )
    print(
        f"  concurrent bound (the slowest vendor's share) {bound:.2f} s; vendors read in turn "
        f"without bursts {sum_bound(bounds, rates):.2f} s; Terraform's one read per resource: "
        f"{entries:,} requests"
    )
    floor = max(bound, unlimited)
    print(
        f"  billplan's own work (this checkout, limits lifted, best run): {unlimited:.2f} s; "
        f"the larger of it and the bound: {floor:.2f} s"
    )
    slowest = max(VENDORS, key=lambda v: share[v])
    for name, program in programs.items():
        runs = times[name]
        middle = statistics.median(runs)
        print(
            f"  billplan plan ({name}: {program}): median {middle:.2f} s "
            f"(min {min(runs):.2f}, max {max(runs):.2f}) = {middle / bound:.2f}x the bound, "
            f"{middle / floor:.2f}x the larger; 429s: {sum(refused[name].values())}"
        )
        before, during, after = split_at(spans[name], slowest)
        print(
            f"    where it went (medians): {before:.2f} s to the first {slowest} request, "
            f"{during:.2f} s from it to the last (its share of the bound: "
            f"{share[slowest]:.2f} s), {after:.2f} s from the last to the end"
        )
        report_requests(requests[name], bounds)


def arrivals(logged: Sequence[Mapping[str, Any]]) -> list[float]:
    """When each logged request arrived, as Unix time."""
    return [datetime.fromisoformat(r["received"]).timestamp() for r in logged]


def split_at(runs: Sequence[Arrivals], vendor: str) -> tuple[float, float, float]:
    """The medians, over runs of (start, end, arrivals by vendor), of the time before the
    vendor's first request arrived, between its first and last, and after its last."""
    parts = [
        (min(arrived[vendor]) - started, max(arrived[vendor]) - min(arrived[vendor]),
         ended - max(arrived[vendor]))
        for started, ended, arrived in runs
    ]  # fmt: skip
    before, during, after = (statistics.median(column) for column in zip(*parts, strict=True))
    return before, during, after


def admitted(settings: Mapping[str, Any]) -> tuple[int, float]:
    """What a vendor's limit, as its emulator enforces it, lets through at once and at what
    rate a second after that: its burst and rate a second; for Wethod, which documents only an
    hour (a rolling one in its emulator), the hour's whole budget at once, then as fast as
    the hour frees it, its budget an hour."""
    rate = settings["rate_limit_per_second"]
    if rate is not None:
        return int(settings["burst"]), float(rate)
    hourly = int(settings["hourly_limit"])
    return hourly, hourly / 3600


def sum_bound(bounds: Mapping[str, tuple[int, str]], rates: Mapping[str, Any]) -> float:
    return sum(bounds[v][0] / float(rates[v]) for v in VENDORS)


def report_requests(requests: Mapping[str, int], bounds: Mapping[str, tuple[int, str]]) -> None:
    for vendor in VENDORS:
        bound, how = bounds[vendor]
        print(
            f"  {vendor:>8}: {requests.get(vendor, 0):>4} requests; lower bound {bound:>4} ({how})"
        )


if __name__ == "__main__":
    main()
