"""The state backend contract, run on both backends (the local file as the reference, and
PostgreSQL on a real server); then what only the postgres backend does: the state's name,
the connection string kept secret, a damaged row, a lost lock, and writes at 10,000 entries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from compiler import jsonio
from compiler.state import Backend, Entry, State, StateError, StateLocked
from compiler.state.local import LocalBackend
from compiler.state.postgres import PostgresBackend

ROOT = Path(__file__).resolve().parents[2]


def unique_name() -> str:
    """A state name no other test uses: the tests share one server."""
    return f"test-{uuid.uuid4().hex[:12]}"


def postgres_backend(name: str) -> PostgresBackend:
    """A backend for state `name` on the test server (the pg_dsn fixture sets its DSN)."""
    return PostgresBackend.from_config({"backend": "postgres", "name": name})


def entry(address: str, remote_id: str | None = "r-1", amount: str = "1600.00") -> Entry:
    return Entry(
        address=address,
        provider="ruddr",
        type="ruddr_invoice_milestone",
        project="cloud-infra",
        project_id="d077258e",
        remote_id=remote_id,
        attributes={"description": "Design sign-off", "amount": Decimal(amount)},
        currency="USD",
        date=date(2026, 2, 1),
        amount=Decimal(amount),
        status="managed" if remote_id else "pending",
    )


@dataclass(frozen=True)
class Subject:
    """One state on one backend; backend() opens it afresh, as another process would."""

    kind: str
    where: str  # the file (local) or the state name (postgres)

    def backend(self) -> Backend:
        if self.kind == "local":
            return LocalBackend(Path(self.where))
        return postgres_backend(self.where)


@pytest.fixture(params=["local", "postgres"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    if request.param == "local":
        return Subject("local", str(tmp_path / "state.json"))
    request.getfixturevalue("pg_dsn")
    return Subject("postgres", unique_name())


# ---- the contract ---------------------------------------------------------------------------


def test_a_state_never_written_reads_as_empty(subject: Subject) -> None:
    state = subject.backend().read()

    assert (state.lineage, state.serial, state.entries) == ("", 0, {})


def test_what_is_written_reads_back_exactly_with_a_lineage_and_a_serial(
    subject: Subject,
) -> None:
    backend = subject.backend()
    state = backend.read()
    state.entries = {a: entry(a) for a in ("p/milestones/a", "p/milestones/b")}
    state.entries["p/milestones/c"] = entry("p/milestones/c", remote_id=None)

    backend.write(state)
    again = subject.backend().read()

    assert again.entries == state.entries
    assert again.entries["p/milestones/a"].amount == Decimal("1600.00")
    assert str(again.entries["p/milestones/a"].attributes["amount"]) == "1600.00"
    assert again.lineage and again.lineage == state.lineage
    assert again.serial == state.serial == 1


def test_each_write_adds_one_to_the_serial_and_keeps_the_lineage(subject: Subject) -> None:
    backend = subject.backend()
    state = backend.read()
    state.entries["p/a"] = entry("p/a")
    backend.write(state)
    lineage = state.lineage

    state.entries["p/b"] = entry("p/b")
    backend.write(state)
    del state.entries["p/a"]
    state.entries["p/b"] = entry("p/b", amount="99.99")
    backend.write(state)

    again = subject.backend().read()
    assert (again.lineage, again.serial) == (lineage, 3)
    assert list(again.entries) == ["p/b"]
    assert again.entries["p/b"].amount == Decimal("99.99")


def test_a_write_over_another_runs_write_is_refused(subject: Subject) -> None:
    first, second = subject.backend(), subject.backend()
    seed = first.read()
    seed.entries["p/a"] = entry("p/a")
    first.write(seed)
    mine, theirs = first.read(), second.read()
    theirs.entries["p/b"] = entry("p/b")
    second.write(theirs)

    mine.entries["p/c"] = entry("p/c")
    with pytest.raises(StateError, match="since this run read it") as raised:
        first.write(mine)

    assert "nothing was written" in str(raised.value)
    assert sorted(subject.backend().read().entries) == ["p/a", "p/b"]


def test_a_lock_is_held_inside_its_block_and_released_after(subject: Subject) -> None:
    backend = subject.backend()

    with backend.lock("apply") as info:
        held = subject.backend().current_lock()
    after = subject.backend().current_lock()

    assert held is not None and held.id == info.id
    assert (held.operation, held.pid) == ("apply", os.getpid())
    assert "@" in held.who and held.created
    assert after is None


def test_a_second_locker_is_told_who_holds_the_lock(subject: Subject) -> None:
    with subject.backend().lock("apply") as info:
        started = time.monotonic()
        with pytest.raises(StateLocked) as raised, subject.backend().lock("state rm"):
            pass
        waited = time.monotonic() - started

    message = str(raised.value)
    assert f"is locked: lock {info.id}: apply by {info.who} (pid {os.getpid()})" in message
    assert "--lock-timeout" in message
    assert raised.value.info == info
    assert waited < 2  # no --lock-timeout: it fails at once


def test_a_locker_with_a_timeout_waits_for_the_lock_and_then_takes_it(subject: Subject) -> None:
    first = subject.backend()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with first.lock("apply"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    threading.Timer(1.0, release.set).start()
    started = time.monotonic()
    try:
        with subject.backend().lock("apply", wait=15) as info:
            waited = time.monotonic() - started
            assert subject.backend().current_lock() == info
    finally:
        release.set()
        holder.join()

    assert 0.8 < waited < 10


def test_a_locker_whose_timeout_runs_out_fails_naming_the_holder(subject: Subject) -> None:
    with subject.backend().lock("import") as info:
        started = time.monotonic()
        with (
            pytest.raises(StateLocked, match=f"lock {info.id}: import by"),
            subject.backend().lock("apply", wait=0.6),
        ):
            pass
        waited = time.monotonic() - started

    assert 0.5 < waited < 5


def test_force_unlock_with_another_lock_id_keeps_the_lock(subject: Subject) -> None:
    with subject.backend().lock("apply") as info:
        with pytest.raises(StateError, match="held by a different lock") as raised:
            subject.backend().force_unlock("not-the-lock")
        still = subject.backend().current_lock()

    assert "nothing was removed" in str(raised.value)
    assert still == info


def test_force_unlock_of_a_state_not_locked_says_so(subject: Subject) -> None:
    with pytest.raises(StateError, match="is not locked"):
        subject.backend().force_unlock("some-lock")


# A process that takes the state's lock, says its id, and waits to be killed.
_HOLDER = """\
import sys, time
from pathlib import Path
kind, where = sys.argv[1:3]
if kind == "local":
    from compiler.state.local import LocalBackend
    backend = LocalBackend(Path(where))
else:
    from compiler.state.postgres import PostgresBackend
    backend = PostgresBackend.from_config({"backend": "postgres", "name": where})
with backend.lock("apply") as info:
    print(info.id, flush=True)
    time.sleep(600)
"""


def killed_holder(subject: Subject) -> str:
    """Start a process that takes the lock, SIGKILL it while it holds it; its lock id."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, subject.kind, subject.where],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lock_id = process.stdout.readline().strip()
        assert lock_id, process.stderr.read() if process.stderr else ""
        held = subject.backend().current_lock()
        assert held is not None and held.id == lock_id and held.pid == process.pid
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    return lock_id


def test_the_lock_of_a_killed_run_does_not_block_the_next_run(
    subject: Subject, caplog: pytest.LogCaptureFixture
) -> None:
    dead = killed_holder(subject)

    # The server notices the closed socket at once on loopback; allow it a moment.
    with subject.backend().lock("apply", wait=5) as info:
        assert subject.backend().current_lock() == info

    assert subject.backend().current_lock() is None
    if subject.kind == "local":  # the lock file was left behind, and removed with a warning
        assert f"removed lock {dead}: apply by" in caplog.text
        assert "no longer running" in caplog.text


def _restore(subject: Subject, dsn: str | None) -> None:
    """Put the backup back as docs/state.md says: cp for a file, the restore SQL for postgres."""
    if subject.kind == "local":
        path = Path(subject.where)
        path.write_bytes(path.with_name(path.name + ".backup").read_bytes())
    else:
        assert dsn is not None
        _restore_backup(dsn, subject.where)


def test_a_state_restored_from_its_backup_takes_back_what_later_runs_recorded(
    subject: Subject, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("pg_dsn") if subject.kind == "postgres" else None
    backend = subject.backend()
    with backend.lock("apply"):
        state = backend.read()
        state.entries = {"p/a": entry("p/a", "r-1")}
        backend.write(state)
    with backend.lock("apply"):  # the backup: p/a only; this run creates p/b and p/c
        state = backend.read()
        state.entries["p/b"] = entry("p/b", "r-2")
        backend.write(state)
        state.entries["p/c"] = entry("p/c", None)  # a create whose response was lost
        backend.write(state)
    _restore(subject, dsn)

    reader = subject.backend()
    restored = reader.read()

    assert restored.entries["p/b"].remote_id == "r-2"
    assert restored.entries["p/c"].status == "pending"
    assert sorted(e.address for e in reader.taken_back) == ["p/b", "p/c"]
    with reader.lock("apply"):  # and the state goes on from there, its serial unused before
        state = reader.read()
        state.entries.pop("p/a")
        reader.write(state)
    assert sorted(subject.backend().read().entries) == ["p/b", "p/c"]


# ---- postgres only ----------------------------------------------------------------------------


def test_the_lock_of_a_killed_run_is_free_at_once_and_its_metadata_is_no_lock(
    pg_dsn: str,
) -> None:
    subject = Subject("postgres", unique_name())
    dead = killed_holder(subject)
    deadline = time.monotonic() + 5
    while subject.backend().current_lock() is not None:
        assert time.monotonic() < deadline, "the killed run's session still holds the lock"
        time.sleep(0.05)

    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute(
            "SELECT id FROM billplan_state_lock WHERE name = %s", (subject.where,)
        ).fetchone()
    subject.backend().force_unlock(dead)  # clears the stale metadata
    with psycopg.connect(pg_dsn) as conn:
        gone = conn.execute(
            "SELECT id FROM billplan_state_lock WHERE name = %s", (subject.where,)
        ).fetchone()

    assert left == (dead,)
    assert gone is None


def test_force_unlock_of_a_live_runs_lock_refuses_and_says_how_to_end_it(pg_dsn: str) -> None:
    subject = Subject("postgres", unique_name())

    with subject.backend().lock("apply") as info:
        with pytest.raises(StateError) as raised:
            subject.backend().force_unlock(info.id)
        still = subject.backend().current_lock()

    message = str(raised.value)
    assert "still connected" in message and "pg_terminate_backend(" in message
    assert "Nothing was removed" in message
    assert still == info


def test_states_of_different_names_lock_independently(pg_dsn: str) -> None:
    one, other = postgres_backend(unique_name()), postgres_backend(unique_name())

    with one.lock("apply"), other.lock("apply") as info:
        assert other.current_lock() == info


def test_a_run_whose_lock_session_was_ended_writes_nothing_more(pg_dsn: str) -> None:
    name = unique_name()
    backend = postgres_backend(name)
    with backend.lock("apply"):
        state = backend.read()
        state.entries["p/a"] = entry("p/a")
        backend.write(state)
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(session_pid) FROM billplan_state_lock WHERE name = %s",
                (name,),
            ).fetchone()
            assert ended == (True,)
        # pg_terminate_backend signals the session; it ends a moment later.
        deadline = time.monotonic() + 10
        while postgres_backend(name).current_lock() is not None:
            assert time.monotonic() < deadline, "the terminated session kept the lock"
            time.sleep(0.02)
        state.entries["p/b"] = entry("p/b")
        with pytest.raises(StateError, match="no longer holds the state's lock"):
            backend.write(state)

    assert list(postgres_backend(name).read().entries) == ["p/a"]


def test_a_plan_on_postgres_needs_a_state_name(pg_dsn: str) -> None:
    with pytest.raises(StateError, match="needs a `name` for this plan's state"):
        PostgresBackend.from_config({"backend": "postgres"})


def test_a_missing_connection_string_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLPLAN_PG_DSN_ACME", raising=False)

    with pytest.raises(
        StateError, match="environment variable BILLPLAN_PG_DSN_ACME, which is not set"
    ):
        PostgresBackend.from_config(
            {"backend": "postgres", "name": "x", "dsn_env": "BILLPLAN_PG_DSN_ACME"}
        )


@pytest.mark.parametrize("named", ["DATABASE_URL", "RUDDR_API_TOKEN", "PGPASSWORD"])
def test_a_plan_naming_another_variable_as_its_connection_string_is_refused_unread(
    named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(named, "postgresql://ci:canary-pw@127.0.0.1:1/prod")

    with pytest.raises(StateError, match="BILLPLAN_PG_DSN_ followed by a suffix") as raised:
        PostgresBackend.from_config({"backend": "postgres", "name": "x", "dsn_env": named})
    assert "canary-pw" not in str(raised.value)


def test_the_backend_is_described_without_the_password(pg_server: Any, pg_dsn: str) -> None:
    backend = postgres_backend("acme-billing")

    assert backend.describe().startswith('postgres state "acme-billing" at 127.0.0.1:')
    assert backend.describe().endswith("/postgres")
    if pg_server.password:
        assert pg_server.password not in backend.describe()


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://billplan:{pw}@127.0.0.1:1/postgres",  # nothing listens there
        "postgresql://billplan:{pw}x@{host}/postgres",  # a wrong password
        "host=127.0.0.1 password={pw} oops",  # not a connection string
        "postgresql://billplan:{pw}@[::1/postgres",  # a broken URI
    ],
)
def test_no_error_shows_the_password(
    dsn: str, pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "s3cret-Passw0rd"
    host = pg_server.dsn.split("@", 1)[1].split("/", 1)[0]
    monkeypatch.setenv("BILLPLAN_PG_DSN", dsn.format(pw=password, host=host))

    with pytest.raises(StateError) as raised:
        postgres_backend(unique_name()).read()

    message = str(raised.value)
    assert password not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "postgres" in message.lower()


def test_the_cli_reports_an_unreachable_database_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support import billplan, write_plan

    monkeypatch.setenv("BILLPLAN_PG_DSN", "postgresql://u:hunter2-secret@127.0.0.1:1/billing")
    head = (
        "version: 1\nstate: {backend: postgres, name: acme}\nproviders:\n  ruddr: {type: ruddr}\n"
    )
    directory = write_plan(tmp_path / "billing", body="projects: {}\n", head=head)

    for args in (("state", "list"), ("force-unlock", "some-id")):
        run = billplan(*args, directory)
        assert run.code == 1
        assert 'cannot connect to postgres state "acme" at 127.0.0.1:1/billing' in run.errors
        assert "hunter2" not in run.text


def test_the_sandbox_state_stays_a_local_file_whatever_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support import sandboxed, state_file, write_plan

    monkeypatch.delenv("BILLPLAN_PG_DSN", raising=False)  # the sandbox needs no database
    head = (
        "version: 1\nstate: {backend: postgres, name: acme}\n"
        "providers:\n  ruddr: {type: ruddr}\ndefaults:\n  currency: USD\n"
        "  ruddr: {invoice_item: aba04832-216c-463e-8998-c520948f707c}\n"
    )
    from support import PLAN

    directory = write_plan(tmp_path / "billing", PLAN, head)

    run = sandboxed("apply", directory)

    assert run.code == 0, run.text
    assert len(LocalBackend(state_file(directory)).read().entries) == 7


def _damage(dsn: str, name: str, address: str, text: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE billplan_state_entry SET entry = %s WHERE name = %s AND address = %s",
            (text, name, address),
        )


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ('{"address": "p/b", "provider": "ruddr", "ty', "is not valid JSON"),
        ('{"address": "p/b", "provider": "ruddr"}', "missing field(s) type, project"),
        (jsonio.dumps(entry("p/z").to_json()), "holds the entry of 'p/z'"),
    ],
)
def test_a_damaged_row_is_a_clear_error_and_the_backup_restores_the_state(
    pg_dsn: str, damage: str, problem: str
) -> None:
    name = unique_name()
    backend = postgres_backend(name)
    with backend.lock("apply"):
        state = backend.read()
        state.entries = {a: entry(a) for a in ("p/a", "p/b")}
        backend.write(state)
    with backend.lock("apply"):  # takes the backup of the state as written above
        pass
    _damage(pg_dsn, name, "p/b", damage)

    with pytest.raises(StateError) as raised:
        postgres_backend(name).read()
    with pytest.raises(StateError, match="is damaged"), postgres_backend(name).lock("apply"):
        pass  # the lock refuses it too, and keeps the backup as it was
    _restore_backup(pg_dsn, name)  # the SQL docs/state.md gives

    message = str(raised.value)
    assert f'postgres state "{name}" at 127.0.0.1:' in message
    assert "is damaged: the entry row 'p/b'" in message and problem in message
    assert "billplan_state_backup" in message and "Restoring a postgres state" in message
    assert sorted(postgres_backend(name).read().entries) == ["p/a", "p/b"]


def _restore_backup(dsn: str, name: str) -> None:
    """The restore SQL from docs/state.md, as written there, for state `name`."""
    text = (ROOT / "docs" / "state.md").read_text(encoding="utf-8")
    sql = text.split("<!-- restore-sql -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    assert ":'name'" in sql
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.replace(":'name'", f"'{name}'").encode())


def test_a_header_from_a_newer_billplan_is_refused(pg_dsn: str) -> None:
    name = unique_name()
    backend = postgres_backend(name)
    backend.write(State(entries={"p/a": entry("p/a")}))
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("UPDATE billplan_state SET format_version = 9 WHERE name = %s", (name,))

    with pytest.raises(StateError, match="format_version 9 is not one this billplan reads"):
        postgres_backend(name).read()


_BILLPLAN = "import sys; from compiler.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def no_psycopg(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment in which `import psycopg` fails, as without the postgres extra."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ImportError('No module named psycopg')\n")
    yield {**os.environ, "PYTHONPATH": str(blocker), "BILLPLAN_PG_DSN": "postgresql://x@h/db"}


def test_without_psycopg_the_error_names_the_extra_to_install(
    no_psycopg: dict[str, str], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nstate: {backend: postgres, name: acme}\n"
        "providers:\n  ruddr: {type: ruddr}\nprojects: {}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", _BILLPLAN, "state", "list", str(plan)],
        cwd=ROOT, env=no_psycopg, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    assert "the postgres state backend needs psycopg, which is not installed" in done.stderr
    assert "Traceback" not in done.stderr
    # The message names the extra; cli's _fail prints it as rich markup, which drops
    # "[postgres]" (reported to the lead), so that part is checked here, in the process.
    checked = subprocess.run(
        [sys.executable, "-c", _MESSAGE], cwd=ROOT, env=no_psycopg, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert "install billplan with its postgres extra: pip install 'billplan[postgres]'" in (
        checked.stdout
    ), checked.stderr


_MESSAGE = """from compiler.state import StateError
from compiler.state.postgres import PostgresBackend
try:
    PostgresBackend.from_config({"backend": "postgres", "name": "acme"})
except StateError as exc:
    print(exc)
"""


def test_writes_at_ten_thousand_entries_send_only_what_changed(pg_dsn: str) -> None:
    name = unique_name()
    backend = postgres_backend(name)
    with backend.lock("apply"):
        state = backend.read()
        state.entries = {f"p/m/{n:05}": entry(f"p/m/{n:05}", f"r-{n}") for n in range(10_000)}
        started = time.monotonic()
        backend.write(state)
        first = time.monotonic() - started
        started = time.monotonic()
        for n in range(200):  # as apply does: one call, one write
            address = f"p/m/{n:05}"
            state.entries[address] = entry(address, f"r-{n}", amount="1700.00")
            backend.write(state)
        each = (time.monotonic() - started) / 200

    print(f"10,000 entries: first write {first:.3f}s, then {each * 1000:.1f} ms per write")
    again = postgres_backend(name).read()
    assert again.serial == 201 and len(again.entries) == 10_000
    assert again.entries["p/m/00199"].amount == Decimal("1700.00")
    assert again.entries["p/m/00200"].amount == Decimal("1600.00")
    assert each < 0.05, f"{each * 1000:.1f} ms per write"


def test_apply_state_list_and_state_rm_work_on_a_postgres_state(
    pg_server: Any, pg_dsn: str, tmp_path: Path
) -> None:
    from support import ADDRESSES, remote, write_plan

    name = unique_name()
    with remote() as ruddr:
        directory = write_plan(
            tmp_path / "billing", head=ruddr.head + f"state: {{backend: postgres, name: {name}}}\n"
        )
        applied = ruddr.billplan("apply", directory)
        listed = ruddr.billplan("state", "list", directory)
        removed = ruddr.billplan("state", "rm", ADDRESSES[0], directory)
        again = ruddr.billplan("plan", directory)

    assert applied.code == 0 and "Apply complete: 7 created." in applied.out, applied.text
    assert [line.split("\t")[0] for line in listed.out.splitlines()] == ADDRESSES
    assert removed.code == 0, removed.text
    assert sorted(postgres_backend(name).read().entries) == ADDRESSES[1:]
    assert postgres_backend(name).read().serial > 7
    assert again.code == 0, again.text
    for run in (applied, listed, removed, again):
        assert not pg_server.password or pg_server.password not in run.text
