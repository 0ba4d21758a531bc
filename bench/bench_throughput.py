"""Apply throughput under a rate limit: the emulator limited to R requests a second (each
vendor's own: Ruddr 20, Kantata 10, Coperniq 100), the plan's connection paced at the same R
(`max_rps`), n creates applied over loopback HTTP. Wethod documents no rate a second (only
5,000 requests an hour, which a few hundred creates stay inside): it is skipped, saying so.
The rate limit is the physical bound: the apply must take at most 1.15 x n / R seconds, with
no request failing. 429s are counted and reported. Kantata creates 100 to a request, so it
is far inside that bound; its create requests / R are printed too.

Only the apply is timed (in this process, after the plan's reads); the server runs in a
subprocess, as `billplan sandbox serve`.

    .venv/bin/python bench/bench_throughput.py [--projects 3] [--vendors ruddr,wethod]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_noop import VENDORS, build, cli_env, serve
from portfolio import AS_OF

from compiler.apply import apply_plan
from compiler.workspace import open_workspace

FACTOR = 1.15


def run(work: Path, vendor: str, projects: int) -> bool:
    plan_dir, db = work / vendor, work / f"{vendor}.sqlite"
    build(plan_dir, projects, providers=(vendor,))
    with serve(db, plan_dir, work / "server.log") as served:
        defaults = served.settings(vendor)
        if defaults["rate_limit_per_second"] is None:
            print(f"{vendor:>8}: no rate a second to measure against (its limit: "
                  f"{defaults.get('hourly_limit')} requests an hour); skipped")  # fmt: skip
            return True
        rate = float(defaults["rate_limit_per_second"])
        build(plan_dir, projects, providers=(vendor,), max_rps=rate)
        if vendor == "coperniq":
            served.configure(vendor, daily_limit=10**9)
        with open_workspace(plan_dir, AS_OF, sandbox=False) as workspace:
            state = workspace.backend.read()
            plan = workspace.plan(state, workspace.refresh(state))
            creates = plan.count("create")
            served.clear_requests()
            started = time.perf_counter()
            result = apply_plan(plan, workspace.providers, workspace.backend, state)
            took = time.perf_counter() - started
        log = served.requests(vendor)
    writes = [r for r in log if r["method"] == "POST"]
    refused = sum(1 for r in log if r["status"] == 429)
    failed = [r for r in log if r["status"] >= 400 and r["status"] != 429]
    sent = len(writes) - refused  # each 429 is retried: the creates that went through
    bound = FACTOR * creates / rate
    ok = took <= bound and not failed and not result.failures
    batched = f"; {sent} create requests, {sent / rate:.2f} s at R" if vendor == "kantata" else ""
    print(f"{vendor:>8}: {creates:,} creates at R = {rate:g}/s (emulator burst "
          f"{defaults['burst']}): apply {took:.2f} s = {took * rate / creates:.2f} x n/R; "
          f"bound {FACTOR} x n/R = {bound:.2f} s{batched}; {len(log)} requests, {refused} "
          f"answered 429, {len(failed)} failed, {len(result.failures)} failed changes -> "
          f"{'OK' if ok else 'MISSED'}")  # fmt: skip
    for failure in result.failures[:3]:
        print(f"    {failure.address}: {failure.message}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=3, help="~100 creates each")
    parser.add_argument("--vendors", default=",".join(VENDORS))
    args = parser.parse_args()
    os.environ.update(cli_env())  # the sandbox token in each vendor's token variable
    vendors = [v.strip() for v in args.vendors.split(",") if v.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        results = [run(Path(tmp), vendor, args.projects) for vendor in vendors]
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
