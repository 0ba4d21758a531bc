"""Plan and apply a generated plan against the in-process sandbox; print timings and calls.

Runs twice per vendor: with the emulator's rate limit off (billplan's own overhead) and at the
vendor's limit (Ruddr's documented 20 requests/second; Kantata's assumed 10): what a real
apply of that size costs in wall time. Kantata creates go 100 to a request.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from compiler.apply import apply_plan
from compiler.sandbox import DEFAULT_ROOT
from compiler.workspace import open_workspace

AS_OF = date(2026, 11, 23)


def write_plan(directory: Path, projects: int, vendor: str) -> None:
    lines = [
        "version: 1",
        f"providers: {{{vendor}: {{type: {vendor}}}}}",
        "defaults: {currency: USD, ruddr: {invoice_item: aba04832-216c-463e-8998-c520948f707c}}",
        "projects:",
    ]
    for n in range(projects):
        project_id = f"00000000-0000-4000-8000-{n:012d}" if vendor == "ruddr" else 41000 + n
        lines += [
            f"  p{n:03d}:",
            f"    provider: {vendor}",
            f"    project_id: {project_id}",
            "    recurring:",
            "      fee: {description: Retainer, every: month, amount: 1000, start: 2026-01-01,"
            " end: 2026-12-31}",
            "    milestones:",
            "      go-live: {description: Go-live, date: 2026-06-30, amount: 5000}",
        ]
    (directory / "plan.yaml").write_text("\n".join(lines) + "\n")


def run(vendor: str, projects: int, rate_limit: float | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_plan(directory, projects, vendor)
        with open_workspace(directory, AS_OF, sandbox=True) as workspace:
            with httpx.Client(transport=workspace.sandbox.transport, base_url=DEFAULT_ROOT) as c:
                c.put(f"/{vendor}/_sandbox/settings", json={"rate_limit_per_second": rate_limit})
            state = workspace.backend.read()
            started = time.perf_counter()
            plan = workspace.plan(state, workspace.refresh(state))
            planned = time.perf_counter() - started
            provider = workspace.providers[vendor]
            before = provider.calls.requests
            started = time.perf_counter()
            result = apply_plan(plan, workspace.providers, workspace.backend, state)
            applied = time.perf_counter() - started
            assert result.ok, result.failures[:3]
            calls = provider.calls.requests - before
            started = time.perf_counter()
            again = workspace.plan(state, workspace.refresh(state))
            replanned = time.perf_counter() - started
            assert not again.has_changes
    limit = "off" if rate_limit is None else f"{rate_limit:g}/s"
    creates = plan.count("create")
    print(
        f"{vendor:>8}, rate limit {limit:>6}: {creates} creates; plan {planned:.2f} s, "
        f"apply {applied:.2f} s "
        f"({creates / applied:,.0f} objects/s, {calls} HTTP calls incl. 429 retries), "
        f"re-plan {replanned:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=20)
    args = parser.parse_args()
    for vendor, limit in (("ruddr", 20), ("kantata", 10)):
        run(vendor, args.projects, None)
        run(vendor, args.projects, limit)


if __name__ == "__main__":
    main()
