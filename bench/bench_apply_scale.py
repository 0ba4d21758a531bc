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
its HEADROOM included): request i is sent at the later of its slot and the moment billplan's
own work after request i-1 (parsing the answer, the state write, the next body) was done, as
measured here. So that work hides inside the wait for the next slot as long as it is shorter,
and shows where it is longer. The ratio is that predicted time over n/R, n the requests the
apply sends: the physical bound. The vendor's own time to answer is not billplan's and is left
out; "with emulator" counts the in-process emulator's time (SQLite, fsync per commit) as if it
were the vendor's, a pessimistic figure.

    .venv/bin/python bench/bench_apply_scale.py [--sizes 1000,5000,10000] [--vendors ruddr]
        [--repeat 3]

It runs against whatever `compiler` Python imports: to compare with another checkout, run it
with PYTHONPATH set to that checkout (the figures say which one ran).
"""

from __future__ import annotations

import argparse
import itertools
import json
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
    predicted_s: float  # at the vendor's limit, by the token bucket: billplan's own work
    with_emulator_s: float  # the same, the emulator's time counted as the vendor's

    @property
    def per_object_ms(self) -> float:
        return 1000 * self.apply_s / self.objects

    @property
    def own_ms(self) -> float:
        """billplan's own time per object: the apply's, less the emulator's."""
        return 1000 * (self.apply_s - self.emulator_s) / self.objects

    @property
    def bound_s(self) -> float:
        return self.requests / self.rate

    @property
    def ratio(self) -> float:
        return self.predicted_s / self.bound_s

    @property
    def ratio_with_emulator(self) -> float:
        return self.with_emulator_s / self.bound_s


def predicted(work: Sequence[float], tail: float, rate: float, burst: int) -> float:
    """The apply's time had each request waited for the client's token bucket at `rate`:
    work[i] is what was done before send i (measured unpaced), tail what came after the last;
    each send waits for its slot."""
    clock = [0.0]
    limiter = RateLimiter(rate, burst, clock=lambda: clock[0], sleep=lambda s: None)
    for before in work:
        clock[0] += before
        waited = limiter.waited
        limiter.wait()
        clock[0] += limiter.waited - waited
    return clock[0] + tail


def gaps(
    started: float, sends: Sequence[float], ended: float, inside: Sequence[tuple[float, float]]
) -> tuple[list[float], float, list[float], float]:
    """The time before each send and after the last, with and without the time spent inside
    the emulator (its calls as (start, end), in order)."""
    marks = [started, *sends, ended]
    whole = [b - a for a, b in itertools.pairwise(marks)]
    own = list(whole)
    gap = 0
    for start, end in inside:
        while gap + 1 < len(marks) - 1 and start >= marks[gap + 1]:
            gap += 1
        own[gap] -= end - start
    return whole[:-1], whole[-1], own[:-1], own[-1]


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
            if vendor == "wethod":  # 5,000 an hour: 10,000 creates take two hours at Wethod
                lifted["hourly_limit"] = None
            admin.put(f"/{vendor}/_sandbox/settings", json=lifted).raise_for_status()
        provider = workspace.providers[vendor]
        rate, burst = float(type(provider).rate_limit), int(type(provider).rate_burst)
        sends: list[float] = []
        waiting: Callable[[], None] = provider.limiter.wait

        def wait() -> None:
            waiting()
            sends.append(time.perf_counter())

        provider.limiter.wait = wait  # type: ignore[method-assign]
        backend, state_spent = workspace.backend, [0.0]
        inside: list[tuple[float, float]] = []
        handle = InProcessTransport.handle_request

        def handled(transport: InProcessTransport, request: httpx.Request) -> httpx.Response:
            began = time.perf_counter()
            try:
                return handle(transport, request)
            finally:
                inside.append((began, time.perf_counter()))

        lock = backend.lock("apply")
        lock.__enter__()
        state = backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        sends.clear()
        inside.clear()
        InProcessTransport.handle_request = handled  # type: ignore[method-assign]
        try:
            with timed(backend, "write", state_spent):
                started = time.perf_counter()
                result = apply_plan(plan, workspace.providers, backend, state)
                released = time.perf_counter()
                lock.__exit__(None, None, None)
                ended = time.perf_counter()
        finally:
            InProcessTransport.handle_request = handle  # type: ignore[method-assign]
        state_spent[0] += ended - released
        assert result.ok, result.failures[:3]
    whole, whole_tail, own, own_tail = gaps(started, sends, ended, inside)
    return Run(
        vendor=vendor,
        objects=plan.count("create"),
        requests=len(sends),
        apply_s=ended - started,
        state_s=state_spent[0],
        emulator_s=sum(end - start for start, end in inside),
        rate=rate,
        burst=burst,
        predicted_s=predicted(own, own_tail, rate, burst),
        with_emulator_s=predicted(whole, whole_tail, rate, burst),
    )


def median_run(runs: list[Run]) -> Run:
    """The run of median apply time (its own figures, not a mix of runs)."""
    return sorted(runs, key=lambda r: r.apply_s)[len(runs) // 2]


def report(vendor: str, runs: dict[int, list[Run]]) -> None:
    print(f"\n{vendor} (R = {next(iter(runs.values()))[0].rate:g}/s):")
    print(
        f"  {'objects':>8} {'requests':>8} {'apply s':>9} {'ms/object':>9} {'own ms':>6} "
        f"{'state %':>7} "
        f"{'emulator %':>10} {'n/R s':>8} {'predicted s':>11} {'ratio':>6} "
        f"{'w/ emulator':>11}  runs (apply s)"
    )
    for size in sorted(runs):
        m = median_run(runs[size])
        each = ", ".join(f"{r.apply_s:.2f}" for r in runs[size])
        print(
            f"  {m.objects:>8,} {m.requests:>8,} {m.apply_s:>9.2f} {m.per_object_ms:>9.2f} "
            f"{m.own_ms:>6.2f} "
            f"{100 * m.state_s / m.apply_s:>6.0f}% {100 * m.emulator_s / m.apply_s:>9.0f}% "
            f"{m.bound_s:>8.1f} {m.predicted_s:>11.1f} {m.ratio:>6.3f} "
            f"{m.ratio_with_emulator:>11.3f}  {each}"
        )
    smallest, largest = (median_run(runs[s]) for s in (min(runs), max(runs)))
    if smallest is not largest:
        growth = largest.objects / smallest.objects
        print(
            f"  growth {smallest.objects:,} -> {largest.objects:,} objects (x{growth:.1f}): "
            f"apply x{largest.apply_s / smallest.apply_s:.2f}, time per object "
            f"x{largest.per_object_ms / smallest.per_object_ms:.2f}, billplan's own time per "
            f"object x{largest.own_ms / smallest.own_ms:.2f} (1.00 is linear)"
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
                        f"({done.per_object_ms:.2f} ms/object, own {done.own_ms:.2f}), "
                        f"ratio {done.ratio:.3f} "
                        f"({done.ratio_with_emulator:.3f} with the emulator)",
                        flush=True,
                    )
            report(vendor, runs)
    if args.json:
        args.json.write_text(json.dumps(every, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
