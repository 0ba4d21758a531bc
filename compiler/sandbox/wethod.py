"""The Wethod emulator: Wethod's public API (`/api/invoices` and its `:send` / `:set-paid`
actions), with the admin routes that seed companies, projects, VAT rates, payment terms and
tokens, give and take away each token's permissions, and change invoices behind the client's back.

From the vendor's spec (`api/specs/wethod.openapi.yml`; operationIds in brackets):
- Bearer auth plus the required `Wethod-Company` and `Wethod-Version: 2024-06-15` headers (every
  operation's parameters). Integer ids >= 1, `budget_area_uid` a string; the Invoice object and
  its fields; `value` and `exchange_rate` JSON numbers in major units, no currency field.
- [createInvoice] 201 with the draft invoice; InvoiceCreate's fields, nothing else
  (additionalProperties: false); `invoice_number` at most 255 characters.
- [listInvoices] a bare JSON array, `limit` 1..100 (default 100), `offset` (default 0); filters
  `project_id`, `issue_date`, `payment_date`, `updated_at`, each a value (eq) or
  `eq: neq: gt: gte: lt: lte: in:a,b nin:a,b bt:min,max` plus a value (the FilterValue schema);
  the `+` of an `updated_at` offset must arrive as `%2B` (a bare `+` is a space: 400).
- [updateInvoice] PATCH with any of the create fields, `project_id` included (InvoiceUpdate);
  200 with the invoice. [deleteInvoice] 200, with no body. [sendInvoice] draft -> sent, its body
  may name `invoice_contact_id`; [setPaidInvoice] sent -> paid, body `{payment_date?}` (today
  when absent); both answer 200 with the invoice.
- Permissions per operation (`x-permissions`), with "own" = a project where the token's user is
  PM or Account; see wethod_permissions.py for the keys, and for which of them the spec itself
  assumes (get, update, send).
- Errors `{"key", "message"}`; 400 `invalid_data` with `failures` [{field, message}] listing
  every problem; 403 for a missing permission; 412 `precondition_failure`; 429 with the wait in
  whole seconds in `x-ratelimit-retry-after`. A token may make 5,000 requests an hour
  (x-rate-limit, from a public client), and that is the only limit: the spec names no rate a
  second and no burst, so none is enforced (a test may still set one through the common
  `rate_limit_per_second` setting, off by default).

Assumed (the spec is silent; chosen here and nowhere else):
- The hour is rolling: a request frees its place an hour after it was served, and the 429's
  wait is until the token's oldest request of the hour frees. Rolling, not the clock's hour,
  because it is the reading a client can least rely on being generous: a fixed hour lets 5,000
  through at 12:59 and 5,000 more at 13:00, the rolling one refuses the second batch, and a
  client that keeps within a rolling hour keeps within any fixed one too. The whole budget may
  go at once (nothing documented spreads it over the hour). One the hourly limit refuses does
  not count. 429 key `too_many_requests`. Requests refused with 401 count against no limit.
- A missing `Wethod-Company` or `Wethod-Version` header answers 400 `invalid_data` with one
  failure per missing header, the field being the header's name. A version other than
  2024-06-15 answers 412, as does a company slug that is not the token's company (compared
  exactly). Checked after credentials (401), the API access switch and the rate limits.
- Disabled API access (the sandbox's switch) answers 403 `forbidden`. A 429 injected as a fault
  carries `x-ratelimit-retry-after: 1` unless the fault names a wait; a 400 always carries
  `failures` (empty when a fault injects it).
- Error keys other than invalid_data and precondition_failure: 401 `unauthorized`, 403
  `forbidden`, 404 `not_found`, 405 `method_not_allowed`, 429 `too_many_requests`, 500
  `internal_error`, others the status phrase in snake case. Every message's wording except the
  invalid_data one.
- Create: `project_id`, `value` and `issue_date` are required (the spec's own assumption). An
  unknown project (or one of another company), VAT rate or payment term is a 400 failure on its
  field; a budget area must be one of the project's. `exchange_rate` must be greater than 0 when
  given. Ids must be JSON integers >= 1 and numbers JSON numbers (strings are refused); `null`
  means not given. Read-only fields such as `status` are failures ("Unknown field."). A body
  that is not a JSON object is one failure on the field `body`.
- `value` and `exchange_rate` are kept exactly, any sign and any number of digits, and read back
  in their shortest form (1600.00 -> 1600). Invoice numbers need not be unique.
- Checks run in this order: a create or a list by a token with neither key of the pair is
  refused (403) before its body or query is read; then the invoice (404); then the key for its
  project and `invoices.edit_sent` (403); then validation (400); then the key for a project
  named in the body (403); then an archived project (412); then the invoice's status (412).
- PATCH with `invoices.edit_sent` may change a sent or paid invoice. Moving an invoice keeps its
  budget area only if the new project has it (a failure otherwise). `status` changes only
  through the actions. `updated_at` moves only when a PATCH changes a value.
- Writes (PATCH, DELETE, :send, :set-paid) on an invoice of an archived project, or a move to
  one, answer 412. `:send` from any status but draft and `:set-paid` from any but sent answer
  412. `invoice_contact_id` on `:send` must be an integer >= 1 or null, and is not kept.
- `payment_date` on `:set-paid` is YYYY-MM-DD or null; today in UTC when absent.
- The list is ordered by id ascending. `bt:min,max` is inclusive; `in:` and `nin:` take one or
  more comma-separated values. `updated_at` filters take ISO 8601 timestamps (a date alone
  means midnight UTC; no offset means UTC). A malformed filter, limit or offset is a 400
  failure on that parameter. Unknown query parameters are ignored.
- An invoice of another company, like an unknown id, answers 404 `not_found`. An id that is
  not an integer matches no route (404).
- Ids are allocated per table and never reused, across companies.
- Each company is seeded with VAT rates 22 and 0 and payment terms of 30 and 60 days; the
  sandbox starts with company "sandbox" and the token "sandbox" (user "sandbox-user") holding
  what a finance user running billplan needs: every invoices.* key except invoices.edit_sent.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any, ClassVar

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from . import wethod_permissions as needs
from .base import Emulator
from .kit import admin, forms, wire
from .kit.errors import AdminError, ApiError
from .kit.limits import RollingWindow
from .kit.routing import Collection, collection_routes
from .kit.settings import Settings
from .kit.store import Table
from .kit.wire import Json, JSONBody, is_date, is_id, is_number, is_whole, plain_number, shaped
from .seeding import Body, Bootstrap, Item, Lock, Objects, SeedError, Seeding
from .wethod_permissions import (
    FINANCE,
    PERMISSIONS,
    ROLES,
    Access,
    require_either,
    require_for_invoice,
    require_for_projects,
)

API_ROOT = ""
COMPANY_HEADER = "Wethod-Company"
VERSION_HEADER = "Wethod-Version"
REQUIRED_HEADERS = (COMPANY_HEADER, VERSION_HEADER)
SUPPORTED_VERSIONS = ("2024-06-15",)

STATUSES = ("draft", "sent", "paid")

INVALID_DATA = "You provided invalid data. Check 'failures' for details."
ERROR_KEYS = {
    400: "invalid_data",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    412: "precondition_failure",
    429: "too_many_requests",
    500: "internal_error",
}
STATUS_MESSAGES = {
    400: INVALID_DATA,
    401: "The access token is missing or invalid.",
    403: "You do not have the permission to perform this action.",
    404: "The requested resource does not exist.",
    405: "This method is not allowed on this path.",
    412: "A precondition of the request failed.",
    429: "Too many requests. Retry after the number of seconds in x-ratelimit-retry-after.",
    500: "Something went wrong on our side.",
}

PAGE_LIMITS = range(1, 101)
DEFAULT_PAGE_LIMIT = 100

SANDBOX_COMPANY = "sandbox"
SANDBOX_USER = "sandbox-user"
DEFAULT_PERMISSIONS = FINANCE
# The documented personal limit: requests per token in any hour (a rolling hour here).
HOURLY_LIMIT = 5000
HOUR = 3600.0
RETRY_HEADER = "x-ratelimit-retry-after"
DEFAULT_VAT_RATES = (22, 0)
DEFAULT_PAYMENT_TERMS = (30, 60)

SLUG_FORMAT = re.compile(r"[a-z0-9][a-z0-9-]*")
DIGITS = re.compile(r"[0-9]+")

# Ids are counted per table, across companies, so that a deleted invoice's id is never reused.
COMPANIES = Table("wethod_companies", id_field="slug", created_field="created_at")
PROJECTS = Table("wethod_projects", indexed=("company",), created_field="created_at", counted=True)
VAT_RATES = Table(
    "wethod_vat_rates", indexed=("company",), created_field="created_at", counted=True
)
PAYMENT_TERMS = Table(
    "wethod_payment_terms", indexed=("company",), created_field="created_at", counted=True
)
INVOICES = Table("wethod_invoices", indexed=("company",), created_field="created_at", counted=True)

INVOICE_SHAPE = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "invoice_number",
    "purchase_order",
    "value",
    "exchange_rate",
    "issue_date",
    "payment_date",
    "notes",
    "project_id",
    "budget_area_uid",
    "vat_rate_id",
    "payment_term_id",
)
PROJECT_SHAPE = ("id", "company", "name", "pm", "account", "archived", "budget_areas")
COMPANY_SHAPE = ("slug", "name")
VAT_RATE_SHAPE = ("id", "company", "rate")
PAYMENT_TERM_SHAPE = ("id", "company", "days")


# --------------------------------------------------------------------------------------------
# Tokens and settings


@dataclass(frozen=True)
class Grant:
    """What a token is: who uses it, in which company, with which permissions."""

    token: str
    company: str
    user: str
    permissions: tuple[str, ...]

    def with_permission(self, permission: str, held: bool) -> Grant:
        """This token with `permission` given (held) or taken away; the order stays the
        catalogue's, so a permission given back reads back where it was."""
        wanted = set(self.permissions) - {permission} | ({permission} if held else set())
        ordered = [p for p in PERMISSIONS if p in wanted]
        return replace(self, permissions=tuple(ordered))

    def as_json(self) -> dict[str, Json]:
        return wire.record_json(self, ("token", "company", "user", "permissions"))


SANDBOX_GRANT = Grant("sandbox", SANDBOX_COMPANY, SANDBOX_USER, DEFAULT_PERMISSIONS)


@dataclass(frozen=True)
class WethodSettings(Settings):
    """The common settings, with each token's company, user and permissions, and the requests
    a token may make in any hour (None: no hourly limit)."""

    grants: tuple[Grant, ...] = (SANDBOX_GRANT,)
    hourly_limit: int | None = HOURLY_LIMIT

    def as_json(self) -> dict[str, Json]:
        return {
            **super().as_json(),
            "hourly_limit": self.hourly_limit,
            "tokens": [grant.as_json() for grant in self.grants],
        }


def _hourly_limit(hourly: Json) -> dict[str, Json]:
    if hourly is not None and not (is_whole(hourly) and hourly >= 1):
        raise AdminError(400, "hourly_limit must be a whole number of at least 1, or null")
    return {"hourly_limit": None if hourly is None else int(hourly)}


# No rate a second: Wethod documents only the hour's (the burst matters only when a test sets
# a rate).
DEFAULT_SETTINGS = WethodSettings(rate_limit_per_second=None, burst=1)


def grant_from_json(value: Json) -> Grant:
    """A token in PUT /_sandbox/settings: an object, or a bare string for a token with the
    sandbox user's company, user and permissions."""
    if isinstance(value, str):
        value = {"token": value}
    body = admin.admin_object(value)
    admin.refuse_unknown(body, {"token", "company", "user", "permissions"})
    permissions = body.get("permissions", list(DEFAULT_PERMISSIONS))
    if not (isinstance(permissions, list) and all(isinstance(p, str) for p in permissions)):
        raise AdminError(400, "permissions must be a list of permission names")
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown:
        raise AdminError(400, f"unknown permission(s) {', '.join(unknown)}; known: {PERMISSIONS}")
    return Grant(
        token=admin.text(body, "token"),
        company=admin.text(body, "company", SANDBOX_COMPANY),
        user=admin.text(body, "user", SANDBOX_USER),
        permissions=tuple(dict.fromkeys(permissions)),
    )


# --------------------------------------------------------------------------------------------
# Wire values


def failure(name: str, message: str) -> dict[str, Json]:
    return {"field": name, "message": message}


def invalid(failures: Sequence[dict[str, Json]]) -> ApiError:
    return ApiError(400, INVALID_DATA, failures)


# Any body that is not a JSON object is one failure on the field `body` (InvoiceForm.wording).
NOT_AN_OBJECT = "The request body must be a JSON object."


# --------------------------------------------------------------------------------------------
# Reading an invoice body


@dataclass(frozen=True)
class Reference:
    table: Table
    noun: str


@dataclass(frozen=True)
class FieldRule:
    """One field of a body: its kind (text, number, date, id), whether create needs it, and
    what must exist for it to be valid."""

    name: str
    kind: str
    required: bool = False
    limit: int | None = None
    positive: bool = False
    refers_to: Reference | None = None


INVOICE_FIELDS = (
    FieldRule("invoice_number", "text", limit=255),
    FieldRule("purchase_order", "text"),
    FieldRule("value", "number", required=True),
    FieldRule("exchange_rate", "number", positive=True),
    FieldRule("issue_date", "date", required=True),
    FieldRule("notes", "text"),
    FieldRule("project_id", "id", required=True, refers_to=Reference(PROJECTS, "project")),
    FieldRule("budget_area_uid", "text"),
    FieldRule("vat_rate_id", "id", refers_to=Reference(VAT_RATES, "VAT rate")),
    FieldRule("payment_term_id", "id", refers_to=Reference(PAYMENT_TERMS, "payment term")),
)
INVOICE_FIELD_NAMES = frozenset(rule.name for rule in INVOICE_FIELDS)


def _text(rule: FieldRule, value: Json) -> tuple[Json, str | None]:
    if not isinstance(value, str):
        return None, "Must be a string."
    if rule.limit is not None and len(value) > rule.limit:
        return None, f"Must be at most {rule.limit} characters."
    return value, None


def _number(rule: FieldRule, value: Json) -> tuple[Json, str | None]:
    if not is_number(value):
        return None, "Must be a number."
    if rule.positive and value <= 0:
        return None, "Must be greater than 0."
    return plain_number(value), None


def _date(rule: FieldRule, value: Json) -> tuple[Json, str | None]:
    if not is_date(value):
        return None, "Must be a valid date in the format YYYY-MM-DD."
    return value, None


def _id(rule: FieldRule, value: Json) -> tuple[Json, str | None]:
    if not is_id(value):
        return None, "Must be an integer greater than or equal to 1."
    return value, None


READERS: Mapping[str, Callable[[FieldRule, Json], tuple[Json, str | None]]] = {
    "text": _text,
    "number": _number,
    "date": _date,
    "id": _id,
}


@dataclass
class InvoiceForm(forms.Form):
    """An invoice body read field by field against a company's objects; every problem is
    collected as a failure, then raised together."""

    wording = forms.BodyWording(
        not_json=NOT_AN_OBJECT,
        not_object=NOT_AN_OBJECT,
        refusal=lambda message: invalid([failure("body", message)]),
    )

    db: sqlite3.Connection
    company: str
    project: dict[str, Json] | None = None
    current: Mapping[str, Json] | None = None  # the invoice a PATCH changes

    def refusal(self, problems: Sequence[forms.Problem]) -> ApiError:
        return invalid([problem.as_failure() for problem in problems])

    def read(self, *, creating: bool) -> dict[str, Json]:
        """The values the body sets; on create, every field, absent ones as null."""
        values: dict[str, Json] = {}
        for rule in INVOICE_FIELDS:
            if rule.name not in self.body:
                if creating and rule.required:
                    self.problem(rule.name, "The field is required.")
                elif creating:
                    values[rule.name] = None
                continue
            value = self.body[rule.name]
            if value is None:
                if rule.required:
                    self.problem(rule.name, "The field is required.")
                else:
                    values[rule.name] = None
                continue
            checked, problem = READERS[rule.kind](rule, value)
            problem = problem or self._refers(rule, checked)
            if problem is not None:
                self.problem(rule.name, problem)
            else:
                values[rule.name] = checked
        for name in self.body:
            if name not in INVOICE_FIELD_NAMES:
                self.problem(name, "Unknown field.")
        self._kept_budget_area_fits()
        return values

    def _kept_budget_area_fits(self) -> None:
        """An invoice moved to another project keeps its budget area only if the new project
        has it; otherwise the PATCH must name another area, or null."""
        if self.current is None or self.project is None or "budget_area_uid" in self.body:
            return
        kept = self.current.get("budget_area_uid")
        if kept is not None and kept not in self.project["budget_areas"]:
            message = (
                f"Budget area '{kept}' does not belong to project {self.project['id']}; "
                "send the budget_area_uid of one of its areas, or null."
            )
            self.problem("budget_area_uid", message)

    def _refers(self, rule: FieldRule, value: Json) -> str | None:
        if rule.name == "budget_area_uid":
            if self.project is not None and value not in self.project["budget_areas"]:
                return f"Budget area '{value}' does not belong to project {self.project['id']}."
            return None
        if rule.refers_to is None:
            return None
        found = rule.refers_to.table.get(self.db, str(value))
        if found is None or found["company"] != self.company:
            return f"No {rule.refers_to.noun} with ID {value} exists in this company."
        if rule.refers_to.table is PROJECTS:
            self.project = found
        return None


# --------------------------------------------------------------------------------------------
# List filters


def _filter_int(text: str) -> int:
    if not DIGITS.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _filter_date(text: str) -> date:
    if not is_date(text):
        raise ValueError(text)
    return date.fromisoformat(text)


def _filter_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _stored_timestamp(value: Json) -> datetime:
    return _filter_timestamp(str(value))


# Each filterable field: how a query value is read, and how the stored value compares.
FILTER_FIELDS: Mapping[str, tuple[Callable[[str], Any], Callable[[Json], Any]]] = {
    "project_id": (_filter_int, int),
    "issue_date": (_filter_date, lambda value: date.fromisoformat(str(value))),
    "payment_date": (_filter_date, lambda value: date.fromisoformat(str(value))),
    "updated_at": (_filter_timestamp, _stored_timestamp),
}
COMPARISONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
LIST_OPERATORS = ("in", "nin")
RANGE_OPERATORS = ("bt",)
OPERATORS = (*COMPARISONS, *LIST_OPERATORS, *RANGE_OPERATORS)


@dataclass(frozen=True)
class Filter:
    """`field` `operator` `operands`, e.g. issue_date bt (2026-01-01, 2026-03-31)."""

    field: str
    operator: str
    operands: tuple[Any, ...]

    def admits(self, doc: Mapping[str, Json]) -> bool:
        stored = doc.get(self.field)
        if stored is None:
            return False
        value = FILTER_FIELDS[self.field][1](stored)
        if self.operator in COMPARISONS:
            return COMPARISONS[self.operator](value, self.operands[0])
        if self.operator == "in":
            return value in self.operands
        if self.operator == "nin":
            return value not in self.operands
        low, high = self.operands
        return bool(low <= value <= high)


def parse_filter(name: str, text: str) -> Filter:
    """`gte:2026-01-01`, `in:1,2`, `bt:1,5` or a bare value (eq); ValueError when malformed."""
    prefix, colon, rest = text.partition(":")
    operator_name, operand_text = (prefix, rest) if colon and prefix in OPERATORS else ("eq", text)
    parse = FILTER_FIELDS[name][0]
    parts = operand_text.split(",") if operator_name not in COMPARISONS else [operand_text]
    if any(not part for part in parts):
        raise ValueError(text)
    operands = tuple(parse(part) for part in parts)
    if operator_name in RANGE_OPERATORS and len(operands) != 2:
        raise ValueError(text)
    return Filter(name, operator_name, operands)


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...]
    limit: int
    offset: int


def list_query(query: QueryParams) -> ListQuery:
    failures: list[dict[str, Json]] = []
    filters: list[Filter] = []
    for name in FILTER_FIELDS:
        text = query.get(name)
        if text is None:
            continue
        try:
            filters.append(parse_filter(name, text))
        except ValueError:
            message = (
                f"'{text}' is not a valid filter; use a value or one of the prefixes "
                f"{', '.join(f'{op}:' for op in OPERATORS)}"
            )
            failures.append(failure(name, message))
    limit = _query_whole(query, "limit", DEFAULT_PAGE_LIMIT, failures)
    if limit is not None and limit not in PAGE_LIMITS:
        failures.append(failure("limit", "Must be an integer between 1 and 100."))
    offset = _query_whole(query, "offset", 0, failures)
    if failures:
        raise invalid(failures)
    assert limit is not None and offset is not None
    return ListQuery(tuple(filters), limit, offset)


def _query_whole(
    query: QueryParams, name: str, default: int, failures: list[dict[str, Json]]
) -> int | None:
    text = query.get(name)
    if text is None:
        return default
    if not DIGITS.fullmatch(text):
        failures.append(failure(name, "Must be a non-negative integer."))
        return None
    return int(text)


# --------------------------------------------------------------------------------------------
# Lifecycle actions


@dataclass(frozen=True)
class Transition:
    """`POST /api/invoices/{id}:<action>` moves an invoice from `source` to `target`."""

    action: str
    source: str
    target: str
    refusal: str
    access: Access
    body: FieldRule  # the one optional field its body may carry
    sets_payment_date: bool = False


SEND = Transition(
    "send",
    "draft",
    "sent",
    "Only draft invoices can be sent; invoice {id} is {status}.",
    needs.SEND,
    # sendInvoice's body: accepted, not kept (contacts are not emulated).
    FieldRule("invoice_contact_id", "id"),
)
SET_PAID = Transition(
    "set-paid",
    "sent",
    "paid",
    "Only sent invoices can be set as paid; invoice {id} is {status}.",
    needs.SET_PAID,
    FieldRule("payment_date", "date"),
    sets_payment_date=True,
)
TRANSITIONS = (SEND, SET_PAID)


# --------------------------------------------------------------------------------------------
# The emulator


class WethodEmulator(Emulator):
    vendor: ClassVar[str] = "wethod"  # the plan's provider type it emulates
    # bootstrap: declared at the end of this module, after what it refers to
    api_root: ClassVar[str] = API_ROOT
    tables = (COMPANIES, PROJECTS, VAT_RATES, PAYMENT_TERMS, INVOICES)
    default_settings = DEFAULT_SETTINGS
    status_messages = STATUS_MESSAGES
    access_disabled_status = 403
    stamp = wire.millis_z  # created_at / updated_at: UTC with milliseconds and a Z
    id_refusal = "id must be an integer of at least 1, as Wethod's are (got {wanted!r})"
    # A company's invoices by id, as of a version of the store: a list read page by page
    # reads them once, not once a page.
    _listed: tuple[tuple[str, int, int], list[dict[str, Json]]] | None = None

    @functools.cached_property
    def hour(self) -> RollingWindow:
        """The requests each token was served in the last hour."""
        return RollingWindow(self.clock, HOUR)

    def reset(self) -> None:
        super().reset()
        self.hour.clear()

    def provision(self) -> None:
        with self.store.transaction() as db:
            if COMPANIES.get(db, SANDBOX_COMPANY) is None:
                # No clock reading: the emulators share the wall clock, and starting one must
                # not move the times another hands out. These times are never shown.
                _add_company(db, SANDBOX_COMPANY, "Sandbox", created_at="")

    # ---- errors ------------------------------------------------------------------------

    def error_body(self, status: int, message: str | None, errors: Sequence[Json]) -> Json:
        body: dict[str, Json] = {
            "key": ERROR_KEYS.get(status) or _snake(HTTPStatus(status).phrase),
            "message": message or self.message_for(status),
        }
        if status == 400:
            body["failures"] = list(errors)
        return body

    def error_headers(self, status: int, headers: dict[str, str]) -> dict[str, str]:
        if status == 429:
            # Wethod names its wait x-ratelimit-retry-after, not Retry-After (a fault's wait
            # arrives as Retry-After from the shared kit).
            wait = headers.pop("Retry-After", None) or headers.get(RETRY_HEADER)
            headers[RETRY_HEADER] = wait or "1"
        return headers

    # ---- who is asking -----------------------------------------------------------------

    @property
    def grants(self) -> tuple[Grant, ...]:
        settings = self.settings
        assert isinstance(settings, WethodSettings)
        return settings.grants

    @property
    def hourly_limit(self) -> int | None:
        settings = self.settings
        assert isinstance(settings, WethodSettings)
        return settings.hourly_limit

    def grant_for(self, headers: Headers) -> Grant | None:
        token = self.credentials(headers)
        return next((grant for grant in self.grants if grant.token == token), None)

    def admit(self, headers: Headers) -> Response | None:
        grant = self.grant_for(headers)
        if grant is None:
            return self.error_response(401)
        if not self.settings.api_access_enabled:
            return self.error_response(
                self.access_disabled_status, "API access is disabled for this company."
            )
        hour_frees_in = self.hour.admit(grant.token, self.hourly_limit)
        if hour_frees_in is not None:
            message = (
                f"The limit of {self.hourly_limit} requests an hour for this token is reached."
            )
            return self.error_response(429, message, headers=_retry_in(hour_frees_in))
        # Off unless a test sets a rate a second; then per token, the scope Wethod documents.
        if not self.limiter.take(grant.token):
            return self.error_response(
                429, headers=_retry_in(self.limiter.retry_after(grant.token))
            )
        missing = [name for name in REQUIRED_HEADERS if not headers.get(name, "").strip()]
        if missing:
            failures = [failure(name, f"The {name} header is required.") for name in missing]
            return self.error_response(400, errors=failures)
        version = headers[VERSION_HEADER].strip()
        if version not in SUPPORTED_VERSIONS:
            message = f"API version '{version}' is not supported; use {SUPPORTED_VERSIONS[-1]}."
            return self.error_response(412, message)
        company = headers[COMPANY_HEADER].strip()
        if company != grant.company:
            message = f"The access token does not belong to the company '{company}'."
            return self.error_response(412, message)
        return None

    def _grant(self, request: Request) -> Grant:
        grant = self.grant_for(request.headers)
        if grant is None:  # the token was removed while the request was on its way
            raise ApiError(401, STATUS_MESSAGES[401])
        return grant

    def setting_readers(self) -> Mapping[str, Callable[[Json], Mapping[str, Json]]]:
        # `tokens` replaces the common setting: a Wethod token belongs to a company and a user.
        return {"hourly_limit": _hourly_limit, "tokens": self._read_grants}

    def _read_grants(self, value: Json) -> dict[str, Json]:
        if not isinstance(value, list):
            raise AdminError(400, "tokens must be a list of {token, company, user, permissions}")
        grants = tuple(grant_from_json(grant) for grant in value)
        tokens = tuple(grant.token for grant in grants)
        if len(set(tokens)) != len(tokens):
            raise AdminError(400, "each token may appear only once")
        with self.store.transaction() as db:
            for grant in grants:
                _admin_company(db, grant.company)
        return {"grants": grants, "tokens": tokens}

    # ---- vendor routes -----------------------------------------------------------------

    def vendor_routes(self) -> list[BaseRoute]:
        invoices = Collection(
            "/api/invoices",
            listing=self.list_invoices,
            create=self.create_invoice,
            read=self.get_invoice,
            update=self.update_invoice,
            delete=self.delete_invoice,
            # The lifecycle actions are custom methods: POST /api/invoices/{id}:send
            actions={t.action: functools.partial(self.move_invoice, t) for t in TRANSITIONS},
            member="{id:int}",
            action_path="{member}:{action}",
        )
        return collection_routes([invoices])

    async def list_invoices(self, request: Request) -> Response:
        """listInvoices: a bare array, limit/offset pages, the view keys for every project the
        list covers (which projects that is, is assumed)."""
        grant = self._grant(request)
        require_either(grant.permissions, needs.LIST)
        wanted = list_query(request.query_params)
        with self.store.transaction() as db:
            projects = wire.by_id(PROJECTS.all(db, {"company": grant.company}))
            docs = self._invoices_of(db, grant.company)
        # The projects the list covers: those its project_id filter selects, or all of them.
        chosen = [f for f in wanted.filters if f.field == "project_id"]
        covered = [p for p in projects if all(f.admits({"project_id": p["id"]}) for f in chosen)]
        require_for_projects(grant.permissions, grant.user, needs.LIST, covered)
        matching = [doc for doc in docs if all(f.admits(doc) for f in wanted.filters)]
        page = matching[wanted.offset : wanted.offset + wanted.limit]
        return JSONBody([shaped(doc, INVOICE_SHAPE) for doc in page])

    def _invoices_of(self, db: sqlite3.Connection, company: str) -> list[dict[str, Json]]:
        """A company's invoices by id, read again only when the store has changed since: a
        write through this connection (total_changes) or another (data_version)."""
        (other,) = db.execute("PRAGMA data_version").fetchone()
        version = (company, db.total_changes, int(other))
        if self._listed is None or self._listed[0] != version:
            self._listed = (version, wire.by_id(INVOICES.all(db, {"company": company})))
        return self._listed[1]

    async def get_invoice(self, request: Request) -> Response:
        """getInvoice (a public client's path; the view keys are the spec's assumption)."""
        grant = self._grant(request)
        with self.store.transaction() as db:
            doc, _ = self._invoice_for(db, grant, request, needs.GET)
        return JSONBody(shaped(doc, INVOICE_SHAPE))

    async def create_invoice(self, request: Request) -> Response:
        """createInvoice: 201 with a draft; the create keys by the user's role on the project."""
        grant = self._grant(request)
        require_either(grant.permissions, needs.CREATE_INVOICE)
        body = InvoiceForm.wording.object(await request.body())
        with self.store.transaction() as db:
            form = InvoiceForm(body, db, grant.company)
            values = form.read(creating=True)
            form.check()
            assert form.project is not None
            require_for_projects(
                grant.permissions, grant.user, needs.CREATE_INVOICE, [form.project]
            )
            self._require_active(form.project)
            now = self.now()
            doc: dict[str, Json] = {
                "id": INVOICES.ids.take(db),
                "created_at": now,
                "updated_at": now,
                "status": "draft",
                "payment_date": None,
                **values,
                "company": grant.company,
            }
            INVOICES.insert(db, doc)
        return JSONBody(shaped(doc, INVOICE_SHAPE), status_code=201)

    async def update_invoice(self, request: Request) -> Response:
        """updateInvoice: any create field, project_id included; the edit keys and, for a sent
        or paid invoice, invoices.edit_sent (the spec's assumption: no vendor page)."""
        grant = self._grant(request)
        raw = await request.body()
        with self.store.transaction() as db:
            doc, project = self._invoice_for(db, grant, request, needs.UPDATE)
            form = InvoiceForm(
                InvoiceForm.wording.object(raw), db, grant.company, project=project, current=doc
            )
            values = form.read(creating=False)
            form.check()
            assert form.project is not None
            destination = form.project
            if destination["id"] != project["id"]:
                # A move changes both projects' invoices: the edit key for each.
                require_for_invoice(
                    grant.permissions, grant.user, needs.UPDATE, doc, [project, destination]
                )
            self._require_active(project)
            self._require_active(destination)
            updated = {**doc, **values}
            if updated != doc:
                updated["updated_at"] = self.now()
                INVOICES.replace(db, updated)
        return JSONBody(shaped(updated, INVOICE_SHAPE))

    async def delete_invoice(self, request: Request) -> Response:
        """deleteInvoice: 200; the delete keys, and invoices.edit_sent for a sent or paid one."""
        grant = self._grant(request)
        with self.store.transaction() as db:
            doc, project = self._invoice_for(db, grant, request, needs.DELETE_INVOICE)
            self._require_active(project)
            INVOICES.delete(db, str(doc["id"]))
        # deleteInvoice documents a 200 and no body; answering none keeps a client from
        # relying on one.
        return Response(status_code=200)

    async def move_invoice(self, transition: Transition, request: Request) -> Response:
        """sendInvoice (edit keys, assumed) and setPaidInvoice (invoices.edit_sent alone)."""
        grant = self._grant(request)
        raw = await request.body()
        with self.store.transaction() as db:
            doc, project = self._invoice_for(db, grant, request, transition.access)
            changes: dict[str, Json] = {"status": transition.target}
            body = InvoiceForm.wording.object(raw, empty_is_object=True)
            field = transition.body
            failures = [failure(name, "Unknown field.") for name in body if name != field.name]
            given = body.get(field.name)
            if given is not None:
                problem = READERS[field.kind](field, given)[1]
                if problem is not None:
                    failures.append(failure(field.name, problem))
            if transition.sets_payment_date:
                changes["payment_date"] = given or self.wall_clock().date().isoformat()
            if failures:
                raise invalid(failures)
            self._require_active(project)
            if doc["status"] != transition.source:
                raise ApiError(412, transition.refusal.format(**doc))
            moved = {**doc, **changes, "updated_at": self.now()}
            INVOICES.replace(db, moved)
        return JSONBody(shaped(moved, INVOICE_SHAPE))

    # ---- rules ---------------------------------------------------------------------------

    @staticmethod
    def _invoice(db: sqlite3.Connection, grant: Grant, request: Request) -> dict[str, Json]:
        key = request.path_params["id"]
        doc = INVOICES.get(db, str(key))
        if doc is None or doc["company"] != grant.company:
            raise ApiError(404, f"Invoice {key} does not exist.")
        return doc

    def _invoice_for(
        self, db: sqlite3.Connection, grant: Grant, request: Request, access: Access
    ) -> tuple[dict[str, Json], dict[str, Json]]:
        """The invoice the path names and its project, once the token's keys allow `access`
        to it (on its project alone: a move checks the destination too)."""
        doc = self._invoice(db, grant, request)
        project = self._project_of(db, doc)
        require_for_invoice(grant.permissions, grant.user, access, doc, [project])
        return doc, project

    @staticmethod
    def _project_of(db: sqlite3.Connection, doc: Mapping[str, Json]) -> dict[str, Json]:
        project = PROJECTS.get(db, str(doc["project_id"]))
        assert project is not None, f"invoice {doc['id']} has no project"
        return project

    @staticmethod
    def _require_active(project: Mapping[str, Json]) -> None:
        if project["archived"]:
            raise ApiError(412, f"Project {project['id']} is archived.")

    # ---- admin: seeding and changes behind the client's back -----------------------------

    def admin_routes(self) -> list[BaseRoute]:
        return collection_routes(
            [
                Collection(
                    "/companies",
                    listing=self.admin_listing(COMPANIES, COMPANY_SHAPE),
                    create=self.admin_add_company,
                ),
                Collection(
                    "/projects",
                    listing=self.admin_listing(PROJECTS, PROJECT_SHAPE, filters=("company",)),
                    create=self.admin_add_project,
                    update=self.admin_edit_project,
                    member="{id:int}",
                ),
                Collection(
                    "/vat-rates",
                    listing=self.admin_listing(VAT_RATES, VAT_RATE_SHAPE, filters=("company",)),
                    create=self.admin_add_vat_rate,
                ),
                Collection(
                    "/payment-terms",
                    listing=self.admin_listing(
                        PAYMENT_TERMS, PAYMENT_TERM_SHAPE, filters=("company",)
                    ),
                    create=self.admin_add_payment_term,
                ),
                Collection(
                    "/invoices",
                    listing=self.admin_listing(INVOICES, INVOICE_SHAPE, filters=("company",)),
                    create=self.admin_add_invoice,
                    update=self.admin_edit_invoice,
                    delete=self.admin_deletion(INVOICES, "invoice"),
                    actions={"send": self.admin_send_invoice, "set-paid": self.admin_pay_invoice},
                    member="{id:int}",
                ),
                Collection("/tokens", listing=self.admin_list_tokens),
                # A person gives (PUT) or takes away (DELETE) one permission of a token.
                Collection(
                    "/tokens/{token}/permissions",
                    update=self.admin_grant,
                    delete=self.admin_revoke,
                    member="{permission}",
                    update_method="PUT",
                ),
            ]
        )

    # ---- admin: tokens and their permissions ----------------------------------------------

    async def admin_list_tokens(self, request: Request) -> Response:
        return JSONBody([grant.as_json() for grant in self.grants])

    async def admin_grant(self, request: Request) -> Response:
        """Give a token's user one permission (back), as a Wethod admin editing a role would."""
        return self._admin_set_permission(request, held=True)

    async def admin_revoke(self, request: Request) -> Response:
        """Take one permission away from a token's user, to see the 403 it leads to."""
        return self._admin_set_permission(request, held=False)

    def _admin_set_permission(self, request: Request, *, held: bool) -> Response:
        token = request.path_params["token"]
        permission = request.path_params["permission"]
        if permission not in PERMISSIONS:
            raise AdminError(
                400, f"unknown permission {permission}; known: {', '.join(PERMISSIONS)}"
            )
        grants = list(self.grants)
        found = [n for n, grant in enumerate(grants) if grant.token == token]
        if not found:
            raise AdminError(404, f"no token {token}; see GET /_sandbox/tokens")
        grants[found[0]] = grants[found[0]].with_permission(permission, held)
        settings = self.settings
        assert isinstance(settings, WethodSettings)
        self._apply_settings(replace(settings, grants=tuple(grants)))
        return JSONBody(grants[found[0]].as_json())

    async def admin_add_company(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"slug", "name"})
        slug = admin.text(body, "slug")
        if not SLUG_FORMAT.fullmatch(slug):
            raise AdminError(400, "slug must be lowercase letters, digits and hyphens")
        with self.store.transaction() as db:
            if COMPANIES.get(db, slug) is not None:
                raise AdminError(409, f"company {slug} already exists")
            name = admin.text(body, "name", slug)
            doc = _add_company(db, slug, name, created_at=self.now())
        return JSONBody(shaped(doc, COMPANY_SHAPE), status_code=201)

    async def admin_add_project(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", *PROJECT_SHAPE})
        with self.store.transaction() as db:
            company = _admin_company(db, body.get("company", SANDBOX_COMPANY))
            doc = self.admin_insert(
                db,
                PROJECTS,
                body,
                lambda: {
                    "company": company,
                    "name": admin.text(body, "name"),
                    "pm": None,
                    "account": None,
                    "archived": False,
                    "budget_areas": [],
                    **_admin_project_changes(body),
                    "created_at": self.now(),
                },
            )
        return JSONBody(shaped(doc, PROJECT_SHAPE), status_code=201)

    async def admin_edit_project(self, request: Request) -> Response:
        """Rename, archive, change PM, Account or budget areas, as a person in Wethod would."""
        body = await admin.admin_body(
            request, {"name", "pm", "account", "archived", "budget_areas"}
        )
        with self.store.transaction() as db:
            doc = admin.lookup(db, PROJECTS, "project", request)
            updated = {**doc, **_admin_project_changes(body)}
            if "name" in body:
                updated["name"] = admin.text(body, "name")
            PROJECTS.replace(db, updated)
        return JSONBody(shaped(updated, PROJECT_SHAPE))

    async def admin_add_vat_rate(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "company", "rate"})
        rate = body.get("rate")
        if not (is_number(rate) and 0 <= rate <= 100):
            raise AdminError(400, "rate must be a percentage from 0 to 100")
        return self._admin_add_setting(VAT_RATES, VAT_RATE_SHAPE, body, rate=plain_number(rate))

    async def admin_add_payment_term(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "company", "days"})
        days = body.get("days")
        if not (isinstance(days, int) and not isinstance(days, bool) and days >= 0):
            raise AdminError(400, "days must be a whole number of at least 0")
        return self._admin_add_setting(PAYMENT_TERMS, PAYMENT_TERM_SHAPE, body, days=days)

    def _admin_add_setting(
        self,
        table: Table,
        shape: tuple[str, ...],
        body: Mapping[str, Json],
        **fields: Json,
    ) -> Response:
        with self.store.transaction() as db:
            doc = self.admin_insert(
                db,
                table,
                body,
                lambda: {
                    "company": _admin_company(db, body.get("company", SANDBOX_COMPANY)),
                    **fields,
                    "created_at": self.now(),
                },
            )
        return JSONBody(shaped(doc, shape), status_code=201)

    async def admin_add_invoice(self, request: Request) -> Response:
        """An invoice as a person would make it in Wethod's UI: none of the API's rules apply;
        only the project must exist, since it says which company the invoice belongs to. Like
        every Wethod invoice it has a value and an issue date: 0 and today unless given."""
        body = await admin.admin_body(request, INVOICE_SHAPE)
        if "project_id" not in body:
            raise AdminError(400, "project_id is required")
        with self.store.transaction() as db:
            moment = self.wall_clock()
            now = self.stamped(moment)
            doc: dict[str, Json] = {
                **dict.fromkeys(INVOICE_SHAPE),
                "status": "draft",
                "value": 0,
                "issue_date": moment.astimezone(UTC).date().isoformat(),
                "created_at": now,
                "updated_at": now,
                **_admin_invoice_changes(db, body),
            }
            doc["id"] = self.new_id(db, INVOICES, body.get("id"))
            INVOICES.insert(db, doc)
        return JSONBody(shaped(doc, INVOICE_SHAPE), status_code=201)

    async def admin_edit_invoice(self, request: Request) -> Response:
        """Change any field in any status, as someone editing in Wethod would."""
        body = await admin.admin_body(request, set(INVOICE_SHAPE) - {"id"})
        with self.store.transaction() as db:
            doc = admin.lookup(db, INVOICES, "invoice", request)
            updated = {
                **doc,
                "updated_at": self.now(),
                **_admin_invoice_changes(db, body),
            }
            INVOICES.replace(db, updated)
        return JSONBody(shaped(updated, INVOICE_SHAPE))

    async def admin_send_invoice(self, request: Request) -> Response:
        return await self._admin_set_status(request, {"status": "sent"})

    async def admin_pay_invoice(self, request: Request) -> Response:
        body = await admin.optional_body(request, {"payment_date"})
        paid_on = body.get("payment_date")
        if paid_on is not None and not is_date(paid_on):
            raise AdminError(400, "payment_date must be a date like 2026-04-30")
        paid_on = paid_on or self.wall_clock().date().isoformat()
        return await self._admin_set_status(request, {"status": "paid", "payment_date": paid_on})

    async def _admin_set_status(self, request: Request, changes: Mapping[str, Json]) -> Response:
        with self.store.transaction() as db:
            doc = admin.lookup(db, INVOICES, "invoice", request)
            updated = {**doc, **changes, "updated_at": self.now()}
            INVOICES.replace(db, updated)
        return JSONBody(shaped(updated, INVOICE_SHAPE))


# --------------------------------------------------------------------------------------------
# Admin helpers


def _retry_in(seconds: float) -> dict[str, str]:
    """The 429 header: whole seconds, at least 1."""
    return {RETRY_HEADER: str(max(1, math.ceil(seconds)))}


def _snake(phrase: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def _add_company(
    db: sqlite3.Connection, slug: str, name: str, *, created_at: str
) -> dict[str, Json]:
    """A company with Wethod's usual VAT rates and payment terms already configured."""
    doc = {"slug": slug, "name": name, "created_at": created_at}
    COMPANIES.insert(db, doc)
    for rate in DEFAULT_VAT_RATES:
        key = VAT_RATES.ids.take(db)
        VAT_RATES.insert(db, {"id": key, "company": slug, "rate": rate, "created_at": created_at})
    for days in DEFAULT_PAYMENT_TERMS:
        key = PAYMENT_TERMS.ids.take(db)
        term = {"id": key, "company": slug, "days": days, "created_at": created_at}
        PAYMENT_TERMS.insert(db, term)
    return doc


def _admin_company(db: sqlite3.Connection, slug: Json) -> str:
    if not isinstance(slug, str) or COMPANIES.get(db, slug) is None:
        raise AdminError(400, f"company {slug!r} is not seeded; POST /_sandbox/companies first")
    return slug


def _admin_project_changes(body: Mapping[str, Json]) -> dict[str, Json]:
    changes: dict[str, Json] = {}
    for role in ROLES:
        if role in body:
            if body[role] is not None and not (isinstance(body[role], str) and body[role]):
                raise AdminError(400, f"{role} must be a user name or null")
            changes[role] = body[role]
    if "archived" in body:
        changes["archived"] = admin.flag("archived", body["archived"])
    if "budget_areas" in body:
        areas = body["budget_areas"]
        if not (isinstance(areas, list) and all(isinstance(a, str) and a for a in areas)):
            raise AdminError(400, "budget_areas must be a list of budget area uids")
        changes["budget_areas"] = list(dict.fromkeys(areas))
    return changes


def _admin_invoice_changes(db: sqlite3.Connection, body: Mapping[str, Json]) -> dict[str, Json]:
    """Fields as sent, checked only for type, so the stored invoice can still be shown."""
    changes: dict[str, Json] = {}
    for name, value in body.items():
        if name == "id":
            continue
        if name == "project_id":
            project = PROJECTS.get(db, str(value)) if is_id(value) else None
            if project is None:
                raise AdminError(400, "project_id must be the id of a seeded project")
            changes["company"] = project["company"]
        elif value is None:
            # Never null on a Wethod invoice (the spec's Invoice requires them).
            if name in ("status", "created_at", "updated_at", "value", "issue_date"):
                raise AdminError(400, f"{name} cannot be null")
        elif name == "status":
            admin.choice(name, value, STATUSES)
        elif name in ("value", "exchange_rate"):
            if not is_number(value):
                either = " or null" if name == "exchange_rate" else ""
                raise AdminError(400, f"{name} must be a number{either}")
            value = plain_number(value)
        elif name in ("vat_rate_id", "payment_term_id"):
            if not is_id(value):
                raise AdminError(400, f"{name} must be an integer id or null")
        elif name in ("issue_date", "payment_date"):
            if not is_date(value):
                raise AdminError(400, f"{name} must be a date like 2026-04-30")
        elif name in ("created_at", "updated_at"):
            admin.millis_stamp(name, value)
        elif not isinstance(value, str):
            raise AdminError(400, f"{name} must be a string or null")
        changes[name] = value
    return changes


# ---- the sandbox's bootstrap: what a plan needs here, and how a person locks ----------------
# Declared after the emulator it belongs to (bootstrap.py reads it from the class).


def _seed_company(plan: Seeding) -> list[str]:
    """The plan's company, and the sandbox's token bound to it."""
    companies = sorted(
        {str(c["company"]) for c in plan.providers.values() if c.get("type") == plan.vendor}
    )
    if len(companies) > 1:
        # The sandbox's one token belongs to one company at a time.
        raise SeedError(
            f"the sandbox serves one Wethod company per run; this plan names {companies}. "
            "Plan them in separate runs, or against a served sandbox per company."
        )
    if not companies:
        return []
    notes: list[str] = []
    (company,) = companies
    if company not in {str(c["slug"]) for c in plan.read("companies")}:
        plan.add("companies", {"slug": company, "name": company})
        notes.append(f"sandbox: created Wethod company {company}")
    # Settings live with the running sandbox: give its token the plan's company each run,
    # keeping its user and the permissions it holds (the emulator seeds a finance user's;
    # whoever took one away meant to see the 403 it leads to).
    tokens = plan.read("settings")["tokens"]
    for token in tokens:
        if token["token"] == plan.token:
            token["company"] = company
    plan.put("settings", {"tokens": tokens})
    return notes


def _seed_company_lists(plan: Seeding) -> list[str]:
    """The VAT rates and payment terms the plan's items name, each in its item's company (an
    id is unique across companies)."""
    notes: list[str] = []
    for collection, option, body in (
        ("vat-rates", "vat_rate_id", {"rate": 22}),
        ("payment-terms", "payment_term_id", {"days": 30}),
    ):
        existing = {(str(row["company"]), str(row["id"])) for row in plan.read(collection)}
        for item in plan.items:
            wanted = item.options.get(option)
            company = str(plan.connection(item).get("company"))
            if wanted is None or (company, str(wanted)) in existing:
                continue
            if any(row_id == str(wanted) for _, row_id in existing):
                raise SeedError(
                    f"the sandbox's Wethod {collection[:-1]} {wanted} belongs to another "
                    f"company; use another id for {company} in the plan"
                )
            plan.add(collection, {"id": int(wanted), "company": company, **body})
            existing.add((company, str(wanted)))
            notes.append(f"sandbox: created Wethod {collection[:-1]} {wanted} for {company}")
    return notes


def _project_body(project_id: str, items: list[Item], plan: Seeding) -> Body:
    areas = sorted({str(i.options["budget_area_uid"]) for i in items
                    if i.options.get("budget_area_uid")})  # fmt: skip
    return {"id": int(project_id), "company": str(plan.connection(items[0]).get("company")),
            "name": plan.project_name(items[0]), "budget_areas": areas}  # fmt: skip


WethodEmulator.bootstrap = Bootstrap(
    title="Wethod",
    seeds=(
        _seed_company,
        _seed_company_lists,
        Objects("projects", "project", _project_body, "{id} ({name})"),
    ),
    locks={"wethod_invoice": Lock("invoices/{id}/send")},
)
