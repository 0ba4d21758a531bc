"""Wethod: no milestone object, so every item becomes a draft invoice on its project.

billplan owns a draft until it is sent or paid; then it is locked. Requests carry the
`Wethod-Company` and `Wethod-Version` headers; lists are bare arrays paged by limit/offset and
filtered with operator prefixes (`in:1,2`). A create whose response was lost is recovered by
matching project, issue date, value and notes exactly (the diff's adopt).

Written to `api/specs/wethod.openapi.yml`: an invoice moves to another project by PATCHing its
`project_id` (InvoiceUpdate); each operation needs its own permissions (`x-permissions`), which a
403 names; a 429 says how long to wait in `x-ratelimit-retry-after`, and a token may make 5,000
requests an hour (x-rate-limit). That is Wethod's only documented limit: no rate a second.

The hour's budget is the token's, and other processes spend it too (CI runs of plan on every
push, another apply, a person's scripts), while Wethod tells nobody how much is left. So the
client sends up to AT_ONCE requests without waiting (a run of plan reads a page of 100 invoices
a request, an ordinary apply a few hundred writes: neither waits), and beyond that spreads the
rest of the hour evenly, (5,000 - AT_ONCE) an hour: however long it runs, billplan alone never
spends more than the hour's 5,000, and a large apply leaves room for the others instead of
emptying the hour in a minute and failing their next run. An apply needing more than 5,000
requests does not start (check_budget). A 429 is waited out as `x-ratelimit-retry-after`
asks, up to retry_after_cap; a longer wait means the hour is spent, and billplan stops saying
so. After a 429 the client paces at the spread rate alone: someone else is using the hour.

Onboarding: the spec documents no list of projects, and an invoice carries neither a currency
nor its project's name. `projects` is therefore the projects that hold invoices the token can
see (one listInvoices without a project filter), with no name and no currency (""): the person
onboarding gives the currency. An invoice reads back as a milestone (nothing in it says more),
its options as they are; one without notes (null) is refused, since billplan writes the
description there and always sends one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.model import Item, Observed, Resource
from compiler.onboard.found import Found
from compiler.providers.base import (
    ConfigurationError,
    Provider,
)
from compiler.providers.declare import Connection, PlanOptions
from compiler.providers.traits import AllProjects, MajorUnits, Offset, Status
from compiler.providers.values import decimal, integer_id, moment

if TYPE_CHECKING:
    import httpx

INVOICE = "wethod_invoice"
API_VERSION = "2024-06-15"
LOCKED_STATUSES = frozenset({"sent", "paid"})
# Plan options that flow into the invoice as they are.
OPTION_FIELDS = ("vat_rate_id", "payment_term_id", "budget_area_uid", "purchase_order",
                 "exchange_rate")  # fmt: skip
RETRY_HEADER = "x-ratelimit-retry-after"  # seconds; Wethod's name for Retry-After
HOURLY_REQUESTS = 5000  # per personal token (x-rate-limit)
HOUR = 3600.0
# Requests sent without pacing: a fifth of the hour, so four more runs like it fit in the hour.
AT_ONCE = 1000


@dataclass(frozen=True)
class Permissions:
    """What one call needs in Wethod (the operation's `x-permissions`): `own` on projects where
    the token's user is PM or Account, `other` on every other project, and invoices.edit_sent
    too when the invoice is sent or paid (`sent`)."""

    doing: str  # "list invoices", for the message
    own: str
    other: str
    sent: bool = False


# By method, and whether the path names one invoice. The edit keys of updateInvoice are the
# spec's own assumption (Wethod's update page was not found).
PERMISSIONS: Mapping[tuple[str, bool], Permissions] = {
    ("GET", False): Permissions("list invoices", "invoices.view", "invoices.view_other"),
    ("GET", True): Permissions("read invoice", "invoices.view", "invoices.view_other"),
    ("POST", False): Permissions("create an invoice", "invoices.create", "invoices.create_other"),
    ("PATCH", True): Permissions("update invoice", "invoices.edit", "invoices.edit_other", True),
    ("DELETE", True): Permissions(
        "delete invoice", "invoices.delete", "invoices.delete_other", True
    ),
}


class Wethod(Provider):
    vendor = "wethod"
    title = "Wethod"
    plan_options = PlanOptions(
        keys={
            "vat_rate_id": {
                "description": "Wethod id of the VAT rate to apply to the invoice, e.g. 3.",
                "type": "integer",
                "minimum": 1,
            },
            "payment_term_id": {
                "description": "Wethod id of the payment terms (e.g. 30 days net) to use, e.g. 2.",
                "type": "integer",
                "minimum": 1,
            },
            "budget_area_uid": {
                "description": "Wethod uid of the budget area the invoice belongs to.",
                "type": "string",
                "minLength": 1,
            },
            "purchase_order": {
                "description": "The client's purchase order number to print on the invoice, "
                "e.g. PO-4471.",
                "type": "string",
            },
            "exchange_rate": {
                "$ref": "#/$defs/money",
                "description": "Exchange rate to record on the invoice when it is not in the "
                "company's currency, e.g. 1.0850.",
            },
        },
        description="Wethod invoice options, e.g. {vat_rate_id: 3, payment_term_id: 2}.",
    )
    connection = Connection(
        summary="Wethod (invoices). The token's user needs invoices.view and "
        "invoices.view_other to plan, and the create, edit and delete keys (each with its _other "
        "twin) to apply; not invoices.edit_sent.",
        keys={
            "company": {
                "description": "Wethod only: the company slug sent as the Wethod-Company header, "
                "e.g. acme.",
                "type": "string",
                "minLength": 1,
            },
        },
        required=("company",),
    )
    default_base_url = "https://api.wethod.com"
    default_token_env = "WETHOD_API_TOKEN"
    # No rate a second is documented; the hour's budget, AT_ONCE at once and the rest spread
    # over the hour (module docstring), so that burst + rate x 1 h is the hour's 5,000.
    rate_burst = AT_ONCE
    rate_limit = (HOURLY_REQUESTS - AT_ONCE) / HOUR
    rate_words = (
        f"{AT_ONCE:,} at once, then {rate_limit:.2g} a second ({HOURLY_REQUESTS:,} an hour)"
    )
    types: ClassVar[Mapping[str, str]] = {INVOICE: "/api/invoices"}
    # None: PATCH may change project_id (InvoiceUpdate), so a move is an update.
    fixed_fields: ClassVar[frozenset[str]] = frozenset()
    paging = Offset(offset="offset", size="limit")
    scope = AllProjects(param="project_id", template="in:{}")
    lock = Status("status", default="draft", locked=LOCKED_STATUSES)
    money = MajorUnits("value")
    project_field, date_field = "project_id", "issue_date"
    text_fields = frozenset({"notes"})
    project_noun = "Wethod project"
    undated = "a Wethod invoice needs a date"
    page_size = 100  # the documented maximum `limit`

    def headers(self) -> dict[str, str]:
        company = self.config.get("company")
        if not company:
            raise ConfigurationError(
                f"provider {self.name!r} (Wethod) needs `company`: the company slug Wethod "
                "expects in the Wethod-Company header"
            )
        return {
            **super().headers(),
            "Wethod-Company": str(company),
            "Wethod-Version": API_VERSION,
        }

    # An invoice is a value on a date whatever charge made it: compile_one writes no kind.
    reads_kinds_back = False

    def compile_one(self, item: Item, project: str | int) -> Resource | str:
        assert item.date is not None  # admitted: Wethod needs one
        body: dict[str, Any] = {
            "project_id": project,
            "value": item.amount,
            "issue_date": item.date.isoformat(),
            "notes": item.description,
        }
        for key in OPTION_FIELDS:
            if item.options.get(key) is not None:
                value = item.options[key]
                body[key] = Decimal(str(value)) if key == "exchange_rate" else value
        return Resource.of(item, INVOICE, project, body)

    def projects(self) -> list[tuple[str | int, str, str]]:
        """The projects that hold an invoice the token can see, in the order first met, with
        no name and no currency: Wethod publishes no project list, and an invoice says neither."""
        seen: dict[int, None] = {}
        rows = functools.partial(self.page_rows, key=self.paging.rows)
        for invoice in self.pages(self.types[INVOICE], {}, self.paging, rows):
            project = integer_id(invoice.get("project_id"))
            if project is not None:
                seen.setdefault(project)
        return [(project, "", "") for project in seen]

    def read_back(self, observed: Observed, currency: str) -> Found | str:
        attributes = observed.attributes
        notes = attributes.get("notes")
        if not isinstance(notes, str):
            return (
                "a Wethod invoice without notes: billplan writes a charge's description there, "
                "so a plan's invoice always has some"
            )
        if observed.date is None:
            return "a Wethod invoice without an issue date"
        options = {key: attributes[key] for key in OPTION_FIELDS if key in attributes}
        return self.found_as(observed, currency, "milestone", notes, options=options)

    def update_body(
        self, type_name: str, changes: Mapping[str, Any], private: Mapping[str, Any]
    ) -> dict[str, Any]:
        # PATCH keeps what it is not told: an option the plan no longer sets is sent as null,
        # or Wethod would keep the old one and the invoice could never match the plan.
        return {**dict.fromkeys(OPTION_FIELDS), **changes}

    def observe(self, type_name: str, obj: Mapping[str, Any]) -> Observed:
        attributes: dict[str, Any] = {
            "project_id": integer_id(obj.get("project_id")),
            "value": decimal(obj.get("value")),
            "issue_date": obj.get("issue_date"),
            "notes": obj.get("notes"),
        }
        for key in OPTION_FIELDS:
            if obj.get(key) is not None:
                value = obj[key]
                attributes[key] = decimal(value) if key == "exchange_rate" else value
        return self.observed(type_name, obj, attributes, created=moment(obj.get("created_at")))

    def describe_error(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        message = str(payload.get("message") or payload.get("key") or response.reason_phrase)
        failures = payload.get("failures") or []
        if failures:
            details = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in failures)
            message += f" ({details})"
        if response.status_code == 403:
            message += " — " + self._refusal(response.request)
        if response.status_code == 429 and not self.retryable(response):
            message += (
                f" — Wethod asks to wait {self.retry_after(response):.0f} s, longer than billplan "
                f"waits (a token may make {HOURLY_REQUESTS:,} requests an hour); run billplan "
                "again then (what was applied stays applied)"
            )
        return message

    def _refusal(self, request: httpx.Request) -> str:
        """Which permissions the refused call needs, and where they come from."""
        tail = request.url.path.rsplit("/api/invoices", 1)[-1]
        needed = PERMISSIONS.get((request.method, bool(tail)))
        if needed is None:
            return "the token's user lacks a Wethod permission this call needs"
        doing = needed.doing + (f" {tail.lstrip('/')}" if tail else "")
        message = (
            f"Wethod refused to {doing} for connection {self.name!r}: the token's user lacks "
            f"{needed.own} (for projects where they are PM or Account) or {needed.other} (for "
            "every other project); ask a Wethod administrator to grant it to the user's role"
        )
        if needed.sent:
            message += (
                ". If the invoice was sent or paid since the plan, Wethod also asks for "
                "invoices.edit_sent: run plan again instead, and billplan will leave it alone"
            )
        return message

    # -- the rate limit ---------------------------------------------------------------------

    def retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get(RETRY_HEADER)
        if value is None:
            return super().retry_after(response)
        try:
            return max(0.0, float(value))
        except ValueError:
            return None

    def retryable(self, response: httpx.Response) -> bool:
        # A wait longer than billplan would sit through means the hour's requests are spent.
        wait = self.retry_after(response)
        return wait is None or wait <= self.retry_after_cap

    def check_budget(self, writes: int) -> str | None:
        spent = self.calls.requests
        if spent + writes <= HOURLY_REQUESTS:
            return None
        return (
            f"Wethod: this apply needs {writes:,} requests after the {spent:,} this run has made, "
            f"but a Wethod token may make {HOURLY_REQUESTS:,} an hour; nothing was applied. "
            "Apply part of the plan (--target) now and the rest an hour later."
        )
