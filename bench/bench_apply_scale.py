"""A first apply of 1,000, 5,000 and 10,000 objects per vendor with every limit lifted (the
in-process sandbox), and what each would take at the vendor's real rate limit.

Each run writes a synthetic portfolio (bench/portfolio.py) of one vendor's projects, sized for
about N objects, opens it against the in-process sandbox with the emulator's rate limit (and
Coperniq's daily budget) lifted, takes the state's lock as `billplan apply` does, plans, and
times the apply up to the lock's release (the state file's last write included). Printed per
run: the objects created, the requests sent, the time per object (flat when the apply is
linear), the share spent in state writes and inside the emulator.

The prediction at the vendor's limit R (`rate_limit` of its provider, with its `rate_burst`)
replays the apply through the client's own token bucket (compiler.providers.base.RateLimiter,
its HEADROOM included): request i is sent at the later of its slot and the moment the work
after request i-1 (the round trip, parsing, the state write) was done, as measured here. So
billplan's own work hides inside the wait for the next slot as long as it is shorter, and
shows where it is longer. The ratio is that predicted time over n/R, n the requests the apply
sends: the physical bound. The emulator's time stands in for the vendor's, so the figure is
conservative.

    .venv/bin/python bench/bench_apply_scale.py [--sizes 1000,5000,10000] [--vendors ruddr]
        [--repeat 3]

It runs against whatever `compiler` Python imports: to compare with another checkout, run it
with PYTHONPATH set to that checkout (the figures say which one ran).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from portfolio import AS_OF, write_portfolio  # bench/portfolio.py: these scripts run from bench/

import compiler
from compiler.apply import apply_plan
from compiler.providers.base import RateLimiter
from compiler.sandbox import DEFAULT_ROOT
from compiler.sandbox.transport import InProcessTransport
from compiler.workspace import open_workspace

VENDORS = ("ruddr", "kantata", "wethod", "coperniq")
SIZES = (1_000, 5_000, 10_000)
WITHIN = 1.05  # the goal: predicted time at the vendor's limit within 1.05 x n/R


@dataclass
class Run:
    vendor: str
    objects: int
    requests: int
    apply_s: float  # from the first write to the lock's release
    state_s: float  # inside the state backend's writes (and its release)
    emulator_s: float  # inside the in-process emulator
    rate: float
    burst: int
    predicted_s: float  # at the vendor's limit, by the token bucket

    @property
    def per_object_ms(self) -> float:
        return 1000 * self.apply_s / self.objects

    @property
    def bound_s(self) -> float:
        return self.requests / self.rate

    @property
    def ratio(self) -> float:
        return self.predicted_s / self.bound_s


def predicted(
    started: float, sends: Sequence[float], ended: float, rate: float, burst: int
) -> float:
    """The apply's time had each request waited for the client's token bucket at `rate`: the
    work between sends (measured unpaced) is kept, and each send waits for its slot."""
    clock = [0.0]
    limiter = RateLimiter(rate, burst, clock=lambda: clock[0], sleep=lambda s: None)
    previous = started
    for moment in sends:
        clock[0] += moment - previous  # the work before this send
        before = limiter.waited
        limiter.wait()
        clock[0] += limiter.waited - before  # the wait for its slot
        previous = moment
    return clock[0] + (ended - previous)


def projects_for(vendor: str, objects: int, probe: Path) -> int:
    """How many of the portfolio's projects make about `objects` objects of this vendor."""
    with open_workspace(_written(probe, vendor, 4), AS_OF, sandbox=True) as workspace:
        state = workspace.backend.read()
        per_project = workspace.plan(state, workspace.refresh(state)).count("create") / 4
    return max(1, round(objects / per_project))


def _written(directory: Path, vendor: str, projects: int) -> Path:
    write_portfolio(directory, projects, providers=(vendor,))
    return directory


@contextmanager
def timed(owner: Any, name: str, spent: list[float]) -> Iterator[None]:
    """owner.name, while inside, adds the time each call takes to spent[0]."""
    original = getattr(owner, name)

    def measured(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    setattr(owner, name, measured)
    try:
        yield
    finally:
        setattr(owner, name, original)


def run(vendor: str, projects: int, directory: Path) -> Run:
    write_portfolio(directory, projects, providers=(vendor,))
    with open_workspace(directory, AS_OF, sandbox=True) as workspace:
        with httpx.Client(transport=workspace.sandbox.transport, base_url=DEFAULT_ROOT) as admin:
            lifted: dict[str, Any] = {"rate_limit_per_second": None}
            if vendor == "coperniq":
                lifted["daily_limit"] = 10**9
            admin.put(f"/{vendor}/_sandbox/settings", json=lifted).raise_for_status()
        provider = workspace.providers[vendor]
        rate, burst = float(type(provider).rate_limit), int(type(provider).rate_burst)
        sends: list[float] = []
        waiting: Callable[[], None] = provider.limiter.wait

        def wait() -> None:
            waiting()
            sends.append(time.perf_counter())

        provider.limiter.wait = wait  # type: ignore[method-assign]
        backend, state_spent, emulator_spent = workspace.backend, [0.0], [0.0]
        lock = backend.lock("apply")
        lock.__enter__()
        state = backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        sends.clear()
        with (
            timed(backend, "write", state_spent),
            timed(InProcessTransport, "handle_request", emulator_spent),
        ):
            started = time.perf_counter()
            result = apply_plan(plan, workspace.providers, backend, state)
            released = time.perf_counter()
            lock.__exit__(None, None, None)
            ended = time.perf_counter()
        state_spent[0] += ended - released
        assert result.ok, result.failures[:3]
    return Run(
        vendor=vendor,
        objects=plan.count("create"),
        requests=len(sends),
        apply_s=ended - started,
        state_s=state_spent[0],
        emulator_s=emulator_spent[0],
        rate=rate,
        burst=burst,
        predicted_s=predicted(started, sends, ended, rate, burst),
    )


def median_run(runs: list[Run]) -> Run:
    """The run of median apply time (its own figures, not a mix of runs)."""
    return sorted(runs, key=lambda r: r.apply_s)[len(runs) // 2]


def report(vendor: str, runs: dict[int, list[Run]]) -> None:
    print(f"\n{vendor} (R = {next(iter(runs.values()))[0].rate:g}/s):")
    print(
        f"  {'objects':>8} {'requests':>8} {'apply s':>9} {'ms/object':>9} {'state %':>7} "
        f"{'emulator %':>10} {'predicted s':>11} {'n/R s':>8} {'ratio':>6}  runs (apply s)"
    )
    for size in sorted(runs):
        m = median_run(runs[size])
        each = ", ".join(f"{r.apply_s:.2f}" for r in runs[size])
        print(
            f"  {m.objects:>8,} {m.requests:>8,} {m.apply_s:>9.2f} {m.per_object_ms:>9.2f} "
            f"{100 * m.state_s / m.apply_s:>6.0f}% {100 * m.emulator_s / m.apply_s:>9.0f}% "
            f"{m.predicted_s:>11.1f} {m.bound_s:>8.1f} {m.ratio:>6.3f}  {each}"
        )
    smallest, largest = (median_run(runs[s]) for s in (min(runs), max(runs)))
    if smallest is not largest:
        growth = largest.objects / smallest.objects
        print(
            f"  growth {smallest.objects:,} -> {largest.objects:,} objects (x{growth:.1f}): "
            f"apply x{largest.apply_s / smallest.apply_s:.2f}, time per object "
            f"x{largest.per_object_ms / smallest.per_object_ms:.2f} (1.00 is linear)"
        )
    worst = max(median_run(r).ratio for r in runs.values())
    print(f"  worst predicted ratio {worst:.3f} -> {'OK' if worst <= WITHIN else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--vendors", default=",".join(VENDORS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    vendors = [v.strip() for v in args.vendors.split(",") if v.strip()]
    print(f"compiler from {Path(compiler.__file__).parent}; Python {sys.version.split()[0]}")
    every: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-apply-scale-") as tmp:
        root = Path(tmp)
        for vendor in vendors:
            projects = {s: projects_for(vendor, s, root / f"{vendor}-probe") for s in sizes}
            runs: dict[int, list[Run]] = {}
            for size in sizes:
                for attempt in range(args.repeat):
                    done = run(vendor, projects[size], root / f"{vendor}-{size}-{attempt}")
                    runs.setdefault(size, []).append(done)
                    every.append(asdict(done))
                    print(
                        f"  {vendor} {done.objects:,} objects: apply {done.apply_s:.2f} s "
                        f"({done.per_object_ms:.2f} ms/object), ratio {done.ratio:.3f}",
                        flush=True,
                    )
            report(vendor, runs)
    if args.json:
        args.json.write_text(json.dumps(every, indent=1), encoding="utf-8")
    assert math.isfinite(statistics.fmean(r["apply_s"] for r in every))


if __name__ == "__main__":
    main()
