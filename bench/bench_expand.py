"""Validate and expand a large generated plan; print time and peak memory.

A portfolio of PROJECTS projects, each with a monthly retainer over five years, a weekly
licence line, a four-part split and a handful of milestones: the shape of a big firm's
whole billing book in one plan directory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from compiler.validate import check


def write_plan(directory: Path, projects: int) -> None:
    head = """version: 1
providers: {ruddr: {type: ruddr}}
defaults: {currency: USD, ruddr: {invoice_item: aba04832-216c-463e-8998-c520948f707c}}
templates:
  retainer:
    every: month
    description: "Retainer {{ period.start | month_name }} {{ period.start.year }}"
"""
    (directory / "head.yaml").write_text(head)
    for n in range(projects):
        body = f"""projects:
  p{n:04d}:
    provider: ruddr
    project_id: 00000000-0000-4000-8000-{n:012d}
    recurring:
      retainer: {{use: retainer, amount: {10000 + n}, start: 2026-01-16, end: 2030-12-31,
                  escalate: {{by: 3%}}}}
    products:
      seats: {{description: "Seats week {{{{ period.label }}}}", quantity: 7, rate: 12.5,
              every: week, start: 2026-01-05, end: 2027-12-31}}
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-20, amount: 5000}}
      delivery:
        description: Delivery
        split:
          total: 100000
          parts:
            a: {{date: 2026-03-01, weight: 1}}
            b: {{date: 2026-06-01, weight: 1}}
            c: {{date: 2026-09-01, weight: 1}}
            d: {{date: 2026-12-01, weight: 1}}
"""
        (directory / f"p{n:04d}.yaml").write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_plan(directory, args.projects)
        timings = []
        items = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            checked = check(directory, date(2026, 11, 23))
            timings.append(time.perf_counter() - started)
            assert checked.ok, checked.diagnostics[:3]
            items = len(checked.items)
        tracemalloc.start()
        check(directory, date(2026, 11, 23))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    best = min(timings)
    print(f"projects: {args.projects}  items: {items}")
    print(f"validate+expand: best {best:.2f} s, median {statistics.median(timings):.2f} s")
    print(f"throughput: {items / best:,.0f} items/s")
    print(f"peak traced memory: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
