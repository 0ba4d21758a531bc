"""The Kantata OX emulator: Kantata's API under `/api/v1`. It owns billing milestones (create
one or up to 100 at once, list, read, update, delete), their external references and invoices,
read-only workspaces and stories, and the admin routes that seed them or change them behind
the client's back.

From the vendor's spec (`kantata-*.openapi.yml`, copies of Kantata's published reference, and
`kantata.errors.yml`; operationIds in brackets):
- Billing milestones (kantata-billing-milestones.openapi.yml): GetBillingMilestones,
  CreateBillingMilestone (200, `billing_milestone` or up to 100 `billing_milestones`; title,
  amount_in_cents and workspace_id required), GetBillingMilestone, UpdateBillingMilestone (PUT,
  no workspace_id), DeleteBillingMilestone (204, no body; a hard delete). Only a milestone that
  has not been invoiced can be updated or deleted.
- Workspaces (kantata-workspaces.openapi.yml): GetWorkspaces leaves archived projects out
  unless `include_archived=true` (default order `updated_at:desc`); GetWorkspace answers 404
  for an archived project.
- The envelope on every read and write: `count`, `meta {count, page_count, page_number,
  page_size}`, `results [{key, id}]` in sort order, the objects indexed by id under their type's
  key, associations side-loaded under `external_references`, `invoices`, `stories`, `workspaces`
  when `include` names them (`external_references`, `invoices`, `story`, `workspace`), and
  `external_reference_ids` / `invoice_ids` on a milestone only when included.
- Ids are integers in requests and strings in responses (`id`, `workspace_id`, `story_id`,
  `invoice_id`, `*_ids`); an external reference's `subject_id` is an integer.
- BillingMilestone: title, amount_in_cents (int32 minor units, negative allowed on create),
  currency (its workspace's), date_to_invoice (a date), billing_type `fixed_date` |
  `upon_completion` (which needs a story), workspace_id, story_id, invoice_id (the invoice it is
  on, or null), created_at, updated_at. There is no `invoiced` field: a milestone is invoiced
  when it names an invoice.
- Invoice (kantata-invoices.openapi.yml): title `Invoice #N` or `Draft Invoice #N`,
  user_invoice_number, status `new`, draft, currency, currency_base_unit, balance_in_cents,
  payment_schedule (days), invoice_date, due_date; made from `billing_milestone_ids`
  (CreateInvoice); `billing_milestone_ids` appear with include=billing_milestones.
- External references: service_name, service_model and service_model_ref required, one per
  service name per object; status `successful` | `pending` | `failed`.
- List parameters: `workspace_ids`, `story_ids`, `only` (no 404 for a miss), `date_between`
  (inclusive), `has_external_references`, the `external_reference_*` filters (with
  `external_reference_service_model_refs`, at most 200), `without_external_reference_service_name`,
  `order=created_at:asc|desc` (default desc), `page` (default 1), `per_page` (default 20, at most
  200).
- Errors `{"errors": [{"type": "oauth" | "system" | "validation", "message", "field"?}]}`, `field`
  on validation errors; 400, 401 (`oauth`, "Invalid OAuth 2 Request", observed live), 403, 404,
  422, 503 on every operation. 429 "retry after a small delay" with no Retry-After header
  (kantata.errors.yml: none is documented, so a client backs off on its own).
- 403 means the user's roles or project participation do not allow it, never a token scope.

Assumed (not documented publicly; chosen here and nowhere else):
- Rate limit: 10 requests per second with a burst of 10, for the whole sandbox account; a 429
  carries `{"errors": [{"type": "system", ...}]}`. Requests refused with 401 are not counted.
- Updating or deleting an invoiced milestone (on any invoice, a draft too) is a 422 validation
  error on field `base`, checked before the body.
- A batch is all-or-nothing: one invalid item and nothing is created; the 422 lists every problem
  of every item, each message prefixed with the item's position (`billing_milestones[2]: ...`),
  `field` naming the attribute (`title`, `external_reference.service_name`). A batch of more
  than 100 answers one 422 for the batch and validates nothing else.
- Every problem with a query parameter (ids, dates, booleans, order, include, page or per_page
  outside 1..2147483647 (int32), more than 200 refs) is a 422 validation error whose `field` is
  the parameter. `per_page` above 200 is clamped to 200 (meta.page_size says so), not refused;
  `page` past the end gives an empty page; `page_count` is 0 when nothing matches. Unknown
  query parameters are ignored. `limit`/`offset` pagination, `search` and `optional_fields`
  are not modelled; GetWorkspaces models `only`, `include_archived`, `order` by updated_at /
  created_at / id, and paging.
- Write and single-object responses use the same envelope with meta
  `{"count": n, "page_count": 1, "page_number": 1, "page_size": n}`; an included association
  with nothing to load still has its top-level key, as `{}`.
- Objects carry `id` (as a string), which the spec's object schemas leave out but `results[].id`
  refers to.
- Bodies are JSON only (no Rails form encoding). A body that is not JSON, not an object, lacks
  `billing_milestone(s)`, or sends both answers 400 (type `system`). Fields the endpoint does not
  know are ignored, as Rails strong parameters do, except `workspace_id` on update (422).
- `amount_in_cents` must be a JSON integer within int32 (a decimal or a string is refused);
  `title` a non-blank string of at most 255 characters; `date_to_invoice` `YYYY-MM-DD` or null;
  ids are positive integers or strings of digits (as a Rails app casts them); `null` on create
  means "not sent". An update changes only the fields sent; `story_id: null` is allowed unless the
  milestone is (or becomes) `upon_completion`. A story or date left from the other billing type
  is kept.
- An external reference sent on update whose service_name the milestone already has updates that
  reference in place (fields not sent keep their values); another service_name adds one. Its
  `status` defaults to `successful`, `locked` to false; service_model_ref may be sent as an
  integer and reads back as a string. All `external_reference_*` list filters must match the same
  reference.
- 403 (`type` system): a workspace seeded with `accessible: false` is one the token's user does
  not participate in. Creating in it, naming it in `workspace_ids`, or reading, updating or
  deleting one of its milestones answers 403; unfiltered lists, `only` and GetWorkspaces silently
  leave it out; GetWorkspace answers 404. Switching API access off in the settings answers 403
  too. 503 happens only when injected.
- Timestamps are UTC with seconds, `2026-03-03T09:15:00+00:00`; within one second the list order
  falls back to the id. Ids are allocated per table, never reused, and survive a reset.
- Exact wording of every message except "Invalid OAuth 2 Request". Unknown ids in paths (or ids
  that are not integers) are 404. The side-loaded workspace, story and invoice carry the subset
  of Kantata's fields that billing needs; an invoice is made, and deleted (freeing its
  milestones), only by the admin surface. `/billing_milestones.json` is the same path as
  `/billing_milestones`.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .base import Emulator
from .kit import admin, forms, wire
from .kit.errors import AdminError, ApiError
from .kit.forms import Problem
from .kit.routing import Collection, collection_routes
from .kit.settings import Settings
from .kit.store import Table
from .kit.wire import Json, JSONBody, as_date, dumps, is_integer, shaped
from .seeding import Body, Bootstrap, Item, Lock, Objects, Seeding

API_ROOT = "/api/v1"
MILESTONE_KEY = "billing_milestones"
BATCH_LIMIT = 100
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200
REFS_FILTER_LIMIT = 200
TITLE_LIMIT = 255
INT32 = range(-(2**31), 2**31)
BILLING_TYPES = ("fixed_date", "upon_completion")
REFERENCE_STATUSES = ("successful", "pending", "failed")
ORDERS = {"created_at:desc": True, "created_at:asc": False}  # value: newest first
DEFAULT_ORDER = "created_at:desc"

DEFAULT_SETTINGS = Settings(rate_limit_per_second=10, burst=10)
STATUS_MESSAGES = {
    400: "Bad Request",
    401: "Invalid OAuth 2 Request",
    403: "You do not have access to this resource.",
    404: "Page Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too many requests; retry after a small delay.",
    500: "Something went wrong.",
    503: "Service is unavailable",
}
# The error `type` by status; every status not named here is a "system" error.
ERROR_TYPES = {401: "oauth", 422: "validation"}
ACCESS_DISABLED_MESSAGE = "API access is disabled for this account."

# ISO 4217 currencies whose minor unit is not a hundredth (workspace `currency_base_unit`).
ZERO_DECIMAL_CURRENCIES = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
THREE_DECIMAL_CURRENCIES = "BHD IQD JOD KWD LYD OMR TND"
CURRENCY_BASE_UNITS = {
    **dict.fromkeys(ZERO_DECIMAL_CURRENCIES.split(), 1),
    **dict.fromkeys(THREE_DECIMAL_CURRENCIES.split(), 1000),
}

# Ids are counted per table, never reused, and survive a reset.
WORKSPACES = Table("kantata_workspaces", created_field="created_at", counted=True)
STORIES = Table("kantata_stories", created_field="created_at", counted=True)
MILESTONES = Table("kantata_billing_milestones", created_field="created_at", counted=True)
EXTERNAL_REFERENCES = Table("kantata_external_references", created_field="created_at", counted=True)
INVOICES = Table("kantata_invoices", created_field="created_at", counted=True)

# Which stored fields each wire object shows, in order; ids are written as strings.
WORKSPACE_SHAPE = (
    "id",
    "title",
    "archived",
    "currency",
    "currency_base_unit",
    "created_at",
    "updated_at",
)
WORKSPACE_KEY = "workspaces"
# GetWorkspaces' order values that the emulator sorts by (field, newest or largest first).
WORKSPACE_ORDERS = {
    f"{name}:{way}": (name, way == "desc")
    for name in ("updated_at", "created_at", "id")
    for way in ("asc", "desc")
}
DEFAULT_WORKSPACE_ORDER = "updated_at:desc"
STORY_SHAPE = ("id", "title", "workspace_id", "story_type", "state", "created_at", "updated_at")
INVOICE_SHAPE = (
    "id",
    "title",
    "user_invoice_number",
    "status",
    "draft",
    "currency",
    "currency_base_unit",
    "balance_in_cents",
    "payment_schedule",
    "invoice_date",
    "due_date",
    "created_at",
    "updated_at",
)
REFERENCE_SHAPE = (
    "id",
    "subject_type",
    "subject_id",
    "service_name",
    "service_model",
    "service_model_ref",
    "status",
    "external_message",
    "external_link",
    "external_status",
    "locked",
    "created_at",
    "updated_at",
)
MILESTONE_SHAPE = (
    "id",
    "title",
    "amount_in_cents",
    "currency",
    "date_to_invoice",
    "billing_type",
    "workspace_id",
    "story_id",
    "invoice_id",
    "created_at",
    "updated_at",
)
ID_FIELDS = frozenset({"id", "workspace_id", "story_id", "invoice_id"})

# The external-reference list filters: query parameter -> the reference field it matches.
REFERENCE_FILTERS = {
    "external_reference_service_name": "service_name",
    "external_reference_service_model": "service_model",
    "external_reference_service_model_ref": "service_model_ref",
    "external_reference_status": "status",
    "external_reference_external_status": "external_status",
    "external_reference_external_message": "external_message",
}
REFERENCE_TEXT_FIELDS = ("external_message", "external_link", "external_status")


@dataclass(frozen=True)
class Include:
    """One association a request may side-load: the top-level key it fills and, for to-many
    associations, the id list it adds to each milestone."""

    table: Table
    key: str
    shape: tuple[str, ...]
    ids_field: str | None


INCLUDES = {
    "external_references": Include(
        EXTERNAL_REFERENCES, "external_references", REFERENCE_SHAPE, "external_reference_ids"
    ),
    "invoices": Include(INVOICES, "invoices", INVOICE_SHAPE, "invoice_ids"),
    "story": Include(STORIES, "stories", STORY_SHAPE, None),
    "workspace": Include(WORKSPACES, "workspaces", WORKSPACE_SHAPE, None),
}

DIGITS = re.compile(r"[0-9]+")


# --------------------------------------------------------------------------------------------
# Small readers


def as_id(value: Json) -> int | None:
    """A positive integer id as Rails would cast it from JSON (1234 or "1234"), else None."""
    if is_integer(value) and value > 0:
        return int(value)
    if isinstance(value, str) and DIGITS.fullmatch(value) and int(value) > 0:
        return int(value)
    return None


def written(doc: Mapping[str, Json], shape: Iterable[str]) -> dict[str, Json]:
    """A stored document as Kantata writes it: the shape's fields, ids as strings."""
    return shaped(doc, shape, as_text=ID_FIELDS)


# --------------------------------------------------------------------------------------------
# Validation


def invalid(problems: Sequence[Problem]) -> ApiError:
    """Kantata's 422: one validation error per problem, each naming its field."""
    errors = [{"type": "validation", "message": p.message, "field": p.field} for p in problems]
    return ApiError(422, STATUS_MESSAGES[422], errors)


def refuse(problems: Sequence[Problem]) -> None:
    if problems:
        raise invalid(problems)


@dataclass
class Form(forms.Form):
    """One billing milestone body read field by field; problems are collected, then raised
    together. `where` names the item within a batch."""

    wording = forms.BodyWording(
        not_json="The request body is not valid JSON.",
        not_object="The request body must be a JSON object.",
        empty="The request body is empty; send a JSON object.",
    )

    where: str = ""

    def refusal(self, problems: Sequence[Problem]) -> ApiError:
        return invalid(problems)

    def problem(self, where: str | None, message: str) -> None:
        super().problem(where, f"{self.where}{message}")

    def title(self) -> str | None:
        value = self.body.get("title")
        if value is None or (isinstance(value, str) and not value.strip()):
            self.problem("title", "Title can't be blank")
        elif not isinstance(value, str):
            self.problem("title", "Title must be a string")
        elif len(value) > TITLE_LIMIT:
            self.problem("title", f"Title is too long (maximum is {TITLE_LIMIT} characters)")
        else:
            return value
        return None

    def amount(self) -> int | None:
        value = self.body.get("amount_in_cents")
        if value is None:
            self.problem("amount_in_cents", "Amount in cents can't be blank")
        elif not is_integer(value):
            self.problem(
                "amount_in_cents",
                f"Amount in cents must be a whole number of minor units, not {dumps(value)}",
            )
        elif value not in INT32:
            self.problem(
                "amount_in_cents",
                f"Amount in cents must be between {INT32.start} and {INT32.stop - 1}",
            )
        else:
            return int(value)
        return None

    def date_to_invoice(self) -> str | None:
        value = self.body.get("date_to_invoice")
        if value is None:
            return None
        day = as_date(value)
        if day is None:
            self.problem(
                "date_to_invoice",
                f"Date to invoice must be an ISO 8601 date (YYYY-MM-DD), not {dumps(value)}",
            )
            return None
        return day.isoformat()

    def billing_type(self, default: str | None) -> str | None:
        value = self.body.get("billing_type", default)
        if value not in BILLING_TYPES:
            self.problem(
                "billing_type",
                f"Billing type must be fixed_date or upon_completion, not {dumps(value)}",
            )
            return None
        return str(value)

    def reference(
        self, db: sqlite3.Connection, name: str, table: Table, noun: str
    ) -> dict[str, Json] | None:
        """The stored object an id field names; None (with a problem) when it names none."""
        value = self.body.get(name)
        key = as_id(value)
        if key is None:
            self.problem(name, f"{noun} must be given as an integer id, not {dumps(value)}")
            return None
        found = table.get(db, str(key))
        if found is None:
            self.problem(name, f"{noun} {key} does not exist")
        return found

    def story(
        self,
        db: sqlite3.Connection,
        billing_type: str | None,
        workspace: Mapping[str, Json] | None,
        current: int | None = None,
    ) -> int | None:
        """The story id after this body: the one sent, else `current`; required for
        upon_completion and held to the milestone's workspace."""
        story_id = current
        if self.body.get("story_id") is not None:
            story = self.reference(db, "story_id", STORIES, "Story")
            if story is None:
                return None
            story_id = story["id"]
            if workspace is not None and story["workspace_id"] != workspace["id"]:
                self.problem(
                    "story_id",
                    f"Story {story_id} is not in workspace {workspace['id']}; "
                    "a billing milestone's story must belong to its workspace",
                )
                return None
        elif "story_id" in self.body:
            story_id = None
        if billing_type == "upon_completion" and story_id is None:
            self.problem("story_id", "Story can't be blank when billing type is upon_completion")
        return story_id

    def external_reference(
        self, existing: Mapping[str, Json] | None = None
    ) -> dict[str, Json] | None:
        """The external reference sent, checked; `existing` is the milestone's reference with
        the same service name, whose fields fill in what an update does not send."""
        value = self.body.get("external_reference")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem("external_reference", "External reference must be an object")
            return None
        before = len(self.problems)
        reference: dict[str, Json] = {}
        for name in ("service_name", "service_model", "service_model_ref"):
            text = value.get(name)
            if is_integer(text) and name == "service_model_ref":
                text = str(text)
            if not (isinstance(text, str) and text.strip()):
                label = name.replace("_", " ")
                self.problem(
                    f"external_reference.{name}", f"External reference {label} can't be blank"
                )
            reference[name] = text
        kept = existing or {}
        status = value.get("status") or kept.get("status", "successful")
        if status not in REFERENCE_STATUSES:
            self.problem(
                "external_reference.status",
                "External reference status must be successful, pending or failed, "
                f"not {dumps(status)}",
            )
        reference["status"] = status
        for name in REFERENCE_TEXT_FIELDS:
            text = value.get(name, kept.get(name))
            if text is not None and not isinstance(text, str):
                self.problem(
                    f"external_reference.{name}", f"External reference {name} must be a string"
                )
            reference[name] = text
        locked = value.get("locked")
        locked = kept.get("locked", False) if locked is None else locked
        if not isinstance(locked, bool):
            self.problem(
                "external_reference.locked", "External reference locked must be true or false"
            )
        reference["locked"] = locked
        return reference if len(self.problems) == before else None


# --------------------------------------------------------------------------------------------
# Lists: the query a GET /billing_milestones asks


@dataclass(frozen=True)
class ListQuery:
    workspace_ids: frozenset[int] | None = None
    story_ids: frozenset[int] | None = None
    only: frozenset[int] | None = None
    date_between: tuple[str, str] | None = None
    has_references: bool | None = None
    reference_match: Mapping[str, str] = field(default_factory=dict)
    reference_refs: frozenset[str] | None = None
    without_service_name: str | None = None
    newest_first: bool = True
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def matches(self, doc: Mapping[str, Json], references: Sequence[Mapping[str, Json]]) -> bool:
        if self.workspace_ids is not None and doc["workspace_id"] not in self.workspace_ids:
            return False
        if self.story_ids is not None and doc.get("story_id") not in self.story_ids:
            return False
        if self.only is not None and doc["id"] not in self.only:
            return False
        if self.date_between is not None:
            day = doc.get("date_to_invoice")
            if day is None or not self.date_between[0] <= day <= self.date_between[1]:
                return False
        if self.has_references is not None and bool(references) != self.has_references:
            return False
        if self.without_service_name is not None and any(
            ref["service_name"] == self.without_service_name for ref in references
        ):
            return False
        if self.reference_match or self.reference_refs is not None:
            return any(self._reference_matches(ref) for ref in references)
        return True

    def _reference_matches(self, reference: Mapping[str, Json]) -> bool:
        if any(reference.get(name) != wanted for name, wanted in self.reference_match.items()):
            return False
        return self.reference_refs is None or reference["service_model_ref"] in self.reference_refs


def id_list(query: Mapping[str, str], name: str, problems: list[Problem]) -> frozenset[int] | None:
    raw = query.get(name)
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",")]
    ids = [as_id(part) for part in parts]
    if not parts or any(key is None for key in ids):
        problems.append(
            Problem(name, f"{name} must be a comma-separated list of ids, not {dumps(raw)}")
        )
        return None
    return frozenset(key for key in ids if key is not None)


def whole_number(query: Mapping[str, str], name: str, default: int, problems: list[Problem]) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    # page and per_page are int32 in the spec (kantata-*.openapi.yml, GetBillingMilestones and
    # GetWorkspaces), and meta.page_number echoes the page
    if not (DIGITS.fullmatch(raw) and 1 <= int(raw) < INT32.stop):
        problems.append(
            Problem(
                name,
                f"{name} must be a whole number from 1 to {INT32.stop - 1}, not {dumps(raw)}",
            )
        )
        return default
    return int(raw)


def _boolean(query: Mapping[str, str], name: str, problems: list[Problem]) -> bool:
    raw = query.get(name, "false")
    if raw.lower() not in ("true", "false"):
        problems.append(Problem(name, f"{name} must be true or false, not {dumps(raw)}"))
    return raw.lower() == "true"


def list_query(query: Mapping[str, str]) -> ListQuery:
    problems: list[Problem] = []
    date_between = None
    if (raw := query.get("date_between")) is not None:
        start, _, end = raw.partition(":")
        first, last = as_date(start), as_date(end)
        if first is None or last is None:
            problems.append(
                Problem(
                    "date_between", f"date_between must be YYYY-MM-DD:YYYY-MM-DD, not {dumps(raw)}"
                )
            )
        else:
            date_between = (first.isoformat(), last.isoformat())
    has_references = None
    if (raw := query.get("has_external_references")) is not None:
        if raw.lower() not in ("true", "false"):
            problems.append(
                Problem(
                    "has_external_references",
                    f"has_external_references must be true or false, not {dumps(raw)}",
                )
            )
        has_references = raw.lower() == "true"
    refs = None
    if (raw := query.get("external_reference_service_model_refs")) is not None:
        values = [part.strip() for part in raw.split(",") if part.strip()]
        if len(values) > REFS_FILTER_LIMIT:
            problems.append(
                Problem(
                    "external_reference_service_model_refs",
                    f"external_reference_service_model_refs takes at most {REFS_FILTER_LIMIT} "
                    f"ids; got {len(values)}",
                )
            )
        refs = frozenset(values)
    order = query.get("order", DEFAULT_ORDER)
    if order not in ORDERS:
        problems.append(
            Problem("order", f"order must be one of {', '.join(ORDERS)}, not {dumps(order)}")
        )
    parsed = ListQuery(
        workspace_ids=id_list(query, "workspace_ids", problems),
        story_ids=id_list(query, "story_ids", problems),
        only=id_list(query, "only", problems),
        date_between=date_between,
        has_references=has_references,
        reference_match={
            column: query[name] for name, column in REFERENCE_FILTERS.items() if name in query
        },
        reference_refs=refs,
        without_service_name=query.get("without_external_reference_service_name"),
        newest_first=ORDERS.get(order, True),
        page=whole_number(query, "page", 1, problems),
        per_page=min(whole_number(query, "per_page", DEFAULT_PER_PAGE, problems), MAX_PER_PAGE),
    )
    includes(query, problems)
    refuse(problems)
    return parsed


def includes(query: Mapping[str, str], problems: list[Problem] | None = None) -> list[Include]:
    raw = query.get("include", "")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in INCLUDES]
    if unknown:
        message = f"include does not know {', '.join(unknown)}; it takes {', '.join(INCLUDES)}"
        if problems is None:
            refuse([Problem("include", message)])
        else:
            problems.append(Problem("include", message))
    return [INCLUDES[name] for name in dict.fromkeys(names) if name in INCLUDES]


def sort_key(doc: Mapping[str, Json]) -> tuple[str, int]:
    return (str(doc["created_at"]), int(doc["id"]))


# --------------------------------------------------------------------------------------------
# The emulator


# Workspaces by id, external references by subject id, and every milestone.
Listing = tuple[
    dict[Json, dict[str, Json]], dict[int, list[dict[str, Json]]], list[dict[str, Json]]
]


class KantataEmulator(Emulator):
    vendor: ClassVar[str] = "kantata"  # the plan's provider type it emulates
    # bootstrap: declared at the end of this module, after what it refers to
    api_root: ClassVar[str] = API_ROOT
    list_rows = "results"  # where a list page keeps its rows
    tables = (WORKSPACES, STORIES, MILESTONES, EXTERNAL_REFERENCES, INVOICES)
    ids_survive_reset = True
    stamp = wire.seconds_offset  # UTC to the second: 2026-03-03T09:15:00+00:00
    id_refusal = "id must be a positive integer, as Kantata's ids are (got {wanted!r})"
    default_settings = DEFAULT_SETTINGS
    status_messages = STATUS_MESSAGES
    access_disabled_status = 403
    # What a list reads, as of a version of the store (see _listing).
    _listed: tuple[tuple[int, int], Listing] | None = None

    def error_body(self, status: int, message: str | None, errors: Sequence[Json]) -> Json:
        # No Retry-After on a 429: Kantata documents none (kantata.errors.yml), so the client
        # must back off on its own. A fault may still add one, to test a client that reads it.
        if not errors:
            if status == 403 and message is None and not self.settings.api_access_enabled:
                message = ACCESS_DISABLED_MESSAGE
            kind = ERROR_TYPES.get(status, "system")
            errors = [{"type": kind, "message": message or self.message_for(status)}]
        return {"errors": list(errors)}

    def vendor_routes(self) -> list[BaseRoute]:
        return collection_routes(
            [
                Collection(
                    "/billing_milestones",
                    listing=self.list_milestones,
                    create=self.create,
                    read=self.get_milestone,
                    update=self.update,
                    delete=self.delete,
                    update_method="PUT",
                ),
                # Rails answers the collection with a format suffix too.
                Collection(
                    "/billing_milestones.json", listing=self.list_milestones, create=self.create
                ),
                Collection("/workspaces", listing=self.list_workspaces, read=self.get_workspace),
            ]
        )

    # ---- reads ----------------------------------------------------------------------------

    async def list_milestones(self, request: Request) -> Response:
        query = list_query(request.query_params)
        wanted = includes(request.query_params)
        with self.store.transaction() as db:
            workspaces, references, milestones = self._listing(db)
            if query.workspace_ids is not None:
                for key in sorted(query.workspace_ids):
                    self._check_access(workspaces.get(key))
            visible = [
                doc
                for doc in milestones
                if _accessible(workspaces.get(doc["workspace_id"]))
                and query.matches(doc, references.get(doc["id"], []))
            ]
            visible.sort(key=sort_key, reverse=query.newest_first)
            start = (query.page - 1) * query.per_page
            page = visible[start : start + query.per_page]
            meta = {
                "count": len(visible),
                "page_count": math.ceil(len(visible) / query.per_page),
                "page_number": query.page,
                "page_size": query.per_page,
            }
            # The references and workspaces just read serve the page too: no second read.
            return JSONBody(self._envelope(db, page, wanted, meta, references, workspaces))

    async def get_milestone(self, request: Request) -> Response:
        wanted = includes(request.query_params)
        with self.store.transaction() as db:
            doc = self._milestone(db, request)
            return JSONBody(self._envelope(db, [doc], wanted))

    async def list_workspaces(self, request: Request) -> Response:
        """GetWorkspaces: the projects the token's user can see, archived ones only when
        `include_archived=true`; filtered by `only`, paged, ordered (updated_at:desc)."""
        query = request.query_params
        problems: list[Problem] = []
        only = id_list(query, "only", problems)
        archived = _boolean(query, "include_archived", problems)
        order = query.get("order", DEFAULT_WORKSPACE_ORDER)
        if order not in WORKSPACE_ORDERS:
            problems.append(Problem("order", f"order must be one of {', '.join(WORKSPACE_ORDERS)}"))
        page = whole_number(query, "page", 1, problems)
        per_page = min(whole_number(query, "per_page", DEFAULT_PER_PAGE, problems), MAX_PER_PAGE)
        refuse(problems)
        name, newest_first = WORKSPACE_ORDERS[order]
        with self.store.transaction() as db:
            visible = [
                doc
                for doc in WORKSPACES.all(db)
                if _accessible(doc)
                and (archived or not doc.get("archived"))
                and (only is None or doc["id"] in only)
            ]
        visible.sort(key=lambda doc: (doc[name], int(doc["id"])), reverse=newest_first)
        shown = visible[(page - 1) * per_page : page * per_page]
        return JSONBody(
            {
                "count": len(visible),
                "meta": {
                    "count": len(visible),
                    "page_count": math.ceil(len(visible) / per_page),
                    "page_number": page,
                    "page_size": per_page,
                },
                "results": [{"key": WORKSPACE_KEY, "id": str(doc["id"])} for doc in shown],
                WORKSPACE_KEY: {str(doc["id"]): written(doc, WORKSPACE_SHAPE) for doc in shown},
            }
        )

    async def get_workspace(self, request: Request) -> Response:
        """GetWorkspace: 404 for an archived project (and for one the user cannot see)."""
        raw = request.path_params["id"].removesuffix(".json")
        key = as_id(raw)
        with self.store.transaction() as db:
            doc = None if key is None else WORKSPACES.get(db, str(key))
        if doc is None or doc.get("archived") or not _accessible(doc):
            raise ApiError(404, f"No workspace with id {raw} was found.")
        return JSONBody(self._workspace_envelope(doc))

    @staticmethod
    def _workspace_envelope(doc: Mapping[str, Json]) -> dict[str, Json]:
        one = {"count": 1, "page_count": 1, "page_number": 1, "page_size": 1}
        return {
            "count": 1,
            "meta": one,
            "results": [{"key": WORKSPACE_KEY, "id": str(doc["id"])}],
            WORKSPACE_KEY: {str(doc["id"]): written(doc, WORKSPACE_SHAPE)},
        }

    # ---- writes ---------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        wanted = includes(request.query_params)
        items, batch = _create_items(await request.body())
        with self.store.transaction() as db:
            for item in items:
                key = as_id(item.get("workspace_id"))
                if key is not None:
                    self._check_access(WORKSPACES.get(db, str(key)))
            forms = [
                Form(item, f"billing_milestones[{i}]: " if batch else "")
                for i, item in enumerate(items)
            ]
            ready = [self._read_new(db, form) for form in forms]
            refuse([problem for form in forms for problem in form.problems])
            created = [self._insert(db, *new) for new in ready if new is not None]
            return JSONBody(self._envelope(db, created, wanted))

    async def update(self, request: Request) -> Response:
        wanted = includes(request.query_params)
        raw = await request.body()
        with self.store.transaction() as db:
            doc = self._milestone(db, request)
            self._refuse_invoiced(doc, "changed")
            body = _object_under(raw, "billing_milestone")
            form = Form(body)
            if "workspace_id" in body:
                form.problem("workspace_id", "Workspace cannot be changed on a billing milestone")
            changes: dict[str, Json] = {}
            if "title" in body:
                changes["title"] = form.title()
            if "amount_in_cents" in body:
                changes["amount_in_cents"] = form.amount()
            if "date_to_invoice" in body:
                changes["date_to_invoice"] = form.date_to_invoice()
            billing_type = doc["billing_type"]
            if "billing_type" in body:
                billing_type = form.billing_type(None)
                changes["billing_type"] = billing_type
            workspace = WORKSPACES.get(db, str(doc["workspace_id"]))
            changes["story_id"] = form.story(db, billing_type, workspace, doc.get("story_id"))
            existing = None
            sent = body.get("external_reference")
            if isinstance(sent, dict):
                existing = self._reference_named(db, doc["id"], sent.get("service_name"))
            reference = form.external_reference(existing)
            refuse(form.problems)
            updated = {**doc, **changes, "updated_at": self.now()}
            MILESTONES.replace(db, updated)
            if reference is not None:
                self._attach_reference(db, updated["id"], reference, existing)
            return JSONBody(self._envelope(db, [updated], wanted))

    async def delete(self, request: Request) -> Response:
        with self.store.transaction() as db:
            doc = self._milestone(db, request)
            self._refuse_invoiced(doc, "deleted")
            self._delete(db, doc)
        return Response(status_code=204)

    # ---- the pieces -----------------------------------------------------------------------

    def _read_new(
        self, db: sqlite3.Connection, form: Form
    ) -> tuple[dict[str, Json], dict[str, Json] | None] | None:
        """A create body read and checked: the milestone to store and its external reference,
        or None when the form found problems."""
        before = len(form.problems)
        title = form.title()
        amount = form.amount()
        workspace = None
        if form.body.get("workspace_id") is None:
            form.problem("workspace_id", "Workspace can't be blank")
        else:
            workspace = form.reference(db, "workspace_id", WORKSPACES, "Workspace")
        day = form.date_to_invoice()
        billing_type = form.billing_type("fixed_date")
        story_id = form.story(db, billing_type, workspace)
        reference = form.external_reference()
        if len(form.problems) > before or workspace is None:
            return None
        moment = self.now()
        doc: dict[str, Json] = {
            "id": 0,
            "title": title,
            "amount_in_cents": amount,
            "date_to_invoice": day,
            "billing_type": billing_type,
            "workspace_id": workspace["id"],
            "story_id": story_id,
            "invoice_ids": [],
            "created_at": moment,
            "updated_at": moment,
        }
        return doc, reference

    def _insert(
        self, db: sqlite3.Connection, doc: dict[str, Json], reference: dict[str, Json] | None
    ) -> dict[str, Json]:
        stored = {**doc, "id": MILESTONES.ids.take(db)}
        MILESTONES.insert(db, stored)
        if reference is not None:
            self._attach_reference(db, stored["id"], reference, None)
        return stored

    def _attach_reference(
        self,
        db: sqlite3.Connection,
        subject_id: int,
        reference: Mapping[str, Json],
        existing: Mapping[str, Json] | None,
    ) -> None:
        """Add the reference, or update in place the one with the same service name."""
        moment = self.now()
        if existing is not None:
            EXTERNAL_REFERENCES.replace(db, {**existing, **reference, "updated_at": moment})
            return
        EXTERNAL_REFERENCES.insert(
            db,
            {
                "id": EXTERNAL_REFERENCES.ids.take(db),
                "subject_type": "BillingMilestone",
                "subject_id": subject_id,
                **reference,
                "created_at": moment,
                "updated_at": moment,
            },
        )

    def _delete(self, db: sqlite3.Connection, doc: Mapping[str, Json]) -> None:
        MILESTONES.delete(db, str(doc["id"]))
        for reference in self._references_by_subject(db).get(doc["id"], []):
            EXTERNAL_REFERENCES.delete(db, str(reference["id"]))

    def _milestone(self, db: sqlite3.Connection, request: Request) -> dict[str, Json]:
        raw = request.path_params["id"].removesuffix(".json")
        key = as_id(raw)
        doc = None if key is None else MILESTONES.get(db, str(key))
        if doc is None:
            raise ApiError(404, f"No billing milestone with id {raw} was found.")
        self._check_access(WORKSPACES.get(db, str(doc["workspace_id"])))
        return doc

    @staticmethod
    def _refuse_invoiced(doc: Mapping[str, Json], verb: str) -> None:
        if doc.get("invoice_ids"):
            refuse(
                [
                    Problem(
                        "base",
                        f"Billing milestone {doc['id']} has been invoiced and can no longer be "
                        f"{verb}",
                    )
                ]
            )

    def _listing(self, db: sqlite3.Connection) -> Listing:
        """Workspaces by id, references by subject and every milestone, read again only when
        the store has changed since (a write through this connection or another): a list read
        page by page reads them once, not once a page."""
        (other,) = db.execute("PRAGMA data_version").fetchone()
        version = (db.total_changes, int(other))
        if self._listed is None or self._listed[0] != version:
            workspaces = {doc["id"]: doc for doc in WORKSPACES.all(db)}
            listing = (workspaces, self._references_by_subject(db), MILESTONES.all(db))
            self._listed = (version, listing)
        return self._listed[1]

    @staticmethod
    def _check_access(workspace: Mapping[str, Json] | None) -> None:
        if workspace is not None and not _accessible(workspace):
            raise ApiError(403, f"You do not have access to workspace {workspace['id']}.")

    @staticmethod
    def _references_by_subject(db: sqlite3.Connection) -> dict[int, list[dict[str, Json]]]:
        grouped: dict[int, list[dict[str, Json]]] = {}
        for reference in sorted(EXTERNAL_REFERENCES.all(db), key=lambda ref: int(ref["id"])):
            grouped.setdefault(reference["subject_id"], []).append(reference)
        return grouped

    def _reference_named(
        self, db: sqlite3.Connection, subject_id: int, service_name: Json
    ) -> dict[str, Json] | None:
        for reference in self._references_by_subject(db).get(subject_id, []):
            if reference["service_name"] == service_name:
                return reference
        return None

    def _render(
        self,
        db: sqlite3.Connection,
        doc: Mapping[str, Json],
        references: Sequence[Mapping[str, Json]],
        wanted: Sequence[Include],
        workspaces: Mapping[Json, Mapping[str, Json]] | None = None,
    ) -> dict[str, Json]:
        key = doc["workspace_id"]
        held = WORKSPACES.get(db, str(key)) if workspaces is None else workspaces.get(key)
        workspace = held or {}
        invoice_ids = list(doc.get("invoice_ids") or [])
        joined = {
            **doc,
            "currency": workspace.get("currency"),
            "invoice_id": invoice_ids[-1] if invoice_ids else None,
        }
        rendered = written(joined, MILESTONE_SHAPE)
        for include in wanted:
            if include.key == "external_references":
                rendered["external_reference_ids"] = [str(ref["id"]) for ref in references]
            elif include.key == "invoices":
                rendered["invoice_ids"] = [str(key) for key in invoice_ids]
        return rendered

    def _envelope(
        self,
        db: sqlite3.Connection,
        docs: Sequence[Mapping[str, Json]],
        wanted: Sequence[Include],
        meta: Mapping[str, int] | None = None,
        references: Mapping[int, list[dict[str, Json]]] | None = None,
        workspaces: Mapping[Json, Mapping[str, Json]] | None = None,
    ) -> dict[str, Json]:
        """Kantata's response: results in order, milestones by id, associations side-loaded."""
        if references is None:
            references = self._references_by_subject(db)
        meta = meta or {
            "count": len(docs),
            "page_count": 1,
            "page_number": 1,
            "page_size": len(docs),
        }
        body: dict[str, Json] = {
            "count": meta["count"],
            "meta": dict(meta),
            "results": [{"key": MILESTONE_KEY, "id": str(doc["id"])} for doc in docs],
            MILESTONE_KEY: {
                str(doc["id"]): self._render(
                    db, doc, references.get(doc["id"], []), wanted, workspaces
                )
                for doc in docs
            },
        }
        for include in wanted:
            loaded: dict[str, Json] = {}
            for doc in docs:
                for related in self._associated(db, include, doc, references):
                    loaded[str(related["id"])] = written(related, include.shape)
            body[include.key] = loaded
        return body

    @staticmethod
    def _associated(
        db: sqlite3.Connection,
        include: Include,
        doc: Mapping[str, Json],
        references: Mapping[int, list[dict[str, Json]]],
    ) -> list[dict[str, Json]]:
        if include.key == "external_references":
            return references.get(doc["id"], [])
        if include.key == "invoices":
            keys: list[Json] = list(doc.get("invoice_ids") or [])
        elif include.key == "stories":
            keys = [doc.get("story_id")]
        else:
            keys = [doc["workspace_id"]]
        found = [include.table.get(db, str(key)) for key in keys if key is not None]
        return [related for related in found if related is not None]

    # ---- admin: seeding and changes behind the client's back ------------------------------

    def admin_routes(self) -> list[BaseRoute]:
        return collection_routes(
            [
                Collection(
                    "/workspaces",
                    listing=self.admin_listing(WORKSPACES, lambda db, doc: _admin_workspace(doc)),
                    create=self.admin_add_workspace,
                    update=self.admin_edit_workspace,
                ),
                Collection(
                    "/stories",
                    listing=self.admin_listing(STORIES, lambda db, doc: written(doc, STORY_SHAPE)),
                    create=self.admin_add_story,
                ),
                Collection(
                    "/invoices",
                    listing=self.admin_listing(INVOICES, lambda db, doc: _invoice_as_shown(doc)),
                    delete=self.admin_delete_invoice,
                ),
                Collection(
                    "/billing_milestones",
                    listing=self.admin_listing(
                        MILESTONES, self._admin_milestone, order=_newest_first
                    ),
                    create=self.admin_add_milestone,
                    update=self.admin_edit_milestone,
                    delete=self.admin_delete_milestone,
                    actions={"invoice": self.admin_invoice_milestone},
                ),
            ]
        )

    async def admin_add_workspace(self, request: Request) -> Response:
        body = await admin.admin_body(
            request, {"id", "title", "currency", "accessible", "archived"}
        )
        moment = self.now()
        with self.store.transaction() as db:
            doc = self.admin_insert(
                db,
                WORKSPACES,
                body,
                lambda: {
                    "title": admin.text(body, "title"),
                    "accessible": True,
                    "archived": False,
                    "created_at": moment,
                    "updated_at": moment,
                    **_workspace_changes(body, "USD"),
                },
            )
        return JSONBody(_admin_workspace(doc), status_code=201)

    async def admin_edit_workspace(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"title", "currency", "accessible", "archived"})
        with self.store.transaction() as db:
            doc = admin.lookup(db, WORKSPACES, "workspace", request, key=as_id)
            changes = _workspace_changes(body, None)
            if "title" in body:
                changes["title"] = admin.text(body, "title")
            updated = {**doc, **changes, "updated_at": self.now()}
            WORKSPACES.replace(db, updated)
        return JSONBody(_admin_workspace(updated))

    async def admin_add_story(self, request: Request) -> Response:
        body = await admin.admin_body(request, {"id", "workspace_id", "title"})
        moment = self.now()
        with self.store.transaction() as db:
            doc = self.admin_insert(
                db,
                STORIES,
                body,
                lambda: {
                    "title": admin.text(body, "title"),
                    "workspace_id": _admin_reference(db, body, "workspace_id", WORKSPACES),
                    "story_type": "task",
                    "state": "not started",
                    "created_at": moment,
                    "updated_at": moment,
                },
            )
        return JSONBody(written(doc, STORY_SHAPE), status_code=201)

    async def admin_add_milestone(self, request: Request) -> Response:
        """A milestone as a person would make it in Kantata's UI: none of the API's rules apply
        but what the UI asks for too, a title and an amount, and the workspace (and any
        story) must exist so that the milestone can be shown."""
        body = await admin.admin_body(request, ADMIN_MILESTONE_FIELDS | {"id"})
        moment = self.now()
        with self.store.transaction() as db:
            changes, references = _admin_milestone_changes(db, body)
            for required in ("workspace_id", "title", "amount_in_cents"):
                if changes.get(required) is None:
                    raise AdminError(400, f"{required} is required")
            doc = self.admin_insert(
                db,
                MILESTONES,
                body,
                lambda: {
                    "title": None,
                    "amount_in_cents": None,
                    "date_to_invoice": None,
                    "billing_type": "fixed_date",
                    "story_id": None,
                    "invoice_ids": [],
                    "created_at": moment,
                    "updated_at": moment,
                    **changes,
                },
            )
            self._admin_references(db, doc["id"], references)
            return JSONBody(self._admin_milestone(db, doc), status_code=201)

    async def admin_edit_milestone(self, request: Request) -> Response:
        """Change any field, invoiced or not, as someone editing in Kantata would."""
        body = await admin.admin_body(request, ADMIN_MILESTONE_FIELDS)
        with self.store.transaction() as db:
            doc = admin.lookup(db, MILESTONES, "billing milestone", request, key=as_id)
            changes, references = _admin_milestone_changes(db, body)
            updated = {**doc, "updated_at": self.now(), **changes}
            MILESTONES.replace(db, updated)
            self._admin_references(db, doc["id"], references)
            return JSONBody(self._admin_milestone(db, updated))

    async def admin_delete_milestone(self, request: Request) -> Response:
        with self.store.transaction() as db:
            self._delete(db, admin.lookup(db, MILESTONES, "billing milestone", request, key=as_id))
        return Response(status_code=204)

    async def admin_invoice_milestone(self, request: Request) -> Response:
        """Put the milestone on a new invoice, as invoicing it in Kantata would: an invoice
        shaped as CreateInvoice (kantata-invoices.openapi.yml) makes one from
        `billing_milestone_ids`, with `payment_schedule` days to pay (30 unless the body says)
        and `draft` false unless it says. A milestone already on an invoice is left as it is."""
        body = await admin.optional_body(request, {"draft", "payment_schedule"})
        draft = admin.flag("draft", body.get("draft", False))
        days = body.get("payment_schedule", 30)
        if not (is_integer(days) and days >= 0):
            raise AdminError(400, "payment_schedule must be a whole number of days")
        with self.store.transaction() as db:
            doc = admin.lookup(db, MILESTONES, "billing milestone", request, key=as_id)
            if doc.get("invoice_ids"):
                return JSONBody(self._admin_milestone(db, doc))
            workspace = WORKSPACES.get(db, str(doc["workspace_id"])) or {}
            moment = self.wall_clock()
            key = INVOICES.ids.take(db)
            INVOICES.insert(
                db,
                {
                    "id": key,
                    "title": f"{'Draft Invoice' if draft else 'Invoice'} #{key}",
                    "user_invoice_number": key,
                    "status": "new",
                    "draft": draft,
                    "currency": workspace.get("currency"),
                    "currency_base_unit": workspace.get("currency_base_unit"),
                    "balance_in_cents": doc.get("amount_in_cents") or 0,
                    "payment_schedule": days,
                    "invoice_date": moment.date().isoformat(),
                    "due_date": (moment.date() + timedelta(days=days)).isoformat(),
                    "workspace_id": doc["workspace_id"],
                    "billing_milestone_ids": [doc["id"]],
                    "created_at": self.stamped(moment),
                    "updated_at": self.stamped(moment),
                },
            )
            updated = {**doc, "invoice_ids": [key]}
            MILESTONES.replace(db, updated)
            return JSONBody(self._admin_milestone(db, updated))

    async def admin_delete_invoice(self, request: Request) -> Response:
        """Delete an invoice as someone would in Kantata (a draft is deleted, an active one
        cancelled first): its milestones are on no invoice any more and can be changed again."""
        with self.store.transaction() as db:
            invoice = admin.lookup(db, INVOICES, "invoice", request, key=as_id)
            for key in invoice.get("billing_milestone_ids") or []:
                milestone = MILESTONES.get(db, str(key))
                if milestone is not None:
                    kept = [i for i in milestone.get("invoice_ids") or [] if i != invoice["id"]]
                    MILESTONES.replace(db, {**milestone, "invoice_ids": kept})
            INVOICES.delete(db, str(invoice["id"]))
        return Response(status_code=204)

    def _admin_milestone(self, db: sqlite3.Connection, doc: Mapping[str, Json]) -> dict[str, Json]:
        """The milestone as the API shows it with external references and invoices included,
        with its external references written out in full."""
        references = self._references_by_subject(db).get(doc["id"], [])
        rendered = self._render(
            db, doc, references, [INCLUDES["external_references"], INCLUDES["invoices"]]
        )
        rendered["external_references"] = [written(ref, REFERENCE_SHAPE) for ref in references]
        return rendered

    def _admin_references(
        self, db: sqlite3.Connection, subject_id: int, references: Sequence[dict[str, Json]]
    ) -> None:
        for reference in references:
            existing = self._reference_named(db, subject_id, reference["service_name"])
            self._attach_reference(db, subject_id, reference, existing)


# --------------------------------------------------------------------------------------------
# Request bodies


def _object_under(raw: bytes, key: str) -> dict[str, Json]:
    body = Form.wording.json(raw)
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise ApiError(400, f'The request body must be {{"{key}": {{...}}}}.')
    return body[key]


def _create_items(raw: bytes) -> tuple[list[dict[str, Json]], bool]:
    """The milestones a create asks for, and whether it was sent as a batch."""
    body = Form.wording.object(raw)
    if "billing_milestone" in body and "billing_milestones" in body:
        raise ApiError(400, "Send either billing_milestone or billing_milestones, not both.")
    if "billing_milestones" in body:
        items = body["billing_milestones"]
        if not (isinstance(items, list) and all(isinstance(item, dict) for item in items)):
            raise ApiError(400, "billing_milestones must be an array of objects.")
        if not 1 <= len(items) <= BATCH_LIMIT:
            refuse(
                [
                    Problem(
                        "billing_milestones",
                        f"Between 1 and {BATCH_LIMIT} billing milestones can be created in one "
                        f"request; got {len(items)}",
                    )
                ]
            )
        return items, True
    if isinstance(body.get("billing_milestone"), dict):
        return [body["billing_milestone"]], False
    raise ApiError(
        400,
        'The request body must be {"billing_milestone": {...}} or {"billing_milestones": [...]}.',
    )


def _accessible(workspace: Mapping[str, Json] | None) -> bool:
    return workspace is not None and bool(workspace.get("accessible", True))


# --------------------------------------------------------------------------------------------
# Admin helpers

ADMIN_MILESTONE_FIELDS = frozenset(
    {
        "title",
        "amount_in_cents",
        "date_to_invoice",
        "billing_type",
        "workspace_id",
        "story_id",
        "created_at",
        "external_reference",
        "external_references",
    }
)


def _invoice_as_shown(doc: Mapping[str, Json]) -> dict[str, Json]:
    """The invoice with the milestones it was made from, as Kantata's UI shows it."""
    milestones = [str(key) for key in doc.get("billing_milestone_ids") or []]
    return {**written(doc, INVOICE_SHAPE), "billing_milestone_ids": milestones}


def _newest_first(docs: list[dict[str, Json]]) -> list[dict[str, Json]]:
    return sorted(docs, key=sort_key, reverse=True)


def _admin_workspace(doc: Mapping[str, Json]) -> dict[str, Json]:
    return {**written(doc, WORKSPACE_SHAPE), "accessible": doc.get("accessible", True)}


def _admin_reference(
    db: sqlite3.Connection, body: Mapping[str, Json], name: str, table: Table
) -> int:
    key = as_id(body.get(name))
    if key is None or table.get(db, str(key)) is None:
        raise AdminError(400, f"{name} must be the id of a seeded object")
    return key


def _workspace_changes(body: Mapping[str, Json], default_currency: str | None) -> dict[str, Json]:
    changes: dict[str, Json] = {}
    currency = body.get("currency", default_currency)
    if currency is not None:
        if not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
            raise AdminError(400, "currency must be an ISO 4217 code such as USD")
        changes["currency"] = currency
        changes["currency_base_unit"] = CURRENCY_BASE_UNITS.get(currency, 100)
    for flag in ("accessible", "archived"):
        if flag in body:
            changes[flag] = admin.flag(flag, body[flag])
    return changes


def _admin_milestone_changes(
    db: sqlite3.Connection, body: Mapping[str, Json]
) -> tuple[dict[str, Json], list[dict[str, Json]]]:
    """Fields as sent, checked only for type (and references for existence), so the stored
    milestone can still be shown; and the external references to add or update."""
    changes: dict[str, Json] = {}
    for name, value in body.items():
        if name in ("id", "external_reference", "external_references"):
            continue
        if name == "workspace_id":
            value = _admin_reference(db, body, name, WORKSPACES)
        elif name == "story_id":
            value = None if value is None else _admin_reference(db, body, name, STORIES)
        elif name == "amount_in_cents":
            if not is_integer(value):
                raise AdminError(400, "amount_in_cents must be an integer")
        elif name == "title":
            if not (isinstance(value, str) and value):
                raise AdminError(400, "title must be a non-empty string")
        elif name == "date_to_invoice":
            if value is not None and as_date(value) is None:
                raise AdminError(400, "date_to_invoice must be YYYY-MM-DD or null")
        elif name == "created_at":
            value = _admin_timestamp(value)
        elif value is not None and not isinstance(value, str):
            raise AdminError(400, f"{name} must be a string or null")
        changes[name] = value
    return changes, _admin_reference_bodies(body)


def _admin_timestamp(value: Json) -> str:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise AdminError(400, "created_at must be an ISO 8601 time with an offset")
    return wire.seconds_offset(moment)


def _admin_reference_bodies(body: Mapping[str, Json]) -> list[dict[str, Json]]:
    sent: list[Json] = []
    if body.get("external_reference") is not None:
        sent.append(body["external_reference"])
    if body.get("external_references") is not None:
        if not isinstance(body["external_references"], list):
            raise AdminError(400, "external_references must be a list of objects")
        sent.extend(body["external_references"])
    references = []
    for value in sent:
        form = Form({"external_reference": value})
        reference = form.external_reference()
        if reference is None:
            raise AdminError(400, "; ".join(problem.message for problem in form.problems))
        references.append(reference)
    names = [reference["service_name"] for reference in references]
    if len(set(names)) != len(names):
        raise AdminError(400, "an object has at most one external reference per service_name")
    return references


# ---- the sandbox's bootstrap: what a plan needs here, and how a person locks ----------------
# Declared after the emulator it belongs to (bootstrap.py reads it from the class).


def _workspace_body(workspace: str, items: list[Item], plan: Seeding) -> Body:
    return {"id": int(workspace), "title": plan.project_name(items[0]),
            "currency": items[0].currency}  # fmt: skip


def _task(item: Item) -> str | None:
    return None if item.task is None else str(item.task)


def _story_body(task: str, items: list[Item], _plan: Seeding) -> Body:
    # A task lives in the first workspace whose items name it.
    workspace = min(str(item.project_id) for item in items)
    return {"id": int(task), "workspace_id": int(workspace), "title": "Task"}


KantataEmulator.bootstrap = Bootstrap(
    title="Kantata",
    seeds=(
        Objects("workspaces", "workspace", _workspace_body, "{id} ({title})"),
        Objects("stories", "task", _story_body, "{id} in workspace {workspace_id}", _task),
    ),
    locks={"kantata_billing_milestone": Lock("billing_milestones/{id}/invoice")},
)
