"""PostgreSQL state, shared by a team or by CI jobs: one row per entry, keyed by (state name,
address), and a header row per state name holding its lineage and serial.

A write sends only the entries that changed since the last one, in one transaction, after
checking that the header still has the lineage and serial this run last read or wrote; the
serial then goes up by one. The lock is a session-level advisory lock keyed by a hash of the
state name, held on a connection of its own: a run that dies loses its connection, and with
it the lock. Its metadata (who, where, which operation, since when) is a row beside it, so a
second run can say who holds the state. docs/state.md describes the tables and recovery.

psycopg is imported only here, and this module only when a plan asks for `backend: postgres`.
The connection string comes from an environment variable and may hold a password: no message
or exception text leaving this module contains it. A plan may name only BILLPLAN_PG_DSN or
BILLPLAN_PG_DSN_<SUFFIX> as that variable (compiler.credentials).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler import jsonio
from compiler.credentials import DSN_ENV, dsn_env_problem
from compiler.state import (
    STATE_FORMAT_VERSION,
    Entry,
    LockInfo,
    State,
    StateError,
    StateLocked,
    ledger,
)

if TYPE_CHECKING:
    import psycopg

DEFAULT_DSN_ENV = DSN_ENV
LEDGER = "billplan_state_ledger"

TABLES = {
    "billplan_state": """
        CREATE TABLE billplan_state (
            name text PRIMARY KEY,
            format_version integer NOT NULL,
            lineage text NOT NULL,
            serial bigint NOT NULL,
            updated timestamptz NOT NULL DEFAULT now()
        )""",
    "billplan_state_entry": """
        CREATE TABLE billplan_state_entry (
            name text NOT NULL,
            address text NOT NULL,
            entry text NOT NULL,
            PRIMARY KEY (name, address)
        )""",
    "billplan_state_lock": """
        CREATE TABLE billplan_state_lock (
            name text PRIMARY KEY,
            id text NOT NULL,
            operation text NOT NULL,
            who text NOT NULL,
            pid integer NOT NULL,
            created text NOT NULL,
            session_pid integer NOT NULL
        )""",
    "billplan_state_backup": """
        CREATE TABLE billplan_state_backup (
            name text PRIMARY KEY,
            taken timestamptz NOT NULL DEFAULT now(),
            format_version integer NOT NULL,
            lineage text NOT NULL,
            serial bigint NOT NULL
        )""",
    # Append-only: what each write changed (compiler.state.ledger). Neither a damaged row nor
    # the restore SQL touches it, so a restored backup takes back what later runs made.
    "billplan_state_ledger": """
        CREATE TABLE billplan_state_ledger (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            lineage text NOT NULL,
            serial bigint NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            address text NOT NULL,
            entry text
        )""",
    "billplan_state_backup_entry": """
        CREATE TABLE billplan_state_backup_entry (
            name text NOT NULL,
            address text NOT NULL,
            entry text NOT NULL,
            PRIMARY KEY (name, address)
        )""",
}

# Creating the tables is serialised across runs by this key (one transaction, once per database).
_SCHEMA_KEY = int.from_bytes(
    hashlib.sha256(b"billplan-state-schema").digest()[:8], "big", signed=True
)

# The advisory lock, for a key k, shows in pg_locks as classid = k >> 32, objid = k & 0xffffffff,
# objsubid = 1 (the one-bigint form).
_HOLDER = """
    SELECT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = %(hi)s::bigint::oid AND l.objid = %(lo)s::bigint::oid
"""

_UNKNOWN_HOLDER = "?"


def state_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from the state name only."""
    digest = hashlib.sha256(f"billplan-state:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class Connection:
    """Where the state lives, without the password: what messages may show."""

    env: str
    dsn: str
    place: str  # host:port/dbname

    def redact(self, text: str) -> str:
        """text with the connection string and its password cut out."""
        secrets = [self.dsn, *_passwords(self.dsn)]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


class PostgresBackend:
    def __init__(self, name: str, connection: Connection) -> None:
        self.name = name
        self.connection = connection
        self.key = state_key(name)
        self._key_parts = {"hi": (self.key >> 32) & 0xFFFFFFFF, "lo": self.key & 0xFFFFFFFF}
        self._lock_session: psycopg.Connection | None = None
        self._data: psycopg.Connection | None = None
        self._tables_ready = False
        # The lineage and serial of the state as this backend last read or wrote it.
        self._known: tuple[str, int] | None = None
        # A state read behind its ledger is replayed in memory: its serial runs ahead of the
        # database's header by this much, and its entry rows are behind the ledger.
        self._ahead = 0
        # The entries as the ledger holds them (and, unless ahead, the entry rows): a write
        # sends one ledger row and one entry row for each entry that differs, found among
        # those the state says were touched (State.touched), never by reading them all.
        self._logged: dict[str, Entry] = {}
        self.taken_back: list[Entry] = []
        self.ledger_problem: str | None = None  # why the ledger could not be read

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PostgresBackend:
        """The backend a plan's `state:` block names: {backend: postgres, name, dsn_env}."""
        name = config.get("name")
        if not isinstance(name, str) or not name.strip():
            raise StateError(
                "state: backend postgres needs a `name` for this plan's state, e.g. "
                "`state: {backend: postgres, name: acme-billing}`; plans that share a database "
                "must have different names, so billplan does not guess one"
            )
        env = config.get("dsn_env") or DEFAULT_DSN_ENV
        if problem := dsn_env_problem(env):
            # Never read: a plan edit must not connect billplan to another database.
            raise StateError(f"state: `dsn_env` {problem}")
        dsn = os.environ.get(env)
        if not dsn:
            raise StateError(
                f"state: backend postgres reads its connection string from the environment "
                f"variable {env}, which is not set; set it to e.g. "
                "postgresql://USER@HOST:5432/DATABASE (the password in PGPASSWORD or ~/.pgpass)"
            )
        _psycopg()  # a clear error now if it is missing, before any connection is tried
        return cls(name, Connection(env, dsn, _place(env, dsn)))

    def describe(self) -> str:
        return f'postgres state "{self.name}" at {self.connection.place}'

    # ---- connections --------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        psycopg = _psycopg()
        try:
            conn = psycopg.connect(
                self.connection.dsn,
                autocommit=True,
                connect_timeout=10,
                application_name=f"billplan {self.name}"[:63],
            )
        except psycopg.Error as exc:
            raise self._error("cannot connect to", exc) from None
        # A client that vanishes without closing its socket (a host that lost power) is
        # noticed by the server within about a minute, which then ends its session and
        # releases its lock.
        with contextlib.suppress(psycopg.Error):
            conn.execute("SET tcp_keepalives_idle = 30")
            conn.execute("SET tcp_keepalives_interval = 10")
            conn.execute("SET tcp_keepalives_count = 3")
        return conn

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection]:
        """The data connection while locked; otherwise one for this call only."""
        if self._data is not None:
            yield self._data
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _error(self, doing: str, exc: BaseException) -> StateError:
        text = self.connection.redact(str(exc).strip()) or type(exc).__name__
        return StateError(f"{doing} {self.describe()}: {text}")

    def _ensure_tables(self, conn: psycopg.Connection) -> None:
        if self._tables_ready:
            return
        psycopg = _psycopg()
        try:
            missing = self._missing_tables(conn)
            if missing:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_KEY,))
                    for table in self._missing_tables(conn):
                        conn.execute(TABLES[table])
        except psycopg.Error as exc:
            if missing == [LEDGER]:
                # A database set up before the ledger, planned with a role that may only
                # read: the plan goes on and says what it cannot promise (ledger_problem).
                self.ledger_problem = f"{LEDGER} does not exist"
                self._tables_ready = True
                return
            raise StateError(
                f"cannot create billplan's tables ({', '.join(TABLES)}) in "
                f"{self.connection.place}: {self.connection.redact(str(exc).strip())}. "
                "Give this role CREATE on the schema, or have the database owner create them "
                "with the SQL in docs/state.md"
            ) from None
        self._tables_ready = True

    def _missing_tables(self, conn: psycopg.Connection) -> list[str]:
        return [
            table
            for table in TABLES
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None
        ]

    # ---- reading and writing --------------------------------------------------------------

    def read(self) -> State:
        with self._session() as conn:
            self._ensure_tables(conn)
            state = self._load(conn)
            records = self._ledger_after(conn, state)
        read_at = state.serial
        self.taken_back = ledger.replay(state, records)
        self._ahead = state.serial - read_at
        self._known = (state.lineage, state.serial)
        self._logged = dict(state.entries)
        state.settle()
        return state

    def _ledger_after(self, conn: psycopg.Connection, state: State) -> list[ledger.Record]:
        """The ledger's records of this state's lineage written after it, in order."""
        if not state.lineage or self.ledger_problem:
            return []
        psycopg = _psycopg()
        try:
            rows = conn.execute(
                "SELECT serial, at, address, entry FROM billplan_state_ledger "
                "WHERE name = %s AND lineage = %s AND serial > %s ORDER BY seq",
                (self.name, state.lineage, state.serial),
            ).fetchall()
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable) as exc:
            # A role granted SELECT on the state tables only (docs/ci.md before the ledger):
            # the plan goes on; apply, which may read it, takes back what it records.
            self.ledger_problem = self.connection.redact(str(exc).strip())
            return []
        except psycopg.Error as exc:
            raise self._error("cannot read the ledger of", exc) from None
        records = []
        for serial, at, address, text in rows:
            try:
                raw = {"lineage": state.lineage, "serial": serial, "at": str(at)}
                raw |= {"address": address, "entry": None if text is None else jsonio.loads(text)}
                records.append(ledger.Record.from_json(raw))
            except (ValueError, StateError):
                continue  # a record that cannot be read takes nothing back
        return records

    def _load(self, conn: psycopg.Connection) -> State:
        """The state as the database holds it, in one snapshot; StateError if damaged."""
        psycopg = _psycopg()
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                header = conn.execute(
                    "SELECT format_version, lineage, serial FROM billplan_state WHERE name = %s",
                    (self.name,),
                ).fetchone()
                rows = conn.execute(
                    "SELECT address, entry FROM billplan_state_entry WHERE name = %s "
                    "ORDER BY address",
                    (self.name,),
                ).fetchall()
        except psycopg.Error as exc:
            raise self._error("cannot read", exc) from None
        finally:
            conn.isolation_level = None
        if header is None:
            if rows:
                raise self._damaged(
                    f"billplan_state has no row for it, but billplan_state_entry has {len(rows)}"
                )
            return State()
        version, lineage, serial = header
        if version != STATE_FORMAT_VERSION:
            raise StateError(
                f"{self.describe()}: state format_version {version!r} is not one this billplan "
                f"reads ({STATE_FORMAT_VERSION}); upgrade billplan"
            )
        entries: dict[str, Entry] = {}
        for address, text in rows:
            try:
                raw = jsonio.loads(text)
            except ValueError as exc:
                problem = f"the entry row {address!r} is not valid JSON ({exc})"
                raise self._damaged(problem) from None
            try:
                entry = Entry.from_json(raw)
            except StateError as exc:
                raise self._damaged(f"the entry row {address!r}: {exc}") from None
            if entry.address != address:
                raise self._damaged(
                    f"the entry row {address!r} holds the entry of {entry.address!r}"
                )
            entries[address] = entry
        return State(lineage=lineage, serial=serial, entries=entries)

    def _damaged(self, problem: str) -> StateError:
        return StateError(
            f"{self.describe()} is damaged: {problem}.\n"
            "Nothing was written. The state as it was when the last run took the lock is kept "
            f"in billplan_state_backup and billplan_state_backup_entry (name = '{self.name}'); "
            "docs/state.md, 'Restoring a postgres state', gives the SQL that puts it back. "
            f"Then run `billplan plan`: {LEDGER} records every object billplan created, changed "
            "or let go of, so the plan takes back what the backup does not hold, as billplan's "
            "own. Only what no ledger recorded (made by a billplan without one) is found by "
            "content alone: adopted if it matches the plan exactly, otherwise shown as unmanaged."
        )

    def write(self, state: State) -> None:
        psycopg = _psycopg()
        lineage = state.lineage or self.first_lineage()
        with self._session() as conn:
            self._ensure_tables(conn)
            try:
                with conn.transaction():
                    self._check_lock(conn)
                    header = conn.execute(
                        "SELECT lineage, serial FROM billplan_state WHERE name = %s FOR UPDATE",
                        (self.name,),
                    ).fetchone()
                    self._check_unchanged(header, state)
                    serial = state.serial + 1
                    if header is None:
                        # A state made again where one was continues after its ledger.
                        serial = max(serial, self._last_serial(conn, lineage) + 1)
                        conn.execute(
                            "INSERT INTO billplan_state (name, format_version, lineage, serial) "
                            "VALUES (%s, %s, %s, %s)",
                            (self.name, STATE_FORMAT_VERSION, lineage, serial),
                        )
                    else:
                        conn.execute(
                            "UPDATE billplan_state SET serial = %s, updated = now() "
                            "WHERE name = %s",
                            (serial, self.name),
                        )
                    known = self._known == (state.lineage, state.serial)
                    records = ledger.changed(
                        self._logged if known else {},
                        state.entries,
                        lineage,
                        serial,
                        state.touched() if known else None,
                    )
                    # Each changed entry's JSON, once for its ledger row and its entry row.
                    texts = [
                        None if r.entry is None else jsonio.dumps(r.entry.to_json())
                        for r in records
                    ]
                    self._write_ledger(conn, records, texts)
                    whole = not known or self._ahead > 0
                    if whole:
                        self._write_all(conn, state)
                    else:
                        self._write_changes(conn, records, texts)
            except psycopg.Error as exc:
                raise self._error("cannot write", exc) from None
        state.lineage = lineage
        state.serial = serial
        self._known = (lineage, serial)
        self._ahead = 0
        if whole:
            self._logged = dict(state.entries)
        else:
            for record in records:
                if record.entry is None:
                    self._logged.pop(record.address, None)
                else:
                    self._logged[record.address] = record.entry
        state.settle()

    def _last_serial(self, conn: psycopg.Connection, lineage: str) -> int:
        row = conn.execute(
            "SELECT max(serial) FROM billplan_state_ledger WHERE name = %s AND lineage = %s",
            (self.name, lineage),
        ).fetchone()
        return int(row[0] or 0)

    def _write_ledger(
        self, conn: psycopg.Connection, records: list[ledger.Record], texts: list[str | None]
    ) -> None:
        if not records:
            return
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO billplan_state_ledger (name, lineage, serial, address, entry) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (self.name, r.lineage, r.serial, r.address, text)
                    for r, text in zip(records, texts, strict=True)
                ],
            )

    def _check_lock(self, conn: psycopg.Connection) -> None:
        """While this backend holds the lock, refuse to write if it has lost it (its session
        was ended by an administrator, or the server restarted)."""
        if self._lock_session is None:
            return
        holder = conn.execute(_HOLDER, self._key_parts).fetchone()
        if holder is None or holder[0] != self._lock_session.info.backend_pid:
            raise StateError(
                f"{self.describe()}: this run no longer holds the state's lock (its database "
                "session ended); nothing more was written. Run `billplan plan` to see where "
                "things stand."
            )

    def _check_unchanged(self, header: tuple[str, int] | None, state: State) -> None:
        found = None if header is None else (header[0], header[1])
        expected = None if not state.lineage else (state.lineage, state.serial - self._ahead)
        if found != expected:
            now = "has been deleted" if found is None else f"is at serial {found[1]}"
            raise StateError(
                f"{self.describe()} was written by another run since this run read it "
                f"(read at serial {state.serial}, now it {now}); nothing was written. "
                "Run `billplan plan` again."
            )

    def _write_changes(
        self, conn: psycopg.Connection, records: list[ledger.Record], texts: list[str | None]
    ) -> None:
        """One row for each entry the write changed; nothing else is sent or read."""
        changed = [
            (self.name, r.address, text)
            for r, text in zip(records, texts, strict=True)
            if text is not None
        ]
        gone = [r.address for r in records if r.entry is None]
        if changed:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO billplan_state_entry (name, address, entry) VALUES (%s, %s, %s) "
                    "ON CONFLICT (name, address) DO UPDATE SET entry = EXCLUDED.entry",
                    changed,
                )
        if gone:
            conn.execute(
                "DELETE FROM billplan_state_entry WHERE name = %s AND address = ANY(%s)",
                (self.name, gone),
            )

    def _write_all(self, conn: psycopg.Connection, state: State) -> None:
        conn.execute("DELETE FROM billplan_state_entry WHERE name = %s", (self.name,))
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY billplan_state_entry (name, address, entry) FROM STDIN") as copy,
        ):
            for address in sorted(state.entries):
                entry = state.entries[address]
                copy.write_row((self.name, address, jsonio.dumps(entry.to_json())))

    def first_lineage(self) -> str:
        return ledger.first_lineage(f"postgres:{self.connection.place}:{self.name}")

    def others_holding(self, remote_ids: Sequence[str]) -> list[tuple[str, str, str, str]]:
        """The entries of the other state names in this database that record any of
        remote_ids. A row that is not JSON is passed over (its own state reports it)."""
        if not remote_ids:
            return []
        psycopg = _psycopg()
        found: list[tuple[str, str, str, str]] = []
        with self._session() as conn:
            self._ensure_tables(conn)
            try:
                # The rows that mention an id at all (a text match the server can do on rows it
                # cannot parse as JSON), then only those whose remote_id is one.
                rows = conn.execute(
                    "SELECT name, entry FROM billplan_state_entry WHERE name <> %s "
                    "AND entry LIKE ANY(%s)",
                    (self.name, [f"%{_like(i)}%" for i in remote_ids]),
                ).fetchall()
            except psycopg.Error as exc:
                raise self._error("cannot read the other states in", exc) from None
        wanted = set(remote_ids)
        for name, text in rows:
            try:
                raw = jsonio.loads(text)
            except ValueError:
                continue
            if isinstance(raw, Mapping) and raw.get("remote_id") in wanted:
                where = f'postgres state "{name}" at {self.connection.place}'
                found.append(
                    (where, str(raw.get("address")), str(raw.get("type")), str(raw["remote_id"]))
                )
        return found

    # ---- the lock -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str, wait: float = 0.0) -> Iterator[LockInfo]:
        psycopg = _psycopg()
        info = LockInfo.taken_now(operation)
        session = self._connect()
        try:
            self._ensure_tables(session)
            self._acquire(session, wait)
            try:
                self._record(session, info)
                self._data = self._connect()
                self._lock_session = session
                yield info
            finally:
                self._lock_session = None
                data, self._data = self._data, None
                if data is not None:
                    data.close()
                with contextlib.suppress(psycopg.Error):
                    session.execute(
                        "DELETE FROM billplan_state_lock WHERE name = %s AND id = %s",
                        (self.name, info.id),
                    )
                    session.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error as exc:
            raise self._error("cannot lock", exc) from None
        finally:
            session.close()  # ends the session: the lock goes with it in any case

    def _acquire(self, session: psycopg.Connection, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            if session.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
                return
            if time.monotonic() >= deadline:
                holder = self._holder(session)
                if holder is None:
                    continue  # released between our attempt and our look: try again
                if holder.id == _UNKNOWN_HOLDER and time.monotonic() < deadline + 2:
                    time.sleep(0.1)  # it has the lock and is writing its metadata
                    continue
                raise StateLocked(holder, self.describe(), self._hint(holder))
            time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))

    def _record(self, session: psycopg.Connection, info: LockInfo) -> None:
        """The lock's metadata, replacing any left by a run that died; then the backup of
        the state as it is before this run (copied server-side, cheap at any size)."""
        with session.transaction():
            session.execute(
                "INSERT INTO billplan_state_lock "
                "(name, id, operation, who, pid, created, session_pid) "
                "VALUES (%s, %s, %s, %s, %s, %s, pg_backend_pid()) "
                "ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, "
                "operation = EXCLUDED.operation, who = EXCLUDED.who, pid = EXCLUDED.pid, "
                "created = EXCLUDED.created, session_pid = EXCLUDED.session_pid",
                (self.name, info.id, info.operation, info.who, info.pid, info.created),
            )
        # A damaged state is never copied over the backup, the one good copy left.
        if not self._load(session).lineage:
            return
        with session.transaction():
            session.execute("DELETE FROM billplan_state_backup WHERE name = %s", (self.name,))
            session.execute("DELETE FROM billplan_state_backup_entry WHERE name = %s", (self.name,))
            session.execute(
                "INSERT INTO billplan_state_backup (name, format_version, lineage, serial) "
                "SELECT name, format_version, lineage, serial FROM billplan_state "
                "WHERE name = %s",
                (self.name,),
            )
            session.execute(
                "INSERT INTO billplan_state_backup_entry (name, address, entry) "
                "SELECT name, address, entry FROM billplan_state_entry WHERE name = %s",
                (self.name,),
            )

    def _holder(self, conn: psycopg.Connection) -> LockInfo | None:
        """Who holds the lock now: its metadata if its session is the one holding the
        advisory lock; None if no session holds it (metadata left by a dead run is no lock)."""
        row = conn.execute(_HOLDER, self._key_parts).fetchone()
        if row is None:
            return None
        meta = conn.execute(
            "SELECT id, operation, who, pid, created, session_pid FROM billplan_state_lock "
            "WHERE name = %s",
            (self.name,),
        ).fetchone()
        if meta is None or meta[5] != row[0]:
            return LockInfo(
                id=_UNKNOWN_HOLDER,
                operation="?",
                who=f"database session {row[0]}",
                pid=0,
                created="?",
            )
        return LockInfo(id=meta[0], operation=meta[1], who=meta[2], pid=meta[3], created=meta[4])

    def _hint(self, holder: LockInfo) -> str:
        return (
            "A run that dies releases this lock by itself: its database session ends. If "
            f"that run is stuck, stop it (pid {holder.pid}, {holder.who}); see docs/state.md."
        )

    def current_lock(self) -> LockInfo | None:
        psycopg = _psycopg()
        with self._session() as conn:
            self._ensure_tables(conn)
            try:
                return self._holder(conn)
            except psycopg.Error as exc:
                raise self._error("cannot read the lock of", exc) from None

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock's metadata once its session is gone. A live session's advisory lock
        can only be released by ending that session, which billplan leaves to a person."""
        psycopg = _psycopg()
        with self._session() as conn:
            self._ensure_tables(conn)
            try:
                holder = self._holder(conn)
                if holder is not None and holder.id == lock_id:
                    session = conn.execute(_HOLDER, self._key_parts).fetchone()
                    raise StateError(
                        f"lock {lock_id} on {self.describe()} is held by a run that is still "
                        f"connected ({holder.describe()}; database session "
                        f"{session[0] if session else '?'}). billplan does not take a live "
                        "run's lock: stop that run, or end its session with "
                        f"`SELECT pg_terminate_backend({session[0] if session else 'PID'})`; "
                        "the lock is released when the session ends. Nothing was removed."
                    )
                if holder is not None:
                    raise StateError(
                        f"the state at {self.describe()} is held by a different lock: "
                        f"{holder.describe()}; nothing was removed"
                    )
                removed = conn.execute(
                    "DELETE FROM billplan_state_lock WHERE name = %s AND id = %s",
                    (self.name, lock_id),
                ).rowcount
            except psycopg.Error as exc:
                raise self._error("cannot unlock", exc) from None
        if not removed:
            raise StateError(f"the state at {self.describe()} is not locked")


def _like(text: str) -> str:
    """text as a LIKE pattern that matches only itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "the postgres state backend needs psycopg, which is not installed; install "
            "billplan with its postgres extra: pip install 'billplan[postgres]'"
        ) from None
    return psycopg


def _place(env: str, dsn: str) -> str:
    """host:port/dbname of a connection string, or a StateError that does not quote it."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # psycopg quotes the offending text, which may be the password
        raise StateError(
            f"the environment variable {env} does not hold a PostgreSQL connection string "
            "(a URI like postgresql://USER@HOST:5432/DATABASE, or key=value pairs); its text "
            "is not shown, as it may hold a password"
        ) from None
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    dbname = str(params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or "")
    return f"{host}:{port}/{dbname}"


def _passwords(dsn: str) -> list[str]:
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        return []
    if not password:
        return []
    from urllib.parse import quote

    return [str(password), quote(str(password), safe="")]
