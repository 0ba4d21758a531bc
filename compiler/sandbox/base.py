"""What every vendor emulator shares: exact-decimal JSON, SQLite document storage, integer id
counters, the token-bucket rate limiter, fault injection, the request log, settings, and
`Emulator`, the base class that runs the vendor pipeline (auth, access switch, rate limit, faults,
log) and the common admin routes. Emulators only: billplan's providers must never import this
module."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SANDBOX_TOKEN = "sandbox"
ADMIN_PREFIX = "/_sandbox"
# Set in a request's ASGI scope when an armed fault answers it with an error status, so the
# exchange log (exchanges.py) can tell a made-up answer from one the emulator chose.
FAULT_SCOPE_KEY = "billplan.sandbox.fault_status"

Clock = Callable[[], float]
WallClock = Callable[[], datetime]
Endpoint = Callable[[Request], Awaitable[Response]]
Json = Any


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# JSON with exact decimals


def dumps(value: Json) -> str:
    """Compact JSON in which a Decimal is written as the number it holds, digit for digit."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _encode(value: Json, out: Callable[[str], None]) -> None:
    if value is None or isinstance(value, bool | str | float):
        out(json.dumps(value, ensure_ascii=False, allow_nan=False))
    elif isinstance(value, int):
        out(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        out(str(value))
    elif isinstance(value, Mapping):
        out("{")
        for index, (key, item) in enumerate(value.items()):
            out("," if index else "")
            out(json.dumps(str(key), ensure_ascii=False))
            out(":")
            _encode(item, out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for index, item in enumerate(value):
            out("," if index else "")
            _encode(item, out)
        out("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Json:
    """Parse JSON keeping every fractional number as a Decimal, so money never passes through a
    binary float. NaN and Infinity are refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def plain_number(value: int | Decimal) -> int | Decimal:
    """The shortest spelling of a number, as a JavaScript server would send it back:
    1600.00 -> 1600, 1600.50 -> 1600.5, 1E+3 -> 1000."""
    number = Decimal(value)
    if number == number.to_integral_value():
        return int(number)
    return Decimal(format(number.normalize(), "f"))


class JSONBody(Response):
    """A JSON response written with `dumps`, so Decimal values keep their digits."""

    media_type = "application/json"

    def render(self, content: Json) -> bytes:
        return dumps(content).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Errors raised by handlers


class ApiError(Exception):
    """A vendor-path failure; the emulator turns it into the vendor's error body."""

    def __init__(self, status: int, message: str, errors: Sequence[Json] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = tuple(errors)


class AdminError(Exception):
    """An admin-surface failure, answered as {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ResponseLost(Exception):
    """Raised after a write committed when a fault says its response must never arrive.

    Over a real server the connection closes mid-response; `InProcessTransport` turns it into
    `httpx.ReadError`."""


class ConnectionDropped(ResponseLost):
    """Raised when a fault drops the connection before the request is served: nothing happened.

    Over a real server the connection closes with no answer; `InProcessTransport` turns it into
    `httpx.RemoteProtocolError`. Either way the client cannot tell it from a lost response."""


# --------------------------------------------------------------------------------------------
# Storage


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


def _create_counters(db: sqlite3.Connection) -> None:
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


# --------------------------------------------------------------------------------------------
# Rate limiting


class TokenBucket:
    """`per_second` tokens flow in, at most `burst` are held, each request takes one.
    `per_second=None` switches the limit off. The clock is injectable so tests never sleep.

    A vendor that limits each account separately (a company, a workspace) passes its `key`;
    every key has a bucket of its own, full at first use. Configuring empties them all."""

    # Clock readings are floats: refills that should come to exactly one token may fall short by
    # a rounding error.
    _EPSILON = 1e-9

    def __init__(self, clock: Clock, per_second: float | None, burst: int) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(per_second, burst)

    def configure(self, per_second: float | None, burst: int) -> None:
        with self._lock:
            self._rate = per_second
            self._burst = float(burst)
            # key -> (tokens held, clock reading when they were counted)
            self._held: dict[str, tuple[float, float]] = {}

    def _tokens(self, key: str, now: float) -> float:
        assert self._rate is not None
        tokens, stamp = self._held.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - stamp) * self._rate)

    def take(self, key: str = "") -> bool:
        with self._lock:
            if self._rate is None:
                return True
            now = self._clock()
            tokens = self._tokens(key, now)
            if tokens + self._EPSILON < 1:
                self._held[key] = (tokens, now)
                return False
            self._held[key] = (max(0.0, tokens - 1), now)
            return True

    def retry_after(self, key: str = "") -> float:
        """Seconds until `key` may take a token again; 0 when it may now."""
        with self._lock:
            if self._rate is None:
                return 0.0
            missing = 1 - self._tokens(key, self._clock())
            return 0.0 if missing <= self._EPSILON else missing / self._rate


# --------------------------------------------------------------------------------------------
# Settings, faults and the request log


@dataclass(frozen=True)
class Settings:
    rate_limit_per_second: int | Decimal | None
    burst: int
    api_access_enabled: bool = True
    tokens: tuple[str, ...] = (SANDBOX_TOKEN,)

    def as_json(self) -> dict[str, Json]:
        return {
            "rate_limit_per_second": self.rate_limit_per_second,
            "burst": self.burst,
            "api_access_enabled": self.api_access_enabled,
            "tokens": list(self.tokens),
        }


def settings_from_json(current: Settings, body: Json) -> Settings:
    """Apply a PUT /_sandbox/settings body; keys left out keep their current value."""
    body = admin_object(body)
    known = {"rate_limit_per_second", "burst", "api_access_enabled", "tokens"}
    refuse_unknown(body, known)
    changes: dict[str, Json] = {}
    if "rate_limit_per_second" in body:
        rate = body["rate_limit_per_second"]
        if rate is not None and not (is_number(rate) and rate > 0):
            raise AdminError(400, "rate_limit_per_second must be a positive number or null")
        changes["rate_limit_per_second"] = rate
    if "burst" in body:
        if not (is_whole(body["burst"]) and body["burst"] >= 1):
            raise AdminError(400, "burst must be a whole number of at least 1")
        changes["burst"] = int(body["burst"])
    if "api_access_enabled" in body:
        if not isinstance(body["api_access_enabled"], bool):
            raise AdminError(400, "api_access_enabled must be true or false")
        changes["api_access_enabled"] = body["api_access_enabled"]
    if "tokens" in body:
        tokens = body["tokens"]
        if not (isinstance(tokens, list) and all(isinstance(t, str) and t for t in tokens)):
            raise AdminError(400, "tokens must be a list of non-empty strings")
        changes["tokens"] = tuple(tokens)
    return replace(current, **changes)


@dataclass(frozen=True)
class Fault:
    """What to do to a matching vendor request: answer `status` instead of serving it (with a
    `Retry-After` of `retry_after` seconds when given), wait `delay_ms` first, drop the
    connection without serving it (`disconnect`), serve it and then drop the response
    (`lose_response`), or serve it and wait `delay_after_ms` before answering (a server that
    hangs after committing). `after` lets that many matching requests through untouched first.
    `method` is one method, several separated by commas ("POST,PATCH,PUT,DELETE"), or "*"."""

    method: str
    path: str
    status: int | None = None
    message: str | None = None
    delay_ms: int = 0
    lose_response: bool = False
    retry_after: int | None = None
    disconnect: bool = False
    delay_after_ms: int = 0
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        prefix = self.path.rstrip("/")
        on_path = path == prefix or path.startswith(prefix + "/") or not prefix
        return on_path and (self.method == "*" or method in self.method.split(","))

    @property
    def served_late(self) -> bool:
        """Whether the request is served but its answer is held back or lost."""
        return self.lose_response or self.delay_after_ms > 0

    def as_json(self) -> dict[str, Json]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "message": self.message,
            "delay_ms": self.delay_ms,
            "lose_response": self.lose_response,
            "retry_after": self.retry_after,
            "disconnect": self.disconnect,
            "delay_after_ms": self.delay_after_ms,
        }


def fault_from_json(body: Json, default_path: str) -> tuple[Fault, int]:
    """Read a POST /_sandbox/faults body into a fault and how many requests it applies to."""
    body = admin_object(body)
    refuse_unknown(
        body,
        {"method", "path", "status", "message", "delay_ms", "lose_response", "times",
         "retry_after", "disconnect", "delay_after_ms", "after"},
    )  # fmt: skip
    method = body.get("method", "*")
    path = body.get("path", default_path)
    status = body.get("status")
    message = body.get("message")
    delay_ms = body.get("delay_ms", 0)
    lose = body.get("lose_response", False)
    times = body.get("times", 1)
    retry_after = body.get("retry_after")
    disconnect = body.get("disconnect", False)
    delay_after_ms = body.get("delay_after_ms", 0)
    after = body.get("after", 0)
    if not (isinstance(method, str) and method):
        raise AdminError(400, 'method must be an HTTP method such as "POST", or "*"')
    if not (isinstance(path, str) and path.startswith("/")):
        raise AdminError(400, 'path must be a vendor path prefix such as "/api/workspace/..."')
    if status is not None and not (is_whole(status) and 400 <= status <= 599):
        raise AdminError(400, "status must be an error status from 400 to 599")
    if message is not None and not isinstance(message, str):
        raise AdminError(400, "message must be a string")
    if not (is_whole(delay_ms) and delay_ms >= 0):
        raise AdminError(400, "delay_ms must be a whole number of milliseconds")
    if not isinstance(lose, bool):
        raise AdminError(400, "lose_response must be true or false")
    if retry_after is not None and not (is_whole(retry_after) and retry_after >= 0):
        raise AdminError(400, "retry_after must be a whole number of seconds")
    if retry_after is not None and status is None:
        raise AdminError(400, "retry_after goes with an error status (429, 503)")
    if not isinstance(disconnect, bool):
        raise AdminError(400, "disconnect must be true or false")
    if not (is_whole(delay_after_ms) and delay_after_ms >= 0):
        raise AdminError(400, "delay_after_ms must be a whole number of milliseconds")
    if not (is_whole(after) and after >= 0):
        raise AdminError(400, "after must be a whole number of requests")
    outcomes = [status is not None, lose, disconnect]
    if sum(outcomes) > 1 or (delay_after_ms and (status is not None or disconnect)):
        raise AdminError(
            400,
            "a fault either answers an error status, disconnects, or serves the request and "
            "then loses or delays the response",
        )
    if not any(outcomes) and not delay_ms and not delay_after_ms:
        raise AdminError(
            400, "a fault needs status, delay_ms, delay_after_ms, disconnect or lose_response"
        )
    if not (is_whole(times) and times >= 1):
        raise AdminError(400, "times must be a whole number of at least 1")
    fault = Fault(
        method=",".join(m.strip() for m in method.upper().split(",")),
        path=path,
        status=None if status is None else int(status),
        message=message,
        delay_ms=int(delay_ms),
        lose_response=lose,
        retry_after=None if retry_after is None else int(retry_after),
        disconnect=disconnect,
        delay_after_ms=int(delay_after_ms),
        after=int(after),
    )
    return fault, int(times)


@dataclass
class _ArmedFault:
    fault: Fault
    remaining: int
    passing: int = 0  # matching requests still to let through untouched


class Faults:
    """Faults waiting for their requests, first added first served. Clearing them also
    abandons requests a `delay_ms` fault is still holding: they are dropped unserved, so that a
    test which killed the client never sees that write land later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_ArmedFault] = []
        self.generation = 0  # how many times the faults were cleared

    def add(self, fault: Fault, times: int) -> None:
        with self._lock:
            self._armed.append(_ArmedFault(fault, times, fault.after))

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.fault.matches(method, path):
                    if armed.passing:
                        armed.passing -= 1
                        continue
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    return armed.fault
            return None

    def pending(self) -> list[dict[str, Json]]:
        with self._lock:
            return [
                {**a.fault.as_json(), "times": a.remaining, "after": a.passing} for a in self._armed
            ]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.generation += 1


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    body: Json = None
    lost: bool = False

    def as_json(self) -> dict[str, Json]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "body": self.body,
            "lost": self.lost,
        }


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --------------------------------------------------------------------------------------------
# Request helpers for handlers


async def json_body(request: Request) -> Json:
    """The request body parsed with exact decimals; `ValueError` when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        raise ValueError("empty body")
    return loads(raw)


async def admin_json(request: Request) -> Json:
    try:
        return await json_body(request)
    except ValueError:
        raise AdminError(400, "the body must be JSON") from None


def admin_object(body: Json) -> dict[str, Json]:
    if not isinstance(body, dict):
        raise AdminError(400, "the body must be a JSON object")
    return body


def refuse_unknown(body: Mapping[str, Json], known: Iterable[str]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise AdminError(400, f"unknown field(s) {', '.join(unknown)}; known: {sorted(known)}")


def is_number(value: Json) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def is_whole(value: Json) -> bool:
    return is_number(value) and value == int(value)


def routes_from(table: Iterable[tuple[str, str, Endpoint]]) -> list[BaseRoute]:
    """Starlette routes from (method, path, endpoint) rows; rows sharing a path become one route
    so that another method on that path answers 405."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, endpoint in table:
        by_path.setdefault(path, {})[method] = endpoint
    return [
        Route(path, _dispatcher(methods), methods=list(methods))
        for path, methods in by_path.items()
    ]


def _dispatcher(methods: Mapping[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method](request)

    return dispatch


# --------------------------------------------------------------------------------------------
# The emulator base class


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _read_all(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _logged_body(raw: bytes) -> Json:
    if not raw:
        return None
    try:
        return loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


async def _hold(milliseconds: int, abandoned: Callable[[], bool]) -> None:
    """Wait, in short steps so that clearing the faults ends the wait early."""
    deadline = time.monotonic() + milliseconds / 1000
    while not abandoned():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


async def _promise_and_break(send: Send) -> None:
    """Start a response that promises a body and never deliver it: whatever the real status,
    the client cannot read a complete answer (over a socket, the connection then closes)."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]}
    )


@dataclass
class _Captured:
    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))


class PrefixMount(Mount):
    """A Mount that owns every path below its prefix. Starlette's matches what follows the
    prefix with `.*`, which stops at a line break, so a path holding one (an id sent as
    `a%0Ab`) fell through to Starlette's plain-text 404, which no vendor answers."""

    def __init__(
        self, path: str, app: ASGIApp | None = None, routes: Sequence[BaseRoute] | None = None
    ) -> None:
        super().__init__(path, app=app, routes=routes)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


class Emulator:
    """A vendor's server. Subclasses state the vendor as data (name, API root, tables, id
    counters, default settings, standard messages) and supply the vendor routes, the error body
    and any admin routes of their own; this class runs everything else.

    Every vendor-path request goes: credentials (401), API access switch, rate limit, then any
    armed fault, then the vendor routes; each is recorded in the request log. Admin routes live
    under `/_sandbox/`, need no credentials, are not rate limited and are not logged."""

    name: ClassVar[str]
    api_root: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]] = ()
    counters: ClassVar[tuple[Counter, ...]] = ()
    # Whether a reset leaves `counters` where they are, so that no id is ever given out twice,
    # rather than counting from `first` again as a fresh workspace would.
    ids_survive_reset: ClassVar[bool] = False
    default_settings: ClassVar[Settings]
    status_messages: ClassVar[Mapping[int, str]] = {}
    access_disabled_status: ClassVar[int] = 423

    def __init__(
        self, store: Store, *, clock: Clock = time.monotonic, wall_clock: WallClock = utc_now
    ) -> None:
        self.store = store
        self.wall_clock = wall_clock
        self.settings = self.default_settings
        self.limiter = TokenBucket(clock, None, 1)
        self._apply_settings(self.default_settings)
        self.faults = Faults()
        self.log = RequestLog()
        with store.transaction() as db:
            _create_counters(db)
            for table in self.tables:
                table.create(db)
        self._vendor_app = self._starlette(
            [PrefixMount(self.api_root, routes=self.vendor_routes())],
            {
                HTTPException: self._vendor_http_error,
                ApiError: self._vendor_api_error,
                500: self._vendor_crash,
            },
        )
        self._admin_app = self._starlette(
            [Mount(ADMIN_PREFIX, routes=[*self._common_admin_routes(), *self.admin_routes()])],
            {HTTPException: _admin_http_error, AdminError: _admin_error},
        )

    # ---- what a vendor supplies ---------------------------------------------------------

    def vendor_routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def admin_routes(self) -> list[BaseRoute]:
        return []

    def error_response(
        self,
        status: int,
        message: str | None = None,
        errors: Sequence[Json] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        raise NotImplementedError

    def admit(self, headers: Headers) -> Response | None:
        """The refusal a vendor-path request meets before its route, or None to serve it:
        credentials (401), the API access switch, the rate limit. Vendors with more to check
        (required headers, per-account limits) override it."""
        return self._refusal(headers)

    def read_settings(self, body: Json) -> Settings:
        """The settings a PUT /_sandbox/settings body asks for; vendors with settings of their
        own override it."""
        return settings_from_json(self.settings, body)

    def credentials(self, headers: Headers) -> str | None:
        """The token a request presents; bearer auth unless the vendor says otherwise."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def message_for(self, status: int) -> str:
        known = self.status_messages.get(status)
        if known is not None:
            return known
        try:
            return HTTPStatus(status).phrase
        except ValueError:
            # A fault may inject any status from 400 to 599, not only those with a phrase.
            return "Error"

    def reset(self) -> None:
        """Back to a fresh workspace: no objects, ids counted from the start (unless they
        survive a reset), default settings, no faults, empty log."""
        with self.store.transaction() as db:
            for table in self.tables:
                table.clear(db)
            if not self.ids_survive_reset:
                for counter in self.counters:
                    counter.restart(db)
        self._apply_settings(self.default_settings)
        self.faults.clear()
        self.log.clear()

    # ---- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope)
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            await self._admin_app(scope, receive, send)
        else:
            await self._serve_vendor(scope, receive, send, path)

    async def _serve_vendor(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        raw = await _read_all(receive)
        method: str = scope["method"]
        record = functools.partial(
            LoggedRequest,
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            body=_logged_body(raw),
        )
        refusal = self.admit(Headers(scope=scope))
        fault = None if refusal is not None else self.faults.take(method, path)
        generation = self.faults.generation
        if fault is not None and fault.delay_ms:
            await _hold(fault.delay_ms, lambda: self.faults.generation != generation)
            if self.faults.generation != generation:
                fault = replace(fault, disconnect=True, status=None)  # abandoned: never served
        if refusal is None and fault is not None and fault.disconnect:
            self.log.append(record(status=0, lost=True))
            await _promise_and_break(send)
            raise ConnectionDropped(
                f"sandbox fault: the connection for {method} {scope['path']} was dropped "
                "before the request was served"
            )
        if refusal is None and fault is not None and fault.status is not None:
            scope[FAULT_SCOPE_KEY] = fault.status
            wait = None if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            refusal = self.error_response(fault.status, fault.message, headers=wait)
        if refusal is not None:
            self.log.append(record(status=refusal.status_code))
            await refusal(scope, _replaying(raw), send)
            return
        if fault is not None and fault.served_late:
            await self._serve_late(scope, raw, send, record, fault)
            return
        captured = _Captured()

        async def forward(message: Message) -> None:
            await captured.send(message)
            await send(message)

        try:
            await self._vendor_app(scope, _replaying(raw), forward)
        finally:
            self.log.append(record(status=captured.status))

    async def _serve_late(
        self,
        scope: Scope,
        raw: bytes,
        send: Send,
        record: Callable[..., LoggedRequest],
        fault: Fault,
    ) -> None:
        """Serve the request (it commits), log it, then hold the answer back `delay_after_ms`
        and deliver it, or lose it."""
        captured = _Captured()
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            await captured.send(message)
            messages.append(message)

        await self._vendor_app(scope, _replaying(raw), keep)
        self.log.append(record(status=captured.status, lost=fault.lose_response))
        if fault.delay_after_ms:
            await asyncio.sleep(fault.delay_after_ms / 1000)
        if not fault.lose_response:
            for message in messages:
                await send(message)
            return
        await _promise_and_break(send)
        raise ResponseLost(
            f"sandbox fault: the response to {scope['method']} {scope['path']} was dropped "
            f"after the request was served (status {captured.status})"
        )

    def _refusal(self, headers: Headers) -> Response | None:
        token = self.credentials(headers)
        if token is None or token not in self.settings.tokens:
            return self.error_response(401)
        if not self.settings.api_access_enabled:
            return self.error_response(self.access_disabled_status)
        if not self.limiter.take():
            return self.error_response(429)
        return None

    def _apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        rate = settings.rate_limit_per_second
        self.limiter.configure(None if rate is None else float(rate), settings.burst)

    @staticmethod
    def _starlette(routes: list[BaseRoute], handlers: Mapping[Any, Any]) -> ASGIApp:
        app = Starlette(routes=routes, exception_handlers=dict(handlers))
        app.router.redirect_slashes = False
        return app

    async def _vendor_http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self.error_response(exc.status_code, headers=exc.headers)

    async def _vendor_crash(self, request: Request, exc: Exception) -> Response:
        # A bug in an emulator still answers in the vendor's shape; the exception is re-raised
        # after this response, so tests see it.
        return self.error_response(500)

    async def _vendor_api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return self.error_response(exc.status, exc.message, exc.errors)

    # ---- the admin routes every emulator has ---------------------------------------------

    def _common_admin_routes(self) -> list[BaseRoute]:
        return routes_from(
            [
                ("POST", "/reset", self._admin_reset),
                ("GET", "/faults", self._admin_list_faults),
                ("POST", "/faults", self._admin_add_fault),
                ("DELETE", "/faults", self._admin_clear_faults),
                ("GET", "/settings", self._admin_settings),
                ("PUT", "/settings", self._admin_put_settings),
                ("GET", "/requests", self._admin_requests),
                ("DELETE", "/requests", self._admin_clear_requests),
            ]
        )

    async def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return Response(status_code=204)

    async def _admin_list_faults(self, request: Request) -> Response:
        return JSONBody(self.faults.pending())

    async def _admin_add_fault(self, request: Request) -> Response:
        fault, times = fault_from_json(await admin_json(request), self.api_root or "/")
        self.faults.add(fault, times)
        return JSONBody({**fault.as_json(), "times": times}, status_code=201)

    async def _admin_clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response(status_code=204)

    async def _admin_settings(self, request: Request) -> Response:
        return JSONBody(self.settings.as_json())

    async def _admin_put_settings(self, request: Request) -> Response:
        self._apply_settings(self.read_settings(await admin_json(request)))
        return JSONBody(self.settings.as_json())

    async def _admin_requests(self, request: Request) -> Response:
        return JSONBody([entry.as_json() for entry in self.log.entries()])

    async def _admin_clear_requests(self, request: Request) -> Response:
        self.log.clear()
        return Response(status_code=204)


async def _admin_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONBody({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return JSONBody({"error": exc.message}, status_code=exc.status)
