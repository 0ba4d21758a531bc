"""Coperniq: items become DRAFT invoices on the project record.

By default each item is one invoice with one line item. With `coperniq: {group_by: date}` all
of a project's items on one date become a single invoice (its own address,
`PROJECT/invoices/DATE`) with a section per kind, so its items must agree on `due_in_days` and
`status`. A `percent` milestone is a PERCENTAGE invoice; Coperniq's update takes no percentage,
so a new percent replaces the DRAFT. Anything but DRAFT is locked.

Every line names a catalog item (`coperniq: {catalog_item: ID}`, required), carries a unit cost
(`unit_cost`, default 0: billplan does not know your cost) and an integer quantity, as
Coperniq's InvoiceLineItemCreate requires. A line whose quantity is not a whole number (or whose
quantity x rate is not exactly its amount) is sent as 1 x the amount, the description keeping
"(quantity x rate)", so the invoice total stays exact. Coperniq takes a catalog item once per
invoice, so two items of one grouped invoice may not share one. `plan` checks once per
connection (one GET /catalog-items) that every catalog item the plan uses exists.

Coperniq reads lines back flat, without their sections: the compared lines are flat, ordered by
catalog item (unique on an invoice), and the sections are rebuilt for the request from the plan.

Coperniq allows 5,000 requests per key per rolling day, reported on every response in
X-RateLimit-Limit / X-RateLimit-Remaining. The client spends nothing it does not need (one
paged list per project, never a read after a write), says when the budget runs low, and
refuses to start an apply that cannot finish within it.

Onboarding lists the company's projects with list-projects (a bare array, paged until a short
page; a project keeps no currency, so the person onboarding gives it) and reads a record's
invoices back the way compile wrote them (found_in). An invoice of one line: its line's catalog
item, unit cost and, where the line is quantity x price (or 1 x the amount with "(quantity x
rate)" kept in its text), a product's quantity and rate; otherwise a milestone. Its date is the
due date less the days the plan gives (in_plan_terms, when the read had the plan), the
difference kept as `due_in_days`; an issued invoice keeps its status. An invoice grouped by date
(described `PROJECT: billing for DATE`): an item per line, read the same way, billed on DATE
with `group_by: date`, its state entry at PROJECT/invoices/DATE; when a record's grouped
invoices agree on their due days, its other invoices are dated by them too. A PERCENTAGE
invoice: a `percent` milestone of the contract value its baseAmount says. Refused, with the
reason: an invoice of several lines described otherwise, a second grouped invoice of a date or
of another project key, a PERCENTAGE invoice of another contract value than the record's
others, and a line whose text is not the invoice's.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.diagnostics import Mark
from compiler.model import Item, Kind, Observed, Resource
from compiler.money import ROUNDING_MODES, decimals, exponent, round_money
from compiler.onboard.found import Found
from compiler.providers.base import Planned, Provider, ProviderError
from compiler.providers.declare import Capabilities, Connection, PlanOptions
from compiler.providers.traits import MajorUnits, PageNumber, PerProject, ProjectList, Status
from compiler.providers.values import decimal, integer_id, moment

if TYPE_CHECKING:
    import httpx

INVOICE = "coperniq_invoice"
SECTIONS = {"recurring": "Recurring fees", "milestone": "Milestones", "product": "Products"}
# What a line costs you per unit when the plan does not say: billplan does not know your cost.
DEFAULT_UNIT_COST = Decimal(0)
# Below this share of the daily budget, plan output says how much is left.
LOW_BUDGET_SHARE = Decimal("0.2")
# The "(quantity x rate)" _line keeps in the text of a line billed as 1 x its amount.
KEPT_PRICING = re.compile(r" \((-?\d+(?:\.\d+)?) x (-?\d+(?:\.\d+)?)\)$")
# The description compile gives an invoice of a project's items of one date (group_by: date).
GROUPED = re.compile(r"(?P<project>[a-z0-9][a-z0-9_-]*): billing for (?P<date>\d{4}-\d{2}-\d{2})")
# Status hints, from coperniq.errors.yml's remediations.
STATUS_HINTS: Mapping[int, str] = {
    403: "the API key has the role and data scope of the user who created it: create the key "
    "as a user who can see this project's invoices",
}


class Coperniq(Provider):
    vendor = "coperniq"
    title = "Coperniq"
    plan_options = PlanOptions(
        keys={
            "catalog_item": {
                "description": "The Coperniq catalog item (a product or service of the company's "
                "catalog) every invoice line of these charges is filed under: its id, e.g. 3001. "
                "Required for every line (a percent milestone has none). Coperniq takes a catalog "
                "item once per invoice, so charges sharing a group_by: date invoice need one each. "
                "`plan` checks that it exists.",
                "type": "integer",
                "minimum": 1,
                "x-hint": "a Coperniq catalog item id such as 3001",
            },
            "unit_cost": {
                "$ref": "#/$defs/money",
                "description": "What one unit of the line costs you, sent as the line's unitCost "
                "(Coperniq uses it for margins; it is not billed). Default 0: billplan does not "
                "know your cost. A line billed as 1 x its amount (a fractional quantity) costs "
                "unit_cost x the quantity.",
            },
            "group_by": {
                "description": "none: one Coperniq invoice per line. date: lines of the same "
                "project dated the same day go on one invoice.",
                "enum": ["none", "date"],
                "enumDescriptions": [
                    "One invoice per billing line.",
                    "One invoice per project and date, with a line for each charge.",
                ],
            },
            "due_in_days": {
                "description": "Days between the invoice date and its due date, e.g. 30.",
                "type": "integer",
                "minimum": 0,
            },
            "status": {
                "description": "Status to create invoices in: DRAFT (the vendor's default), SENT, "
                "PARTIALLY_PAID or PAID.",
                "enum": ["DRAFT", "SENT", "PARTIALLY_PAID", "PAID"],
            },
        },
        description="Coperniq invoice options, e.g. {catalog_item: 3001, group_by: date, "
        "due_in_days: 30, status: DRAFT}.",
    )
    capabilities = Capabilities(grouping="group_by")
    # An invoice's lines say no kind: a grouped invoice's sections go only in the create
    # request (private) and read back flat, so a recurring fee and a milestone are one invoice.
    reads_kinds_back = False
    connection = Connection(summary="Coperniq (invoices).")
    default_base_url = "https://api.coperniq.io/v1"
    default_token_env = "COPERNIQ_API_KEY"
    rate_limit = 100  # requests a second per key [doc]; the daily budget is checked apart
    # The limit is counted per one-second time frame (coperniq.rate-limits.yml): a second's
    # 100 may arrive at once [doc].
    rate_burst = 100
    types: ClassVar[Mapping[str, str]] = {INVOICE: "/invoices"}
    # update-invoice takes none of these (InvoiceUpdate): a change is a replacement.
    fixed_fields = frozenset({"recordId", "calculationMethod", "percentage"})
    # get-project-invoices: `{items, page, page_size, has_more}`, one project to a listing.
    paging = PageNumber(number="page", size="page_size", rows="items", more="has_more")
    scope = PerProject(path="/projects/{project}/invoices")
    # list-projects: a bare array paged by page and page_size; a project keeps no currency.
    project_list = ProjectList(
        "/projects", PageNumber(number="page", size="page_size", rows=None), "title", None
    )
    lock = Status("status", default="DRAFT", editable=frozenset({"DRAFT"}))
    money = MajorUnits("amount")  # Coperniq's total of the lines, or its percentage's worth
    project_field, date_field = "recordId", "dueDate"  # dated by due date: see in_plan_terms
    project_noun = "Coperniq record"
    undated = "a Coperniq invoice needs a date"
    page_size = 100  # the documented maximum `page_size`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The key's daily budget as the last response reported it: the connection's, not the
        # plan's, like the call log.
        self.limit: int | None = None
        self.remaining: int | None = None

    def headers(self) -> dict[str, str]:
        return {"x-api-key": str(self.token), "Accept": "application/json"}

    def on_response(self, response: httpx.Response) -> None:
        limit = response.headers.get("X-RateLimit-Limit")
        remaining = response.headers.get("X-RateLimit-Remaining")
        if limit is not None and remaining is not None:
            with contextlib.suppress(ValueError):
                self.limit, self.remaining = int(limit), int(remaining)

    def describe_error(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        """`{message, code, field?}`. The spec allows one `code` per operation whatever the
        status (create-invoice's 400 says UNAUTHORIZED), so the status decides, never the code."""
        message = str(payload.get("message") or response.reason_phrase)
        where = payload.get("field")
        if where and str(where) not in message:
            message += f" (field {where})"
        hint = STATUS_HINTS.get(response.status_code)
        return f"{message.rstrip('.')}; {hint}" if hint else message

    # -- compile ----------------------------------------------------------------------------

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]:
        resources: list[Resource] = []
        problems: list[tuple[Item, str]] = []
        grouped: dict[tuple[str, int, date], list[Item]] = defaultdict(list)
        # A charge's options are its items' options: say what is wrong with them once a charge.
        told: set[tuple[str, str, str]] = set()
        for item, record in self.admitted(items, problems):
            assert isinstance(record, int) and item.date is not None  # admitted
            if item.percent is not None:
                resources.append(_percentage(item, record))
                continue
            problem = _line_problem(item)
            if problem is not None:
                if (item.project, item.kind, item.charge) not in told:
                    told.add((item.project, item.kind, item.charge))
                    problems.append((item, problem))
                continue
            if item.options.get("group_by", "none") == "date":
                grouped[(item.project, record, item.date)].append(item)
            else:
                body = _invoice(item, record, item.date, item.description)
                body["lineItems"] = [_line(item)]
                resources.append(_resource(item.address, item, record, body, [item]))
        for (project, record, when), group in sorted(grouped.items()):
            problem = _grouping_problem(group, when)
            if problem is not None:
                problems.append(problem)
                continue
            description = f"{project}: billing for {when.isoformat()}"
            body = _invoice(group[0], record, when, description)
            body["lineItems"] = sorted((_line(i) for i in group), key=_by_catalog_item)
            # Coperniq reads the sections back flat: the request takes them from here.
            sections = {str(_catalog_item(i)): SECTIONS[i.kind] for i in group}
            address = f"{project}/invoices/{when.isoformat()}"
            resources.append(_resource(address, group[0], record, body, group, sections))
        return resources, problems

    # -- wire -------------------------------------------------------------------------------

    def create_body(
        self, type_name: str, body: Mapping[str, Any], private: Mapping[str, Any]
    ) -> dict[str, Any]:
        wire = _wire(body, private)
        # The status an invoice is created in, and the day it was issued if not a DRAFT; an
        # update never changes them (InvoiceUpdate has neither).
        wire["status"] = private.get("status", "DRAFT")
        if private.get("issue_date"):
            wire["issueDate"] = f"{private['issue_date']}T00:00:00.000Z"
        return _sectioned(wire, private)

    def update_body(
        self, type_name: str, changes: Mapping[str, Any], private: Mapping[str, Any]
    ) -> dict[str, Any]:
        return _sectioned(_wire(changes, private), private)

    def list(
        self, project_ids: Sequence[str | int], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        self._check_catalog(planned)
        return super().list(project_ids, planned)

    def in_plan_terms(self, observed: Observed, planned: Planned) -> Observed:
        """Coperniq keeps a due date, not a billing date: the billing date is the due date
        less the days the plan gives the record's invoices (its last invoice's)."""
        observed = super().in_plan_terms(observed, planned)
        invoices = planned.projects.get(str(observed.project_id))
        if not invoices or observed.date is None or invoices[-1].date is None:
            return observed
        last = invoices[-1]
        days = date.fromisoformat(str(last.attributes["dueDate"])) - last.date
        return replace(observed, date=observed.date - days)

    def _check_catalog(self, planned: Sequence[Resource]) -> None:
        """Every catalog item the plan's lines use exists: one GET /catalog-items for the
        connection, before anything is compared, so an unknown one fails the plan, not a write."""
        uses = _catalog_uses(planned)
        if not uses:
            return
        listed = self.json(self.request("GET", "/catalog-items"))
        known = {integer_id(row.get("id")) for row in listed or [] if isinstance(row, dict)}
        unknown = sorted(set(uses) - known)
        if not unknown:
            return
        lines = []
        for catalog_item in unknown:
            for mark, users in _by_mark(uses[catalog_item]).items():
                lines.append(f"  {mark}: catalog_item {catalog_item}, used by {_addresses(users)}")
        raise ProviderError(
            f"Coperniq connection {self.name!r} has no catalog item "
            f"{', '.join(map(str, unknown))} (the catalog, GET /catalog-items, has "
            f"{len(known)} item{'' if len(known) == 1 else 's'}). Set `catalog_item` to the id of "
            "a product or service in the catalog, or add it to Coperniq's catalog first:\n"
            + "\n".join(lines)
        )

    def observe(self, type_name: str, obj: Mapping[str, Any]) -> Observed:
        """An invoice, dated by its due date: in_plan_terms takes the plan's days off."""
        record = obj.get("record") or {}
        record_id = integer_id(record.get("id", obj.get("recordId")))
        method = obj.get("calculationMethod") or "LINE_ITEMS"
        due = str(obj.get("dueDate") or "")[:10] or None
        attributes: dict[str, Any] = {
            "recordId": record_id,
            "calculationMethod": method,
            "description": obj.get("description"),
            "dueDate": due,
        }
        private: dict[str, Any] = {}
        # The id of each catalog item's line, so that an update names the line it changes.
        line_ids: dict[str, int] = {}
        if method == "PERCENTAGE":
            attributes["percentage"] = decimal(obj.get("percentage"))
            # What the percentage is of (the record's contract value), for onboarding's
            # `contract_value`; the plan never sends it, so it is not compared.
            base = decimal(obj.get("baseAmount"))
            if base is not None:
                private["contract_value"] = base
        else:
            raw = [line for line in obj.get("lineItems") or [] if isinstance(line, Mapping)]
            for line in raw:
                catalog_item, line_id = (integer_id(line.get(k)) for k in ("catalogItemId", "id"))
                if catalog_item is not None and line_id is not None:
                    line_ids[str(catalog_item)] = line_id
            attributes["lineItems"] = sorted(map(_read_line, raw), key=_by_catalog_item)
        if line_ids:
            private["line_ids"] = line_ids
        if self.lock.holds(obj):
            # An issued invoice's status, for onboarding: the plan's `status` to create it in.
            # Never written (a locked invoice is left alone), so it changes no request.
            private["status"] = str(obj.get("status"))
        return self.observed(
            type_name, obj, attributes, project_id=record_id or 0, dated_by_vendor=False,
            private=private, created=moment(obj.get("createdAt")),
        )  # fmt: skip

    def found_in(
        self, observed: Sequence[Observed], currency: str
    ) -> tuple[list[Found], list[tuple[Observed, str]]]:
        """A record's invoices in the plan's terms. An invoice compile grouped by date (its
        description `PROJECT: billing for DATE`) is one item per line, billed on DATE, its state
        entry at PROJECT/invoices/DATE; when the record's grouped invoices agree on their due
        days, so do its other invoices (in_plan_terms reads a record's invoices with one
        number of days), dated that many days before they are due."""
        groups = {o.remote_id: g for o in observed if (g := _grouped_as(o)) is not None}
        key = _most(k for k, _ in groups.values())
        days = {_days_to_pay(o, groups[o.remote_id][1]) for o in observed if o.remote_id in groups}
        known = days.pop() if len(days) == 1 else None
        base = _most(b for o in observed if (b := o.private.get("contract_value")) is not None)
        found: list[Found] = []
        refused: list[tuple[Observed, str]] = []
        billed: dict[date, str] = {}  # a grouped invoice's date -> its id
        for obs in observed:
            read: list[Found] | Found | str
            if obs.remote_id in groups:
                read = self._grouped_with(obs, *groups[obs.remote_id], key, billed, currency)
            else:
                read = self._read_back(_dated(obs, known), currency)
                worth = obs.private.get("contract_value")
                if isinstance(read, Found) and worth is not None and worth != base:
                    read = (
                        f"a PERCENTAGE invoice of a contract value of {worth}, where the "
                        f"record's others are of {base}: a plan gives a project one "
                        "contract_value"
                    )
            if isinstance(read, str):
                refused.append((obs, read))
            else:
                found += read if isinstance(read, list) else [read]
        return found, refused

    def _grouped_with(
        self,
        observed: Observed,
        project: str,
        when: date,
        key: str,
        billed: dict[date, str],
        currency: str,
    ) -> list[Found] | str:
        """A grouped invoice's items, unless the record's other grouped invoices say another
        project key, or one already bills on its date (`billed`, which it then joins)."""
        if project != key:
            return (
                f"a grouped invoice billed for project {project}, where the record's others "
                f"are billed for {key}: a plan gives a record one project key"
            )
        if when in billed:
            return (
                f"a second invoice billing for {project} on {when.isoformat()} (the first is "
                f"{billed[when]}): group_by: date makes one invoice of a date"
            )
        read = self._grouped(observed, project, when, currency)
        if not isinstance(read, str):
            billed[when] = observed.remote_id
        return read

    def _grouped(
        self, observed: Observed, project: str, when: date, currency: str
    ) -> list[Found] | str:
        """The items whose lines compile grouped into this invoice (`group_by: date`), one per
        line, or why no plan makes it. A line's section is not read back: the kind is the
        line's (a product where it is quantity x price, else a milestone)."""
        attributes = observed.attributes
        days = _days_to_pay(observed, when)
        if days is None or days < 0:
            return (
                f"a Coperniq invoice billing for {when.isoformat()} that is due "
                f"{attributes.get('dueDate') or 'never'}: a plan's invoice is due on or after "
                "the day it bills"
            )
        terms: dict[str, Any] = {"group_by": "date"}
        if days:
            terms["due_in_days"] = days
        if observed.private.get("status"):
            terms["status"] = observed.private["status"]
        found = []
        for line in attributes.get("lineItems") or []:
            text = str(line.get("description") or "")
            kept = KEPT_PRICING.search(text)
            description = text[: kept.start()] if kept and line["quantity"] == 1 else text
            if not description.strip():
                return "a Coperniq invoice line without a description: a plan's item has one"
            read = _read_pricing(line, description, currency)
            if isinstance(read, str):
                return read
            kind, amount, quantity, rate, unit_cost = read
            if decimals(amount.normalize()) > exponent(currency):
                return f"a line of {amount}, finer than {currency} allows: no plan bills it"
            options: dict[str, Any] = {"catalog_item": line["catalogItemId"]}
            if unit_cost:
                options["unit_cost"] = unit_cost
            found.append(
                self.found_as(
                    observed,
                    currency,
                    kind,
                    description,
                    date=when,
                    amount=amount,
                    quantity=quantity,
                    rate=rate,
                    options={**options, **terms},
                    entry=f"{project}/invoices/{when.isoformat()}",
                )
            )
        return found

    def read_back(self, observed: Observed, currency: str) -> Found | str:
        attributes = observed.attributes
        if observed.date is None or not attributes.get("dueDate"):
            return "a Coperniq invoice without a due date: a plan's invoice has one"
        description = str(attributes.get("description") or "")
        options: dict[str, Any] = {}
        days = (date.fromisoformat(str(attributes["dueDate"])) - observed.date).days
        if days:
            options["due_in_days"] = days
        if observed.private.get("status"):
            options["status"] = observed.private["status"]
        if attributes.get("calculationMethod") == "PERCENTAGE":
            return self._percentage(observed, currency, description, options)
        lines = attributes.get("lineItems") or []
        if _grouped_as(observed) is not None:
            return (
                f"a Coperniq invoice grouped by date ({len(lines)} lines): it reads back as an "
                "item per line, with the record's other invoices (found_in)"
            )
        if len(lines) != 1:
            return (
                f"a Coperniq invoice of {len(lines)} lines described {description!r}: billplan "
                "describes an invoice of several lines `PROJECT: billing for DATE` (group_by: "
                "date), so no plan makes this one"
            )
        read = _read_pricing(lines[0], description, currency)
        if isinstance(read, str):
            return read
        kind, amount, quantity, rate, unit_cost = read
        options["catalog_item"] = lines[0]["catalogItemId"]
        if unit_cost:
            options["unit_cost"] = unit_cost
        return self.found_as(
            observed, currency, kind, description,
            amount=amount, quantity=quantity, rate=rate, options=options,
        )  # fmt: skip

    def _percentage(
        self, observed: Observed, currency: str, description: str, options: dict[str, Any]
    ) -> Found | str:
        """A PERCENTAGE invoice: a `percent` milestone of the record's contract value, which
        the invoice's baseAmount says."""
        percentage = observed.attributes.get("percentage")
        base = observed.private.get("contract_value")
        if percentage is None or base is None:
            return (
                "a Coperniq PERCENTAGE invoice that says no percentage or no baseAmount: "
                "billplan cannot tell what share of which contract value it bills"
            )
        return self.found_as(
            observed, currency, "milestone", description,
            percent=percentage, contract_value=base, options=options,
        )  # fmt: skip

    # -- the daily budget -------------------------------------------------------------------

    def budget_note(self) -> str | None:
        if self.limit is None or self.remaining is None:
            return None
        if self.remaining >= self.limit * LOW_BUDGET_SHARE:
            return None
        return (
            f"Coperniq: {self.remaining:,} of {self.limit:,} requests left in the rolling "
            "24-hour budget for this API key"
        )

    def check_budget(self, writes: int) -> str | None:
        if self.remaining is None or writes <= self.remaining:
            return None
        return (
            f"Coperniq: this apply needs {writes:,} requests but only {self.remaining:,} of the "
            f"key's {self.limit:,} daily requests are left; nothing was applied. Wait for the "
            "rolling 24-hour window to free requests, or split the plan."
        )

    def retryable(self, response: httpx.Response) -> bool:
        # The daily budget frees requests over 24 hours: waiting seconds cannot help.
        return not (self.remaining == 0 or "daily" in response.text.lower())


# -- items to lines --------------------------------------------------------------------------


def _grouped_as(observed: Observed) -> tuple[str, date] | None:
    """The project key and billing date of an invoice compile made of a project's items of
    one date (`group_by: date`: described `PROJECT: billing for DATE`); None for any other,
    such as an invoice of one line whose text is the invoice's (an invoice of its own)."""
    attributes = observed.attributes
    description = str(attributes.get("description") or "")
    match = GROUPED.fullmatch(description)
    if attributes.get("calculationMethod") != "LINE_ITEMS" or match is None:
        return None
    lines = attributes.get("lineItems") or []
    if len(lines) == 1 and lines[0].get("description") == description:
        return None
    try:
        return match["project"], date.fromisoformat(match["date"])
    except ValueError:
        return None


def _days_to_pay(observed: Observed, when: date) -> int | None:
    due = observed.attributes.get("dueDate")
    return None if not due else (date.fromisoformat(str(due)) - when).days


def _dated(observed: Observed, days: int | None) -> Observed:
    """An invoice read without the plan (dated by its due date), dated `days` earlier."""
    due = observed.attributes.get("dueDate")
    if not days or days < 0 or not due or observed.date != date.fromisoformat(str(due)):
        return observed
    return replace(observed, date=observed.date - timedelta(days=days))


def _most(values: Iterable[Any]) -> Any:
    """The value most of `values` are (the first of those equally common); None if none."""
    counted = Counter(values).most_common(1)
    return counted[0][0] if counted else None


def _due_days(item: Item) -> int:
    return int(item.options.get("due_in_days", 0))


def _status(item: Item) -> str:
    return str(item.options.get("status", "DRAFT"))


def _terms(item: Item) -> str:
    return f"due_in_days {_due_days(item)}, status {_status(item)}"


def _catalog_item(item: Item) -> int:
    catalog_item = integer_id(item.options.get("catalog_item"))
    assert catalog_item is not None  # checked by _line_problem
    return catalog_item


def _unit_cost(item: Item) -> Decimal:
    value = item.options.get("unit_cost")
    return DEFAULT_UNIT_COST if value is None else Decimal(str(value))


def _line_problem(item: Item) -> str | None:
    """Why an item cannot be a Coperniq line, in the words of its fix."""
    catalog_item = item.options.get("catalog_item")
    if catalog_item is None:
        return (
            "Coperniq needs a catalog item for every invoice line: set "
            "`coperniq: {catalog_item: <id>}` under defaults, on the project or on the charge "
            "(the ids are in Coperniq's catalog, GET /catalog-items)"
        )
    number = integer_id(catalog_item)
    if number is None or number < 1:
        return f"a Coperniq catalog item id is a whole number such as 3001; got {catalog_item!r}"
    if _unit_cost(item) < 0:
        return f"`unit_cost` is what one unit costs you, never negative; got {_unit_cost(item)}"
    return None


def _grouping_problem(group: Sequence[Item], when: date) -> tuple[Item, str] | None:
    """Why a project's items of one date cannot share one invoice: different terms, or two
    items on one catalog item, which Coperniq allows once per invoice."""
    terms = sorted({_terms(i) for i in group})
    if len(terms) > 1:
        # Point at the first item that departs from the first item's terms.
        odd = next(i for i in group if _terms(i) != _terms(group[0]))
        return (
            odd,
            f"the items billed on {when.isoformat()} share one Coperniq invoice but ask for "
            f"different terms ({'; '.join(terms)}); set due_in_days and status on the project, "
            "or `group_by: none` on the charges that differ",
        )
    by_catalog: dict[int, list[Item]] = defaultdict(list)
    for item in group:
        by_catalog[_catalog_item(item)].append(item)
    for catalog_item, sharing in sorted(by_catalog.items()):
        if len(sharing) < 2:
            continue
        one_charge = len({(i.kind, i.charge) for i in sharing}) == 1
        fix = (
            "set `group_by: none` on the charge to bill each part on an invoice of its own"
            if one_charge
            else "give each charge its own `coperniq: {catalog_item: <id>}`, or set "
            "`group_by: none` on one of them to bill it on an invoice of its own"
        )
        return (
            sharing[1],
            f"{_addresses(sharing)} are billed on {when.isoformat()} on one Coperniq invoice "
            f"(group_by: date) with the same catalog item {catalog_item}, and Coperniq takes a "
            f"catalog item once per invoice: {fix}",
        )
    return None


def _line(item: Item) -> dict[str, Any]:
    """The InvoiceLineItemCreate for an item: quantity x rate when the quantity is a whole
    number and quantity x rate is exactly the amount; else 1 x the amount, the description
    keeping the real quantity and rate, so that the invoice total is exact to the cent."""
    quantity, rate = item.quantity, item.rate
    cost = _unit_cost(item)
    if quantity is not None and rate is not None and quantity * rate == item.amount:
        if quantity < 0:  # a credit: Coperniq's negative is on the price (a discount line)
            quantity, rate = -quantity, -rate
        if quantity >= 1 and quantity == quantity.to_integral_value():
            return _line_item(item, item.description, int(quantity), cost, rate)
    description = item.description
    if quantity is not None and rate is not None:
        description = f"{description} ({quantity:f} x {rate:f})"
        cost = round_money(cost * abs(quantity), item.currency, "half_up")
    return _line_item(item, description, 1, cost, item.amount)


def _line_item(
    item: Item, description: str, quantity: int, unit_cost: Decimal, unit_price: Decimal
) -> dict[str, Any]:
    return {
        "catalogItemId": _catalog_item(item),
        "description": description,
        "quantity": quantity,
        "unitCost": unit_cost,
        "unitPrice": unit_price,
    }


def _read_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """A line read back, in the shape `_line` sends (the id and catalogItem dropped)."""
    return {
        "catalogItemId": integer_id(line.get("catalogItemId")),
        "description": line.get("description"),
        "quantity": decimal(line.get("quantity")),
        "unitCost": decimal(line.get("unitCost")),
        "unitPrice": decimal(line.get("unitPrice")),
    }


def _read_pricing(
    line: Mapping[str, Any], description: str, currency: str
) -> tuple[Kind, Decimal, Decimal | None, Decimal | None, Decimal] | str:
    """The reverse of `_line`: (kind, amount, quantity, rate, unit cost) of the item that
    compiles to this line on an invoice described `description`, or why none does."""
    quantity, price, cost = line["quantity"], line["unitPrice"], line["unitCost"]
    text = str(line.get("description") or "")
    kept = KEPT_PRICING.search(text)
    if kept is not None and quantity == 1 and text[: kept.start()] == description:
        # Billed as 1 x the amount, the real quantity and rate kept in the text.
        q, r = Decimal(kept.group(1)), Decimal(kept.group(2))
        exact = Fraction(q) * Fraction(r)
        if price not in {round_money(exact, currency, m) for m in ROUNDING_MODES}:
            return f"a Coperniq line of {q} x {r} billed at {price}, which is not their product"
        unit_cost = round_money(Fraction(cost) / abs(Fraction(q)), currency, "half_up")
        if round_money(unit_cost * abs(q), currency, "half_up") != cost:
            return f"a Coperniq line whose unit cost {cost} is not a cost per unit of {q} units"
        return "product", price, q, r, unit_cost
    if text != description:
        return (
            f"a Coperniq invoice described {description!r} whose line says {text!r}: billplan "
            "writes one description to both"
        )
    if quantity != 1:
        return "product", quantity * price, quantity, price, cost
    return "milestone", price, None, None, cost


def _by_catalog_item(line: Mapping[str, Any]) -> int:
    return int(line.get("catalogItemId") or 0)


def _addresses(items: Sequence[Item]) -> str:
    names = sorted(item.address for item in items)
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def _by_mark(items: Sequence[Item]) -> dict[str, list[Item]]:
    """Items by where their catalog item was written (defaults, project, template, charge)."""
    found: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        mark = item.option_marks.get("catalog_item") or item.mark or Mark("?", 1, 1)
        found[str(mark)].append(item)
    return dict(sorted(found.items()))


def _invoice(item: Item, record: int, when: date, description: str) -> dict[str, Any]:
    due = (when + timedelta(days=_due_days(item))).isoformat()
    return {
        "recordId": record,
        "calculationMethod": "LINE_ITEMS",
        "description": description,
        "dueDate": due,
    }


def _percentage(item: Item, record: int) -> Resource:
    assert item.date is not None and item.percent is not None
    body = _invoice(item, record, item.date, item.description)
    body["calculationMethod"] = "PERCENTAGE"
    body["percentage"] = item.percent
    return _resource(item.address, item, record, body, [item])


def _resource(
    address: str,
    item: Item,
    record: int,
    body: dict[str, Any],
    items: Sequence[Item],
    sections: Mapping[str, str] | None = None,
) -> Resource:
    """The invoice for these items. Its private part is what the request says and the
    comparison cannot (Coperniq never reads it back): the status and issue date of one created
    already issued (`status: SENT`; every other invoice is a DRAFT), and the section of each
    catalog item's line."""
    total = sum((i.amount for i in items), Decimal(0))
    private: dict[str, Any] = {}
    if _status(item) != "DRAFT":
        assert item.date is not None  # compiled items have one
        private.update(status=_status(item), issue_date=item.date.isoformat())
    if sections:
        private["sections"] = dict(sections)
    return Resource.of(
        item,
        INVOICE,
        record,
        body,
        address=address,
        amount=total,
        private=private,
        items=tuple(items),
    )


def _wire(attributes: Mapping[str, Any], private: Mapping[str, Any]) -> dict[str, Any]:
    """The request body from the compared attributes: the due date as a timestamp, and each
    line naming the invoice's line of its catalog item, where the invoice has one, so that
    Coperniq changes it rather than adding one (PATCH's line semantics are unpublished)."""
    body = dict(attributes)
    body["dueDate"] = f"{attributes['dueDate']}T00:00:00.000Z"
    if "lineItems" in attributes:
        kept = private.get("line_ids") or {}
        body["lineItems"] = [
            {**line, "id": kept[key]} if (key := str(line["catalogItemId"])) in kept else dict(line)
            for line in attributes["lineItems"]
        ]
    return body


def _sectioned(wire: dict[str, Any], private: Mapping[str, Any]) -> dict[str, Any]:
    """A grouped invoice's body with its lines moved into their sections (one per kind), the
    others left as lines; any other body as it is."""
    where = private.get("sections") or {}
    if "lineItems" not in wire or not where:
        return wire
    lines = wire["lineItems"]
    grouped = {
        name: [line for line in lines if where.get(str(line["catalogItemId"])) == name]
        for name in SECTIONS.values()
    }
    sections = [{"name": n, "lineItems": ls} for n, ls in grouped.items() if ls]
    if not sections:
        return wire
    body = {**wire, "lineItems": [ln for ln in lines if str(ln["catalogItemId"]) not in where]}
    body["sections"] = sections
    if not body["lineItems"]:
        del body["lineItems"]
    return body


def _catalog_uses(planned: Sequence[Resource]) -> dict[int, list[Item]]:
    """Catalog item id -> the items whose lines use it."""
    uses: dict[int, list[Item]] = defaultdict(list)
    for resource in planned:
        for line in resource.attributes.get("lineItems") or []:
            catalog_item = int(line["catalogItemId"])
            uses[catalog_item] += [i for i in resource.items if _catalog_item(i) == catalog_item]
    return uses
