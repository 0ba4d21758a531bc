"""Adoption with state lost: the plan that finds every object billplan made and owns it again.

Two measurements, each against the in-process sandbox with the emulators' rate limits lifted
(this measures billplan, not the vendors):

1. One project holding N objects (N = 1,000, 5,000, 20,000 by default) that billplan made and
   whose state was lost: Ruddr, where an object is found by its content (nothing tags it), and
   Kantata, where billplan's tag names its address. Timed: the refresh (the list reads) and
   the plan (the diff and what goes with it), then the state-only apply of the adoptions (its
   ownership check of every change).
2. The 10k portfolio (bench/portfolio.py, the four vendors): a plan adopting all of it with
   state lost, against a no-op plan with the state that adoption wrote.

The objects are made through each provider's own `create` (as an apply makes them, without
writing state), so the reads and the diff see exactly what billplan would have made. Each
figure is the median of --repeat runs. Printed: which `compiler` package ran, so that the old
code can be measured with the same script (`PYTHONPATH=/path/to/old/worktree`).

    .venv/bin/python bench/bench_adopt.py                          # everything
    .venv/bin/python bench/bench_adopt.py --sizes 1000 --vendors ruddr --skip-portfolio
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx
from portfolio import AS_OF, write_portfolio  # bench/portfolio.py: these scripts run from bench/

import compiler
from compiler.apply import apply_plan
from compiler.model import Resource
from compiler.model.change import Plan
from compiler.sandbox import DEFAULT_ROOT
from compiler.state import LockInfo, State
from compiler.workspace import Workspace, open_workspace

RUDDR_INVOICE_ITEM = "aba04832-216c-463e-8998-c520948f707c"
WEEKS_PER_CHARGE = 200  # one project's N objects: N / 200 weekly charges of 200 weeks each
T = TypeVar("T")


class Unwritten:
    """A state backend that keeps nothing: the adoption's apply is timed for its own work,
    not for writing state files (the state's own benchmark measures those)."""

    def describe(self) -> str:
        return "nowhere (benchmark)"

    def read(self) -> State:
        return State()

    def write(self, state: State) -> None:
        pass

    def lock(self, operation: str, wait: float = 0.0) -> Any:
        raise NotImplementedError

    def current_lock(self) -> LockInfo | None:
        return None

    def force_unlock(self, lock_id: str) -> None:
        pass

    def first_lineage(self) -> str:
        return "bench"

    def others_holding(self, remote_ids: Sequence[str]) -> list[tuple[str, str, str, str]]:
        return []


def one_project_plan(directory: Path, vendor: str, objects: int) -> None:
    """One project of `objects` weekly items, in charges of WEEKS_PER_CHARGE weeks whose
    amounts and descriptions differ: what a long-running account accumulates."""
    project_id = "00000000-0000-4000-8000-000000000001" if vendor == "ruddr" else 41001
    lines = [
        "version: 1",
        f"providers: {{{vendor}: {{type: {vendor}}}}}",
        f"defaults: {{currency: USD, ruddr: {{invoice_item: {RUDDR_INVOICE_ITEM}}}}}",
        "projects:",
        "  account:",
        f"    provider: {vendor}",
        f"    project_id: {project_id}",
        "    recurring:",
    ]
    charges, rest = divmod(objects, WEEKS_PER_CHARGE)
    for n in range(charges + (1 if rest else 0)):
        weeks = WEEKS_PER_CHARGE if n < charges else rest
        lines.append(
            f"      desk-{n:03d}: {{description: 'Support desk {n}', every: week, "
            f"count: {weeks}, start: 2026-01-05, amount: {100 + n}}}"
        )
    (directory / "plan.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def lift_limits(workspace: Workspace) -> None:
    assert workspace.sandbox is not None
    with httpx.Client(transport=workspace.sandbox.transport, base_url=DEFAULT_ROOT) as admin:
        for provider in workspace.providers.values():
            vendor = provider.vendor
            admin.put(f"/{vendor}/_sandbox/settings", json={"rate_limit_per_second": None})
            if vendor == "coperniq":
                admin.put(f"/{vendor}/_sandbox/settings", json={"daily_limit": 10**9})


def make_remotely(workspace: Workspace) -> int:
    """Create every planned object through its provider, as an apply would, writing no
    state: afterwards the vendors hold billplan's objects and state has lost them."""
    made = 0
    by_kind: dict[tuple[str, str], list[Resource]] = defaultdict(list)
    for resource in workspace.resources:
        by_kind[(resource.provider, resource.type)].append(resource)
    for (name, type_name), resources in sorted(by_kind.items()):
        provider = workspace.providers[name]
        size = max(1, provider.batch_size)
        for start in range(0, len(resources), size):
            chunk = resources[start : start + size]
            bodies = [dict(r.attributes) for r in chunk]
            made += len(provider.create(type_name, bodies, [r.private for r in chunk]))
    return made


def median_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


def adopt(workspace: Workspace, state: State, repeat: int) -> tuple[float, float, float, Plan]:
    """Median refresh, plan and state-only apply times of a plan against `state`."""
    refreshed, observed = median_of(repeat, lambda: workspace.refresh(state))
    planned, plan = median_of(repeat, lambda: workspace.plan(state, observed))
    adopting = sum(1 for c in plan.changes if c.action == "adopt")

    def apply_adoptions() -> State:
        kept = State(lineage=state.lineage, serial=state.serial, entries=dict(state.entries))
        result = apply_plan(plan, workspace.providers, Unwritten(), kept)
        assert result.ok, result.failures[:3]
        return kept

    applied = 0.0
    if adopting:
        applied, _ = median_of(repeat, apply_adoptions)
    return refreshed, planned, applied, plan


def counts(plan: Plan) -> str:
    found: dict[str, int] = defaultdict(int)
    for change in plan.changes:
        found[change.action] += 1
    return ", ".join(f"{n:,} {action}" for action, n in sorted(found.items()))


def one_project(vendor: str, objects: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        one_project_plan(directory, vendor, objects)
        started = time.perf_counter()
        with open_workspace(directory, date(2026, 1, 1), sandbox=True) as workspace:
            lift_limits(workspace)
            made = make_remotely(workspace)
            setup = time.perf_counter() - started
            refreshed, planned, applied, plan = adopt(workspace, State(), repeat)
        adopted = sum(1 for c in plan.changes if c.action == "adopt")
        print(
            f"{vendor:>8} one project, {made:>6,} objects, state lost: refresh {refreshed:7.2f} s,"
            f" plan {planned:8.2f} s, apply (state only) {applied:6.2f} s; {counts(plan)}"
            f" (setup {setup:.0f} s)",
            flush=True,
        )
        assert adopted == made, f"adopted {adopted} of {made}"


def portfolio(projects: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        items = write_portfolio(directory, projects)
        started = time.perf_counter()
        with open_workspace(directory, AS_OF, sandbox=True) as workspace:
            lift_limits(workspace)
            made = make_remotely(workspace)
            setup = time.perf_counter() - started
            refreshed, planned, applied, plan = adopt(workspace, State(), repeat)
            # The state that adoption writes, for the no-op beside it.
            state = State(lineage="bench")
            assert apply_plan(plan, workspace.providers, Unwritten(), state).ok
            again_refreshed, again_planned, _, again = adopt(workspace, state, repeat)
            assert not again.has_changes, counts(again)
    print(
        f"portfolio {projects} projects, {items:,} items, {made:,} objects (setup {setup:.0f} s):"
        f"\n  adoption, state lost: refresh {refreshed:.2f} s, plan {planned:.2f} s, "
        f"apply (state only) {applied:.2f} s; {counts(plan)}"
        f"\n  no-op, state kept:    refresh {again_refreshed:.2f} s, plan {again_planned:.2f} s;"
        f" {counts(again)}"
        f"\n  adoption / no-op (refresh + plan): "
        f"{(refreshed + planned) / (again_refreshed + again_planned):.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,20000", help="objects in the one project")
    parser.add_argument("--vendors", default="ruddr,kantata")
    parser.add_argument("--projects", type=int, default=87, help="the portfolio's projects")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-one-project", action="store_true")
    parser.add_argument("--skip-portfolio", action="store_true")
    args = parser.parse_args()
    print(f"compiler from {Path(compiler.__file__).parent}; load {os.getloadavg()[0]:.1f}")
    if not args.skip_one_project:
        for objects in (int(n) for n in args.sizes.split(",")):
            for vendor in args.vendors.split(","):
                one_project(vendor, objects, args.repeat)
    if not args.skip_portfolio:
        portfolio(args.projects, args.repeat)
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
