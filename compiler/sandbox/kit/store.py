"""Where emulators keep their objects: one SQLite connection shared by every emulator, vendor
collections stored as JSON documents (`Table`), cursor pages over them, and integer id
counters that carry on where a SQLite sandbox stopped."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .wire import Json, dumps, loads


class Store:
    """One SQLite connection shared by every emulator, guarded by a lock. `None` keeps the
    database in memory (tests); a path keeps it on disk across runs."""

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._lock = threading.RLock()
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Json]]
    has_more: bool


@dataclass(frozen=True)
class Table:
    """A vendor collection stored as JSON documents, with the id, the creation time and a few
    fields copied into columns so that filters and cursor pages are plain SQL."""

    name: str
    indexed: tuple[str, ...] = ()
    id_field: str = "id"
    created_field: str = "createdAt"
    # Whether the vendor's ids for it are integers counted by `ids` (else chosen, e.g. UUIDs).
    counted: bool = False

    @property
    def ids(self) -> Counter:
        """The counter that hands out this table's ids, keyed by the table's name."""
        assert self.counted, f"{self.name} has no counted ids"
        return Counter(self.name)

    def create(self, db: sqlite3.Connection) -> None:
        columns = "".join(f', "{column}" TEXT' for column in self.indexed)
        db.execute(
            f'CREATE TABLE IF NOT EXISTS "{self.name}" '
            f"(id TEXT PRIMARY KEY, created_at TEXT NOT NULL{columns}, doc TEXT NOT NULL)"
        )
        keys = "".join(f'"{column}", ' for column in self.indexed)
        db.execute(
            f'CREATE INDEX IF NOT EXISTS "{self.name}_order" ON "{self.name}" '
            f"({keys}created_at, id)"
        )

    def _row(self, doc: Mapping[str, Json]) -> list[Json]:
        indexed = [_column_text(doc.get(column)) for column in self.indexed]
        return [str(doc[self.id_field]), str(doc[self.created_field]), *indexed, dumps(doc)]

    def insert(self, db: sqlite3.Connection, doc: Mapping[str, Json]) -> None:
        marks = ", ".join("?" * (3 + len(self.indexed)))
        db.execute(f'INSERT INTO "{self.name}" VALUES ({marks})', self._row(doc))

    def replace(self, db: sqlite3.Connection, doc: Mapping[str, Json]) -> None:
        """Overwrite the stored document with the same id."""
        assignments = "".join(f', "{column}" = ?' for column in self.indexed)
        row = self._row(doc)
        db.execute(
            f'UPDATE "{self.name}" SET created_at = ?{assignments}, doc = ? WHERE id = ?',
            [*row[1:], row[0]],
        )

    def get(self, db: sqlite3.Connection, key: str) -> dict[str, Json] | None:
        row = db.execute(f'SELECT doc FROM "{self.name}" WHERE id = ?', (key,)).fetchone()
        return None if row is None else loads(row[0])

    def delete(self, db: sqlite3.Connection, key: str) -> bool:
        return db.execute(f'DELETE FROM "{self.name}" WHERE id = ?', (key,)).rowcount > 0

    def clear(self, db: sqlite3.Connection) -> None:
        db.execute(f'DELETE FROM "{self.name}"')

    def all(
        self,
        db: sqlite3.Connection,
        where: Mapping[str, str] | None = None,
        *,
        newest_first: bool = False,
    ) -> list[dict[str, Json]]:
        clause, params = self._where(where or {})
        direction = "DESC" if newest_first else "ASC"
        rows = db.execute(
            f'SELECT doc FROM "{self.name}"{clause} '
            f"ORDER BY created_at {direction}, id {direction}",
            params,
        ).fetchall()
        return [loads(row[0]) for row in rows]

    def sort_key(self, db: sqlite3.Connection, key: str) -> tuple[str, str] | None:
        row = db.execute(
            f'SELECT created_at, id FROM "{self.name}" WHERE id = ?', (key,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def page(
        self,
        db: sqlite3.Connection,
        *,
        where: Mapping[str, str],
        limit: int,
        after: tuple[str, str] | None = None,
        before: tuple[str, str] | None = None,
        newest_first: bool = True,
    ) -> Page:
        """One cursor page in list order (by creation time, then id). `after` and `before` are
        sort keys from `sort_key`; `has_more` says whether more lie in the direction walked."""
        clause, params = self._where(where)
        backward = before is not None
        cursor = before if backward else after
        # Walking backward reads the list in reverse and flips the page at the end.
        descending = newest_first != backward
        if cursor is not None:
            joiner = " AND " if clause else " WHERE "
            clause += f"{joiner}(created_at, id) {'<' if descending else '>'} (?, ?)"
            params.extend(cursor)
        direction = "DESC" if descending else "ASC"
        rows = db.execute(
            f'SELECT doc FROM "{self.name}"{clause} '
            f"ORDER BY created_at {direction}, id {direction} LIMIT ?",
            [*params, limit + 1],
        ).fetchall()
        results = [loads(row[0]) for row in rows[:limit]]
        if backward:
            results.reverse()
        return Page(results=results, has_more=len(rows) > limit)

    def _where(self, where: Mapping[str, str]) -> tuple[str, list[Json]]:
        unknown = set(where) - set(self.indexed)
        if unknown:
            raise KeyError(f"{self.name} has no indexed field {sorted(unknown)}")
        if not where:
            return "", []
        terms = " AND ".join(f'"{column}" = ?' for column in where)
        return f" WHERE {terms}", list(where.values())


def _column_text(value: Json) -> str | None:
    return None if value is None else str(value)


COUNTER_TABLE = "sandbox_counters"


def create_counters(db: sqlite3.Connection) -> None:
    db.execute(
        f'CREATE TABLE IF NOT EXISTS "{COUNTER_TABLE}" '
        "(name TEXT PRIMARY KEY, next INTEGER NOT NULL)"
    )


@dataclass(frozen=True)
class Counter:
    """Integer ids handed out in order from `first`, never reused after a delete, kept in the
    store's one counter table so that a SQLite sandbox carries on where it stopped. The name is
    the counter's key in that table: unique in the store, so prefixed with the vendor's name."""

    name: str
    first: int = 1

    def peek(self, db: sqlite3.Connection) -> int:
        """The value `take` would hand out next."""
        row = db.execute(
            f'SELECT next FROM "{COUNTER_TABLE}" WHERE name = ?', (self.name,)
        ).fetchone()
        return self.first if row is None else int(row[0])

    def take(self, db: sqlite3.Connection) -> int:
        value = self.peek(db)
        self._store(db, value + 1)
        return value

    def claim(self, db: sqlite3.Connection, value: int) -> None:
        """A value chosen by hand (admin seeding): later ones come after it. The caller checks
        that it is free."""
        if value >= self.peek(db):
            self._store(db, value + 1)

    def restart(self, db: sqlite3.Connection) -> None:
        """Count from `first` again."""
        db.execute(f'DELETE FROM "{COUNTER_TABLE}" WHERE name = ?', (self.name,))

    def _store(self, db: sqlite3.Connection, upcoming: int) -> None:
        db.execute(
            f'INSERT INTO "{COUNTER_TABLE}" VALUES (?, ?) '
            "ON CONFLICT(name) DO UPDATE SET next = excluded.next",
            (self.name, upcoming),
        )
