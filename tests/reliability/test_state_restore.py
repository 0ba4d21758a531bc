"""Restoring the state backup, as billplan's own message instructs, after the plan changed:
what the lost run created is taken back (from the state's ledger), never created twice.

The backup holds the state as it was before the last run that locked it; that run's creates
are in the damaged file only. With the plan changed since, they no longer match it exactly,
so adoption by content cannot find them: only a record of what each run created can.
Here too, as it needs the database: another state name in the same database is a state
billplan can see, and the plan warns before taking what it records.
"""

from __future__ import annotations

import shlex
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
from support import (
    ADDRESSES,
    EXTRA,
    MILESTONE,
    WITH_EXTRA,
    plan_sandbox,
    remote,
    sandboxed,
    state_file,
    step,
    variant,
    write_plan,
)

from compiler.state import Entry
from compiler.state.local import LocalBackend

EXTRA_LINE = "extra: {description: Extra workshop, date: 2026-06-01, amount: 5000}"
CHANGED = variant((EXTRA_LINE, EXTRA_LINE.replace("5000", "6000")), body=WITH_EXTRA)


def _damage_and_restore(directory: Path) -> str:
    """Cut the state file short, run apply (which refuses and says how to restore), and run
    the restore command it gives; the message as said."""
    path = state_file(directory)
    path.write_text(path.read_text(encoding="utf-8")[:200], encoding="utf-8")
    said = sandboxed("apply", directory).errors
    command = said.split("restore it from there with: ", 1)[1].split(" then run", 1)[0]
    assert subprocess.run(shlex.split(command), check=False).returncode == 0
    return said


def _applied_twice(tmp_path: Path) -> Path:
    """The plan applied, then applied again with a new milestone: the backup (taken by the
    second run's lock) does not hold that milestone."""
    directory = write_plan(tmp_path / "billing")
    step(directory, apply=True)
    write_plan(directory, WITH_EXTRA)
    assert step(directory, apply=True).why(EXTRA) == ("create", "new")
    return directory


def test_a_restored_backup_takes_back_what_the_last_run_created_after_the_plan_changed(
    tmp_path: Path,
) -> None:
    directory = _applied_twice(tmp_path)
    _damage_and_restore(directory)
    write_plan(directory, CHANGED)

    done = step(directory, apply=True)

    assert done.why(EXTRA) == ("update", "changed")
    with plan_sandbox(directory) as admin:
        extras = [o for o in admin.objects(MILESTONE) if o["name"] == "Extra workshop"]
    assert len(extras) == 1
    assert sorted(done.state.entries) == sorted([*ADDRESSES, EXTRA])


def test_the_restore_message_says_what_the_ledger_takes_back(tmp_path: Path) -> None:
    directory = _applied_twice(tmp_path)

    said = _damage_and_restore(directory)

    ledger = state_file(directory).with_name("sandbox-state.json.ledger")
    assert f"{ledger} records every object billplan created" in said
    assert "takes back what the backup does not hold" in said


def test_the_plan_after_a_restore_names_what_it_took_back(tmp_path: Path) -> None:
    directory = _applied_twice(tmp_path)
    _damage_and_restore(directory)

    said = " ".join(sandboxed("plan", directory).out.split())

    assert "is behind its ledger (restored from a backup" in said
    assert f"takes back, as its own, 1 object(s) the later runs recorded: {EXTRA} (" in said
    assert "0 to create" in said


def _entry(address: str, remote_id: str) -> Entry:
    return Entry(
        address=address,
        provider="ruddr",
        type=MILESTONE,
        project="cloud-infra",
        project_id="p-1",
        remote_id=remote_id,
        attributes={"name": address},
        currency="USD",
        date=None,
        amount=Decimal(1),
    )


def test_a_ledger_line_cut_short_by_a_dead_run_loses_no_later_record(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    for address, remote_id in (("p/a", "r-1"), ("p/b", "r-2")):
        with backend.lock("apply"):  # the second lock backs up the state holding p/a only
            state = backend.read()
            state.entries[address] = _entry(address, remote_id)
            backend.write(state)
    with backend.ledger_path.open("ab") as ledger:
        ledger.write(b'{"lineage": "')  # a run killed while appending
    with backend.lock("apply"):
        state = backend.read()
        state.entries["p/c"] = _entry("p/c", "r-3")
        backend.write(state)
    backend.path.write_bytes(backend.backup_path.read_bytes())  # the restore

    restored = LocalBackend(backend.path).read()

    assert {a: e.remote_id for a, e in restored.entries.items()} == {
        "p/a": "r-1",
        "p/b": "r-2",
        "p/c": "r-3",
    }


def test_a_restored_postgres_backup_takes_back_what_the_last_run_created(
    pg_dsn: str, tmp_path: Path
) -> None:
    name = f"test-{uuid.uuid4().hex[:12]}"
    with remote() as ruddr:
        head = ruddr.head + f"state: {{backend: postgres, name: {name}}}\n"
        directory = write_plan(tmp_path / "billing", head=head)
        assert ruddr.billplan("apply", directory).code == 0
        write_plan(directory, WITH_EXTRA, head=head)
        assert ruddr.billplan("apply", directory).code == 0  # creates the extra milestone
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(  # a damaged row, then the restore SQL docs/state.md gives
                "UPDATE billplan_state_entry SET entry = '{' WHERE name = %s AND address = %s",
                (name, EXTRA),
            )
            conn.execute(_restore_sql(name).encode())
        write_plan(directory, CHANGED, head=head)

        run = ruddr.billplan("apply", directory)

        assert run.code == 0, run.text
        extras = [o for o in ruddr.admin.objects(MILESTONE) if o["name"] == "Extra workshop"]
        assert len(extras) == 1


def _restore_sql(name: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "state.md").read_text("utf-8")
    sql = text.split("<!-- restore-sql -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return sql.replace(":'name'", f"'{name}'")


def test_plan_warns_when_another_postgres_state_records_what_it_would_adopt(
    pg_dsn: str, tmp_path: Path
) -> None:
    first, second = (f"test-{uuid.uuid4().hex[:12]}" for _ in range(2))
    with remote() as ruddr:
        for name in (first, second):
            head = ruddr.head + f"state: {{backend: postgres, name: {name}}}\n"
            write_plan(tmp_path / name, head=head)
        assert ruddr.billplan("apply", tmp_path / first).code == 0

        run = ruddr.billplan("plan", tmp_path / second)

        said = " ".join(run.out.split())
        assert f'is recorded by another billplan state (postgres state "{first}" at' in said
