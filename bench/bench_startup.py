"""Start-up of fresh CLI processes, side by side with a baseline: `billplan --help` and
`billplan validate plans/examples`, with the modules `--help` imports.

Alternates this checkout with the baseline (`--baseline REF`, main by default; `none` for
this checkout alone) and prints the median wall and CPU time of each command, their ratios
and the machine's load. Target (issue 20): `validate plans/examples` under 0.25 s.

    .venv/bin/python bench/bench_startup.py [--repeat 21] [--baseline main]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import ROOT, baseline, load, row, this_checkout

TARGET_SECONDS = 0.25
COMMANDS = {
    "--help": ["--help"],
    "validate plans/examples": ["validate", str(ROOT / "plans" / "examples"), "--as-of",
                                "2026-01-01"],
}  # fmt: skip
COUNT_MODULES = "import sys; from compiler.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nprint(sum(m is not None for m in sys.modules.values()), file=sys.stderr)"  # noqa: E501


def modules(root: Path) -> int:
    """How many modules `--help` leaves imported (Python's own included)."""
    done = subprocess.run(
        [sys.executable, "-c", COUNT_MODULES],
        cwd=root,
        env={"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stderr.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=21, help="runs of each (median kept)")
    parser.add_argument("--baseline", default="main", help="git revision, or none")
    args = parser.parse_args()
    with baseline(args.baseline) as old:
        sides = [this_checkout(), *([old] if old else [])]
        print(f"before: {load()}")
        for side in sides:  # warm the file cache
            for command in COMMANDS.values():
                side.run("warm-up", command)
        for _ in range(args.repeat):
            for side in sides:
                for label, command in COMMANDS.items():
                    side.run(label, command)
        print(f"after: {load()}")
        for label in COMMANDS:
            print(row(label, sides))
        for side in sides:
            print(f"{side.name}: `--help` leaves {modules(side.root)} modules imported")
        m = sides[0].median("validate plans/examples")
        verdict = "met" if m.wall < TARGET_SECONDS else "MISSED"
        print(f"target validate plans/examples < {TARGET_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
