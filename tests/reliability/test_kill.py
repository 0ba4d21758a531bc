"""A process that dies: `billplan apply` killed with SIGKILL inside its write sequence, then
`plan` and `apply` again (the apply in a new process), must leave each vendor
holding exactly the planned objects: no duplicate, no orphan, no lost state, and a further plan
with no changes.

The four emulators run in a `billplan sandbox serve` process of their own, so they outlive the
kill. Each kill point is set through the emulator's admin surface and chosen by a seeded random
generator, so that a failure reproduces:

- committed: the emulator commits the Nth write, logs it, and holds the response; the test
  kills billplan once the log shows it (the response never arrives: a create only `pending`).
- in_flight: the emulator holds the Nth write before serving it; killed then, it never lands.
- timer: every write is slowed a little and billplan is killed a random time after its first
  write: between writes, during a state write, or mid-request.

Each kill moves the plan to its next version (every amount changes, months come and go), so
that every kill interrupts creates, updates and deletes in turn.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from support import billplan

from compiler.state.local import LocalBackend
from compiler.workspace import open_workspace
from reliability.faults import (
    AS_OF,
    TOKEN_ENVS,
    VENDORS,
    WRITES,
    Served,
    environment,
    plan_text,
    run,
    served,
    spawn,
    write,
)

SEED = 20261123
KILLS_PER_VENDOR = 13  # 52 in all
MODES = ("committed", "in_flight", "timer")
HOLD_MS = 120_000  # longer than any test: a held request is only ever ended by the kill
SPEED = {"max_rps": 500}  # the emulators' limits are off: nothing to pace against


@dataclass
class Kill:
    vendor: str
    number: int
    mode: str
    point: str  # where it landed, in words
    landed: bool  # False: apply finished before the kill point came
    converged: bool


def test_sigkill_anywhere_in_apply_then_plan_and_apply_converge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in TOKEN_ENVS.values():
        monkeypatch.setenv(name, "sandbox")
    rng = random.Random(SEED)
    kills: list[Kill] = []
    with served(tmp_path / "server") as server:
        env = environment(root=server.root)
        for name, value in env.items():  # the plans run in this process read the hosts too
            if name.endswith("_BASE_URL"):
                monkeypatch.setenv(name, value)
        for vendor in VENDORS:
            directory = tmp_path / vendor
            for number in range(KILLS_PER_VENDOR):
                write(directory, plan_text((vendor,), version=number, **SPEED))
                kill = _kill_once(server, vendor, directory, number, rng, env, tmp_path)
                _recover(directory, env)
                _assert_converged(server, vendor, directory, kill)
                kills.append(kill)
    _report(kills)
    landed = [k for k in kills if k.landed]
    assert len(landed) >= 50, f"only {len(landed)} kills landed inside an apply"
    for vendor in VENDORS:
        assert sum(k.landed for k in kills if k.vendor == vendor) >= 12, vendor
        assert {k.mode for k in landed if k.vendor == vendor} == set(MODES), vendor


def _kill_once(
    server: Served,
    vendor: str,
    directory: Path,
    number: int,
    rng: random.Random,
    env: dict[str, str],
    tmp_path: Path,
) -> Kill:
    mode = MODES[number % len(MODES)]
    # Every step from one version to the next writes at least 3 objects; the first apply of a
    # Kantata plan only one (one batch of creates).
    nth = rng.randrange(0, 3) if number else 0
    pause = rng.uniform(0.0, 0.08)
    server.clear_requests(vendor)
    if mode == "committed":
        server.fault(vendor, method=WRITES, after=nth, delay_after_ms=HOLD_MS)
        point = f"after write {nth + 1} committed, before its response"
    elif mode == "in_flight":
        server.fault(vendor, method=WRITES, after=nth, delay_ms=HOLD_MS)
        point = f"while write {nth + 1} was in flight, before it committed"
    else:
        server.fault(vendor, method=WRITES, delay_ms=40, times=1000)
        point = f"{pause:.3f} s after the first write"
    log = tmp_path / f"{vendor}-{number}.log"
    process = spawn("apply", directory, env=env, log=log)
    try:
        landed = _wait_for_point(server, vendor, mode, nth, pause, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        server.clear_faults(vendor)  # also drops a write still held unserved
    return Kill(vendor, number, mode, point, landed, converged=False)


def _wait_for_point(
    server: Served, vendor: str, mode: str, nth: int, pause: float, process: subprocess.Popen[bytes]
) -> bool:
    """Block until the kill point is reached; False if apply ended first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if mode == "committed" and len(server.writes(vendor)) > nth:
            return True
        if mode == "in_flight" and not server.admin(vendor, "GET", "/faults"):
            return True  # the fault was taken: the write is held at the emulator
        if mode == "timer" and server.writes(vendor):
            time.sleep(pause)
            return process.poll() is None
        time.sleep(0.01)
    raise AssertionError(f"{vendor}: the kill point ({mode}, write {nth + 1}) never came")


def _recover(directory: Path, env: dict[str, str]) -> None:
    """What a person does after a run died: plan, then apply. The dead run's lock file needs no
    force-unlock: nobody holds its flock any more, so the apply takes it over (and says so).
    The apply, which plans again and writes, runs in a new process; the plan runs the same
    command line in this one (a fresh workspace), to keep the test within CI time."""
    planned = billplan("plan", directory, "--as-of", AS_OF)
    assert planned.code in (0, 2), planned.text
    left = LocalBackend(directory / ".billplan" / "state.json").current_lock()
    applied = run("apply", directory, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    if left is not None:
        assert left.id in applied.stderr, "taking over a dead run's lock must be reported"


def _assert_converged(server: Served, vendor: str, directory: Path, kill: Kill) -> None:
    where = f"{vendor} kill {kill.number} ({kill.mode}: {kill.point})"
    with open_workspace(directory, date.fromisoformat(AS_OF), sandbox=False) as workspace:
        planned = sorted(r.address for r in workspace.resources)
        state = workspace.backend.read()
        again = workspace.plan(state, workspace.refresh(state))
    entries = json.loads((directory / ".billplan" / "state.json").read_text())["entries"]
    held = sorted(str(row["id"]) for row in server.rows(vendor))
    owned = sorted(str(e["remote_id"]) for e in entries)
    assert sorted(e["address"] for e in entries) == planned, f"{where}: state addresses"
    assert all(e["status"] == "managed" for e in entries), f"{where}: a create still pending"
    assert len(held) == len(planned), f"{where}: {len(held)} objects for {len(planned)} items"
    assert held == owned, f"{where}: the vendor's objects are not the ones state owns"
    assert not again.has_changes, f"{where}: {again.summary()}"
    kill.converged = True


def _report(kills: list[Kill]) -> None:
    print("\nSIGKILL points per provider (landed / converged):")
    for vendor in VENDORS:
        mine = [k for k in kills if k.vendor == vendor]
        modes = Counter(k.mode for k in mine if k.landed)
        print(
            f"  {vendor}: {sum(k.landed for k in mine)} kills landed, "
            f"{sum(k.converged for k in mine)} of {len(mine)} runs converged; by mode {dict(modes)}"
        )
        for k in mine:
            state = "killed" if k.landed else "apply finished first"
            print(f"    #{k.number} {k.mode}: {k.point}: {state}; converged={k.converged}")
