"""The Ruddr emulator: Ruddr's workspace API under `/api/workspace`. It owns project invoice
milestones and project product items (create, list, read, update, delete), read-only projects
and invoice items, and the admin routes that seed them or change them behind the client's back.

From the vendor's spec (`ruddr.openapi.yml`, written from Ruddr's documentation pages):
- Operations: createProjectInvoiceMilestone, listProjectInvoiceMilestones,
  getProjectInvoiceMilestone, updateProjectInvoiceMilestone; createProjectProductItem;
  listProjects, getProject; listInvoiceItems (with its `name` filter), getInvoiceItem.
- Bearer auth, 401 "The provided bearer token is missing or invalid." (Unauthorized); ids are
  UUID strings (a malformed one: 400 "Parameter 'id' is not a valid UUID."); dates
  `YYYY-MM-DD`; money JSON numbers in major units; creates answer 200, not 201.
- Milestones (MilestoneCreate): projectId, invoiceItemId, date and name (at most 255) required;
  typeId `custom` (default) or `recurring`; `fee` alone, or `quantity` and `rate` together and
  then no `fee` (its oneOf), the fee being their product; only on `fixed` / `fixed_recurring`
  projects. MilestoneUpdate takes no projectId.
- Product items (ProductItemCreate): projectId, invoiceItemId, date and description required;
  quantity, rate and fee may all be sent; only on billable projects (`isBillable`).
- Objects read back as ProjectInvoiceMilestone / ProjectProductItem: `invoiceItem {id, name}`,
  `project {id, name, client {id, name}}`, `createdAt`, `invoiced`, `quantity` and `rate` null
  on a fee-only object. An invoiced object is read-only: PATCH and DELETE answer 409 (ReadOnly).
- Cursor pages (listProjectInvoiceMilestones and every documented list): `limit` 1..100,
  default 10; `startingAfter` / `endingBefore` take an id and are exclusive, never both;
  `{"results", "hasMore"}`, newest first by createdAt, no sort parameter; `projectId` filter.
- Errors `{"status", "message", "errors"?}` (Error); a validation 400 says "There was a problem
  processing your request. See errors for more details." with one string per problem
  ("'name' is required"). 403: a feature switched off for the workspace, not a permission
  (Forbidden), answered by the operations that declare it: listProjectInvoiceMilestones and
  createProjectInvoiceMilestone when `invoice_milestones` is off, createProjectProductItem when
  `product_items` is (admin setting `disabled_features`). 423 "API access is disabled, please
  contact support for assistance." (Locked; admin setting `api_access_enabled`). 429 `{"status":
  429, "message": "Too many requests"}` with no Retry-After; 20 requests a second with a burst
  of 60, shared by every key of the workspace (x-rate-limit).
- Project billing types `tm`, `fixed`, `fixed_recurring` (and `non_billable`, whose id string
  the spec marks assumed).

Assumed (here and nowhere else). Operations the spec marks `x-evidence: assumed`:

| operation                     | what this emulator does                                  |
|-------------------------------|----------------------------------------------------------|
| deleteProjectInvoiceMilestone | DELETE answers 204 with no body; 409 when invoiced       |
| listProjectProductItems       | as listProjectInvoiceMilestones; no 403 (none declared)  |
| getProjectProductItem         | the object as created                                    |
| updateProjectProductItem      | PATCH of the create fields but projectId; 409 if invoiced |
| deleteProjectProductItem      | 204 with no body; 409 when invoiced                      |

And behaviour no page states:
- A broken milestone or product item rule (billing type, billable project, fee) answers 400
  with the validation message; 409 says "the resource is read-only" and is checked before the
  body is validated.
- fee = quantity x rate is exact, with no rounding; on a product item a fee sent beside them
  must be equal in value (15000 and 15000.00 agree). Numbers are returned in their shortest
  form, as a JavaScript server would send them: 1600.00 reads back as 1600, 1600.50 as 1600.5.
- On update, changing quantity or rate without sending fee recomputes the fee; sending fee
  alone on an object that has quantity and rate must agree with them; `null` for both quantity
  and rate makes the object fee-only and keeps its fee.
- `null` on create means the field was not sent. Numbers sent as strings are refused. Fields the
  endpoint does not know are refused ("'x' is not a valid field"). Any `projectId` in an update is
  refused with "projectId cannot be changed", even the current one.
- A product item's description has no length limit; empty or blank text counts as missing.
- An unknown or malformed cursor answers 400; a well-formed projectId filter that matches no
  project gives an empty list. Unknown query parameters are ignored.
- 423 is answered by every operation (the spec declares it on three, but API access is switched
  off for the whole workspace); requests refused with 401 are not counted by the rate limit
  (they name no workspace). The sandbox is one workspace.
- Exact wording of the other messages, and of 403 ("The requested feature is not enabled for
  this workspace."). The body's Content-Type is not checked.
- Within one millisecond, list order falls back to the id (descending, like createdAt).
- A trailing slash is a different path (404), not a redirect.
- Projects carry the subset of Ruddr's project fields that billing needs; clients are embedded in
  projects, and seeding two projects with the same client name gives them the same client.
- Milestone and product item ids in paths and bodies are matched case-insensitively (as UUIDs).
"""

from __future__ import annotations

import functools
import re
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .base import Emulator
from .kit import admin, forms, wire
from .kit.errors import AdminError, ApiError
from .kit.routing import Collection, collection_routes
from .kit.settings import Settings
from .kit.store import Table
from .kit.wire import Json, JSONBody, canonical_uuid, is_number, plain_number, shaped
from .seeding import Body, Bootstrap, Item, Lock, Objects, Seeding

API_ROOT = "/api/workspace"
BILLING_TYPES = ("tm", "fixed", "fixed_recurring", "non_billable")
VALIDATION_MESSAGE = "There was a problem processing your request. See errors for more details."
STATUS_MESSAGES = {
    400: "Bad request",
    401: "The provided bearer token is missing or invalid.",
    403: "The requested feature is not enabled for this workspace.",
    404: "The resource or endpoint does not exist.",
    405: "The endpoint does not support this method.",
    409: "the resource is read-only",
    423: "API access is disabled, please contact support for assistance.",
    429: "Too many requests",
    500: "Something went wrong.",
}
FEATURES = ("invoice_milestones", "product_items")
PAGE_LIMITS = range(1, 101)
DEFAULT_PAGE_LIMIT = 10

EXACT = Context(prec=1000)

PROJECTS = Table("ruddr_projects")
INVOICE_ITEMS = Table("ruddr_invoice_items", indexed=("name",))
PROJECT_SHAPE = (
    "id",
    "key",
    "name",
    "statusId",
    "start",
    "end",
    "billingTypeId",
    "isBillable",
    "currency",
    "recordStatusId",
    "createdAt",
    "client",
)
INVOICE_ITEM_SHAPE = ("id", "name", "isActive", "typeId", "readOnly", "createdAt")


@dataclass(frozen=True)
class ChargeKind:
    """One of Ruddr's dated project charges, as the wire sees it."""

    path: str
    noun: str
    table: Table
    label: str
    label_limit: int | None
    type_ids: tuple[str, ...]
    eligible: Callable[[Mapping[str, Json]], bool]
    ineligible: str
    shape: tuple[str, ...]
    # The workspace feature behind these objects, and the methods on the collection whose
    # operations declare 403 for it in the spec (only those answer it here).
    feature: str
    forbidden: frozenset[str]
    # MilestoneCreate's oneOf: `fee` alone, or `quantity` and `rate` without it.
    fee_or_pair: bool

    @property
    def writable(self) -> frozenset[str]:
        """The fields an update may send."""
        fields = {"date", "quantity", "rate", "fee", "invoiceItemId", self.label}
        return frozenset(fields | ({"typeId"} if self.type_ids else set()))

    @property
    def creatable(self) -> frozenset[str]:
        return self.writable | {"projectId"}


MILESTONES = ChargeKind(
    path="project-invoice-milestones",
    noun="project invoice milestone",
    table=Table("ruddr_project_invoice_milestones", indexed=("projectId",)),
    label="name",
    label_limit=255,
    type_ids=("custom", "recurring"),
    eligible=lambda project: project["billingTypeId"] in ("fixed", "fixed_recurring"),
    ineligible=(
        "Invoice milestones are only available for projects with a billing type of 'fixed' or "
        "'fixed_recurring'; project '{name}' has billing type '{billingTypeId}'."
    ),
    shape=(
        "id",
        "typeId",
        "date",
        "quantity",
        "rate",
        "fee",
        "name",
        "createdAt",
        "invoiceItem",
        "project",
        "invoiced",
    ),
    feature="invoice_milestones",
    forbidden=frozenset({"GET", "POST"}),  # listProjectInvoiceMilestones, create...
    fee_or_pair=True,
)

PRODUCT_ITEMS = ChargeKind(
    path="project-product-items",
    noun="project product item",
    table=Table("ruddr_project_product_items", indexed=("projectId",)),
    label="description",
    label_limit=None,
    type_ids=(),
    eligible=lambda project: bool(project["isBillable"]),
    ineligible="Product items are only available for billable projects; project '{name}' is not.",
    shape=(
        "id",
        "date",
        "quantity",
        "rate",
        "fee",
        "description",
        "createdAt",
        "project",
        "invoiceItem",
        "invoiced",
    ),
    feature="product_items",
    forbidden=frozenset({"POST"}),  # createProjectProductItem
    fee_or_pair=False,
)

CHARGE_KINDS = (MILESTONES, PRODUCT_ITEMS)


@dataclass(frozen=True)
class RuddrSettings(Settings):
    """The common settings, and the workspace features switched off (403, Forbidden)."""

    disabled_features: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Json]:
        return {**super().as_json(), "disabled_features": list(self.disabled_features)}


def _disabled_features(features: Json) -> dict[str, Json]:
    if not (isinstance(features, list) and all(f in FEATURES for f in features)):
        raise AdminError(
            400, f"disabled_features must be a list of features from: {', '.join(FEATURES)}"
        )
    return {"disabled_features": tuple(dict.fromkeys(features))}


# ruddr.openapi.yml x-rate-limit: 20 requests a second, a burst of 60, per workspace.
DEFAULT_SETTINGS = RuddrSettings(rate_limit_per_second=20, burst=60)


# --------------------------------------------------------------------------------------------
# Reading request bodies


def _present(value: Json) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# Text counts as missing when blank; other fields only when absent or null.
REQUIRED: forms.Check = (_present, "'{name}' is required")
GIVEN: forms.Check = (lambda value: value is not None, "'{name}' is required")


@dataclass
class Form(forms.Form):
    """A Ruddr request body: problems are plain sentences, answered as one validation 400."""

    wording = forms.BodyWording(
        not_json="The request body is not valid JSON.",
        not_object="The request body must be a JSON object.",
    )

    def refusal(self, problems: Sequence[forms.Problem]) -> ApiError:
        return ApiError(400, VALIDATION_MESSAGE, [problem.message for problem in problems])

    def refuse_unknown(self, known: frozenset[str]) -> None:
        for name in self.body:
            if name not in known:
                self.problem(name, f"'{name}' is not a valid field")

    def text(self, name: str, *, limit: int | None) -> str | None:
        return self.checked(
            name,
            self.body.get(name),
            [
                REQUIRED,
                (lambda value: isinstance(value, str), "'{name}' must be a string"),
                (
                    lambda value: limit is None or len(value) <= limit,
                    f"'{{name}}' must be at most {limit} characters",
                ),
            ],
        )

    def date(self, name: str) -> str | None:
        return self.checked(
            name,
            self.body.get(name),
            [GIVEN, (wire.is_date, "'{name}' must be a valid date in the form YYYY-MM-DD")],
        )

    def number(self, name: str, *, nullable: bool = True) -> Decimal | None:
        value = self.body.get(name)
        if value is None and nullable:
            return None
        if self.checked(name, value, [(is_number, "'{name}' must be a number")]) is None:
            return None
        return Decimal(value)

    def choice(self, name: str, options: tuple[str, ...]) -> str | None:
        value = self.body.get(name, options[0])
        return self.checked(
            name,
            options[0] if value is None else value,
            [(lambda value: value in options, f"'{{name}}' must be one of: {', '.join(options)}")],
        )

    def reference(
        self, db: sqlite3.Connection, name: str, table: Table, noun: str
    ) -> dict[str, Json] | None:
        key = self.checked(
            name,
            self.body.get(name),
            [
                GIVEN,
                (lambda value: canonical_uuid(value) is not None, "'{name}' must be a valid UUID"),
            ],
        )
        if key is None:
            return None
        found = table.get(db, canonical_uuid(key) or "")
        if found is None:
            self.problem(name, f"'{name}' does not refer to an existing {noun}")
        return found

    def amounts(
        self,
        read: Callable[[], tuple[Decimal | None, Decimal | None, Decimal | None]],
        *,
        fee_or_pair: bool = False,
    ) -> Amounts | None:
        """Quantity, rate and fee as `read` finds them, held to the money rule; the rule is not
        applied to numbers that could not be read. `fee_or_pair` refuses all three at once."""
        before = len(self.problems)
        quantity, rate, fee = read()
        if len(self.problems) > before:
            return None
        if fee_or_pair and None not in (quantity, rate, fee):
            self.problem(
                "fee",
                "'fee' cannot be sent with 'quantity' and 'rate': send either 'fee', or "
                "'quantity' and 'rate'",
            )
            return None
        settled = settle(quantity, rate, fee)
        if isinstance(settled, str):
            self.problem("fee", settled)
            return None
        return settled


@dataclass(frozen=True)
class Amounts:
    quantity: Decimal | None
    rate: Decimal | None
    fee: Decimal


def settle(quantity: Decimal | None, rate: Decimal | None, fee: Decimal | None) -> Amounts | str:
    """Ruddr's money rule: quantity and rate come together and make the fee; without them the
    fee is required. Returns the amounts, or what is wrong with them."""
    if quantity is not None and rate is None:
        return "'rate' is required when 'quantity' is provided"
    if rate is not None and quantity is None:
        return "'quantity' is required when 'rate' is provided"
    if quantity is None or rate is None:
        if fee is None:
            return "'fee' is required when 'quantity' and 'rate' are not provided"
        return Amounts(None, None, fee)
    product = EXACT.multiply(quantity, rate)
    if fee is not None and fee != product:
        return (
            f"'fee' must equal 'quantity' x 'rate' ({quantity} x {rate} = "
            f"{plain_number(product)}), not {fee}"
        )
    return Amounts(quantity, rate, product)


def _stored_number(value: Json) -> Decimal | None:
    return None if value is None else Decimal(value)


def _wire(value: Decimal | None) -> int | Decimal | None:
    return None if value is None else plain_number(value)


# --------------------------------------------------------------------------------------------
# Shaping stored documents into wire objects


def project_ref(project: Mapping[str, Json] | None) -> dict[str, Json] | None:
    if project is None:
        return None
    return {"id": project["id"], "name": project["name"], "client": project["client"]}


def invoice_item_ref(item: Mapping[str, Json] | None) -> dict[str, Json] | None:
    return None if item is None else {"id": item["id"], "name": item["name"]}


def newest_first(docs: list[dict[str, Json]]) -> list[dict[str, Json]]:
    """Documents listed by creation time, newest first (the reverse of the store's order)."""
    return docs[::-1]


def render_charge(
    db: sqlite3.Connection, doc: Mapping[str, Json], *, kind: ChargeKind
) -> dict[str, Json]:
    joined = {
        **doc,
        "project": project_ref(PROJECTS.get(db, str(doc["projectId"]))),
        "invoiceItem": invoice_item_ref(INVOICE_ITEMS.get(db, str(doc["invoiceItemId"]))),
    }
    return shaped(joined, kind.shape)


# --------------------------------------------------------------------------------------------
# The emulator


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: str | None
    before: str | None


def page_request(request: Request) -> PageRequest:
    query = request.query_params
    raw_limit = query.get("limit")
    limit = DEFAULT_PAGE_LIMIT
    if raw_limit is not None:
        # isascii: str.isdigit holds for "³", which int() refuses, and for "٣", which it reads
        if not (raw_limit.isascii() and raw_limit.isdigit() and int(raw_limit) in PAGE_LIMITS):
            raise ApiError(400, "Parameter 'limit' must be a whole number from 1 to 100.")
        limit = int(raw_limit)
    after = query_uuid(request, "startingAfter")
    before = query_uuid(request, "endingBefore")
    if after is not None and before is not None:
        raise ApiError(
            400, "Parameters 'startingAfter' and 'endingBefore' cannot be used together."
        )
    return PageRequest(limit=limit, after=after, before=before)


def query_uuid(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    key = canonical_uuid(raw)
    if key is None:
        raise ApiError(400, f"Parameter '{name}' is not a valid UUID.")
    return key


def path_uuid(request: Request) -> str:
    key = canonical_uuid(request.path_params["id"])
    if key is None:
        raise ApiError(400, "Parameter 'id' is not a valid UUID.")
    return key


class RuddrEmulator(Emulator):
    vendor: ClassVar[str] = "ruddr"  # the plan's provider type it emulates
    # bootstrap: declared at the end of this module, after what it refers to
    api_root: ClassVar[str] = API_ROOT
    list_rows = "results"  # where a list page keeps its rows
    tables = (PROJECTS, INVOICE_ITEMS, *(kind.table for kind in CHARGE_KINDS))
    default_settings = DEFAULT_SETTINGS
    status_messages = STATUS_MESSAGES
    stamp = wire.millis_z  # createdAt: UTC with milliseconds and a Z
    id_refusal = "id must be a UUID, as Ruddr's ids are (got {wanted!r})"

    def error_body(self, status: int, message: str | None, errors: Sequence[Json]) -> Json:
        body: dict[str, Json] = {"status": status, "message": message or self.message_for(status)}
        if errors:
            body["errors"] = list(errors)
        return body

    def vendor_routes(self) -> list[BaseRoute]:
        return collection_routes(
            [
                Collection("/projects", listing=self.list_projects, read=self.get_project),
                Collection(
                    "/invoice-items", listing=self.list_invoice_items, read=self.get_invoice_item
                ),
                *(
                    Collection(
                        f"/{kind.path}",
                        listing=functools.partial(self.list_charges, kind),
                        create=functools.partial(self.create_charge, kind),
                        read=functools.partial(self.get_charge, kind),
                        update=functools.partial(self.update_charge, kind),
                        delete=functools.partial(self.delete_charge, kind),
                    )
                    for kind in CHARGE_KINDS
                ),
            ]
        )

    # ---- projects and invoice items (read-only) -----------------------------------------

    async def list_projects(self, request: Request) -> Response:
        return self._list(request, PROJECTS, {}, lambda db, doc: shaped(doc, PROJECT_SHAPE))

    async def get_project(self, request: Request) -> Response:
        return self._get(request, PROJECTS, "Project", lambda db, doc: shaped(doc, PROJECT_SHAPE))

    async def list_invoice_items(self, request: Request) -> Response:
        name = request.query_params.get("name")
        where = {} if name is None else {"name": name}
        return self._list(
            request, INVOICE_ITEMS, where, lambda db, doc: shaped(doc, INVOICE_ITEM_SHAPE)
        )

    async def get_invoice_item(self, request: Request) -> Response:
        return self._get(
            request,
            INVOICE_ITEMS,
            "Invoice item",
            lambda db, doc: shaped(doc, INVOICE_ITEM_SHAPE),
        )

    # ---- milestones and product items ---------------------------------------------------

    async def list_charges(self, kind: ChargeKind, request: Request) -> Response:
        self._check_feature(kind, "GET")
        project = query_uuid(request, "projectId")
        where = {} if project is None else {"projectId": project}
        return self._list(request, kind.table, where, functools.partial(render_charge, kind=kind))

    async def get_charge(self, kind: ChargeKind, request: Request) -> Response:
        return self._get(
            request, kind.table, kind.noun.capitalize(), functools.partial(render_charge, kind=kind)
        )

    async def create_charge(self, kind: ChargeKind, request: Request) -> Response:
        self._check_feature(kind, "POST")
        form = Form(Form.wording.object(await request.body()))
        form.refuse_unknown(kind.creatable)
        with self.store.transaction() as db:
            project = form.reference(db, "projectId", PROJECTS, "project")
            item = form.reference(db, "invoiceItemId", INVOICE_ITEMS, "invoice item")
            day = form.date("date")
            label = form.text(kind.label, limit=kind.label_limit)
            type_id = form.choice("typeId", kind.type_ids) if kind.type_ids else None
            amounts = form.amounts(
                lambda: (form.number("quantity"), form.number("rate"), form.number("fee")),
                fee_or_pair=kind.fee_or_pair,
            )
            if project is not None and not kind.eligible(project):
                form.problem("projectId", kind.ineligible.format(**project))
            form.check()
            assert project is not None and item is not None and isinstance(amounts, Amounts)
            doc: dict[str, Json] = {
                "id": str(uuid.uuid4()),
                "date": day,
                "quantity": _wire(amounts.quantity),
                "rate": _wire(amounts.rate),
                "fee": _wire(amounts.fee),
                kind.label: label,
                "createdAt": self.now(),
                "projectId": project["id"],
                "invoiceItemId": item["id"],
                "invoiced": False,
            }
            if kind.type_ids:
                doc["typeId"] = type_id
            kind.table.insert(db, doc)
            return JSONBody(render_charge(db, doc, kind=kind))

    async def update_charge(self, kind: ChargeKind, request: Request) -> Response:
        key = path_uuid(request)
        raw = await request.body()
        with self.store.transaction() as db:
            doc = self._writable(db, kind, key)
            form = Form(Form.wording.object(raw))
            if "projectId" in form.body:
                form.problem("projectId", "projectId cannot be changed")
            form.refuse_unknown(kind.writable | {"projectId"})
            changes = self._read_changes(db, kind, form)
            amounts = form.amounts(lambda: self._merged_amounts(doc, form))
            form.check()
            assert isinstance(amounts, Amounts)
            updated = {
                **doc,
                **changes,
                "quantity": _wire(amounts.quantity),
                "rate": _wire(amounts.rate),
                "fee": _wire(amounts.fee),
            }
            kind.table.replace(db, updated)
            return JSONBody(render_charge(db, updated, kind=kind))

    async def delete_charge(self, kind: ChargeKind, request: Request) -> Response:
        key = path_uuid(request)
        with self.store.transaction() as db:
            self._writable(db, kind, key)
            kind.table.delete(db, key)
        return Response(status_code=204)

    def _check_feature(self, kind: ChargeKind, method: str) -> None:
        assert isinstance(self.settings, RuddrSettings)
        if kind.feature in self.settings.disabled_features and method in kind.forbidden:
            raise ApiError(403, STATUS_MESSAGES[403])

    def setting_readers(self) -> Mapping[str, Callable[[Json], Mapping[str, Json]]]:
        return {"disabled_features": _disabled_features}

    def _writable(self, db: sqlite3.Connection, kind: ChargeKind, key: str) -> dict[str, Json]:
        doc = kind.table.get(db, key)
        if doc is None:
            raise ApiError(404, f"{kind.noun.capitalize()} not found.")
        if doc.get("invoiced"):
            raise ApiError(409, STATUS_MESSAGES[409])
        return doc

    @staticmethod
    def _read_changes(db: sqlite3.Connection, kind: ChargeKind, form: Form) -> dict[str, Json]:
        """The non-money fields an update sends, validated as on create."""
        changes: dict[str, Json] = {}
        if "invoiceItemId" in form.body:
            item = form.reference(db, "invoiceItemId", INVOICE_ITEMS, "invoice item")
            changes["invoiceItemId"] = None if item is None else item["id"]
        if "date" in form.body:
            changes["date"] = form.date("date")
        if kind.label in form.body:
            changes[kind.label] = form.text(kind.label, limit=kind.label_limit)
        if kind.type_ids and "typeId" in form.body:
            changes["typeId"] = form.choice("typeId", kind.type_ids)
        return changes

    @staticmethod
    def _merged_amounts(
        doc: Mapping[str, Json], form: Form
    ) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """Quantity, rate and fee after the update, before the money rule is checked. A new
        quantity or rate without a fee means 'recompute the fee'."""
        body = form.body
        quantity = (
            form.number("quantity") if "quantity" in body else _stored_number(doc["quantity"])
        )
        rate = form.number("rate") if "rate" in body else _stored_number(doc["rate"])
        if "fee" in body:
            return quantity, rate, form.number("fee", nullable=False)
        priced = quantity is not None and rate is not None
        if priced and ("quantity" in body or "rate" in body):
            return quantity, rate, None
        return quantity, rate, _stored_number(doc["fee"])

    # ---- shared read paths ----------------------------------------------------------------

    def _list(
        self,
        request: Request,
        table: Table,
        where: Mapping[str, str],
        render: Callable[[sqlite3.Connection, dict[str, Json]], dict[str, Json]],
    ) -> Response:
        wanted = page_request(request)
        with self.store.transaction() as db:
            after = self._cursor(db, table, "startingAfter", wanted.after)
            before = self._cursor(db, table, "endingBefore", wanted.before)
            page = table.page(db, where=where, limit=wanted.limit, after=after, before=before)
            results = [render(db, doc) for doc in page.results]
        return JSONBody({"results": results, "hasMore": page.has_more})

    @staticmethod
    def _cursor(
        db: sqlite3.Connection, table: Table, name: str, key: str | None
    ) -> tuple[str, str] | None:
        if key is None:
            return None
        position = table.sort_key(db, key)
        if position is None:
            raise ApiError(400, f"Parameter '{name}' does not refer to an existing object.")
        return position

    def _get(
        self,
        request: Request,
        table: Table,
        noun: str,
        render: Callable[[sqlite3.Connection, dict[str, Json]], dict[str, Json]],
    ) -> Response:
        key = path_uuid(request)
        with self.store.transaction() as db:
            doc = table.get(db, key)
            if doc is None:
                raise ApiError(404, f"{noun} not found.")
            return JSONBody(render(db, doc))

    # ---- admin: seeding and changes behind the client's back ------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        return collection_routes(
            [
                Collection(
                    "/projects",
                    listing=self.admin_listing(PROJECTS, PROJECT_SHAPE),
                    create=self.admin_add_project,
                ),
                Collection(
                    "/invoice-items",
                    listing=self.admin_listing(INVOICE_ITEMS, INVOICE_ITEM_SHAPE),
                    create=self.admin_add_invoice_item,
                ),
                *(
                    Collection(
                        f"/{kind.path}",
                        listing=self.admin_listing(
                            kind.table,
                            functools.partial(render_charge, kind=kind),
                            order=newest_first,
                        ),
                        create=functools.partial(self.admin_add_charge, kind),
                        update=functools.partial(self.admin_edit_charge, kind),
                        delete=self.admin_deletion(kind.table, kind.noun, key=canonical_uuid),
                        actions={"invoice": functools.partial(self.admin_invoice_charge, kind)},
                    )
                    for kind in CHARGE_KINDS
                ),
            ]
        )

    async def admin_add_project(self, request: Request) -> Response:
        body = await admin.admin_body(
            request, {"id", "name", "billingTypeId", "isBillable", "client", "currency", "statusId"}
        )
        name = admin.text(body, "name")
        billing_type = body.get("billingTypeId")
        if billing_type not in BILLING_TYPES:
            raise AdminError(400, f"billingTypeId must be one of {', '.join(BILLING_TYPES)}")
        billable = admin.flag("isBillable", body.get("isBillable", billing_type != "non_billable"))
        with self.store.transaction() as db:
            key = self.new_id(db, PROJECTS, body.get("id"))
            doc = {
                "id": key,
                "key": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or key,
                "name": name,
                "statusId": admin.text(body, "statusId", "in_progress"),
                "start": None,
                "end": None,
                "billingTypeId": billing_type,
                "isBillable": billable,
                "currency": admin.text(body, "currency", "USD"),
                "recordStatusId": "active",
                "createdAt": self.now(),
                "client": _client(db, body.get("client")),
            }
            PROJECTS.insert(db, doc)
        return JSONBody(shaped(doc, PROJECT_SHAPE), status_code=201)

    async def admin_add_invoice_item(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "name", "typeId", "isActive"})
        type_id = body.get("typeId", "income")
        if type_id not in ("income", "expense"):
            raise AdminError(400, "typeId must be income or expense")
        active = admin.flag("isActive", body.get("isActive", True))
        with self.store.transaction() as db:
            doc = self.admin_insert(
                db,
                INVOICE_ITEMS,
                body,
                lambda: {
                    "name": admin.text(body, "name"),
                    "isActive": active,
                    "typeId": type_id,
                    "readOnly": False,
                    "createdAt": self.now(),
                },
            )
        return JSONBody(shaped(doc, INVOICE_ITEM_SHAPE), status_code=201)

    async def admin_add_charge(self, kind: ChargeKind, request: Request) -> Response:
        """An object as a person would make it in Ruddr's UI: none of the API's rules apply but
        what the UI asks for too (a date, a name or description, an amount), and the references
        must exist so that the object can be shown."""
        body = await admin.admin_body(request, _admin_charge_fields(kind) | {"id"})
        with self.store.transaction() as db:
            doc: dict[str, Json] = {
                "id": self.new_id(db, kind.table, body.get("id")),
                "date": None,
                "quantity": None,
                "rate": None,
                "fee": None,
                kind.label: None,
                "createdAt": self.now(),
                "invoiced": False,
                **({"typeId": kind.type_ids[0]} if kind.type_ids else {}),
                **_admin_charge_changes(db, kind, body),
            }
            if doc["fee"] is None and doc["quantity"] is not None and doc["rate"] is not None:
                product = EXACT.multiply(Decimal(doc["quantity"]), Decimal(doc["rate"]))
                doc["fee"] = plain_number(product)
            for required in ("projectId", "invoiceItemId", "date", kind.label, "fee"):
                if doc.get(required) is None:
                    raise AdminError(400, f"{required} is required")
            kind.table.insert(db, doc)
            return JSONBody(render_charge(db, doc, kind=kind), status_code=201)

    async def admin_edit_charge(self, kind: ChargeKind, request: Request) -> Response:
        """Change any field, invoiced or not, as someone editing in Ruddr would."""
        body = await admin.admin_body(request, _admin_charge_fields(kind))
        with self.store.transaction() as db:
            doc = _admin_charge(db, kind, request)
            updated = {**doc, **_admin_charge_changes(db, kind, body)}
            kind.table.replace(db, updated)
            return JSONBody(render_charge(db, updated, kind=kind))

    async def admin_invoice_charge(self, kind: ChargeKind, request: Request) -> Response:
        with self.store.transaction() as db:
            doc = {**_admin_charge(db, kind, request), "invoiced": True}
            kind.table.replace(db, doc)
            return JSONBody(render_charge(db, doc, kind=kind))


# --------------------------------------------------------------------------------------------
# Admin helpers


def _client(db: sqlite3.Connection, wanted: Json) -> dict[str, Json]:
    """The project's client: the one named, reusing the id of a client already seen by name."""
    client = admin.admin_object({"name": "Sandbox client"} if wanted is None else wanted)
    admin.refuse_unknown(client, {"id", "name"})
    name = admin.text(client, "name")
    if client.get("id") is not None:
        key = canonical_uuid(client["id"])
        if key is None:
            raise AdminError(400, "client.id must be a UUID")
        return {"id": key, "name": name}
    for project in PROJECTS.all(db):
        if project["client"]["name"] == name:
            return dict(project["client"])
    return {"id": str(uuid.uuid4()), "name": name}


def _admin_charge_fields(kind: ChargeKind) -> frozenset[str]:
    return kind.creatable | {"createdAt", "invoiced"}


def _admin_charge(db: sqlite3.Connection, kind: ChargeKind, request: Request) -> dict[str, Json]:
    return admin.lookup(db, kind.table, kind.noun, request, key=canonical_uuid)


def _admin_charge_changes(
    db: sqlite3.Connection, kind: ChargeKind, body: Mapping[str, Json]
) -> dict[str, Json]:
    """Fields as sent, checked only for type, so the stored object can still be shown."""
    changes: dict[str, Json] = {}
    for name, value in body.items():
        if name == "id":
            continue
        if value is None and name in ("date", kind.label, "fee"):
            raise AdminError(400, f"{name} cannot be null: every {kind.noun} has one")
        if name in ("projectId", "invoiceItemId"):
            table = PROJECTS if name == "projectId" else INVOICE_ITEMS
            key = canonical_uuid(value)
            if key is None or table.get(db, key) is None:
                raise AdminError(400, f"{name} must be the id of a seeded object")
            value = key
        elif name in ("quantity", "rate", "fee"):
            if value is not None and not is_number(value):
                raise AdminError(400, f"{name} must be a number or null")
            value = None if value is None else plain_number(value)
        elif name == "invoiced":
            admin.flag(name, value)
        elif name == "createdAt":
            admin.millis_stamp(name, value)
        elif value is not None and not isinstance(value, str):
            raise AdminError(400, f"{name} must be a string or null")
        changes[name] = value
    return changes


# ---- the sandbox's bootstrap: what a plan needs here, and how a person locks ----------------
# Declared after the emulator it belongs to (bootstrap.py reads it from the class).


def _project_body(project_id: str, items: list[Item], plan: Seeding) -> Body:
    # Milestones need a fixed-fee billing type; recurring fees fit fixed_recurring.
    billing = "fixed_recurring" if any(i.kind == "recurring" for i in items) else "fixed"
    name = plan.project_name(items[0])
    return {"id": project_id, "name": name, "billingTypeId": billing, "isBillable": True,
            "currency": items[0].currency}  # fmt: skip


def _project(item: Item) -> str:
    return str(item.project_id).lower()  # a UUID, whatever its case in the plan


def _invoice_item(item: Item) -> str | None:
    wanted = item.options.get("invoice_item")
    return str(wanted).lower() if wanted else None


def _invoice_item_body(invoice_item: str, _items: list[Item], _plan: Seeding) -> Body:
    return {"id": invoice_item, "name": "Services"}


RuddrEmulator.bootstrap = Bootstrap(
    title="Ruddr",
    seeds=(
        Objects("projects", "project", _project_body, "{id} ({name}, {billingTypeId})", _project),
        Objects("invoice-items", "invoice item", _invoice_item_body, key=_invoice_item),
    ),
    locks={
        "ruddr_invoice_milestone": Lock("project-invoice-milestones/{id}/invoice"),
        "ruddr_product_item": Lock("project-product-items/{id}/invoice"),
    },
)
