"""Coperniq: items become DRAFT invoices on the project record.

By default each item is one invoice with one line item. With `coperniq: {group_by: date}` all
of a project's items on one date become a single invoice (its own address,
`PROJECT/invoices/DATE`) with a section per kind, so its items must agree on `due_in_days` and
`status`. A `percent` milestone is a PERCENTAGE invoice. Anything but DRAFT is locked.

Coperniq allows 5,000 requests per key per rolling day, reported on every response in
X-RateLimit-Limit / X-RateLimit-Remaining. The client spends nothing it does not need (one
paged list per project, never a read after a write), says when the budget runs low, and
refuses to start an apply that cannot finish within it.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from compiler.model import Item
from compiler.providers.base import Observed, Provider, Resource, ResourceType
from compiler.providers.values import decimal, integer_id

INVOICE = "coperniq_invoice"
SECTIONS = {"recurring": "Recurring fees", "milestone": "Milestones", "product": "Products"}
# Below this share of the daily budget, plan output says how much is left.
LOW_BUDGET_SHARE = Decimal("0.2")


class Coperniq(Provider):
    vendor = "coperniq"
    title = "Coperniq"
    default_base_url = "https://api.coperniq.io/v1"
    default_token_env = "COPERNIQ_API_KEY"
    types: ClassVar[Mapping[str, ResourceType]] = {INVOICE: ResourceType(INVOICE, "/invoices")}
    fixed_fields = frozenset({"recordId", "calculationMethod"})
    page_size = 100
    rate_limit = 100  # requests a second per key [doc]; the daily budget is checked apart

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit: int | None = None
        self.remaining: int | None = None
        # Per project: days from billing date to due date, to date what the vendor holds.
        self.due_days: dict[int, int] = {}
        # Invoices created already issued (`status: SENT`, say), by (record, dueDate,
        # description): their status and issue date. Every other invoice is a DRAFT.
        self.issued: dict[tuple[int, str, Any], tuple[str, date]] = {}

    def headers(self) -> dict[str, str]:
        return {"x-api-key": str(self.token), "Accept": "application/json"}

    def on_response(self, response: httpx.Response) -> None:
        limit = response.headers.get("X-RateLimit-Limit")
        remaining = response.headers.get("X-RateLimit-Remaining")
        if limit is not None and remaining is not None:
            with contextlib.suppress(ValueError):
                self.limit, self.remaining = int(limit), int(remaining)

    # -- compile ----------------------------------------------------------------------------

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]:
        resources: list[Resource] = []
        problems: list[tuple[Item, str]] = []
        grouped: dict[tuple[str, int, date], list[Item]] = defaultdict(list)
        for item in items:
            record = integer_id(item.project_id)
            if record is None:
                problems.append(
                    (item, f"Coperniq record ids are integers; got {item.project_id!r}")
                )
                continue
            if item.date is None:
                problems.append((item, "a Coperniq invoice needs a date"))
                continue
            self.due_days[record] = _due_days(item)
            if item.percent is not None:
                resources.append(self._percentage(item, record))
            elif item.options.get("group_by", "none") == "date":
                grouped[(item.project, record, item.date)].append(item)
            else:
                body = self._invoice(item, record, item.date, item.description)
                body["lineItems"] = [_line(item)]
                resources.append(_resource(item.address, item, record, body, [item]))
        for (project, record, when), group in sorted(grouped.items()):
            terms = sorted({_terms(i) for i in group})
            if len(terms) > 1:
                # Point at the first item that departs from the first item's terms.
                odd = next(i for i in group if _terms(i) != _terms(group[0]))
                problems.append(
                    (
                        odd,
                        f"the items billed on {when.isoformat()} share one Coperniq invoice but "
                        f"ask for different terms ({'; '.join(terms)}); set due_in_days and "
                        "status on the project, or `group_by: none` on the charges that differ",
                    )
                )
                continue
            description = f"{project}: billing for {when.isoformat()}"
            body = self._invoice(group[0], record, when, description)
            sections = []
            for kind, name in SECTIONS.items():
                lines = [_line(i) for i in group if i.kind == kind]
                if lines:
                    sections.append({"name": name, "lineItems": lines})
            body["sections"] = sections
            address = f"{project}/invoices/{when.isoformat()}"
            resources.append(_resource(address, group[0], record, body, group))
        return resources, problems

    def _invoice(self, item: Item, record: int, when: date, description: str) -> dict[str, Any]:
        due = (when + timedelta(days=_due_days(item))).isoformat()
        if _status(item) != "DRAFT":
            self.issued[(record, due, description)] = (_status(item), when)
        return {
            "recordId": record,
            "calculationMethod": "LINE_ITEMS",
            "description": description,
            "dueDate": due,
        }

    def _percentage(self, item: Item, record: int) -> Resource:
        assert item.date is not None and item.percent is not None
        body = self._invoice(item, record, item.date, item.description)
        body["calculationMethod"] = "PERCENTAGE"
        body["percentage"] = item.percent
        return _resource(item.address, item, record, body, [item])

    # -- wire -------------------------------------------------------------------------------

    def _wire(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The request body: canonical attributes plus the fields compared by nothing."""
        body = dict(attributes)
        body["dueDate"] = f"{attributes['dueDate']}T00:00:00.000Z"
        key = (
            int(attributes["recordId"]),
            str(attributes["dueDate"]),
            attributes.get("description"),
        )
        status, issued = self.issued.get(key, ("DRAFT", None))
        body["status"] = status
        if issued is not None:
            body["issueDate"] = f"{issued.isoformat()}T00:00:00.000Z"
        return body

    def list(self, project_ids: Sequence[str | int]) -> list[Observed]:
        found: list[Observed] = []
        for project_id in project_ids:

            def fetch(
                page: int | None, _project: str = str(project_id)
            ) -> tuple[list[Any], int | None]:
                number = page or 1
                response = self.request(
                    "GET",
                    f"/projects/{_project}/invoices",
                    params={"page": number, "page_size": self.page_size},
                )
                rows, more = _page(self.json(response), number, self.page_size)
                return rows, (number + 1 if more else None)

            found.extend(self.observe(obj) for obj in self.pages(fetch))
        return found

    def create(self, type_name: str, bodies: Sequence[Mapping[str, Any]]) -> list[Observed]:
        (body,) = bodies
        response = self.request(
            "POST", self.types[type_name].path, body=self._wire(body), retry_on_failure=False
        )
        return [self.observe(self.json(response))]

    def update(self, type_name: str, remote_id: str, attributes: Mapping[str, Any]) -> Observed:
        body = self._wire(attributes)
        for fixed in ("recordId", "calculationMethod", "status", "issueDate"):
            body.pop(fixed, None)
        response = self.request("PATCH", f"{self.types[type_name].path}/{remote_id}", body=body)
        return self.observe(self.json(response))

    def read_one(self, type_name: str, payload: Any) -> Observed:
        return self.observe(payload)

    def observe(self, obj: Mapping[str, Any]) -> Observed:
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
        if method == "PERCENTAGE":
            attributes["percentage"] = decimal(obj.get("percentage"))
        else:
            attributes.update(_lines(obj.get("lineItems") or []))
        when = None
        if due:
            when = date.fromisoformat(due) - timedelta(days=self.due_days.get(record_id or 0, 0))
        return Observed(
            remote_id=str(obj["id"]),
            type=INVOICE,
            project_id=record_id or 0,
            attributes=attributes,
            locked=str(obj.get("status") or "DRAFT") != "DRAFT",
            dated_by_vendor=False,
            date=when,
            amount=decimal(obj.get("amount")),
        )

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


def _due_days(item: Item) -> int:
    return int(item.options.get("due_in_days", 0))


def _status(item: Item) -> str:
    return str(item.options.get("status", "DRAFT"))


def _terms(item: Item) -> str:
    return f"due_in_days {_due_days(item)}, status {_status(item)}"


def _line(item: Item) -> dict[str, Any]:
    exact = item.quantity is not None and item.rate is not None
    if exact and item.quantity * item.rate == item.amount:  # type: ignore[operator]
        return {"description": item.description, "quantity": item.quantity, "unitPrice": item.rate}
    return {"description": item.description, "quantity": Decimal(1), "unitPrice": item.amount}


def _lines(raw: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Line items read back: flat, or regrouped into the sections they were sent in."""
    plain = [
        {
            "description": line.get("description"),
            "quantity": decimal(line.get("quantity")),
            "unitPrice": decimal(line.get("unitPrice")),
        }
        for line in raw
    ]
    if not any(line.get("sectionName") for line in raw):
        return {"lineItems": plain}
    sections: dict[str, list[dict[str, Any]]] = {}
    for line, item in zip(raw, plain, strict=True):
        sections.setdefault(str(line.get("sectionName") or ""), []).append(item)
    return {"sections": [{"name": name, "lineItems": lines} for name, lines in sections.items()]}


def _page(payload: Any, number: int, size: int) -> tuple[list[Any], bool]:
    """Rows of one list page, and whether another page follows."""
    if isinstance(payload, list):
        return payload, len(payload) == size
    rows = next((payload[k] for k in ("data", "results", "items", "invoices") if k in payload), [])
    total = payload.get("total") or payload.get("totalCount") or payload.get("count")
    if total is not None:
        return rows, number * size < int(total)
    return rows, len(rows) == size


def _resource(
    address: str, item: Item, record: int, body: dict[str, Any], items: Sequence[Item]
) -> Resource:
    total = sum((i.amount for i in items), Decimal(0))
    return Resource.of(item, INVOICE, record, body, address=address, amount=total)
