"""Validate and render 100,000 items as fresh CLI processes, side by side with a baseline.

Writes the 100,023-item portfolio of bench/portfolio.py (868 projects, seed 0), then runs
`billplan validate DIR` and `billplan render DIR --format json` (output discarded) in fresh
interpreters, alternating this checkout, this checkout with its second process off
(one process: what one core does) and the baseline (`--baseline REF`, main by default; `none`
to leave it out). Prints the median wall and CPU time (a process and its worker together) and
the peak RSS (the larger of the two) of each, the ratio of this checkout to the baseline, the
machine's load, and whether the JSON each renders is byte-identical.

Targets (issue 20): under 2 s wall and 400 MB for each, as a fresh process.

    .venv/bin/python bench/bench_render.py [--repeat 5] [--projects 868] [--baseline main]
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portfolio import AS_OF, write_portfolio
from sidebyside import baseline, load, row, this_checkout

TARGET_SECONDS = 2.0
ONE_PROCESS = "import compiler.expand.parallel as p; p.MIN_CHARGES = p.MIN_PLAN_BYTES = 10**12"
TARGET_MIB = 400 * 10**6 / 2**20  # 400 MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side (median kept)")
    parser.add_argument("--projects", type=int, default=868, help="868: 100,023 items")
    parser.add_argument("--baseline", default="main", help="git revision, or none")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="billplan-bench-") as tmp,
        baseline(args.baseline) as old,
    ):
        plan = Path(tmp) / "plan"
        items = write_portfolio(plan, args.projects)
        # The same checkout with the forked expansion worker off: what one core does.
        alone = this_checkout(ONE_PROCESS, "this checkout, one process")
        sides = [this_checkout(), alone, *([old] if old else [])]
        as_of = ["--as-of", AS_OF.isoformat()]
        validate = ["validate", str(plan), *as_of]
        render = ["render", str(plan), *as_of, "--format", "json"]
        print(f"{items:,} items in {args.projects} projects; before: {load()}")
        outputs = []
        for side in sides:  # once untimed: the outputs compared, the files cached
            outputs.append(Path(tmp) / f"{len(outputs)}.json")
            side.run("warm-up", render, stdout=outputs[-1])
        for _ in range(args.repeat):
            for side in sides:
                side.run("validate", validate)
                side.run("render --format json", render)
        print(f"after: {load()}")
        for label in ("validate", "render --format json"):
            print(row(label, sides))
        new = sides[0]
        for label in ("validate", "render --format json"):
            m = new.median(label)
            verdict = "met" if m.wall < TARGET_SECONDS and m.rss < TARGET_MIB else "MISSED"
            print(f"target {label} < {TARGET_SECONDS} s and 400 MB: {verdict}")
        for side, output in zip(sides[1:], outputs[1:], strict=True):
            same = filecmp.cmp(outputs[0], output, shallow=False)
            print(f"JSON output identical to {side.name}'s: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
