"""The emulator base class: `Emulator` runs a vendor's pipeline (credentials, the API access
switch, the rate limit, armed faults, the request log) in front of the vendor routes, and serves
the admin routes every emulator has (reset, faults, settings, the request log). A vendor module
declares its vendor as class data over the kit (`sandbox/kit/`) and supplies only what differs.
Emulators only: billplan's providers must never import this module."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .kit.admin import admin_json, admin_object, lookup, new_id
from .kit.errors import AdminError, ApiError, ConnectionDropped, ResponseLost
from .kit.faults import FAULT_SCOPE_KEY, FIRST_ROW, Fault, Faults, fault_from_json
from .kit.limits import Clock, TokenBucket
from .kit.log import LoggedRequest, RequestLog
from .kit.routing import Endpoint, PrefixMount, routes_from
from .kit.settings import SANDBOX_TOKEN, Settings, settings_from_json
from .kit.store import Counter, Store, Table, create_counters
from .kit.wire import Json, JSONBody, Stamp, WallClock, by_id, loads, millis_z, shaped, utc_now
from .seeding import Bootstrap

# What the sandbox package and its tests import from here.
__all__ = [
    "ADMIN_PREFIX",
    "FAULT_SCOPE_KEY",
    "SANDBOX_TOKEN",
    "Clock",
    "ConnectionDropped",
    "Emulator",
    "JSONBody",
    "PrefixMount",
    "ResponseLost",
    "Store",
    "TokenBucket",
    "WallClock",
    "utc_now",
]

ADMIN_PREFIX = "/_sandbox"
# How the admin surface shows a stored object: the fields it lists, or a function of the
# connection and the document.
Shape = tuple[str, ...]
Render = Callable[[sqlite3.Connection, dict[str, Json]], Json]


def route_path(scope: Scope) -> str:
    """The request's path below the root path the emulator is mounted at."""
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


class Emulator:
    """A vendor's server. Subclasses state the vendor as data (the provider type it emulates,
    API root, tables and whether their ids are counted, default settings and their own setting
    readers, standard messages, the time stamp it writes, its wording for a bad chosen id) and
    supply the vendor routes and admin collections (`kit.routing.Collection`), the error body
    and what is truly the vendor's own behaviour; this class runs everything else, including
    admin listings, deletions, the storing of added objects and seeded ids.

    Every vendor-path request goes: credentials (401), API access switch, rate limit, then any
    armed fault, then the vendor routes; each is recorded in the request log. Admin routes live
    under `/_sandbox/`, need no credentials, are not rate limited and are not logged."""

    # Where the sandbox mounts it, /<name>: the vendor's name unless a subclass says otherwise.
    name: ClassVar[str]
    vendor: ClassVar[str]  # the plan's provider type it emulates (a key of PROVIDERS)
    api_root: ClassVar[str]
    # What a plan needs here before its first apply, and how a person locks an object
    # (seeding.py); None: nothing to seed and nothing to lock.
    bootstrap: ClassVar[Bootstrap | None] = None
    tables: ClassVar[tuple[Table, ...]] = ()
    # Counters besides those of the counted tables (numbers that are not a table's ids).
    counters: ClassVar[tuple[Counter, ...]] = ()
    # Whether a reset leaves the counters where they are, so that no id is ever given out twice,
    # rather than counting from `first` again as a fresh workspace would.
    ids_survive_reset: ClassVar[bool] = False
    default_settings: ClassVar[Settings]
    status_messages: ClassVar[Mapping[int, str]] = {}
    access_disabled_status: ClassVar[int] = 423
    # How the vendor writes a time stamp (`now()`): each vendor declares its own.
    stamp: ClassVar[Stamp] = millis_z
    # Where a list page keeps its rows, each with its `id` (Ruddr's "results"); None: the page
    # is a bare array. Read only to find the row a `then_delete` fault's `{first}` names.
    list_rows: ClassVar[str | None] = None
    # The admin surface's answer to an id a person chose that is not one of the vendor's kind.
    id_refusal: ClassVar[str] = "id {wanted!r} is not an id of this vendor's kind"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "vendor" in cls.__dict__ and "name" not in cls.__dict__:
            cls.name = cls.vendor

    def __init__(
        self, store: Store, *, clock: Clock = time.monotonic, wall_clock: WallClock = utc_now
    ) -> None:
        self.store = store
        self.clock = clock
        self.wall_clock = wall_clock
        self.settings = self.default_settings
        self.limiter = TokenBucket(clock, None, 1)
        self._apply_settings(self.default_settings)
        self.faults = Faults()
        self.log = RequestLog()
        with store.transaction() as db:
            create_counters(db)
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
        self._admin_routes = self.admin_routes()
        self._admin_app = self._starlette(
            [Mount(ADMIN_PREFIX, routes=[*self._common_admin_routes(), *self._admin_routes])],
            {HTTPException: _admin_http_error, AdminError: _admin_error},
        )
        self.provision()

    # ---- what a vendor supplies ---------------------------------------------------------

    def vendor_routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def admin_routes(self) -> list[BaseRoute]:
        return []

    def all_counters(self) -> tuple[Counter, ...]:
        """The counters of the counted tables, and any other the vendor declares."""
        return (*(table.ids for table in self.tables if table.counted), *self.counters)

    def error_body(self, status: int, message: str | None, errors: Sequence[Json]) -> Json:
        """The vendor's error body for `status`; `message` None means the standard one."""
        raise NotImplementedError

    def error_headers(self, status: int, headers: dict[str, str]) -> dict[str, str]:
        """The headers an error answer carries, as the vendor names them."""
        return headers

    def error_response(
        self,
        status: int,
        message: str | None = None,
        errors: Sequence[Json] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        body = self.error_body(status, message, errors)
        answer_headers = self.error_headers(status, dict(headers or {}))
        return JSONBody(body, status_code=status, headers=answer_headers)

    def admit(self, headers: Headers) -> Response | None:
        """The refusal a vendor-path request meets before its route, or None to serve it:
        credentials (401), the API access switch, the rate limit. Vendors with more to check
        (required headers, per-account limits) override it."""
        return self._refusal(headers)

    def setting_readers(self) -> Mapping[str, Callable[[Json], Mapping[str, Json]]]:
        """The vendor's own settings: for each key of a PUT /_sandbox/settings body, the reader
        that checks its value and gives the fields of the vendor's `Settings` it sets."""
        return {}

    def read_settings(self, body: Json) -> Settings:
        """The settings a PUT /_sandbox/settings body asks for: the common keys, then the
        vendor's own, each through its reader."""
        body = admin_object(body)
        readers = self.setting_readers()
        settings = settings_from_json(self.settings, body, own=readers)
        changes: dict[str, Json] = {}
        for name, reader in readers.items():
            if name in body:
                changes.update(reader(body[name]))
        return replace(settings, **changes)

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

    def now(self) -> str:
        """The wall clock's time as the vendor writes it."""
        return self.stamped(self.wall_clock())

    def stamped(self, moment: datetime) -> str:
        """`moment` as the vendor writes a time."""
        return type(self).stamp(moment)

    def new_id(self, db: sqlite3.Connection, table: Table, wanted: Json) -> Json:
        """A new object's id in `table`, or the one a person seeding it chose."""
        return new_id(db, table, wanted, self.id_refusal)

    def admin_insert(
        self,
        db: sqlite3.Connection,
        table: Table,
        body: Mapping[str, Json],
        fields: Callable[[], dict[str, Json]],
    ) -> dict[str, Json]:
        """Store an object a person adds on the admin surface, and give it back: its id (the
        one `body` chose, else the next) and then `fields()`. The id is read first, so that a
        body with a bad id and a bad field is refused for its id."""
        doc = {"id": self.new_id(db, table, body.get("id")), **fields()}
        table.insert(db, doc)
        return doc

    # ---- the admin surface's listings and deletions, declared per kind of object ----------

    def admin_listing(
        self,
        table: Table,
        render: Shape | Render,
        *,
        where: Mapping[str, str] | None = None,
        order: Callable[[list[dict[str, Json]]], list[dict[str, Json]]] | None = None,
        filters: Sequence[str] = (),
    ) -> Endpoint:
        """GET: every object of `table` matching `where` (and any of the indexed `filters`
        the query names), as `render` shows it: a shape, or a function of the connection and
        the stored document. In `order`; unless said, by id when the ids are counted, else in
        the order the objects were made."""
        show: Render = (
            (lambda db, doc: shaped(doc, render)) if isinstance(render, tuple) else render
        )
        arrange = order or (by_id if table.counted else list)

        async def endpoint(request: Request) -> Response:
            wanted = dict(where or {})
            wanted.update(
                (name, request.query_params[name])
                for name in filters
                if name in request.query_params
            )
            with self.store.transaction() as db:
                return JSONBody([show(db, doc) for doc in arrange(table.all(db, wanted))])

        return endpoint

    def admin_deletion(
        self, table: Table, noun: str, key: Callable[[Json], Json] = str
    ) -> Endpoint:
        """DELETE: the object the path names goes, as if a person deleted it in the vendor's UI."""

        async def endpoint(request: Request) -> Response:
            with self.store.transaction() as db:
                doc = lookup(db, table, noun, request, key)
                table.delete(db, str(doc[table.id_field]))
            return Response(status_code=204)

        return endpoint

    def provision(self) -> None:
        """Put in what every fresh workspace of the vendor has (none by default); run when the
        emulator starts and after every reset."""

    def reset(self) -> None:
        """Back to a fresh workspace: no objects, ids counted from the start (unless they
        survive a reset), default settings, no faults, empty log."""
        with self.store.transaction() as db:
            for table in self.tables:
                table.clear(db)
            if not self.ids_survive_reset:
                for counter in self.all_counters():
                    counter.restart(db)
        self._apply_settings(self.default_settings)
        self.faults.clear()
        self.log.clear()
        self.provision()

    # ---- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            await self._admin_app(scope, receive, send)
        else:
            await self._serve_vendor(scope, receive, send, path)

    async def _serve_vendor(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        # The machine's own time, not the vendor's clock (wall_clock), to the microsecond.
        received = datetime.now(UTC).isoformat(timespec="microseconds")
        raw = await _read_all(receive)
        method: str = scope["method"]
        record = functools.partial(
            LoggedRequest,
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            body=_logged_body(raw),
            received=received,
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
        if fault.then_delete is not None:
            await self._delete_behind(fault.then_delete, messages)
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

    async def _delete_behind(self, path: str, answer: Sequence[Message]) -> None:
        """Delete the object at an admin path, as a person would while billplan reads: the
        admin surface's own deletion. An object already gone is what was wanted; `{first}`
        names the first row of the list page in `answer` (none there: nothing is deleted)."""
        if FIRST_ROW in path:
            first = self._first_row(b"".join(m.get("body", b"") for m in answer))
            if first is None:
                return
            path = path.replace(FIRST_ROW, quote(str(first), safe=""))
        scope: Scope = {
            "type": "http",
            "method": "DELETE",
            "path": ADMIN_PREFIX + path,
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "http_version": "1.1",
        }
        await self._admin_app(scope, _replaying(b""), _Captured().send)

    def _first_row(self, page: bytes) -> Json:
        """The id of the first row of a list page as served, or None."""
        try:
            body = loads(page)
        except ValueError:
            return None
        rows = body.get(self.list_rows) if self.list_rows and isinstance(body, dict) else body
        first = rows[0] if isinstance(rows, list) and rows else None
        return first.get("id") if isinstance(first, dict) else None

    def _deletes(self, path: str) -> bool:
        """Whether DELETE on the admin path deletes an object of this emulator."""
        path = path.replace(FIRST_ROW, "1")
        scope: Scope = {"type": "http", "method": "DELETE", "path": path, "root_path": ""}
        for route in self._admin_routes:
            match, child = route.matches(scope)
            if match is Match.FULL and "id" in child.get("path_params", {}):
                return True
        return False

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
        if fault.then_delete is not None and not self._deletes(fault.then_delete):
            raise AdminError(
                400,
                f"then_delete: {fault.then_delete} is not an object the admin surface deletes "
                "(DELETE /_sandbox/<objects>/<id>)",
            )
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
