"""Requests billplan sends, counted by the emulators, beside the fewest the vendors' APIs allow.

1. A first apply of a Kantata portfolio: n creates go 100 to a request, batches shared across
   projects, so the bound is ceil(n / 100). (A batch Kantata refuses for some of its items is
   sent again without them; the per-project bound, sum of ceil(n_p / 100), is printed for
   comparison.)
2. The no-op plan after an apply to all four vendors: one list request per page per project
   (Kantata and Wethod read every project in one filtered query), plus the checks made before
   any write: Ruddr's read of each project and invoice item, Kantata's one read of its
   workspaces. Terraform's pattern, one read per resource, is printed for scale.

    .venv/bin/python bench/bench_requests.py [--projects 12]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections import Counter
from pathlib import Path

from bench_noop import VENDORS, billplan, build, list_bounds, report_requests, serve

from compiler.state.local import LocalBackend


def kantata_first_apply(work: Path, projects: int) -> None:
    plan_dir, db = work / "kantata", work / "kantata.sqlite"
    build(plan_dir, projects, providers=("kantata",))
    with serve(db, plan_dir, work / "server.log") as served:
        served.lift_limits()
        served.clear_requests()
        _, run = billplan("apply", plan_dir, "--auto-approve")
        if run.returncode != 0:
            raise RuntimeError(f"the apply failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        log = served.requests("kantata")
    entries = LocalBackend(plan_dir / ".billplan" / "state.json").read().entries.values()
    per_project = Counter(str(e.project_id) for e in entries)
    n = sum(per_project.values())
    posts = [r for r in log if r["method"] == "POST"]
    failed = [r for r in log if r["status"] >= 400]
    by_project = sum(math.ceil(k / 100) for k in per_project.values())
    print(f"kantata first apply: {n:,} creates in {len(per_project)} projects -> "
          f"{len(posts)} POSTs; lower bound ceil(n/100) = {math.ceil(n / 100)} "
          f"(batching per project would take {by_project}); {len(failed)} failed requests; "
          f"{len(log) - len(posts)} other requests (the plan's reads)")  # fmt: skip
    sizes = Counter(len(r["body"]["billing_milestones"]) for r in posts)
    print(f"  batch sizes: {dict(sorted(sizes.items(), reverse=True))}")


def noop_requests(work: Path, projects: int) -> None:
    plan_dir, db = work / "all", work / "all.sqlite"
    build(plan_dir, projects)
    with serve(db, plan_dir, work / "server.log") as served:
        served.lift_limits()
        _, run = billplan("apply", plan_dir, "--auto-approve")
        if run.returncode != 0:
            raise RuntimeError(f"the apply failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        served.clear_requests()
        _, run = billplan("plan", plan_dir, "--detailed-exitcode")
        if run.returncode != 0:
            raise RuntimeError(f"not a no-op ({run.returncode}):\n{run.stdout[-3000:]}")
        requests = {v: len(served.requests(v)) for v in VENDORS}
    entries = len(LocalBackend(plan_dir / ".billplan" / "state.json").read().entries)
    total = sum(requests.values())
    print(f"no-op plan of {entries:,} managed items in {projects} projects: {total} requests "
          f"(Terraform's one read per resource: {entries:,})")  # fmt: skip
    report_requests(requests, list_bounds(plan_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=12, help="~100 items each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
        kantata_first_apply(Path(tmp), args.projects)
        noop_requests(Path(tmp), args.projects)


if __name__ == "__main__":
    main()
