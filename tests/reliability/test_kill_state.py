"""A process killed inside the state's own writes (issue 20): while appending a write's records
to the ledger, right after they are durable, and while the state file is written whole at the
lock's release. Then `plan` and `apply` again, each a new process, must leave the vendor
holding exactly the planned objects: no duplicate, no orphan, no lost state, no pending create,
and a further plan with no changes.

Each kill lands at an exact point: the apply runs in a process whose state backend is wrapped
(below, in KILLER) to SIGKILL itself there; nothing of billplan is changed for the test. The
emulators run in a `billplan sandbox serve` process of their own, so they outlive the kill.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from compiler.workspace import open_workspace
from reliability.faults import (
    AS_OF,
    ROOT,
    TOKEN_ENVS,
    Served,
    environment,
    plan_text,
    run,
    served,
    write,
)

# `billplan ARGV` with the local state backend wrapped to die at POINT, the Nth time there:
# - torn-append: half of the Nth write's ledger records reach the disk, then the kill;
# - after-append: the Nth write's records are durable (its request not yet sent), then the kill;
# - torn-file: at the lock's release, half of the state file's temporary copy is written;
# - renamed: at the lock's release, the new state file is in place, its directory not synced.
KILLER = """\
import os, signal, sys, tempfile
from compiler.cli import main
from compiler.state import ledger, local

point, nth = sys.argv[1], int(sys.argv[2])
appends = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

append = local.LocalBackend._append_ledger

def appending(self, records):
    if records:
        appends[0] += 1
    if records and appends[0] == nth and point == "torn-append":
        content = ledger.encode(records)
        fd = os.open(self.ledger_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(fd, content[: len(content) // 2])
        os.fsync(fd)
        die()
    append(self, records)
    if records and appends[0] == nth and point == "after-append":
        die()

catch_up = local.LocalBackend._catch_up

def releasing(self, failing=False):
    def atomic(path, content):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        if point == "torn-file":
            os.write(fd, content[: len(content) // 2])
            os.fsync(fd)
            die()
        os.write(fd, content)
        os.fsync(fd)
        os.replace(tmp, path)
        die()

    local._atomic_write = atomic
    catch_up(self, failing)

local.LocalBackend._append_ledger = appending
if point in ("torn-file", "renamed"):
    local.LocalBackend._catch_up = releasing
sys.exit(main(sys.argv[3:]))
"""

# (vendor, plan version, point, nth): version 0 is a first apply (creates only); version 1,
# applied over version 0, updates every amount, creates a month and renames a milestone.
KILLS = [
    ("ruddr", 0, "torn-append", 3),
    ("wethod", 1, "torn-append", 2),
    ("coperniq", 0, "after-append", 2),
    ("kantata", 1, "after-append", 1),
    ("ruddr", 1, "torn-file", 1),
    ("coperniq", 1, "renamed", 1),
    ("kantata", 0, "torn-file", 1),
    ("wethod", 0, "renamed", 1),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """The emulators, empty, for this case alone."""
    with served(tmp_path / "server") as running:
        yield running


@pytest.mark.parametrize(("vendor", "version", "point", "nth"), KILLS)
def test_a_run_killed_inside_a_state_write_then_plan_and_apply_converge(
    server: Served,
    vendor: str,
    version: int,
    point: str,
    nth: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = environment(root=server.root)
    for name, value in env.items():  # the plan run in this process reads the hosts too
        if name.endswith("_BASE_URL") or name in TOKEN_ENVS.values():
            monkeypatch.setenv(name, value)
    directory = tmp_path / vendor
    if version:
        write(directory, plan_text((vendor,), version=0))
        assert run("apply", directory, env=env).returncode == 0
    write(directory, plan_text((vendor,), version=version))

    killed = _killed_apply(directory, point, nth, env)

    assert killed == -9, f"{vendor} {point} {nth}: the kill point never came ({killed})"
    planned = run("plan", directory, env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    applied = run("apply", directory, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _assert_converged(server, vendor, directory)


def _killed_apply(directory: Path, point: str, nth: int, env: dict[str, str]) -> int:
    argv = ["apply", str(directory), "--as-of", AS_OF, "--auto-approve"]
    done = subprocess.run(
        [sys.executable, "-c", KILLER, point, str(nth), *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode


def _assert_converged(server: Served, vendor: str, directory: Path) -> None:
    with open_workspace(directory, date.fromisoformat(AS_OF), sandbox=False) as workspace:
        planned = sorted(r.address for r in workspace.resources)
        state = workspace.backend.read()
        again = workspace.plan(state, workspace.refresh(state))
    entries = json.loads((directory / ".billplan" / "state.json").read_text())["entries"]
    held = sorted(str(row["id"]) for row in server.rows(vendor))
    assert sorted(e["address"] for e in entries) == planned
    assert all(e["status"] == "managed" for e in entries)
    assert held == sorted(str(e["remote_id"]) for e in entries)
    assert not again.has_changes, again.summary()
