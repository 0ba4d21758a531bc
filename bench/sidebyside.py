"""Run a command of this checkout and of a baseline checkout in turn, as fresh processes.

Shared by bench_render.py and bench_startup.py: on a machine others use too, timings only
compare when taken side by side, alternating, and reported as medians with the load the
machine was under.

The baseline is another revision of billplan (`--baseline REF`, main by default), exported
with `git archive` into a temporary directory and run by this checkout's interpreter with the
export first on the path, so both sides run with the same Python and libraries.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """One fresh process: wall seconds, CPU seconds (user + system, its children's too) and
    peak RSS in MiB (the largest of it and its children)."""

    wall: float
    cpu: float
    rss: float


@dataclass
class Side:
    """A checkout to run `python -m compiler` from: this one, or the baseline's export;
    `before` is Python run first in the same process (to switch something off)."""

    name: str
    root: Path
    before: str = ""
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def run(self, label: str, args: Sequence[str], stdout: Path | None = None) -> Run:
        """Run `python -m compiler ARGS` here; its output to stdout (a file) or nowhere."""
        environment = {**os.environ, "PYTHONPATH": str(self.root)}
        command = [sys.executable, "-m", "compiler", *args]
        if self.before:
            main = "from compiler.cli import main; raise SystemExit(main(sys.argv[1:]))"
            command = [sys.executable, "-c", f"import sys; {self.before}; {main}", *args]
        sink = open(stdout, "wb") if stdout is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            started = time.perf_counter()
            process = subprocess.Popen(
                command, cwd=self.root, env=environment, stdout=sink, stderr=subprocess.PIPE
            )
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            errors = process.stderr.read().decode() if process.stderr else ""
            if process.stderr:
                process.stderr.close()
        finally:
            if stdout is not None:
                sink.close()  # type: ignore[union-attr]
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{self.name}: `billplan {' '.join(args)}` failed: {errors}")
        run = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
        self.runs.setdefault(label, []).append(run)
        return run

    def median(self, label: str) -> Run:
        runs = self.runs[label]
        return Run(
            statistics.median(r.wall for r in runs),
            statistics.median(r.cpu for r in runs),
            max(r.rss for r in runs),
        )


@contextmanager
def baseline(ref: str) -> Iterator[Side | None]:
    """The baseline revision exported to a temporary directory; None for `--baseline none`."""
    if ref == "none":
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="billplan-baseline-") as directory:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=False
        )
        if archive.returncode != 0:
            raise SystemExit(f"cannot export {ref}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", directory], input=archive.stdout, check=True)
        yield Side(ref, Path(directory))


def this_checkout(before: str = "", name: str = "this checkout") -> Side:
    return Side(name, ROOT, before)


def load() -> str:
    """The machine's load average and cores, to read the timings by."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def row(label: str, sides: Sequence[Side]) -> str:
    """`label: new 1.23 s wall, 1.50 s CPU, 300 MiB | ... | main 2.34 s ... | x0.53`."""
    cells = []
    for side in sides:
        m = side.median(label)
        cells.append(f"{side.name}: {m.wall:.3f} s wall, {m.cpu:.3f} s CPU, {m.rss:.0f} MiB")
    text = f"{label}: " + " | ".join(cells)
    if len(sides) >= 2:
        new, old = sides[0].median(label), sides[-1].median(label)
        text += f" | first/last: wall x{new.wall / old.wall:.2f}, CPU x{new.cpu / old.cpu:.2f}"
    return text
