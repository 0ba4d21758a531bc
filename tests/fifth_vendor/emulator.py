"""The Ledgerly emulator: billing lines on projects (`/v1/lines`: list by project a page at a
time, create, read, update, delete), an invoiced line read-only (409), errors as `{"message",
"errors"}`, and an admin surface that seeds projects and invoices a line as a person would.

Declared over the shared kit (tables, a form, collections, the bootstrap's seeding and lock);
the base runs credentials, the rate limit, faults and the request log. Ledgerly is made up, for
the test suite only, so there is no published contract to check its exchanges against.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import ClassVar

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from compiler.sandbox import Emulator
from compiler.sandbox.kit import admin, forms
from compiler.sandbox.kit.errors import ApiError
from compiler.sandbox.kit.routing import Collection, collection_routes
from compiler.sandbox.kit.settings import Settings
from compiler.sandbox.kit.store import Table
from compiler.sandbox.kit.wire import Json, JSONBody, by_id, is_date, is_id, is_integer, shaped
from compiler.sandbox.seeding import Body, Bootstrap, Item, Lock, Objects, Seeding

PROJECTS = Table("ledgerly_projects", created_field="created_at", counted=True)
LINES = Table("ledgerly_lines", indexed=("project_id",), created_field="created_at", counted=True)
PROJECT_SHAPE = ("id", "name", "created_at")
LINE_SHAPE = ("id", "project_id", "date", "description", "amount_cents", "currency",
              "ledger_code", "status", "created_at")  # fmt: skip


def _text(value: Json) -> bool:
    return isinstance(value, str) and bool(value.strip())


# Each field a line's body may carry, and its checks; all but ledger_code are required.
CHECKS: Mapping[str, Sequence[forms.Check]] = {
    "project_id": ((is_id, "{name} must be a project id"),),
    "date": ((is_date, "{name} must be a date, YYYY-MM-DD"),),
    "description": ((_text, "{name} must not be empty"),),
    "amount_cents": ((is_integer, "{name} must be a whole number of cents"),),
    "currency": ((lambda v: _text(v) and len(v) == 3, "{name} must be a currency code"),),
    "ledger_code": ((lambda v: v is None or _text(v), "{name} must be text or null"),),
}
OPTIONAL = frozenset({"ledger_code"})
INVOICED = "The line is invoiced and cannot change."


def _project_body(project_id: str, items: list[Item], plan: Seeding) -> Body:
    return {"id": int(project_id), "name": plan.project_name(items[0])}


class LineForm(forms.Form):
    wording = forms.BodyWording(not_json="The body is not JSON.", not_object="Send an object.")

    def refusal(self, problems: Sequence[forms.Problem]) -> ApiError:
        return ApiError(422, "Invalid line.", [f"{p.field}: {p.message}" for p in problems])

    def read(self, *, creating: bool) -> dict[str, Json]:
        for name in self.body.keys() - CHECKS.keys():
            self.problem(name, "is not a field of a line")
        if not creating and self.given("project_id"):
            self.problem("project_id", "cannot change: a line stays on its project")
        missing = CHECKS.keys() - self.body.keys() - OPTIONAL if creating else set()
        for name in sorted(missing):
            self.problem(name, "is required")
        fields = {n: self.checked(n, v, CHECKS[n]) for n, v in self.body.items() if n in CHECKS}
        self.check()
        return fields


class LedgerlyEmulator(Emulator):
    name = vendor = "ledgerly"
    api_root: ClassVar[str] = "/v1"
    tables = (PROJECTS, LINES)
    default_settings = Settings(rate_limit_per_second=10, burst=10)
    bootstrap = Bootstrap(
        title="Ledgerly",
        seeds=(Objects("projects", "project", _project_body, "{id} ({name})"),),
        locks={"ledgerly_line": Lock("lines/{id}/invoice")},
    )

    def error_body(self, status: int, message: str | None, errors: Sequence[Json]) -> Json:
        return {"message": message or self.message_for(status), "errors": list(errors)}

    def vendor_routes(self) -> list[BaseRoute]:
        lines = Collection("/lines", member="{id:int}", listing=self.list_lines,
                           create=self.create_line, read=self.get_line,
                           update=self.update_line, delete=self.delete_line)  # fmt: skip
        return collection_routes([lines])

    def admin_routes(self) -> list[BaseRoute]:
        return collection_routes([
            Collection("/projects", listing=self.admin_listing(PROJECTS, PROJECT_SHAPE),
                       create=self.admin_add_project),
            Collection("/lines", member="{id:int}", listing=self.admin_listing(LINES, LINE_SHAPE),
                       actions={"invoice": self.admin_invoice}),
        ])  # fmt: skip

    async def list_lines(self, request: Request) -> Response:
        query = request.query_params
        page, size = _whole(query, "page", 1), _whole(query, "per_page", 50)
        where = {"project_id": query["project_id"]} if "project_id" in query else {}
        with self.store.transaction() as db:
            lines = by_id(LINES.all(db, where))
        shown = [shaped(line, LINE_SHAPE) for line in lines[(page - 1) * size : page * size]]
        return JSONBody({"data": shown, "has_more": page * size < len(lines)})

    async def get_line(self, request: Request) -> Response:
        with self.store.transaction() as db:
            return JSONBody(shaped(_line(db, request), LINE_SHAPE))

    async def create_line(self, request: Request) -> Response:
        form = LineForm(LineForm.wording.object(await request.body()))
        fields = form.read(creating=True)
        with self.store.transaction() as db:
            if PROJECTS.get(db, str(fields["project_id"])) is None:
                raise ApiError(422, "Invalid line.", ["project_id: no such project"])
            line = {"id": LINES.ids.take(db), **fields, "status": "open", "created_at": self.now()}
            LINES.insert(db, line)
        return JSONBody(shaped(line, LINE_SHAPE), status_code=201)

    async def update_line(self, request: Request) -> Response:
        form = LineForm(LineForm.wording.object(await request.body()))
        with self.store.transaction() as db:
            line = {**_open_line(db, request), **form.read(creating=False)}
            LINES.replace(db, line)
        return JSONBody(shaped(line, LINE_SHAPE))

    async def delete_line(self, request: Request) -> Response:
        with self.store.transaction() as db:
            LINES.delete(db, str(_open_line(db, request)["id"]))
        return Response(status_code=204)

    async def admin_add_project(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "name"})
        with self.store.transaction() as db:
            project = {"id": self.new_id(db, PROJECTS, body.get("id")),
                       "name": admin.text(body, "name"), "created_at": self.now()}  # fmt: skip
            PROJECTS.insert(db, project)
        return JSONBody(shaped(project, PROJECT_SHAPE), status_code=201)

    async def admin_invoice(self, request: Request) -> Response:
        with self.store.transaction() as db:
            line = {**admin.lookup(db, LINES, "line", request), "status": "invoiced"}
            LINES.replace(db, line)
        return JSONBody(shaped(line, LINE_SHAPE))


def _whole(query: QueryParams, name: str, default: int) -> int:
    raw = query.get(name, str(default))
    if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
        raise ApiError(400, f"{name} must be a whole number of at least 1.")
    return int(raw)


def _line(db: sqlite3.Connection, request: Request) -> dict[str, Json]:
    line = LINES.get(db, str(request.path_params["id"]))
    if line is None:
        raise ApiError(404, "No such line.")
    return line


def _open_line(db: sqlite3.Connection, request: Request) -> dict[str, Json]:
    line = _line(db, request)
    if line["status"] == "invoiced":
        raise ApiError(409, INVOICED)
    return line
