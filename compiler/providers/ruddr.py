"""Ruddr: recurring occurrences and milestones become project invoice milestones (typeId
recurring / custom); products become project product items. Cursor pagination, bearer auth,
money as decimal numbers in major units, `invoiced` objects are read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from compiler.model import Item
from compiler.providers.base import Observed, Provider, ProviderError, Resource, ResourceType
from compiler.providers.values import decimal

MILESTONE = "ruddr_invoice_milestone"
PRODUCT_ITEM = "ruddr_product_item"
NAME_LIMIT = 255


class Ruddr(Provider):
    vendor = "ruddr"
    title = "Ruddr"
    default_base_url = "https://www.ruddr.io/api/workspace"
    default_token_env = "RUDDR_API_TOKEN"
    types: ClassVar[Mapping[str, ResourceType]] = {
        MILESTONE: ResourceType(MILESTONE, "/project-invoice-milestones"),
        PRODUCT_ITEM: ResourceType(PRODUCT_ITEM, "/project-product-items"),
    }
    fixed_fields = frozenset({"projectId"})
    page_size = 100  # the documented maximum `limit`
    rate_limit = 20  # requests a second per workspace [doc]
    # Ruddr's 429 carries no Retry-After; the vendor advises exponential backoff.
    text_field: ClassVar[Mapping[str, str]] = {MILESTONE: "name", PRODUCT_ITEM: "description"}

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]:
        resources: list[Resource] = []
        problems: list[tuple[Item, str]] = []
        for item in items:
            invoice_item = item.options.get("invoice_item")
            if not invoice_item:
                problems.append(
                    (
                        item,
                        "Ruddr needs an invoice item: set `ruddr: {invoice_item: <uuid>}` under "
                        "defaults, on the project or on the charge",
                    )
                )
                continue
            if item.date is None:
                problems.append((item, "Ruddr milestones need a date"))
                continue
            type_name = PRODUCT_ITEM if item.kind == "product" else MILESTONE
            text_key = self.text_field[type_name]
            if type_name == MILESTONE and len(item.description) > NAME_LIMIT:
                problems.append(
                    (
                        item,
                        f"Ruddr milestone names are at most {NAME_LIMIT} characters; "
                        f"this description has {len(item.description)}",
                    )
                )
                continue
            body: dict[str, Any] = {
                # Ruddr ids are UUIDs, which Ruddr returns in lowercase canonical form.
                "projectId": str(item.project_id).lower(),
                "invoiceItemId": str(invoice_item).lower(),
                "date": item.date.isoformat(),
                text_key: item.description,
            }
            if type_name == MILESTONE:
                body["typeId"] = "recurring" if item.kind == "recurring" else "custom"
            # Ruddr computes fee = quantity x rate itself; send the pair only when that is
            # exactly the amount billplan rounded, otherwise the fee alone.
            if (
                item.quantity is not None
                and item.rate is not None
                and item.quantity * item.rate == item.amount
            ):
                body["quantity"] = item.quantity
                body["rate"] = item.rate
            body["fee"] = item.amount
            self.currencies.setdefault(body["projectId"], set()).add(item.currency)
            resources.append(Resource.of(item, type_name, body["projectId"], body))
        return resources, problems

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currencies: dict[str, set[str]] = {}  # project id -> currencies the plan bills in

    def list(self, project_ids: Sequence[str | int]) -> list[Observed]:
        found: list[Observed] = []
        for project_id in project_ids:
            self._check_currency(str(project_id))
            for type_name, resource_type in self.types.items():

                def fetch(
                    cursor: str | None,
                    _path: str = resource_type.path,
                    _project: str = str(project_id),
                ) -> tuple[list[Any], str | None]:
                    params = {"projectId": _project, "limit": self.page_size}
                    if cursor:
                        params["startingAfter"] = cursor
                    page = self.json(self.request("GET", _path, params=params))
                    results = page.get("results", [])
                    more = bool(page.get("hasMore")) and bool(results)
                    return results, results[-1]["id"] if more else None

                found.extend(self.observe(type_name, obj) for obj in self.pages(fetch))
        return found

    def _check_currency(self, project_id: str) -> None:
        """Ruddr bills a project in its own currency: fees planned in another would be read
        as that one, silently. One read per planned project, before anything is compared."""
        planned = self.currencies.get(project_id)
        if not planned:
            return  # only in state: nothing new will be written in a currency
        project = self.json(self.request("GET", f"/projects/{project_id}"))
        held = project.get("currency") if isinstance(project, dict) else None
        if held and planned != {held}:
            raise ProviderError(
                f"Ruddr project {project_id} ({project.get('name')}) bills in {held}, but the "
                f"plan bills it in {', '.join(sorted(planned))}: Ruddr would read every fee as "
                f"{held}. Set the project's currency to {held} in the plan."
            )

    def create(self, type_name: str, bodies: Sequence[Mapping[str, Any]]) -> list[Observed]:
        (body,) = bodies  # Ruddr creates one object per request
        response = self.request(
            "POST", self.types[type_name].path, body=dict(body), retry_on_failure=False
        )
        return [self.observe(type_name, self.json(response))]

    def update(self, type_name: str, remote_id: str, attributes: Mapping[str, Any]) -> Observed:
        body = {key: value for key, value in attributes.items() if key != "projectId"}
        if "quantity" not in body:
            # Moving to a fee-only line: clear a pair Ruddr would otherwise keep.
            body["quantity"] = None
            body["rate"] = None
        response = self.request("PATCH", f"{self.types[type_name].path}/{remote_id}", body=body)
        return self.observe(type_name, self.json(response))

    def read_one(self, type_name: str, payload: Any) -> Observed:
        return self.observe(type_name, payload)

    def observe(self, type_name: str, obj: Mapping[str, Any]) -> Observed:
        text_key = self.text_field[type_name]
        project = obj.get("project") or {}
        invoice_item = obj.get("invoiceItem") or {}
        attributes: dict[str, Any] = {
            "projectId": str(project.get("id", obj.get("projectId", ""))),
            "invoiceItemId": str(invoice_item.get("id", obj.get("invoiceItemId", ""))),
            "date": obj.get("date"),
            text_key: obj.get(text_key),
        }
        if type_name == MILESTONE:
            attributes["typeId"] = obj.get("typeId", "custom")
        quantity, rate, fee = obj.get("quantity"), obj.get("rate"), obj.get("fee")
        if quantity is not None and rate is not None:
            attributes["quantity"] = decimal(quantity)
            attributes["rate"] = decimal(rate)
        attributes["fee"] = decimal(fee)
        when = obj.get("date")
        return Observed(
            remote_id=str(obj["id"]),
            type=type_name,
            project_id=attributes["projectId"],
            attributes=attributes,
            locked=bool(obj.get("invoiced")),
            date=date.fromisoformat(when) if when else None,
            amount=decimal(fee) if fee is not None else Decimal(0),
        )
