"""The Coperniq emulator: Coperniq's public API under `/v1`, written from api/VENDORS.md, the
create-invoice seed and Coperniq's public reference. It owns invoices (create, read, update,
delete, list per project), the projects and accounts they are made on, and the admin routes that
seed records and move invoices through their lifecycle behind the client's back.

Documented and reproduced: the `x-api-key` header; integer ids; an invoice's fields; `recordId`
(an integer >= 1 naming a project or account that must exist) and `calculationMethod`
(LINE_ITEMS | PERCENTAGE) required on create; LINE_ITEMS needs `lineItems` and/or `sections`
(named groups whose items read back with `sectionName`); PERCENTAGE needs `percentage` >= 0;
`status` defaults to DRAFT; SENT, PARTIALLY_PAID and PAID need `issueDate`, which is ignored for a
DRAFT; DECLINED and OVERDUE cannot be set at creation; dates are ISO 8601 date-times; 400 and 401
on create; 100 requests per second AND 5,000 requests per rolling 24 hours, each per API key,
either answering 429; every response carrying `X-RateLimit-Limit` and `X-RateLimit-Remaining`.

Assumed (not documented publicly; chosen here and nowhere else):
- Errors are `{"statusCode": N, "message": <the HTTP reason phrase, e.g. "Bad Request">,
  "errors": [...]}`, `errors` always present and listing every problem found in the request.
  A missing or unknown key answers 401 with message "Unauthorized". API access switched off
  in the sandbox settings answers 403.
- The rate-limit headers report the rolling 24-hour window: `X-RateLimit-Limit` is the daily
  limit (5000) and `X-RateLimit-Remaining` what the key has left after this request. They are on
  every vendor-path response, errors and 429s included (not on admin routes). billplan's
  provider budgets against them. A request counts against the day only when both limits let it
  through: a 429 (either limit) spends nothing, and its Remaining is what was left before it
  (0 when the day is used up). A 401 spends nothing and reports the full daily limit; a 403 for
  API access switched off spends nothing and reports the key's remaining. When both limits are
  reached, the 429 names the daily one. No Retry-After header.
- The per-second limit is a token bucket per key holding 100 and refilling at 100 per second.
  The rolling window frees each request exactly 24 hours after it was served. Both limits (and
  the bucket size) are sandbox settings; the daily limit can be raised or lowered but not
  switched off, because every response reports it. Usage belongs to the running process, like
  settings and faults: a new sandbox starts every key with a full day.
- recordId naming no project or account answers 400 (the create endpoint documents only 400
  and 401), listed with the other problems. Projects and accounts are both records and share
  one id sequence, so a recordId is never ambiguous.
- `invoice.record` is `{id, title}` of the record the invoice was made on; `invoice.account` is
  that record when it is an account, else the project's account, else null.
- PERCENTAGE: amount = percentage/100 x the project's contract value, rounded half-up to cents;
  `baseAmount` is that contract value and `lineItems` is empty. A record without a contract value
  (every account, a project seeded without one) cannot take a PERCENTAGE invoice (400). No upper
  bound on the percentage. `percentage` and `baseAmount` are null on LINE_ITEMS invoices.
- A line item is `{description, quantity, unitPrice, amount?}` on the way in and
  `{id, description, quantity, unitPrice, amount, sectionName}` on the way out. amount =
  quantity x unitPrice exactly, no rounding; an amount sent must be equal in value (15000 and
  15000.00 agree). quantity must be greater than 0; unitPrice may be negative (a discount, as on
  Coperniq's bills); description must be non-blank text. A section is `{name, lineItems}` with a
  non-blank name and at least one item. Ungrouped items come first, then each section's items in
  the order sent. An invoice's amount is the sum of its items. Line item ids are integers from
  their own sequence; replacing items gives the new ones new ids.
- Numbers read back in their shortest form, as a JavaScript server sends them (1600.00 -> 1600).
  Numbers sent as strings are refused. Fields an endpoint does not know are refused, on the
  invoice, its sections and its line items. `null` for `lineItems`, `sections`, `percentage`,
  `issueDate`, `status` means "not sent"; `null` for `description`, `dueDate` and `title` means
  "none" (and clears it on PATCH). An empty body reads as `{}`.
- Dates must be RFC 3339 date-times with `Z` or an offset (a bare date or a time without zone
  is refused); they are validated even where ignored (a DRAFT's issueDate) and read back in UTC
  with milliseconds, as JavaScript's toISOString writes them. createdAt and updatedAt likewise.
- `title` is optional; without one an invoice is titled "Invoice #<uid>". `type`, `basedOnId`
  and `basedOnUid` are null, `isArchived` and `sharedWithPortal` false. dueDate defaults to null.
  amountPaid is 0, or the whole amount for an invoice created PAID (a PARTIALLY_PAID one starts
  at 0: the create request has no field for what was paid).
- Invoice ids and invoice numbers (`uid`) are separate sequences, never reused; in the sandbox
  invoice numbers start at 1001 so that an id is never mistaken for a number.
- PATCH accepts `lineItems`, `sections`, `description`, `dueDate`, `title` and `percentage`,
  only while the invoice is DRAFT: any other status answers 409 Conflict, checked before the
  body. Sending `lineItems` or `sections` replaces every line item (an unsent one counts as
  empty) and the result needs at least one item. Items are refused on a PERCENTAGE invoice and a
  percentage on a LINE_ITEMS one. A new percentage is taken of the project's current contract
  value. `recordId`, `calculationMethod`, `status` and `issueDate` cannot be changed (400).
  Every successful PATCH moves updatedAt.
- DELETE removes a DRAFT for good and answers 204 with no body; any other status answers 409.
- `GET /projects/{projectId}/invoices` (by analogy with bills) answers a bare JSON array (v1 has
  no envelope; Coperniq's v2 adds one), ordered by id ascending; `page` >= 1 (default 1) and
  `page_size` 1..100 (default 20), anything else 400; a page past the end is empty. An unknown
  project, or an account's id, answers 404. Unknown query parameters are ignored.
- A path id that is not an integer answers 400; an unknown invoice 404. Trailing slashes are
  different paths (404). Exact wording of every message.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, ClassVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from .base import (
    AdminError,
    ApiError,
    Clock,
    Counter,
    Emulator,
    Json,
    JSONBody,
    Settings,
    Store,
    Table,
    WallClock,
    admin_json,
    admin_object,
    is_number,
    is_whole,
    loads,
    plain_number,
    refuse_unknown,
    routes_from,
    settings_from_json,
    utc_now,
)

API_ROOT = "/v1"

STATUSES = ("DRAFT", "SENT", "PARTIALLY_PAID", "PAID", "DECLINED", "OVERDUE")
# Statuses a create may ask for, and those of them that need an issueDate.
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
        "title",
    }
)
PATCH_FIELDS = frozenset({"lineItems", "sections", "description", "dueDate", "title", "percentage"})
LINE_ITEM_FIELDS = frozenset({"description", "quantity", "unitPrice", "amount"})
SECTION_FIELDS = frozenset({"name", "lineItems"})

INVOICE_SHAPE = (
    "id",
    "uid",
    "title",
    "status",
    "amount",
    "amountPaid",
    "calculationMethod",
    "createdAt",
    "updatedAt",
    "description",
    "type",
    "basedOnId",
    "basedOnUid",
    "dueDate",
    "isArchived",
    "sharedWithPortal",
    "percentage",
    "baseAmount",
    "account",
    "record",
    "lineItems",
    "issueDate",
)
LINE_ITEM_SHAPE = ("id", "description", "quantity", "unitPrice", "amount", "sectionName")
INVOICE_DEFAULTS: Mapping[str, Json] = {
    "type": None,
    "basedOnId": None,
    "basedOnUid": None,
    "isArchived": False,
    "sharedWithPortal": False,
}
PROJECT_SHAPE = ("id", "title", "contractValue", "accountId", "createdAt")
ACCOUNT_SHAPE = ("id", "title", "createdAt")
PROJECT, ACCOUNT = "PROJECT", "ACCOUNT"

DEFAULT_PAGE_SIZE = 20
PAGE_SIZES = range(1, 101)

# The reference leaves this status to us; an unknown recordId is one more 400 problem.
NOT_A_DRAFT_STATUS = 409
DEFAULT_ERRORS: Mapping[int, tuple[str, ...]] = {
    401: ("Send a valid API key in the x-api-key header.",),
    403: ("API access is switched off for this company.",),
    404: ("No such resource.",),
    405: ("This path does not support that method.",),
    429: ("Too many requests for this API key.",),
    500: ("Something went wrong on the server.",),
}

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


DEFAULT_SETTINGS = CoperniqSettings(rate_limit_per_second=100, burst=100, daily_limit=5000)

RECORDS = Table("coperniq_records", indexed=("type",))
INVOICES = Table("coperniq_invoices", indexed=("recordId", "uid"))
# Projects and accounts share the record ids; a reset counts every sequence from the start again.
RECORD_IDS = Counter(RECORDS.name)
INVOICE_IDS = Counter(INVOICES.name)
INVOICE_NUMBERS = Counter("coperniq_invoice_numbers", first=1001)
LINE_ITEM_IDS = Counter("coperniq_line_items")


# --------------------------------------------------------------------------------------------
# The rolling 24-hour window


class RollingWindow:
    """How many requests each key was served in the last `span` seconds of the clock; each one
    frees its place exactly `span` seconds after it was served."""

    def __init__(self, clock: Clock, span: float) -> None:
        self._clock = clock
        self._span = span
        self._lock = threading.Lock()
        self._served: dict[str, deque[float]] = {}

    def used(self, key: str) -> int:
        with self._lock:
            return len(self._pruned(key))

    def spend(self, key: str) -> int:
        """Count one request now; how many the window then holds."""
        with self._lock:
            served = self._pruned(key)
            served.append(self._clock())
            return len(served)

    def clear(self) -> None:
        with self._lock:
            self._served.clear()

    def _pruned(self, key: str) -> deque[float]:
        served = self._served.setdefault(key, deque())
        horizon = self._clock() - self._span
        while served and served[0] <= horizon:
            served.popleft()
        return served


# The X-RateLimit headers for the request being served; filled in by `admit`, sent with
# whatever response the request gets.
_QUOTA_HEADERS: ContextVar[list[tuple[bytes, bytes]] | None] = ContextVar(
    "coperniq_quota_headers", default=None
)


# --------------------------------------------------------------------------------------------
# Reading request bodies


def parse_date_time(value: Json) -> str | None:
    """An RFC 3339 date-time in UTC with milliseconds, or None when `value` is not one."""
    if not (isinstance(value, str) and re.fullmatch(DATE_TIME, value)):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return timestamp(moment)


def timestamp(moment: datetime) -> str:
    """As JavaScript's toISOString writes a date: UTC, milliseconds, Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: Decimal
    unit_price: Decimal
    section: str | None

    @property
    def amount(self) -> Decimal:
        return EXACT.multiply(self.quantity, self.unit_price)


@dataclass
class Form:
    """A request body read field by field; problems are collected, then raised together."""

    body: Mapping[str, Json]
    problems: list[str] = field(default_factory=list)
    # How many line items `lineItems` and `sections` held, valid or not.
    items_sent: int = 0

    def given(self, name: str) -> bool:
        return self.body.get(name) is not None

    def refuse_unknown(self, known: frozenset[str], fixed: frozenset[str] = frozenset()) -> None:
        for name in self.body:
            if name in fixed:
                self.problems.append(f"{name} cannot be changed")
            elif name not in known:
                self.problems.append(f"{name} is not a known field")

    def choice(self, name: str, options: Sequence[str]) -> str | None:
        value = self.body.get(name)
        if value is None:
            self.problems.append(f"{name} is required")
        elif value not in options:
            self.problems.append(f"{name} must be one of {', '.join(options)}")
        else:
            return str(value)
        return None

    def record_id(self) -> int | None:
        value = self.body.get("recordId")
        if value is None:
            self.problems.append("recordId is required")
        elif not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            self.problems.append("recordId must be an integer of at least 1")
        else:
            return value
        return None

    def text(self, name: str) -> str | None:
        """Optional text: a string, or null for none."""
        value = self.body.get(name)
        if value is not None and not isinstance(value, str):
            self.problems.append(f"{name} must be a string or null")
            return None
        return value

    def date_time(self, name: str) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        moment = parse_date_time(value)
        if moment is None:
            self.problems.append(
                f"{name} must be an ISO 8601 date-time with a time zone, e.g. {DATE_TIME_EXAMPLE}"
            )
        return moment

    def percentage(self) -> Decimal | None:
        value = self.body.get("percentage")
        if value is None:
            return None
        if not (is_number(value) and value >= 0):
            self.problems.append("percentage must be a number of at least 0")
            return None
        return Decimal(value)

    def line_items(self) -> list[LineItem] | None:
        """Every item `lineItems` and `sections` carry, ungrouped first; None when neither was
        sent."""
        if not (self.given("lineItems") or self.given("sections")):
            return None
        items: list[LineItem] = []
        if self.given("lineItems"):
            items += self._items(self.body["lineItems"], "lineItems", None)
        if self.given("sections"):
            sections = self.body["sections"]
            if not isinstance(sections, list):
                self.problems.append("sections must be a list of sections")
                return items
            for index, section in enumerate(sections):
                items += self._section(section, f"sections[{index}]")
        return items

    def _section(self, section: Json, where: str) -> list[LineItem]:
        if not isinstance(section, dict):
            self.problems.append(f"{where} must be an object with name and lineItems")
            return []
        self.problems.extend(
            f"{where}.{name} is not a known field" for name in section if name not in SECTION_FIELDS
        )
        name = section.get("name")
        if not (isinstance(name, str) and name.strip()):
            self.problems.append(f"{where}.name is required")
            name = None
        raw = section.get("lineItems")
        if raw is None or raw == []:
            self.problems.append(f"{where}.lineItems needs at least one line item")
            return []
        return self._items(raw, f"{where}.lineItems", name)

    def _items(self, raw: Json, where: str, section: str | None) -> list[LineItem]:
        if not isinstance(raw, list):
            self.problems.append(f"{where} must be a list of line items")
            return []
        self.items_sent += len(raw)
        items = []
        for index, item in enumerate(raw):
            read = self._item(item, f"{where}[{index}]", section)
            if read is not None:
                items.append(read)
        return items

    def _item(self, item: Json, where: str, section: str | None) -> LineItem | None:
        if not isinstance(item, dict):
            self.problems.append(f"{where} must be an object")
            return None
        before = len(self.problems)
        self.problems.extend(
            f"{where}.{name} is not a known field" for name in item if name not in LINE_ITEM_FIELDS
        )
        description = item.get("description")
        if not (isinstance(description, str) and description.strip()):
            self.problems.append(f"{where}.description is required")
        quantity = self._number(item, "quantity", where)
        if quantity is not None and quantity <= 0:
            self.problems.append(f"{where}.quantity must be greater than 0")
        unit_price = self._number(item, "unitPrice", where)
        sent_amount = item.get("amount")
        if sent_amount is not None and not is_number(sent_amount):
            self.problems.append(f"{where}.amount must be a number")
        if len(self.problems) > before:
            return None
        assert isinstance(description, str) and quantity is not None and unit_price is not None
        read = LineItem(description, quantity, unit_price, section)
        if sent_amount is not None and Decimal(sent_amount) != read.amount:
            self.problems.append(
                f"{where}.amount must equal quantity x unitPrice ({quantity} x {unit_price} = "
                f"{plain_number(read.amount)}), not {sent_amount}"
            )
            return None
        return read

    def _number(self, item: Mapping[str, Json], name: str, where: str) -> Decimal | None:
        value = item.get(name)
        if value is None:
            self.problems.append(f"{where}.{name} is required")
        elif not is_number(value):
            self.problems.append(f"{where}.{name} must be a number")
        else:
            return Decimal(value)
        return None

    def check(self) -> None:
        if self.problems:
            raise ApiError(400, "Bad Request", self.problems)


def body_object(raw: bytes) -> dict[str, Json]:
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except ValueError:
        raise ApiError(400, "Bad Request", ["The request body must be valid JSON."]) from None
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request", ["The request body must be a JSON object."])
    return body


def path_id(request: Request, name: str) -> int:
    raw: str = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(400, "Bad Request", [f"{name} must be an integer"])
    return int(raw)


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


def stored_items(db: sqlite3.Connection, items: Sequence[LineItem]) -> list[dict[str, Json]]:
    return [
        {
            "id": LINE_ITEM_IDS.take(db),
            "description": item.description,
            "quantity": plain_number(item.quantity),
            "unitPrice": plain_number(item.unit_price),
            "amount": plain_number(item.amount),
            "sectionName": item.section,
        }
        for item in items
    ]


def total(items: Sequence[Mapping[str, Json]]) -> int | Decimal:
    return plain_number(sum((Decimal(item["amount"]) for item in items), Decimal(0)))


def contract_value(record: Mapping[str, Json]) -> Decimal | None:
    value = record.get("contractValue")
    return None if value is None else Decimal(value)


@dataclass(frozen=True)
class Pricing:
    """What an invoice charges: its line items, or a percentage of a contract value."""

    items: tuple[LineItem, ...] = ()
    percentage: Decimal | None = None
    base: Decimal | None = None

    def stored(self, db: sqlite3.Connection) -> dict[str, Json]:
        if self.percentage is None or self.base is None:
            items = stored_items(db, self.items)
            return {
                "amount": total(items),
                "percentage": None,
                "baseAmount": None,
                "lineItems": items,
            }
        return {
            "amount": plain_number(percentage_of(self.percentage, self.base)),
            "percentage": plain_number(self.percentage),
            "baseAmount": plain_number(self.base),
            "lineItems": [],
        }


# --------------------------------------------------------------------------------------------
# Shaping stored documents into wire objects


def shaped(doc: Mapping[str, Json], shape: tuple[str, ...]) -> dict[str, Json]:
    return {name: doc.get(name) for name in shape}


def record_ref(record: Mapping[str, Json] | None) -> dict[str, Json] | None:
    return None if record is None else {"id": record["id"], "title": record["title"]}


def account_of(
    db: sqlite3.Connection, record: Mapping[str, Json] | None
) -> Mapping[str, Json] | None:
    if record is None or record["type"] == ACCOUNT:
        return record
    account_id = record.get("accountId")
    return None if account_id is None else RECORDS.get(db, str(account_id))


def render_invoice(db: sqlite3.Connection, doc: Mapping[str, Json]) -> dict[str, Json]:
    record = RECORDS.get(db, str(doc["recordId"]))
    joined = {
        **doc,
        "account": record_ref(account_of(db, record)),
        "record": record_ref(record),
        "lineItems": [shaped(item, LINE_ITEM_SHAPE) for item in doc["lineItems"]],
    }
    return shaped(joined, INVOICE_SHAPE)


def by_id(docs: list[dict[str, Json]]) -> list[dict[str, Json]]:
    return sorted(docs, key=lambda doc: int(doc["id"]))


# --------------------------------------------------------------------------------------------
# The emulator


class CoperniqEmulator(Emulator):
    name: ClassVar[str] = "coperniq"
    api_root: ClassVar[str] = API_ROOT
    tables: ClassVar[tuple[Table, ...]] = (RECORDS, INVOICES)
    counters: ClassVar[tuple[Counter, ...]] = (
        RECORD_IDS,
        INVOICE_IDS,
        INVOICE_NUMBERS,
        LINE_ITEM_IDS,
    )
    default_settings: ClassVar[Settings] = DEFAULT_SETTINGS
    access_disabled_status: ClassVar[int] = 403

    def __init__(
        self, store: Store, *, clock: Clock = time.monotonic, wall_clock: WallClock = utc_now
    ) -> None:
        self.day = RollingWindow(clock, DAY_SECONDS)
        # Checking the day, taking a per-second token and spending the day happen as one step.
        self._admission = threading.Lock()
        super().__init__(store, clock=clock, wall_clock=wall_clock)

    @property
    def daily_limit(self) -> int:
        settings = self.settings
        assert isinstance(settings, CoperniqSettings)
        return settings.daily_limit

    # ---- the vendor's differences from the base -------------------------------------------

    def error_response(
        self,
        status: int,
        message: str | None = None,
        errors: Sequence[Json] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        body = {
            "statusCode": status,
            "message": message or self.message_for(status),
            "errors": list(errors or DEFAULT_ERRORS.get(status, ())),
        }
        return JSONBody(body, status_code=status, headers=dict(headers or {}))

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
                    429,
                    errors=[f"Daily limit reached: {limit} requests per rolling 24 hours per key."],
                )
            if not self.limiter.take(key):
                self._report(limit, left)
                rate = self.settings.rate_limit_per_second
                return self.error_response(
                    429, errors=[f"Rate limit reached: {rate} requests per second per key."]
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
        context = _QUOTA_HEADERS.set(stamped)

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start" and stamped:
                message = {**message, "headers": [*message.get("headers", []), *stamped]}
            await send(message)

        try:
            await super().__call__(scope, receive, send_stamped)
        finally:
            _QUOTA_HEADERS.reset(context)

    def read_settings(self, body: Json) -> Settings:
        body = admin_object(body)
        common = settings_from_json(
            self.settings, {key: value for key, value in body.items() if key != "daily_limit"}
        )
        if "daily_limit" not in body:
            return common
        daily = body["daily_limit"]
        if not (is_whole(daily) and daily >= 1):
            raise AdminError(400, "daily_limit must be a whole number of at least 1")
        assert isinstance(common, CoperniqSettings)
        return replace(common, daily_limit=int(daily))

    def reset(self) -> None:
        super().reset()
        self.day.clear()

    def vendor_routes(self) -> list[BaseRoute]:
        return routes_from(
            [
                ("POST", "/invoices", self.create_invoice),
                ("GET", "/invoices/{invoiceId}", self.get_invoice),
                ("PATCH", "/invoices/{invoiceId}", self.update_invoice),
                ("DELETE", "/invoices/{invoiceId}", self.delete_invoice),
                ("GET", "/projects/{projectId}/invoices", self.list_project_invoices),
            ]
        )

    # ---- invoices --------------------------------------------------------------------------

    async def create_invoice(self, request: Request) -> Response:
        form = Form(body_object(await request.body()))
        form.refuse_unknown(CREATE_FIELDS)
        with self.store.transaction() as db:
            record_id = form.record_id()
            record = None if record_id is None else RECORDS.get(db, str(record_id))
            if record_id is not None and record is None:
                form.problems.append(
                    f"recordId {record_id} does not refer to an existing project or account"
                )
            method = form.choice("calculationMethod", CALCULATION_METHODS)
            items = form.line_items()
            percentage = form.percentage()
            status = self._creatable_status(form)
            issue_date = form.date_time("issueDate")
            if status in ISSUED_STATUSES and not form.given("issueDate"):
                form.problems.append(f"issueDate is required when status is {status}")
            due_date = form.date_time("dueDate")
            description = form.text("description")
            title = form.text("title")
            pricing = self._pricing(form, method, items, percentage, record)
            form.check()
            assert record is not None and status is not None and pricing is not None
            now = timestamp(self.wall_clock())
            uid = INVOICE_NUMBERS.take(db)
            doc: dict[str, Json] = {
                **INVOICE_DEFAULTS,
                "id": INVOICE_IDS.take(db),
                "uid": uid,
                "title": title if "title" in form.body else f"Invoice #{uid}",
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
        key = path_id(request, "invoiceId")
        with self.store.transaction() as db:
            return JSONBody(render_invoice(db, self._invoice(db, key)))

    async def update_invoice(self, request: Request) -> Response:
        key = path_id(request, "invoiceId")
        raw = await request.body()
        with self.store.transaction() as db:
            doc = self._editable(db, key)
            form = Form(body_object(raw))
            form.refuse_unknown(PATCH_FIELDS, fixed=CREATE_FIELDS - PATCH_FIELDS)
            changes: dict[str, Json] = {}
            for name in ("description", "title"):
                if name in form.body:
                    changes[name] = form.text(name)
            if "dueDate" in form.body:
                changes["dueDate"] = form.date_time("dueDate")
            items = form.line_items()
            percentage = form.percentage()
            record = RECORDS.get(db, str(doc["recordId"]))
            pricing = None
            if items is not None or percentage is not None:
                method = str(doc["calculationMethod"])
                pricing = self._pricing(form, method, items, percentage, record)
            form.check()
            updated = {
                **doc,
                **changes,
                **({} if pricing is None else pricing.stored(db)),
                "updatedAt": timestamp(self.wall_clock()),
            }
            INVOICES.replace(db, updated)
            return JSONBody(render_invoice(db, updated))

    async def delete_invoice(self, request: Request) -> Response:
        key = path_id(request, "invoiceId")
        with self.store.transaction() as db:
            self._editable(db, key)
            INVOICES.delete(db, str(key))
        return Response(status_code=204)

    async def list_project_invoices(self, request: Request) -> Response:
        project_id = path_id(request, "projectId")
        page = query_whole(request, "page", 1, None)
        size = query_whole(request, "page_size", DEFAULT_PAGE_SIZE, PAGE_SIZES)
        problems = [wrong for wrong in (page, size) if isinstance(wrong, str)]
        if problems:
            raise ApiError(400, "Bad Request", problems)
        assert isinstance(page, int) and isinstance(size, int)
        with self.store.transaction() as db:
            project = RECORDS.get(db, str(project_id))
            if project is None or project["type"] != PROJECT:
                raise ApiError(404, "Not Found", [f"Project {project_id} not found"])
            docs = by_id(INVOICES.all(db, {"recordId": str(project_id)}))
            start = (page - 1) * size
            return JSONBody([render_invoice(db, doc) for doc in docs[start : start + size]])

    # ---- rules ----------------------------------------------------------------------------

    @staticmethod
    def _creatable_status(form: Form) -> str | None:
        status = form.body.get("status")
        if status is None:
            return "DRAFT"
        if status in CREATABLE_STATUSES:
            return str(status)
        if status in STATUSES:
            form.problems.append(f"status {status} cannot be set when an invoice is created")
        else:
            form.problems.append(f"status must be one of {', '.join(CREATABLE_STATUSES)}")
        return None

    @staticmethod
    def _pricing(
        form: Form,
        method: str | None,
        items: list[LineItem] | None,
        percentage: Decimal | None,
        record: Mapping[str, Json] | None,
    ) -> Pricing | None:
        """What the invoice charges under its calculation method, or None (with the problems
        noted) when the request does not say it properly."""
        if method == "LINE_ITEMS":
            if percentage is not None:
                form.problems.append("percentage applies only when calculationMethod is PERCENTAGE")
            if items is None:
                form.problems.append(
                    "lineItems or sections is required when calculationMethod is LINE_ITEMS"
                )
            elif form.items_sent == 0:
                form.problems.append("a LINE_ITEMS invoice needs at least one line item")
        elif method == "PERCENTAGE":
            if items is not None:
                form.problems.append(
                    "lineItems and sections apply only when calculationMethod is LINE_ITEMS"
                )
            if not form.given("percentage"):
                form.problems.append("percentage is required when calculationMethod is PERCENTAGE")
            if record is not None and contract_value(record) is None:
                form.problems.append(
                    f"record {record['id']} has no contract value to take a percentage of"
                )
        if form.problems or method is None or record is None:
            return None
        if method == "LINE_ITEMS":
            assert items is not None
            return Pricing(items=tuple(items))
        base = contract_value(record)
        assert percentage is not None and base is not None
        return Pricing(percentage=percentage, base=base)

    def _invoice(self, db: sqlite3.Connection, key: int) -> dict[str, Json]:
        doc = INVOICES.get(db, str(key))
        if doc is None:
            raise ApiError(404, "Not Found", [f"Invoice {key} not found"])
        return doc

    def _editable(self, db: sqlite3.Connection, key: int) -> dict[str, Json]:
        doc = self._invoice(db, key)
        if doc["status"] not in EDITABLE_STATUSES:
            raise ApiError(
                NOT_A_DRAFT_STATUS,
                "Conflict",
                [f"Invoice {key} is {doc['status']}; only a DRAFT invoice can be changed"],
            )
        return doc

    # ---- admin: seeding and changes behind the client's back ------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        table: list[tuple[str, str, Any]] = [
            ("GET", "/projects", self.admin_list_projects),
            ("POST", "/projects", self.admin_add_project),
            ("GET", "/accounts", self.admin_list_accounts),
            ("POST", "/accounts", self.admin_add_account),
            ("GET", "/invoices", self.admin_list_invoices),
            ("POST", "/invoices", self.admin_add_invoice),
            ("PATCH", "/invoices/{id}", self.admin_edit_invoice),
            ("DELETE", "/invoices/{id}", self.admin_delete_invoice),
            ("POST", "/invoices/{id}/status", self.admin_set_status),
        ]
        return routes_from(table)

    async def admin_list_projects(self, request: Request) -> Response:
        with self.store.transaction() as db:
            projects = by_id(RECORDS.all(db, {"type": PROJECT}))
            return JSONBody([shaped(doc, PROJECT_SHAPE) for doc in projects])

    async def admin_add_project(self, request: Request) -> Response:
        body = admin_object(await admin_json(request))
        refuse_unknown(body, {"id", "title", "contractValue", "accountId"})
        value = body.get("contractValue")
        if value is not None and not (is_number(value) and value >= 0):
            raise AdminError(400, "contractValue must be a number of at least 0, or null")
        with self.store.transaction() as db:
            account_id = body.get("accountId")
            if account_id is not None:
                account = RECORDS.get(db, str(account_id)) if is_whole(account_id) else None
                if account is None or account["type"] != ACCOUNT:
                    raise AdminError(400, "accountId must be the id of a seeded account")
            doc = {
                "id": _new_admin_id(db, RECORDS, RECORD_IDS, body.get("id")),
                "type": PROJECT,
                "title": _admin_text(body, "title"),
                "contractValue": None if value is None else plain_number(value),
                "accountId": account_id,
                "createdAt": timestamp(self.wall_clock()),
            }
            RECORDS.insert(db, doc)
        return JSONBody(shaped(doc, PROJECT_SHAPE), status_code=201)

    async def admin_list_accounts(self, request: Request) -> Response:
        with self.store.transaction() as db:
            accounts = by_id(RECORDS.all(db, {"type": ACCOUNT}))
            return JSONBody([shaped(doc, ACCOUNT_SHAPE) for doc in accounts])

    async def admin_add_account(self, request: Request) -> Response:
        body = admin_object(await admin_json(request))
        refuse_unknown(body, {"id", "title"})
        with self.store.transaction() as db:
            doc = {
                "id": _new_admin_id(db, RECORDS, RECORD_IDS, body.get("id")),
                "type": ACCOUNT,
                "title": _admin_text(body, "title"),
                "contractValue": None,
                "accountId": None,
                "createdAt": timestamp(self.wall_clock()),
            }
            RECORDS.insert(db, doc)
        return JSONBody(shaped(doc, ACCOUNT_SHAPE), status_code=201)

    async def admin_list_invoices(self, request: Request) -> Response:
        with self.store.transaction() as db:
            return JSONBody([render_invoice(db, doc) for doc in by_id(INVOICES.all(db))])

    async def admin_add_invoice(self, request: Request) -> Response:
        """An invoice as a person would make it in Coperniq's UI: none of the API's rules
        apply; only the record must exist, so that the invoice can be shown."""
        body = admin_object(await admin_json(request))
        refuse_unknown(body, ADMIN_INVOICE_FIELDS | {"id"})
        if body.get("recordId") is None:
            raise AdminError(400, "recordId is required")
        with self.store.transaction() as db:
            now = timestamp(self.wall_clock())
            key = _new_admin_id(db, INVOICES, INVOICE_IDS, body.get("id"))
            doc: dict[str, Json] = {
                **INVOICE_DEFAULTS,
                "id": key,
                "uid": None,
                "title": None,
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
                "issueDate": None,
            }
            doc.update(_admin_invoice_changes(db, doc, body))
            if doc["uid"] is None:
                doc["uid"] = INVOICE_NUMBERS.take(db)
            if doc["title"] is None and "title" not in body:
                doc["title"] = f"Invoice #{doc['uid']}"
            if "amountPaid" not in body and doc["status"] == "PAID":
                doc["amountPaid"] = doc["amount"]
            INVOICES.insert(db, doc)
            return JSONBody(render_invoice(db, doc), status_code=201)

    async def admin_edit_invoice(self, request: Request) -> Response:
        """Change any field, whatever the status, as someone editing in Coperniq would."""
        body = admin_object(await admin_json(request))
        refuse_unknown(body, ADMIN_INVOICE_FIELDS)
        with self.store.transaction() as db:
            doc = _admin_invoice(db, request)
            updated = {**doc, **_admin_invoice_changes(db, doc, body)}
            updated["updatedAt"] = timestamp(self.wall_clock())
            INVOICES.replace(db, updated)
            return JSONBody(render_invoice(db, updated))

    async def admin_delete_invoice(self, request: Request) -> Response:
        with self.store.transaction() as db:
            doc = _admin_invoice(db, request)
            INVOICES.delete(db, str(doc["id"]))
        return Response(status_code=204)

    async def admin_set_status(self, request: Request) -> Response:
        """Move an invoice through its lifecycle as a person would: leaving DRAFT issues it
        (today, unless `issueDate` says when), PAID pays it in full, DRAFT un-issues it."""
        body = admin_object(await admin_json(request))
        refuse_unknown(body, {"status", "issueDate", "amountPaid"})
        status = body.get("status")
        if status not in STATUSES:
            raise AdminError(400, f"status must be one of {', '.join(STATUSES)}")
        with self.store.transaction() as db:
            doc = _admin_invoice(db, request)
            now = timestamp(self.wall_clock())
            updated = {**doc, "status": status, "updatedAt": now}
            if status == "DRAFT":
                updated["issueDate"] = None
            elif body.get("issueDate") is not None:
                updated["issueDate"] = _admin_date_time(body, "issueDate")
            elif doc["issueDate"] is None:
                updated["issueDate"] = now
            if "amountPaid" in body:
                updated["amountPaid"] = _admin_number(body, "amountPaid")
            elif status == "PAID":
                updated["amountPaid"] = doc["amount"]
            elif status == "DRAFT":
                updated["amountPaid"] = 0
            INVOICES.replace(db, updated)
            return JSONBody(render_invoice(db, updated))


# --------------------------------------------------------------------------------------------
# Admin helpers

ADMIN_INVOICE_FIELDS = frozenset(
    {
        "uid",
        "recordId",
        "title",
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


def _admin_text(body: Mapping[str, Json], name: str) -> str:
    value = body.get(name)
    if not (isinstance(value, str) and value.strip()):
        raise AdminError(400, f"{name} is required and must be a non-empty string")
    return value


def _admin_number(body: Mapping[str, Json], name: str) -> int | Decimal:
    value = body.get(name)
    if not is_number(value):
        raise AdminError(400, f"{name} must be a number")
    return plain_number(value)


def _admin_date_time(body: Mapping[str, Json], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    moment = parse_date_time(value)
    if moment is None:
        raise AdminError(400, f"{name} must be an ISO 8601 date-time such as {DATE_TIME_EXAMPLE}")
    return moment


def _new_admin_id(db: sqlite3.Connection, table: Table, counter: Counter, wanted: Json) -> int:
    if wanted is None:
        return counter.take(db)
    if not (isinstance(wanted, int) and not isinstance(wanted, bool) and wanted >= 1):
        raise AdminError(400, f"id must be an integer of at least 1, as Coperniq's are: {wanted!r}")
    if table.get(db, str(wanted)) is not None:
        raise AdminError(409, f"an object with id {wanted} already exists")
    counter.claim(db, wanted)
    return wanted


def _admin_invoice(db: sqlite3.Connection, request: Request) -> dict[str, Json]:
    raw: str = request.path_params["id"]
    doc = INVOICES.get(db, raw) if raw.isascii() and raw.isdigit() else None
    if doc is None:
        raise AdminError(404, f"no invoice with id {raw}")
    return doc


def _admin_line_items(db: sqlite3.Connection, value: Json) -> list[dict[str, Json]]:
    if not isinstance(value, list):
        raise AdminError(400, "lineItems must be a list")
    items = []
    for item in value:
        item = admin_object(item)
        refuse_unknown(item, {"description", "quantity", "unitPrice", "amount", "sectionName"})
        quantity = _admin_number(item, "quantity")
        unit_price = _admin_number(item, "unitPrice")
        section = item.get("sectionName")
        if section is not None and not isinstance(section, str):
            raise AdminError(400, "sectionName must be a string or null")
        amount = item.get("amount")
        items.append(
            {
                "id": LINE_ITEM_IDS.take(db),
                "description": _admin_text(item, "description"),
                "quantity": quantity,
                "unitPrice": unit_price,
                "amount": plain_number(
                    EXACT.multiply(Decimal(quantity), Decimal(unit_price))
                    if amount is None
                    else _admin_number(item, "amount")
                ),
                "sectionName": section,
            }
        )
    return items


def _admin_invoice_changes(
    db: sqlite3.Connection, doc: Mapping[str, Json], body: Mapping[str, Json]
) -> dict[str, Json]:
    """Fields as sent, checked only for type; the amount follows the items or the percentage
    unless it is sent too."""
    readers: Mapping[str, Callable[[Json], Json]] = {
        "uid": lambda value: _admin_uid(db, doc, value),
        "recordId": lambda value: _admin_record(db, value),
        "title": lambda value: _admin_optional_text(body, "title"),
        "description": lambda value: _admin_optional_text(body, "description"),
        "status": lambda value: _admin_choice("status", value, STATUSES),
        "calculationMethod": lambda value: _admin_choice(
            "calculationMethod", value, CALCULATION_METHODS
        ),
        "lineItems": lambda value: _admin_line_items(db, value),
        "percentage": lambda value: None if value is None else _admin_number(body, "percentage"),
        "amount": lambda value: _admin_number(body, "amount"),
        "amountPaid": lambda value: _admin_number(body, "amountPaid"),
        "dueDate": lambda value: _admin_date_time(body, "dueDate"),
        "issueDate": lambda value: _admin_date_time(body, "issueDate"),
        "isArchived": lambda value: _admin_flag("isArchived", value),
        "sharedWithPortal": lambda value: _admin_flag("sharedWithPortal", value),
    }
    changes = {name: readers[name](value) for name, value in body.items() if name in readers}
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
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
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


def _admin_optional_text(body: Mapping[str, Json], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise AdminError(400, f"{name} must be a string or null")
    return value


def _admin_choice(name: str, value: Json, options: Sequence[str]) -> str:
    if value not in options:
        raise AdminError(400, f"{name} must be one of {', '.join(options)}")
    return str(value)


def _admin_flag(name: str, value: Json) -> bool:
    if not isinstance(value, bool):
        raise AdminError(400, f"{name} must be true or false")
    return value
