"""The Coperniq emulator: the operations billplan uses of Coperniq's public API under `/v1`,
the projects, accounts and catalog items invoices are made from, and an admin surface that
seeds them and moves invoices through their lifecycle behind the client's back.

From the vendor's spec (`api/specs/coperniq.openapi.yml`, by operationId, unless said otherwise):
- Auth is the `x-api-key` header (coperniq.auth.yml, ApiKeyAuth); a missing or unknown key is
  401 (coperniq.errors.yml).
- create-invoice `POST /invoices` answers 201 with the Invoice; get-invoice
  `GET /invoices/{invoiceId}` and update-invoice `PATCH /invoices/{invoiceId}` answer 200;
  delete-invoice `DELETE /invoices/{invoiceId}` answers 200 with no body described;
  get-project-invoices `GET /projects/{projectId}/invoices` answers
  `{items, page, page_size, has_more}`; list-catalog-items `GET /catalog-items` answers a bare
  array of CatalogItem and takes no paging parameters; list-projects `GET /projects` answers a
  bare array of Project, paged by `page` and `page_size` like the invoice lists; it declares
  no 400, so a paging parameter it cannot read counts as left out (assumed).
- Ids are integers: invoice `id`, invoice number `uid`, `recordId`, `catalogItemId`, line ids.
- InvoiceCreate: `recordId` (a project or an account) and `calculationMethod` (LINE_ITEMS |
  PERCENTAGE) are required. LINE_ITEMS takes `lineItems` and/or `sections` (InvoiceSection:
  `{id?, name?, lineItems}`, a name of 1-500 characters or null for an unnamed section, at least
  one line each) and at least one line in all; PERCENTAGE takes `percentage` and no lines.
  `status` defaults to DRAFT; SENT, PARTIALLY_PAID and PAID need `issueDate`, which a DRAFT
  ignores; DECLINED and OVERDUE cannot be set at creation. `description` may be null.
- InvoiceLineItemCreate: `catalogItemId` (integer), `quantity` (integer), `unitCost` and
  `unitPrice` (numbers; unitPrice may be negative, for a discount) are required; `description`
  is optional and may be null; `id` is 0, the default, for a new line. A catalogItemId appears
  at most once across an invoice's flattened lines and sections, on create and on update.
- InvoiceUpdate: every field is optional: `status` (any of the six), `lineItems`, `sections`,
  `dueDate`, `description`. `calculationMethod` cannot be changed after creation, and neither
  can `percentage`, `recordId` or `issueDate`: InvoiceUpdate has none of them (update-invoice's
  prose still lists calculationMethod and percentage; the schema wins, as the contract says).
- Dates (`dueDate`, `issueDate`, `createdAt`, `updatedAt`, the list's `updated_after` and
  `updated_before`) are ISO 8601 date-times.
- The Invoice: id, uid, description, type, status, basedOnId, basedOnUid, dueDate, amount
  (computed by the server), amountPaid, isArchived, sharedWithPortal, calculationMethod,
  percentage, baseAmount, createdAt, updatedAt, account `{id, title}`, record `{id, title}`, and
  lineItems `[{id, catalogItemId, quantity, unitCost, unitPrice, description, catalogItem}]`:
  no issueDate, no title, no section names (lines read back flat).
- Invoice lists take `page` (1-based, default 1), `page_size` (default 20, at most 100),
  `order_by` (asc, the default, | desc), `updated_after`, `updated_before`.
- Errors are `{message, code, field?}`, `field` naming the offending field of a 400
  (coperniq.errors.yml). The spec gives each operation one `code` value, shared by every error
  status it declares (create-invoice and list-catalog-items: UNAUTHORIZED, even on a 400; the id
  routes and the project list: NOT_FOUND); a status an operation declares answers with exactly
  that code (OPERATIONS). Declared: create 400/401; get and delete 401/404; update and the
  project list 400/401/404; list-catalog-items 401.
- Rate limits (coperniq.rate-limits.yml): 100 requests a second AND 5,000 a day, each per key,
  either answering 429; responses carry `X-RateLimit-Limit` and `X-RateLimit-Remaining`. A key
  without access to a resource gets 403 (coperniq.errors.yml).

Assumed (the spec is silent; chosen here and nowhere else):
- Lock: only a DRAFT's lines, sections, due date and description can change. A PATCH
  of a SENT, PAID, ... invoice that sends anything but `status` answers 400 (field `status`). A
  PATCH may move any invoice to any status: leaving DRAFT issues it now, DRAFT un-issues it,
  PAID pays it in full. DELETE removes an invoice whatever its status: delete-invoice declares
  no status to refuse with (401 and 404 only). billplan never deletes a locked invoice.
- PATCH `lineItems` / `sections` replace every line (an unsent one counts as empty) and must
  leave at least one. A line sent with the `id` of one of the invoice's lines keeps that id; a
  section sent with an `id` must be one of the invoice's sections. Any other id answers 400.
- A catalogItemId must name a catalog item of the company (400 otherwise). quantity must be at
  least 1; a negative amount is a negative unitPrice. A whole number written 3.0 is an integer.
- Money is in major units and exact: a line is quantity x unitPrice, the amount their sum, no
  rounding. PERCENTAGE: amount = percentage/100 x the project's contract value, rounded half-up
  to cents; `baseAmount` is that contract value, `lineItems` empty. A record without a contract
  value (every account, a project seeded without one) cannot take a PERCENTAGE invoice (400).
  `percentage` at least 0, no upper bound; null with `baseAmount` on LINE_ITEMS invoices.
- Every problem in a request is found at once: `message` lists them all, `field` is the first
  one's. Wording is ours. A status an operation does not declare (403, 429, 5xx, an unknown path
  or method) carries the code of the status (STATUS_CODES).
- Fields an endpoint does not know are refused (400), on the invoice, its sections and its
  lines; a number sent as a string is refused; only `description` may be null. An empty body
  reads as `{}`. A path id that is not an integer is an unknown object (404).
- `recordId` naming no project or account answers 400. Projects and accounts share one id
  sequence. `record` is `{id, title}` of the record; `account` is that record when it is an
  account, else the project's account, else null. `type` is INVOICE; `basedOnId`, `basedOnUid`
  null; `isArchived`, `sharedWithPortal` false; dueDate absent until set. amountPaid is 0, or
  the whole amount for an invoice created PAID. Invoice ids and numbers are separate sequences,
  never reused; numbers start at 1001 so an id is never mistaken for one. Line and section ids
  have sequences of their own.
- Dates must be RFC 3339 date-times with `Z` or an offset, and fall in the years 1 to 9999
  once in UTC; they are validated even where ignored (a DRAFT's issueDate) and read back in UTC
  with milliseconds, as JavaScript's toISOString writes them. Numbers read back in their
  shortest form (1600.00 -> 1600).
- Lists are ordered by id (`order_by` asc or desc); a page past the end is empty; `page` below 1
  or `page_size` outside 1..100 answers 400; unknown parameters are ignored. An unknown project,
  or an account's id, answers 404. `GET /catalog-items` lists every item by id.
- Rate-limit headers report the rolling 24 hours: Limit is the daily limit, Remaining what the
  key has left after this request. On every vendor-path response (not admin routes). A request
  counts when both limits let it through: a 429 spends nothing and reports what was left before
  it; a 401 spends nothing and reports the full limit; a 403 (API access switched off in the
  sandbox settings) spends nothing and reports the key's remaining. When both limits are
  reached, the 429 names the daily one. No Retry-After. The per-second limit is a token bucket
  of 100 per key; the rolling window frees each request 24 hours after it was served. Both are
  sandbox settings; usage belongs to the running process.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, ClassVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from .base import Emulator, route_path
from .kit import admin, forms, wire
from .kit.errors import AdminError, ApiError
from .kit.forms import Problem
from .kit.limits import RollingWindow
from .kit.routing import Collection, collection_routes, routes_from
from .kit.settings import Settings
from .kit.store import Counter, Table
from .kit.wire import Json, JSONBody, by_id, is_id, is_number, is_whole, plain_number, shaped
from .seeding import Body, Bootstrap, Item, Lock, Objects, Seeding

API_ROOT = "/v1"

STATUSES = ("DRAFT", "SENT", "DECLINED", "PAID", "PARTIALLY_PAID", "OVERDUE")
# Statuses a create may ask for (InvoiceCreateStatus), and those that need an issueDate.
CREATABLE_STATUSES = ("DRAFT", "SENT", "PARTIALLY_PAID", "PAID")
ISSUED_STATUSES = ("SENT", "PARTIALLY_PAID", "PAID")
EDITABLE_STATUSES = ("DRAFT",)
CALCULATION_METHODS = ("LINE_ITEMS", "PERCENTAGE")

CREATE_FIELDS = frozenset(
    {
        "recordId",
        "calculationMethod",
        "lineItems",
        "sections",
        "percentage",
        "status",
        "issueDate",
        "dueDate",
        "description",
    }
)
PATCH_FIELDS = frozenset({"status", "lineItems", "sections", "dueDate", "description"})
# Sent on PATCH, these are refused by name rather than as unknown.
FIXED_FIELDS = frozenset({"recordId", "calculationMethod", "percentage"})
LINE_ITEM_FIELDS = frozenset(
    {"id", "catalogItemId", "quantity", "unitCost", "unitPrice", "description"}
)
SECTION_FIELDS = frozenset({"id", "name", "lineItems"})
SECTION_NAME_LENGTH = range(1, 501)

INVOICE_SHAPE = (
    "id",
    "uid",
    "description",
    "type",
    "status",
    "basedOnId",
    "basedOnUid",
    "dueDate",
    "amount",
    "amountPaid",
    "isArchived",
    "sharedWithPortal",
    "calculationMethod",
    "percentage",
    "baseAmount",
    "createdAt",
    "updatedAt",
    "account",
    "record",
    "lineItems",
)
LINE_ITEM_SHAPE = ("id", "catalogItemId", "quantity", "unitCost", "unitPrice", "description")
CATALOG_ITEM_SHAPE = (
    "id",
    "name",
    "catalog",
    "type",
    "category",
    "manufacturer",
    "sku",
    "code",
    "cost",
    "price",
    "description",
    "image",
    "isArchived",
    "createdById",
    "createdAt",
    "updatedAt",
    "preferredVendorId",
)
INVOICE_DEFAULTS: Mapping[str, Json] = {
    "type": "INVOICE",
    "basedOnId": None,
    "basedOnUid": None,
    "isArchived": False,
    "sharedWithPortal": False,
}
PROJECT_SHAPE = ("id", "title", "contractValue", "accountId", "createdAt")
ACCOUNT_SHAPE = ("id", "title", "createdAt")
PROJECT, ACCOUNT = "PROJECT", "ACCOUNT"

# CatalogItemType, TradeGroup, ProductCategory and ServiceCategory, as the spec lists them
# (SIM905: a word list reads like the spec's enum; a literal would take a line per word).
CATALOG_TYPES = ("PRODUCT", "SERVICE")
TRADE_GROUPS = tuple(
    "ENERGY MECHANICAL ELECTRICAL PLUMBING LOW_VOLTAGE ENVELOPE OTHER".split()  # noqa: SIM905
)
CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "PRODUCT": tuple(
        """BATTERY_SYSTEM BATTERY_MANAGEMENT_SYSTEM CHARGING_GATEWAY COMBINER_BOX EV_CHARGER
        LOAD_CENTER MICROINVERTER MOUNTING POWER_OPTIMIZER PRODUCTION_METER PV_INVERTER PV_MODULE
        RACKING RAPID_SHUTDOWN_DEVICE TRACKER WEATHER_STATION AIR_CONDITIONER AIR_HANDLING_UNIT
        BOILER CHILLER COOLING_TOWER FAN HEAT_EXCHANGER HEAT_PUMP MAKE_UP_AIR_UNIT PUMP
        ROOFTOP_UNIT THERMOSTAT VARIABLE_FREQUENCY_DRIVE AUTOMATIC_TRANSFER_SWITCH BREAKER
        DISCONNECT_SWITCH ELECTRIC_METER GENERATOR LIGHTING_PANEL PANELBOARD SWITCHGEAR
        TRANSFORMER UNINTERRUPTIBLE_POWER_SUPPLY WIRE BACKFLOW_PREVENTER BOOSTER_PUMP
        GREASE_INTERCEPTOR STORAGE_TANK SUMP_PUMP VALVE WATER_FILTRATION_SYSTEM WATER_HEATER
        WATER_SOFTENER ACCESS_CONTROLLER AUTOMATION_CONTROLLER CAMERA CARD_READER DOOR_STRIKE
        MAGLOCK NETWORK_SWITCH NETWORK_VIDEO_RECORDER SENSOR WIRELESS_ACCESS_POINT ROOF_COVERING
        ROOF_UNDERLAYMENT ROOF_MEMBRANE ROOF_FLASHING ROOF_VENT WALL_CLADDING WALL_TRIM
        WEATHER_BARRIER WINDOW EXTERIOR_DOOR SKYLIGHT OPENING_FLASHING GUTTER DOWNSPOUT
        INSULATION SEALANT SHEATHING OTHER""".split()  # noqa: SIM905
    ),
    "SERVICE": tuple(
        """ADJUSTMENT BALANCING CALIBRATION CLEANING COMMISSIONING DECOMMISSIONING DIAGNOSTICS
        ENGINEERING EQUIPMENT_RENTAL INSPECTION INSTALLATION MAINTENANCE MONITORING OPTIMIZATION
        PERMITTING RELOCATION REMOVAL REPAIR REPLACEMENT RETROFIT SITE_SURVEY TESTING TRAINING
        OTHER""".split()  # noqa: SIM905
    ),
}
# OTHER is in both category enums, so CatalogCategoryCode's oneOf refuses it (a defect of the
# spec): an item seeded without a category gets one that reads back valid.
DEFAULT_CATEGORIES: Mapping[str, str] = {"PRODUCT": "PV_MODULE", "SERVICE": "INSTALLATION"}


@dataclass(frozen=True)
class Operation:
    """One vendor operation: its method and route below the API root, its operationId (the
    emulator's handler is the operationId in snake case), the one error `code` its spec allows
    and the error statuses it declares."""

    method: str
    route: str
    operation_id: str
    code: str
    declared: frozenset[int]

    @property
    def path(self) -> re.Pattern[str]:
        """The route's paths: each `{parameter}` one path segment."""
        return re.compile(re.sub(r"\{[^}]+\}", "[^/]+", self.route))

    @property
    def handler(self) -> str:
        return self.operation_id.replace("-", "_")


OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/invoices", "create-invoice", "UNAUTHORIZED", frozenset({400, 401})),
    Operation("GET", "/invoices/{invoiceId}", "get-invoice", "NOT_FOUND", frozenset({401, 404})),
    Operation("PATCH", "/invoices/{invoiceId}", "update-invoice", "NOT_FOUND",
              frozenset({400, 401, 404})),
    Operation("DELETE", "/invoices/{invoiceId}", "delete-invoice", "NOT_FOUND",
              frozenset({401, 404})),
    Operation("GET", "/projects/{projectId}/invoices", "get-project-invoices", "NOT_FOUND",
              frozenset({400, 401, 404})),
    Operation("GET", "/catalog-items", "list-catalog-items", "UNAUTHORIZED", frozenset({401})),
    Operation("GET", "/projects", "list-projects", "UNAUTHORIZED", frozenset({401})),
)  # fmt: skip
# The code for a status the operation does not declare (assumed; 429, 500 and 502 are the
# codes other operations of the spec use for them).
STATUS_CODES: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
}
DEFAULT_MESSAGES: Mapping[int, str] = {
    401: "API key is missing or invalid: send a valid key in the x-api-key header.",
    403: "API key valid but does not have access to this resource.",
    404: "Resource not found.",
    405: "This path does not support that method.",
    429: "Rate limit exceeded for this API key.",
    500: "Internal server error.",
    502: "Bad gateway: an upstream service request failed.",
}

DEFAULT_PAGE_SIZE = 20
PAGE_SIZES = range(1, 101)
ORDERS = ("asc", "desc")

DAY_SECONDS = 24 * 60 * 60

CENT = Decimal("0.01")
EXACT = Context(prec=1000)
DATE_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})"
DATE_TIME_EXAMPLE = "2026-04-01T00:00:00.000Z"


@dataclass(frozen=True)
class CoperniqSettings(Settings):
    """Coperniq's settings add the rolling 24-hour limit to the common ones."""

    daily_limit: int = 5000

    def as_json(self) -> dict[str, Json]:
        return {**super().as_json(), "daily_limit": self.daily_limit}


def _daily_limit(daily: Json) -> dict[str, Json]:
    if not (is_whole(daily) and daily >= 1):
        raise AdminError(400, "daily_limit must be a whole number of at least 1")
    return {"daily_limit": int(daily)}


DEFAULT_SETTINGS = CoperniqSettings(rate_limit_per_second=100, burst=100, daily_limit=5000)

# Projects and accounts share the record ids; a reset counts every sequence from the start again.
RECORDS = Table("coperniq_records", indexed=("type",), counted=True)
INVOICES = Table("coperniq_invoices", indexed=("recordId", "uid"), counted=True)
CATALOG_ITEMS = Table("coperniq_catalog_items", counted=True)
INVOICE_NUMBERS = Counter("coperniq_invoice_numbers", first=1001)
LINE_ITEM_IDS = Counter("coperniq_line_items")
SECTION_IDS = Counter("coperniq_sections")
SANDBOX_USER = 1  # createdById of the catalog items the admin surface adds


# The X-RateLimit headers for the request being served; filled in by `admit`, sent with
# whatever response the request gets.
_QUOTA_HEADERS: ContextVar[list[tuple[bytes, bytes]] | None] = ContextVar(
    "coperniq_quota_headers", default=None
)
# The operation the request being served is, when it is one: its errors carry its code.
_OPERATION: ContextVar[Operation | None] = ContextVar("coperniq_operation", default=None)


def operation_of(method: str, path: str) -> Operation | None:
    """The operation a vendor-path request is, from its method and its path below the mount."""
    if not path.startswith(API_ROOT + "/"):
        return None
    below = path[len(API_ROOT) :]
    for operation in OPERATIONS:
        if operation.method == method and operation.path.fullmatch(below):
            return operation
    return None


# --------------------------------------------------------------------------------------------
# Reading request bodies


def parse_date_time(value: Json) -> str | None:
    """An RFC 3339 date-time in UTC with milliseconds, or None when `value` is not one, or is
    one that falls outside the years 1 to 9999 once in UTC."""
    if not (isinstance(value, str) and re.fullmatch(DATE_TIME, value)):
        return None
    try:
        return wire.millis_z(datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class SectionIn:
    """A section as sent: the id of one of the invoice's sections (PATCH), or None for new."""

    id: int | None
    name: str | None


@dataclass(frozen=True)
class LineItem:
    """A line as sent. `id` is one of the invoice's line ids (PATCH), or None for a new line;
    `section` indexes the request's sections, None for an ungrouped line."""

    id: int | None
    catalog_item_id: int
    quantity: int
    unit_cost: Decimal
    unit_price: Decimal
    description: str | None
    section: int | None

    @property
    def amount(self) -> Decimal:
        return EXACT.multiply(Decimal(self.quantity), self.unit_price)


@dataclass(frozen=True)
class Lines:
    """Every section and line a request carries, ungrouped lines first."""

    sections: tuple[SectionIn, ...]
    items: tuple[LineItem, ...]


REQUIRED: forms.Check = (lambda value: value is not None, "{name} is required")


@dataclass
class Form(forms.Form):
    """A request body read field by field; problems (field, message) are collected, then raised
    together. `catalog` holds the company's catalog item ids; `line_ids` and `section_ids` the
    invoice's own, which a PATCH may name."""

    wording = forms.BodyWording(
        not_json="The request body must be valid JSON.",
        not_object="The request body must be a JSON object.",
        empty_is_object=True,  # an empty body reads as {}
    )

    catalog: frozenset[int] = frozenset()
    line_ids: frozenset[int] = frozenset()
    section_ids: frozenset[int] = frozenset()
    # How many line items `lineItems` and `sections` held, valid or not.
    items_sent: int = 0

    def refusal(self, problems: Sequence[Problem]) -> ApiError:
        """Every problem in `message`; `field` (in error_response) from the first naming one."""
        failures = [problem.as_failure() for problem in problems]
        return ApiError(400, "; ".join(problem.message for problem in problems), failures)

    def refuse_unknown(self, known: frozenset[str], fixed: frozenset[str] = frozenset()) -> None:
        for name in self.body:
            if name in fixed:
                self.problem(name, f"{name} cannot be changed after creation")
            elif name not in known:
                self.problem(name, f"{name} is not a known field")

    def choice(self, name: str, options: Sequence[str]) -> str | None:
        one_of: forms.Check = (
            lambda value: value in options,
            f"{{name}} must be one of {', '.join(options)}",
        )
        value = self.checked(name, self.body.get(name), [REQUIRED, one_of])
        return None if value is None else str(value)

    def record_id(self) -> int | None:
        wording = "{name} must be an integer of at least 1"
        return self.checked("recordId", self.body.get("recordId"), [REQUIRED, (is_id, wording)])

    def text(self, name: str) -> str | None:
        """Optional text: a string, or null for none."""
        value = self.body.get(name)
        if value is not None and not isinstance(value, str):
            self.problem(name, f"{name} must be a string or null")
            return None
        return value

    def date_time(self, name: str) -> str | None:
        if not self.given(name):
            return None
        moment = parse_date_time(self.body[name])
        if moment is None:
            self.problem(
                name,
                f"{name} must be an ISO 8601 date-time with a time zone, e.g. {DATE_TIME_EXAMPLE}",
            )
        return moment

    def percentage(self) -> Decimal | None:
        if not self.given("percentage"):
            return None
        value = self.body["percentage"]
        if not (is_number(value) and value >= 0):
            self.problem("percentage", "percentage must be a number of at least 0")
            return None
        return Decimal(value)

    def lines(self) -> Lines | None:
        """Every line `lineItems` and `sections` carry, ungrouped first; None when neither was
        sent."""
        if not (self.given("lineItems") or self.given("sections")):
            return None
        sections: list[SectionIn] = []
        items: list[LineItem] = []
        if self.given("lineItems"):
            items += self._items(self.body["lineItems"], "lineItems", None)
        if self.given("sections"):
            raw = self.body["sections"]
            if not isinstance(raw, list):
                self.problem("sections", "sections must be a list of sections")
            else:
                for index, section in enumerate(raw):
                    read = self._section(section, f"sections[{index}]", len(sections))
                    if read is not None:
                        sections.append(read[0])
                        items += read[1]
        self._each_catalog_item_once(items)
        return Lines(tuple(sections), tuple(items))

    def _section(
        self, section: Json, where: str, index: int
    ) -> tuple[SectionIn, list[LineItem]] | None:
        if not isinstance(section, dict):
            self.problem(where, f"{where} must be an object with lineItems")
            return None
        for name in section:
            if name not in SECTION_FIELDS:
                self.problem(f"{where}.{name}", f"{where}.{name} is not a known field")
        name = section.get("name")
        if name is not None and not (isinstance(name, str) and len(name) in SECTION_NAME_LENGTH):
            self.problem(f"{where}.name", f"{where}.name must be 1 to 500 characters, or null")
        section_id = self._existing_id(section, where, self.section_ids, "section")
        raw = section.get("lineItems")
        if raw is None or raw == []:
            self.problem(f"{where}.lineItems", f"{where}.lineItems needs at least one line item")
            return None
        items = self._items(raw, f"{where}.lineItems", index)
        return SectionIn(section_id, name if isinstance(name, str) else None), items

    def _items(self, raw: Json, where: str, section: int | None) -> list[LineItem]:
        if not isinstance(raw, list):
            self.problem(where, f"{where} must be a list of line items")
            return []
        self.items_sent += len(raw)
        items = []
        for index, item in enumerate(raw):
            read = self._item(item, f"{where}[{index}]", section)
            if read is not None:
                items.append(read)
        return items

    def _item(self, item: Json, where: str, section: int | None) -> LineItem | None:
        if not isinstance(item, dict):
            self.problem(where, f"{where} must be an object")
            return None
        before = len(self.problems)
        for name in item:
            if name not in LINE_ITEM_FIELDS:
                self.problem(f"{where}.{name}", f"{where}.{name} is not a known field")
        line_id = self._existing_id(item, where, self.line_ids, "line item")
        catalog_item = item.get("catalogItemId")
        if catalog_item is None:
            self.problem(f"{where}.catalogItemId", f"{where}.catalogItemId is required")
        elif not (is_whole(catalog_item) and not isinstance(catalog_item, bool)):
            self.problem(f"{where}.catalogItemId", f"{where}.catalogItemId must be an integer")
        elif int(catalog_item) not in self.catalog:
            self.problem(
                f"{where}.catalogItemId",
                f"{where}.catalogItemId {catalog_item} is not a catalog item of this company",
            )
        quantity = self._number(item, "quantity", where)
        if quantity is not None and quantity != quantity.to_integral_value():
            self.problem(
                f"{where}.quantity", f"{where}.quantity must be an integer, not {quantity}"
            )
        elif quantity is not None and quantity < 1:
            self.problem(f"{where}.quantity", f"{where}.quantity must be at least 1")
        unit_cost = self._number(item, "unitCost", where)
        unit_price = self._number(item, "unitPrice", where)
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            self.problem(f"{where}.description", f"{where}.description must be a string or null")
        if len(self.problems) > before:
            return None
        assert quantity is not None and unit_cost is not None and unit_price is not None
        return LineItem(
            id=line_id,
            catalog_item_id=int(catalog_item),
            quantity=int(quantity),
            unit_cost=unit_cost,
            unit_price=unit_price,
            description=description,
            section=section,
        )

    def _existing_id(
        self, raw: Mapping[str, Json], where: str, known: frozenset[int], what: str
    ) -> int | None:
        """The `id` a line or section names: None for a new one (absent or 0), else one of the
        invoice's own."""
        value = raw.get("id", 0)
        if value == 0 and is_whole(value) and not isinstance(value, bool):
            return None
        if is_whole(value) and not isinstance(value, bool) and int(value) in known:
            return int(value)
        self.problem(
            f"{where}.id",
            f"{where}.id {value!r} is not a {what} of this invoice; send 0 for a new one",
        )
        return None

    def _number(self, item: Mapping[str, Json], name: str, where: str) -> Decimal | None:
        value = item.get(name)
        if value is None:
            self.problem(f"{where}.{name}", f"{where}.{name} is required")
        elif not is_number(value):
            self.problem(f"{where}.{name}", f"{where}.{name} must be a number")
        else:
            return Decimal(value)
        return None

    def _each_catalog_item_once(self, items: Sequence[LineItem]) -> None:
        seen: dict[int, int] = {}
        for position, item in enumerate(items):
            first = seen.setdefault(item.catalog_item_id, position)
            if first != position:
                self.problem(
                    "catalogItemId",
                    f"catalogItemId {item.catalog_item_id} appears more than once in this "
                    "invoice; a catalog item may be used by one line only, across lineItems "
                    "and sections",
                )


def path_id(request: Request, name: str, what: str) -> int:
    """An integer path id; anything else names no object (404)."""
    raw: str = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(404, f"{what} {raw} not found")
    return int(raw)


def render_project(doc: Mapping[str, Json], records: Mapping[Json, Mapping[str, Json]]) -> Json:
    """A project as list-projects shows it (the Project schema's fields the sandbox keeps)."""
    account = records.get(doc.get("accountId")) if doc.get("accountId") is not None else None
    title = doc.get("title") or (account or {}).get("title") or ""
    return {
        "id": doc["id"],
        "createdAt": doc["createdAt"],
        "updatedAt": doc["createdAt"],
        "title": title,
        "isActive": True,
        "value": doc.get("contractValue"),
        "accountId": doc.get("accountId"),
    }


def query_whole(request: Request, name: str, default: int, wanted: range | None) -> int | str:
    """A whole-number query parameter of at least 1 (and within `wanted` when given), or what
    is wrong with it."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if wanted is None:
        return value if value >= 1 else f"{name} must be an integer of at least 1"
    if value in wanted:
        return value
    return f"{name} must be an integer from {wanted.start} to {wanted.stop - 1}"


# --------------------------------------------------------------------------------------------
# Money


def percentage_of(percentage: Decimal, base: Decimal) -> Decimal:
    share = EXACT.divide(EXACT.multiply(percentage, base), 100)
    return share.quantize(CENT, rounding=ROUND_HALF_UP, context=EXACT)


def line_amount(line: Mapping[str, Json]) -> Decimal:
    return EXACT.multiply(Decimal(line["quantity"]), Decimal(line["unitPrice"]))


def total(lines: Sequence[Mapping[str, Json]]) -> int | Decimal:
    return plain_number(sum((line_amount(line) for line in lines), Decimal(0)))


def contract_value(record: Mapping[str, Json]) -> Decimal | None:
    value = record.get("contractValue")
    return None if value is None else Decimal(value)


@dataclass(frozen=True)
class Pricing:
    """What an invoice charges: its lines, or a percentage of a contract value."""

    lines: Lines | None = None
    percentage: Decimal | None = None
    base: Decimal | None = None

    def stored(self, db: sqlite3.Connection) -> dict[str, Json]:
        if self.lines is not None:
            section_ids = [
                section.id if section.id is not None else SECTION_IDS.take(db)
                for section in self.lines.sections
            ]
            lines = [
                {
                    "id": item.id if item.id is not None else LINE_ITEM_IDS.take(db),
                    "catalogItemId": item.catalog_item_id,
                    "quantity": item.quantity,
                    "unitCost": plain_number(item.unit_cost),
                    "unitPrice": plain_number(item.unit_price),
                    "description": item.description,
                    "sectionId": None if item.section is None else section_ids[item.section],
                }
                for item in self.lines.items
            ]
            sections = [
                {"id": section_id, "name": section.name}
                for section_id, section in zip(section_ids, self.lines.sections, strict=True)
            ]
            return {
                "amount": total(lines),
                "percentage": None,
                "baseAmount": None,
                "lineItems": lines,
                "sections": sections,
            }
        assert self.percentage is not None and self.base is not None
        return {
            "amount": plain_number(percentage_of(self.percentage, self.base)),
            "percentage": plain_number(self.percentage),
            "baseAmount": plain_number(self.base),
            "lineItems": [],
            "sections": [],
        }


def status_change(doc: Mapping[str, Json], status: str, now: str) -> dict[str, Json]:
    """What moving an invoice to `status` does: leaving DRAFT issues it (now, unless it was
    issued already), DRAFT un-issues and un-pays it, PAID pays it in full."""
    changes: dict[str, Json] = {"status": status}
    if status == "DRAFT":
        changes.update(issueDate=None, amountPaid=0)
    elif doc.get("issueDate") is None:
        changes["issueDate"] = now
    if status == "PAID":
        changes["amountPaid"] = doc["amount"]
    return changes


# --------------------------------------------------------------------------------------------
# Shaping stored documents into wire objects


def record_ref(record: Mapping[str, Json] | None) -> dict[str, Json] | None:
    return None if record is None else {"id": record["id"], "title": record["title"]}


def account_of(
    db: sqlite3.Connection, record: Mapping[str, Json] | None
) -> Mapping[str, Json] | None:
    if record is None or record["type"] == ACCOUNT:
        return record
    account_id = record.get("accountId")
    return None if account_id is None else RECORDS.get(db, str(account_id))


def catalog_ref(db: sqlite3.Connection, catalog_item_id: Json) -> dict[str, Json] | None:
    item = CATALOG_ITEMS.get(db, str(catalog_item_id))
    if item is None:
        return None
    return shaped(item, ("id", "name", "manufacturer", "sku", "type"))


def render_line(db: sqlite3.Connection, line: Mapping[str, Json]) -> dict[str, Json]:
    return {
        **shaped(line, LINE_ITEM_SHAPE),
        "catalogItem": catalog_ref(db, line["catalogItemId"]),
    }


def render_invoice(db: sqlite3.Connection, doc: Mapping[str, Json]) -> dict[str, Json]:
    """The Invoice as the vendor sends it; a dueDate never set is left out (it is a string)."""
    record = RECORDS.get(db, str(doc["recordId"]))
    joined = {
        **doc,
        "account": record_ref(account_of(db, record)),
        "record": record_ref(record),
        "lineItems": [render_line(db, line) for line in doc["lineItems"]],
    }
    invoice = shaped(joined, INVOICE_SHAPE)
    if invoice["dueDate"] is None:
        del invoice["dueDate"]
    return invoice


def render_admin_invoice(db: sqlite3.Connection, doc: Mapping[str, Json]) -> dict[str, Json]:
    """The Invoice plus what Coperniq's UI shows and the API does not: the issue date and the
    section each line sits in."""
    names = {section["id"]: section["name"] for section in doc.get("sections") or []}
    invoice = render_invoice(db, doc)
    invoice["issueDate"] = doc.get("issueDate")
    invoice["dueDate"] = doc.get("dueDate")
    invoice["lineItems"] = [
        {**rendered, "sectionName": names.get(line.get("sectionId"))}
        for rendered, line in zip(invoice["lineItems"], doc["lineItems"], strict=True)
    ]
    return invoice


def updated_between(doc: Mapping[str, Json], after: str | None, before: str | None) -> bool:
    stamp = str(doc["updatedAt"])
    return (after is None or stamp > after) and (before is None or stamp < before)


# --------------------------------------------------------------------------------------------
# The emulator


class CoperniqEmulator(Emulator):
    vendor: ClassVar[str] = "coperniq"  # the plan's provider type it emulates
    # bootstrap: declared at the end of this module, after what it refers to
    api_root: ClassVar[str] = API_ROOT
    list_rows = "items"  # where a list page keeps its rows
    tables = (RECORDS, INVOICES, CATALOG_ITEMS)
    counters = (INVOICE_NUMBERS, LINE_ITEM_IDS, SECTION_IDS)
    default_settings = DEFAULT_SETTINGS
    access_disabled_status = 403
    status_messages = DEFAULT_MESSAGES
    stamp = wire.millis_z  # as JavaScript's toISOString writes a date
    id_refusal = "id must be an integer of at least 1, as Coperniq's are: {wanted!r}"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.day = RollingWindow(self.clock, DAY_SECONDS)
        # Checking the day, taking a per-second token and spending the day happen as one step.
        self._admission = threading.Lock()

    @property
    def daily_limit(self) -> int:
        settings = self.settings
        assert isinstance(settings, CoperniqSettings)
        return settings.daily_limit

    # ---- the vendor's differences from the base -------------------------------------------

    def error_body(self, status: int, message: str | None, errors: Sequence[Json]) -> Json:
        """`{message, code, field?}`: the code the operation declares for this status, else the
        status's own; `field` from the first problem that names one."""
        operation = _OPERATION.get()
        if operation is not None and status in operation.declared:
            code = operation.code
        else:
            code = STATUS_CODES.get(status, "ERROR")
        body: dict[str, Json] = {
            "message": message or self.message_for(status),
            "code": code,
        }
        where = next((e["field"] for e in errors if isinstance(e, dict) and e.get("field")), None)
        if where is not None:
            body["field"] = where
        return body

    def credentials(self, headers: Headers) -> str | None:
        key = headers.get("x-api-key", "").strip()
        return key or None

    def admit(self, headers: Headers) -> Response | None:
        """Credentials, the access switch, then both rate limits of the key; whatever the
        outcome, the response reports the key's rolling day."""
        key = self.credentials(headers)
        limit = self.daily_limit
        if key is None or key not in self.settings.tokens:
            self._report(limit, limit)
            return self.error_response(401)
        if not self.settings.api_access_enabled:
            self._report(limit, limit - self.day.used(key))
            return self.error_response(self.access_disabled_status)
        with self._admission:
            left = limit - self.day.used(key)
            if left <= 0:
                self._report(limit, 0)
                return self.error_response(
                    429, f"Daily limit reached: {limit} requests per rolling 24 hours per key."
                )
            if not self.limiter.take(key):
                self._report(limit, left)
                rate = self.settings.rate_limit_per_second
                return self.error_response(
                    429, f"Rate limit reached: {rate} requests per second per key."
                )
            self._report(limit, limit - self.day.spend(key))
        return None

    @staticmethod
    def _report(limit: int, remaining: int) -> None:
        stamped = _QUOTA_HEADERS.get()
        if stamped is not None:
            stamped[:] = [
                (b"x-ratelimit-limit", str(limit).encode()),
                (b"x-ratelimit-remaining", str(max(0, remaining)).encode()),
            ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only vendor-path requests reach `admit`, so admin responses go out unstamped.
        stamped: list[tuple[bytes, bytes]] = []
        quota = _QUOTA_HEADERS.set(stamped)
        operation = _OPERATION.set(operation_of(scope.get("method", ""), route_path(scope)))

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start" and stamped:
                message = {**message, "headers": [*message.get("headers", []), *stamped]}
            await send(message)

        try:
            await super().__call__(scope, receive, send_stamped)
        finally:
            _OPERATION.reset(operation)
            _QUOTA_HEADERS.reset(quota)

    def setting_readers(self) -> Mapping[str, Callable[[Json], Mapping[str, Json]]]:
        return {"daily_limit": _daily_limit}

    def reset(self) -> None:
        super().reset()
        self.day.clear()

    def vendor_routes(self) -> list[BaseRoute]:
        # One route per operation of the spec, served by the handler named after it.
        return routes_from((op.method, op.route, getattr(self, op.handler)) for op in OPERATIONS)

    # ---- invoices (create-invoice, get-invoice, update-invoice, delete-invoice) -----------

    async def create_invoice(self, request: Request) -> Response:
        body = Form.wording.object(await request.body())
        with self.store.transaction() as db:
            form = Form(body, catalog=catalog_ids(db))
            form.refuse_unknown(CREATE_FIELDS)
            record_id = form.record_id()
            record = None if record_id is None else RECORDS.get(db, str(record_id))
            if record_id is not None and record is None:
                form.problem(
                    "recordId",
                    f"recordId {record_id} does not refer to an existing project or account",
                )
            method = form.choice("calculationMethod", CALCULATION_METHODS)
            lines = form.lines()
            percentage = form.percentage()
            status = self._creatable_status(form)
            issue_date = form.date_time("issueDate")
            if status in ISSUED_STATUSES and not form.given("issueDate"):
                form.problem("issueDate", f"issueDate is required when status is {status}")
            due_date = form.date_time("dueDate")
            description = form.text("description")
            pricing = self._pricing(form, method, lines, percentage, record)
            form.check()
            assert record is not None and status is not None and pricing is not None
            now = self.now()
            doc: dict[str, Json] = {
                **INVOICE_DEFAULTS,
                "id": INVOICES.ids.take(db),
                "uid": INVOICE_NUMBERS.take(db),
                "status": status,
                "calculationMethod": method,
                "createdAt": now,
                "updatedAt": now,
                "description": description,
                "dueDate": due_date,
                "recordId": record["id"],
                "issueDate": issue_date if status in ISSUED_STATUSES else None,
                **pricing.stored(db),
            }
            doc["amountPaid"] = doc["amount"] if status == "PAID" else 0
            INVOICES.insert(db, doc)
            return JSONBody(render_invoice(db, doc), status_code=201)

    async def get_invoice(self, request: Request) -> Response:
        key = path_id(request, "invoiceId", "Invoice")
        with self.store.transaction() as db:
            return JSONBody(render_invoice(db, self._invoice(db, key)))

    async def update_invoice(self, request: Request) -> Response:
        key = path_id(request, "invoiceId", "Invoice")
        raw = await request.body()
        with self.store.transaction() as db:
            doc = self._invoice(db, key)
            form = Form(
                Form.wording.object(raw),
                catalog=catalog_ids(db),
                line_ids=frozenset(int(line["id"]) for line in doc["lineItems"]),
                section_ids=frozenset(int(s["id"]) for s in doc.get("sections") or []),
            )
            if doc["status"] not in EDITABLE_STATUSES and set(form.body) - {"status"}:
                raise ApiError(
                    400,
                    f"Invoice {key} is {doc['status']}; only a DRAFT invoice's lines, dates and "
                    "description can be changed",
                    [{"field": "status"}],
                )
            form.refuse_unknown(PATCH_FIELDS, fixed=FIXED_FIELDS)
            changes: dict[str, Json] = {}
            if form.given("description"):
                changes["description"] = form.text("description")
            if form.given("dueDate"):
                changes["dueDate"] = form.date_time("dueDate")
            status = form.choice("status", STATUSES) if form.given("status") else None
            lines = form.lines()
            pricing = None
            if lines is not None and doc["calculationMethod"] != "LINE_ITEMS":
                form.problem(
                    "lineItems", "lineItems and sections apply only to LINE_ITEMS invoices"
                )
            elif lines is not None and form.items_sent == 0:
                form.problem("lineItems", "a LINE_ITEMS invoice needs at least one line item")
            elif lines is not None:
                pricing = Pricing(lines=lines)
            form.check()
            now = self.now()
            updated = {
                **doc,
                **changes,
                **({} if pricing is None else pricing.stored(db)),
                "updatedAt": now,
            }
            if status is not None and status != doc["status"]:
                updated.update(status_change(updated, status, now))
            INVOICES.replace(db, updated)
            return JSONBody(render_invoice(db, updated))

    async def delete_invoice(self, request: Request) -> Response:
        key = path_id(request, "invoiceId", "Invoice")
        with self.store.transaction() as db:
            self._invoice(db, key)
            INVOICES.delete(db, str(key))
        return Response(status_code=200)

    # ---- lists (get-project-invoices, list-catalog-items) ---------------------------------

    async def get_project_invoices(self, request: Request) -> Response:
        project_id = path_id(request, "projectId", "Project")
        page = query_whole(request, "page", 1, None)
        size = query_whole(request, "page_size", DEFAULT_PAGE_SIZE, PAGE_SIZES)
        order = request.query_params.get("order_by", "asc")
        bounds = {
            name: request.query_params.get(name) for name in ("updated_after", "updated_before")
        }
        problems = [
            {"field": name, "message": wrong}
            for name, wrong in (("page", page), ("page_size", size))
            if isinstance(wrong, str)
        ]
        if order not in ORDERS:
            problems.append({"field": "order_by", "message": "order_by must be asc or desc"})
        moments: dict[str, str | None] = {}
        for name, raw in bounds.items():
            moments[name] = None if raw is None else parse_date_time(raw)
            if raw is not None and moments[name] is None:
                problems.append({"field": name, "message": f"{name} must be an ISO 8601 date-time"})
        if problems:
            raise ApiError(400, "; ".join(p["message"] for p in problems), problems)
        assert isinstance(page, int) and isinstance(size, int)
        with self.store.transaction() as db:
            project = RECORDS.get(db, str(project_id))
            if project is None or project["type"] != PROJECT:
                raise ApiError(404, f"Project {project_id} not found")
            docs = [
                doc
                for doc in by_id(INVOICES.all(db, {"recordId": str(project_id)}))
                if updated_between(doc, moments["updated_after"], moments["updated_before"])
            ]
            if order == "desc":
                docs.reverse()
            start = (page - 1) * size
            return JSONBody(
                {
                    "items": [render_invoice(db, doc) for doc in docs[start : start + size]],
                    "page": page,
                    "page_size": size,
                    "has_more": len(docs) > start + size,
                }
            )

    async def list_projects(self, request: Request) -> Response:
        """list-projects: the company's projects by id, a bare array paged like the invoice
        lists; a project without a title shows its account's (the spec's read-time fallback).
        list-projects declares no 400: a paging parameter it cannot read counts as left out."""
        page = query_whole(request, "page", 1, None)
        size = query_whole(request, "page_size", DEFAULT_PAGE_SIZE, PAGE_SIZES)
        page = page if isinstance(page, int) else 1
        size = size if isinstance(size, int) else DEFAULT_PAGE_SIZE
        with self.store.transaction() as db:
            records = {doc["id"]: doc for doc in RECORDS.all(db)}
        projects = by_id([doc for doc in records.values() if doc["type"] == PROJECT])
        if request.query_params.get("order_by") == "desc":
            projects.reverse()
        start = (page - 1) * size
        return JSONBody([render_project(doc, records) for doc in projects[start : start + size]])

    async def list_catalog_items(self, request: Request) -> Response:
        with self.store.transaction() as db:
            items = by_id(CATALOG_ITEMS.all(db))
            return JSONBody([shaped(item, CATALOG_ITEM_SHAPE) for item in items])

    # ---- rules ----------------------------------------------------------------------------

    @staticmethod
    def _creatable_status(form: Form) -> str | None:
        if not form.given("status"):
            return "DRAFT"
        status = form.body["status"]
        if status in CREATABLE_STATUSES:
            return str(status)
        if status in STATUSES:
            form.problem("status", f"status {status} cannot be set when an invoice is created")
        else:
            form.problem("status", f"status must be one of {', '.join(CREATABLE_STATUSES)}")
        return None

    @staticmethod
    def _pricing(
        form: Form,
        method: str | None,
        lines: Lines | None,
        percentage: Decimal | None,
        record: Mapping[str, Json] | None,
    ) -> Pricing | None:
        """What the invoice charges under its calculation method, or None (with the problems
        noted) when the request does not say it properly."""
        if method == "LINE_ITEMS":
            if form.given("percentage"):
                form.problem(
                    "percentage", "percentage applies only when calculationMethod is PERCENTAGE"
                )
            if lines is None:
                form.problem(
                    "lineItems",
                    "lineItems or sections is required when calculationMethod is LINE_ITEMS",
                )
            elif form.items_sent == 0:
                form.problem("lineItems", "a LINE_ITEMS invoice needs at least one line item")
        elif method == "PERCENTAGE":
            if lines is not None:
                form.problem(
                    "lineItems",
                    "lineItems and sections apply only when calculationMethod is LINE_ITEMS",
                )
            if not form.given("percentage"):
                form.problem(
                    "percentage", "percentage is required when calculationMethod is PERCENTAGE"
                )
            if record is not None and contract_value(record) is None:
                form.problem(
                    "recordId",
                    f"record {record['id']} has no contract value to take a percentage of",
                )
        if form.problems or method is None or record is None:
            return None
        if method == "LINE_ITEMS":
            return Pricing(lines=lines)
        base = contract_value(record)
        assert percentage is not None and base is not None
        return Pricing(percentage=percentage, base=base)

    def _invoice(self, db: sqlite3.Connection, key: int) -> dict[str, Json]:
        doc = INVOICES.get(db, str(key))
        if doc is None:
            raise ApiError(404, f"Invoice {key} not found")
        return doc

    # ---- admin: seeding and changes behind the client's back ------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        return collection_routes(
            [
                Collection(
                    "/projects",
                    listing=self.admin_listing(RECORDS, PROJECT_SHAPE, where={"type": PROJECT}),
                    create=self.admin_add_project,
                ),
                Collection(
                    "/accounts",
                    listing=self.admin_listing(RECORDS, ACCOUNT_SHAPE, where={"type": ACCOUNT}),
                    create=self.admin_add_account,
                ),
                Collection(
                    "/catalog-items",
                    listing=self.admin_listing(CATALOG_ITEMS, CATALOG_ITEM_SHAPE),
                    create=self.admin_add_catalog_item,
                ),
                Collection(
                    "/invoices",
                    listing=self.admin_listing(INVOICES, render_admin_invoice),
                    create=self.admin_add_invoice,
                    update=self.admin_edit_invoice,
                    delete=self.admin_deletion(INVOICES, "invoice", key=_digits),
                    actions={"status": self.admin_set_status},
                ),
            ]
        )

    async def admin_add_project(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "title", "contractValue", "accountId"})
        value = body.get("contractValue")
        if value is not None and not (is_number(value) and value >= 0):
            raise AdminError(400, "contractValue must be a number of at least 0, or null")
        with self.store.transaction() as db:
            account_id = body.get("accountId")
            if account_id is not None:
                account = RECORDS.get(db, str(account_id)) if is_whole(account_id) else None
                if account is None or account["type"] != ACCOUNT:
                    raise AdminError(400, "accountId must be the id of a seeded account")
            doc = self.admin_insert(
                db,
                RECORDS,
                body,
                lambda: {
                    "type": PROJECT,
                    "title": admin.text(body, "title"),
                    "contractValue": None if value is None else plain_number(value),
                    "accountId": account_id,
                    "createdAt": self.now(),
                },
            )
        return JSONBody(shaped(doc, PROJECT_SHAPE), status_code=201)

    async def admin_add_account(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "title"})
        with self.store.transaction() as db:
            doc = self.admin_insert(
                db,
                RECORDS,
                body,
                lambda: {
                    "type": ACCOUNT,
                    "title": admin.text(body, "title"),
                    "contractValue": None,
                    "accountId": None,
                    "createdAt": self.now(),
                },
            )
        return JSONBody(shaped(doc, ACCOUNT_SHAPE), status_code=201)

    async def admin_add_catalog_item(self, request: Request) -> Response:
        """A product or service added to the company's catalog, as in Coperniq's UI: a name, a
        type (default SERVICE), a category of that type (DEFAULT_CATEGORIES), a trade group
        (default OTHER), and optionally a cost, a price, a SKU, a manufacturer, a code, a
        description."""
        texts = ("manufacturer", "sku", "code", "description")
        body = await admin.admin_body(
            request, {"id", "name", "type", "category", "tradeGroup", "cost", "price", *texts}
        )
        kind = admin.choice("type", body.get("type", "SERVICE"), CATALOG_TYPES)
        category = admin.choice(
            "category", body.get("category", DEFAULT_CATEGORIES[kind]), CATEGORIES[kind]
        )
        trade_group = admin.choice("tradeGroup", body.get("tradeGroup", "OTHER"), TRADE_GROUPS)
        prices = {
            name: None if body.get(name) is None else admin.number(body, name)
            for name in ("cost", "price")
        }
        with self.store.transaction() as db:
            now = self.now()
            doc = self.admin_insert(
                db,
                CATALOG_ITEMS,
                body,
                lambda: {
                    "name": admin.text(body, "name"),
                    "catalog": trade_group,
                    "type": kind,
                    "category": category,
                    **{name: admin.optional_text(body, name) for name in texts},
                    **prices,
                    "image": None,
                    "isArchived": False,
                    "createdById": SANDBOX_USER,
                    "createdAt": now,
                    "updatedAt": now,
                    "preferredVendorId": None,
                },
            )
        return JSONBody(shaped(doc, CATALOG_ITEM_SHAPE), status_code=201)

    async def admin_add_invoice(self, request: Request) -> Response:
        """An invoice as a person would make it in Coperniq's UI: none of the API's rules
        apply; only the record must exist, so that the invoice can be shown."""
        body = await admin.admin_body(request, ADMIN_INVOICE_FIELDS | {"id"})
        if body.get("recordId") is None:
            raise AdminError(400, "recordId is required")
        with self.store.transaction() as db:
            now = self.now()
            key = self.new_id(db, INVOICES, body.get("id"))
            doc: dict[str, Json] = {
                **INVOICE_DEFAULTS,
                "id": key,
                "uid": None,
                "status": "DRAFT",
                "amount": 0,
                "amountPaid": 0,
                "calculationMethod": "LINE_ITEMS",
                "createdAt": now,
                "updatedAt": now,
                "description": None,
                "dueDate": None,
                "percentage": None,
                "baseAmount": None,
                "lineItems": [],
                "sections": [],
                "issueDate": None,
            }
            doc.update(_admin_invoice_changes(db, doc, body))
            if doc["uid"] is None:
                doc["uid"] = INVOICE_NUMBERS.take(db)
            if "amountPaid" not in body and doc["status"] == "PAID":
                doc["amountPaid"] = doc["amount"]
            INVOICES.insert(db, doc)
            return JSONBody(render_admin_invoice(db, doc), status_code=201)

    async def admin_edit_invoice(self, request: Request) -> Response:
        """Change any field, whatever the status, as someone editing in Coperniq would."""
        body = await admin.admin_body(request, ADMIN_INVOICE_FIELDS)
        with self.store.transaction() as db:
            doc = _admin_invoice(db, request)
            updated = {**doc, **_admin_invoice_changes(db, doc, body)}
            updated["updatedAt"] = self.now()
            INVOICES.replace(db, updated)
            return JSONBody(render_admin_invoice(db, updated))

    async def admin_set_status(self, request: Request) -> Response:
        """Move an invoice through its lifecycle as a person would: leaving DRAFT issues it
        (today, unless `issueDate` says when), PAID pays it in full, DRAFT un-issues it."""
        body = await admin.admin_body(request, {"status", "issueDate", "amountPaid"})
        status = body.get("status")
        if status not in STATUSES:
            raise AdminError(400, f"status must be one of {', '.join(STATUSES)}")
        with self.store.transaction() as db:
            doc = _admin_invoice(db, request)
            now = self.now()
            updated = {**doc, "updatedAt": now}
            if status != "DRAFT" and body.get("issueDate") is not None:
                updated["issueDate"] = _admin_date_time(body, "issueDate")
            updated.update(status_change(updated, str(status), now))
            if "amountPaid" in body:
                updated["amountPaid"] = admin.number(body, "amountPaid")
            INVOICES.replace(db, updated)
            return JSONBody(render_admin_invoice(db, updated))


def catalog_ids(db: sqlite3.Connection) -> frozenset[int]:
    return frozenset(int(item["id"]) for item in CATALOG_ITEMS.all(db))


# --------------------------------------------------------------------------------------------
# Admin helpers

ADMIN_INVOICE_FIELDS = frozenset(
    {
        "uid",
        "recordId",
        "status",
        "calculationMethod",
        "lineItems",
        "percentage",
        "amount",
        "amountPaid",
        "description",
        "dueDate",
        "issueDate",
        "isArchived",
        "sharedWithPortal",
    }
)
ADMIN_LINE_FIELDS = frozenset(
    {"catalogItemId", "description", "quantity", "unitCost", "unitPrice", "sectionName"}
)


def _admin_date_time(body: Mapping[str, Json], name: str) -> str | None:
    wording = f"{name} must be an ISO 8601 date-time such as {DATE_TIME_EXAMPLE}"
    return admin.optional(body, name, parse_date_time, wording)


def _digits(raw: str) -> str | None:
    return raw if raw.isascii() and raw.isdigit() else None


def _admin_invoice(db: sqlite3.Connection, request: Request) -> dict[str, Json]:
    return admin.lookup(db, INVOICES, "invoice", request, key=_digits)


def _admin_lines(db: sqlite3.Connection, value: Json) -> dict[str, Json]:
    """Lines as a person enters them: a catalog item, a whole quantity, a price, an optional
    cost (0), description and section name; sections are made from the names, in order."""
    if not isinstance(value, list):
        raise AdminError(400, "lineItems must be a list")
    lines: list[dict[str, Json]] = []
    sections: dict[str, int] = {}
    for raw in value:
        line = admin.admin_object(raw)
        admin.refuse_unknown(line, ADMIN_LINE_FIELDS)
        catalog_item = line.get("catalogItemId")
        if not (is_whole(catalog_item) and not isinstance(catalog_item, bool)):
            raise AdminError(400, "catalogItemId must be an integer")
        if not is_whole(line.get("quantity")):
            raise AdminError(400, "quantity must be a whole number, as Coperniq's are")
        section = line.get("sectionName")
        if section is not None and not isinstance(section, str):
            raise AdminError(400, "sectionName must be a string or null")
        if section is not None and section not in sections:
            sections[section] = SECTION_IDS.take(db)
        lines.append(
            {
                "id": LINE_ITEM_IDS.take(db),
                "catalogItemId": int(catalog_item),
                "quantity": int(line["quantity"]),
                "unitCost": admin.number(line, "unitCost") if "unitCost" in line else 0,
                "unitPrice": admin.number(line, "unitPrice"),
                "description": admin.optional_text(line, "description"),
                "sectionId": None if section is None else sections[section],
            }
        )
    named = [{"id": section_id, "name": name} for name, section_id in sections.items()]
    return {"lineItems": lines, "sections": named}


def _admin_invoice_changes(
    db: sqlite3.Connection, doc: Mapping[str, Json], body: Mapping[str, Json]
) -> dict[str, Json]:
    """Fields as sent, checked only for type; the amount follows the lines or the percentage
    unless it is sent too."""
    readers: Mapping[str, Callable[[Json], Json]] = {
        "uid": lambda value: _admin_uid(db, doc, value),
        "recordId": lambda value: _admin_record(db, value),
        "description": lambda value: admin.optional_text(body, "description"),
        "status": lambda value: admin.choice("status", value, STATUSES),
        "calculationMethod": lambda value: admin.choice(
            "calculationMethod", value, CALCULATION_METHODS
        ),
        "percentage": lambda value: None if value is None else admin.number(body, "percentage"),
        "amount": lambda value: admin.number(body, "amount"),
        "amountPaid": lambda value: admin.number(body, "amountPaid"),
        "dueDate": lambda value: _admin_date_time(body, "dueDate"),
        "issueDate": lambda value: _admin_date_time(body, "issueDate"),
        "isArchived": lambda value: admin.flag("isArchived", value),
        "sharedWithPortal": lambda value: admin.flag("sharedWithPortal", value),
    }
    changes = {name: readers[name](value) for name, value in body.items() if name in readers}
    if "lineItems" in body:
        changes.update(_admin_lines(db, body["lineItems"]))
    merged = {**doc, **changes}
    if "amount" in body:
        return changes
    if merged["calculationMethod"] == "PERCENTAGE" and merged["percentage"] is not None:
        record = RECORDS.get(db, str(merged["recordId"]))
        base = None if record is None else contract_value(record)
        if base is not None:
            percentage = Decimal(merged["percentage"])
            changes["baseAmount"] = plain_number(base)
            changes["amount"] = plain_number(percentage_of(percentage, base))
    elif merged["calculationMethod"] == "LINE_ITEMS" and "lineItems" in changes:
        changes["amount"] = total(changes["lineItems"])
    return changes


def _admin_uid(db: sqlite3.Connection, doc: Mapping[str, Json], value: Json) -> int:
    if not is_id(value):
        raise AdminError(400, "uid must be an integer of at least 1")
    for other in INVOICES.all(db, {"uid": str(value)}):
        if other["id"] != doc["id"]:
            raise AdminError(409, f"invoice number {value} belongs to invoice {other['id']}")
    INVOICE_NUMBERS.claim(db, value)
    return value


def _admin_record(db: sqlite3.Connection, value: Json) -> int:
    record = RECORDS.get(db, str(value)) if is_whole(value) else None
    if record is None:
        raise AdminError(400, "recordId must be the id of a seeded project or account")
    return int(record["id"])


# ---- the sandbox's bootstrap: what a plan needs here, and how a person locks ----------------
# Declared after the emulator it belongs to (bootstrap.py reads it from the class).


def _project_body(record: str, items: list[Item], plan: Seeding) -> Body:
    body: Body = {"id": int(record), "title": plan.project_name(items[0])}
    value = plan.project(items[0]).get("contract_value")
    if value is not None:
        body["contractValue"] = Decimal(str(value))
    return body


def _catalog_item(item: Item) -> str | None:
    """The catalog item an invoice line names (a malformed id is the plan's error, reported
    when it compiles)."""
    value = str(item.options.get("catalog_item", ""))
    if item.percent is None and value.isascii() and value.isdigit() and int(value) >= 1:
        return str(int(value))
    return None


def _catalog_body(catalog_item: str, items: list[Item], _plan: Seeding) -> Body:
    # Called after the charges that use it: a product when only products do, else a service.
    charges = sorted({item.charge for item in items})
    name = ", ".join(charges[:3]).capitalize() + (", ..." if len(charges) > 3 else "")
    kind = "PRODUCT" if all(item.kind == "product" for item in items) else "SERVICE"
    return {"id": int(catalog_item), "name": name, "type": kind}


CoperniqEmulator.bootstrap = Bootstrap(
    title="Coperniq",
    seeds=(
        Objects("projects", "project", _project_body, "{id} ({title})"),
        # Every invoice line names a catalog item.
        Objects("catalog-items", "catalog item", _catalog_body, "{id} ({name})", _catalog_item),
    ),
    locks={"coperniq_invoice": Lock("invoices/{id}/status", {"status": "SENT"})},
)
