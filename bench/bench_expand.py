"""Validate and render synthetic portfolios of about 1k, 10k and 100k items; print a table.

For each size, bench/portfolio.py writes a plan directory, then this measures:

- in process, best of --repeat: `check()` (what `validate` runs: load, schema, expand) and
  check() plus the JSON rendering (what `render --format json` runs);
- the real CLI in a fresh interpreter, best of --repeat (what CI waits for, imports included):
  `python -m compiler validate DIR` and `python -m compiler render DIR --format json`, its
  output to /dev/null, with its peak RSS (GNU time, /usr/bin/time);
- tracemalloc's peak for check() plus rendering, in process (a second memory figure: Python
  objects only, no interpreter or library baseline).

Then the ratios between successive sizes: time against n log n, and the memory each extra
item costs. Timings on a shared machine are noisy: compare best-of figures.

    .venv/bin/python bench/bench_expand.py [--sizes 1000,10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portfolio import AS_OF, write_portfolio

from compiler.render.items import to_json
from compiler.validate import check

TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"  # GNU time, for peak RSS
ITEMS_PER_PROJECT = 115.2  # what the generator averages; sizes are hit within a few percent


@dataclass
class Point:
    items: int
    projects: int
    validate: float  # seconds, in process
    render: float
    cli_validate: float  # seconds, fresh interpreter
    cli_render: float
    rss_validate: float  # MiB, peak RSS of the CLI child
    rss_render: float
    traced: float  # MiB, tracemalloc peak of check() + to_json()


def best(repeat: int, run: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def cli(args: list[str], repeat: int) -> tuple[float, float]:
    """Best wall time (s) and peak RSS (MiB) of `python -m compiler ARGS`, output discarded.

    The peak comes from GNU time, which runs the CLI as its own child: Linux counts, in the
    peak RSS of a direct child of this (large) process, the pages it had at fork.
    """
    wall, peak = math.inf, 0.0
    for _ in range(repeat):
        command = [TIME, "-f", "%M", sys.executable, "-m", "compiler", *args]
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"`billplan {' '.join(args)}` exited {done.returncode}: {done.stderr}")
        wall = min(wall, elapsed)
        peak = max(peak, int(done.stderr.strip().splitlines()[-1]) / 1024)  # KiB
    return wall, peak


def measure(directory: Path, target: int, repeat: int) -> Point:
    projects = max(1, round(target / ITEMS_PER_PROJECT))
    items = write_portfolio(directory, projects)
    checked = check(directory, AS_OF)
    if not checked.ok:
        raise SystemExit("\n".join(str(d) for d in checked.diagnostics[:5]))
    assert len(checked.items) == items
    del checked
    validate = best(repeat, lambda: check(directory, AS_OF))
    render = best(repeat, lambda: to_json(check(directory, AS_OF).items, AS_OF))
    tracemalloc.start()
    to_json(check(directory, AS_OF).items, AS_OF)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    as_of = ["--as-of", AS_OF.isoformat()]
    cli_validate, rss_validate = cli(["validate", str(directory), *as_of], repeat)
    cli_render, rss_render = cli(["render", str(directory), *as_of, "--format", "json"], repeat)
    return Point(items, projects, validate, render, cli_validate, cli_render,
                 rss_validate, rss_render, traced)  # fmt: skip


def report(points: list[Point]) -> None:
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, as-of {AS_OF}")
    print()
    head = ("items", "projects", "validate s", "render s", "items/s", "CLI validate s",
            "CLI render s", "CLI items/s", "RSS validate MiB", "RSS render MiB",
            "traced MiB")  # fmt: skip
    print(" | ".join(head))
    for p in points:
        row = (f"{p.items:,}", f"{p.projects}", f"{p.validate:.2f}", f"{p.render:.2f}",
               f"{p.items / p.render:,.0f}", f"{p.cli_validate:.2f}", f"{p.cli_render:.2f}",
               f"{p.items / p.cli_render:,.0f}", f"{p.rss_validate:.0f}", f"{p.rss_render:.0f}",
               f"{p.traced:.0f}")  # fmt: skip
        print(" | ".join(row))
    print()
    print("growth between sizes: render time ratio vs n log n ratio; memory per extra item")
    for a, b in itertools.pairwise(points):
        n_ratio = b.items / a.items
        nlogn = n_ratio * math.log(b.items) / math.log(a.items)
        per_item_rss = (b.rss_render - a.rss_render) * 1024 / (b.items - a.items)
        per_item_traced = (b.traced - a.traced) * 1024 / (b.items - a.items)
        print(
            f"{a.items:,} -> {b.items:,}: items x{n_ratio:.1f}, in-process render time "
            f"x{b.render / a.render:.1f} (n log n: x{nlogn:.1f}), CLI render time "
            f"x{b.cli_render / a.cli_render:.1f}; {per_item_rss:.2f} KiB RSS and "
            f"{per_item_traced:.2f} KiB traced per extra item"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="target item counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    points = []
    with tempfile.TemporaryDirectory(prefix="billplan-bench-") as tmp:
        for size in sizes:
            directory = Path(tmp) / str(size)
            points.append(measure(directory, size, args.repeat))
            print(f"measured {points[-1].items:,} items", file=sys.stderr)
    report(points)


if __name__ == "__main__":
    main()
