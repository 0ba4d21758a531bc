"""Wethod: no milestone object, so every item becomes a draft invoice on its project.

billplan owns a draft until it is sent or paid; then it is locked. Requests carry the
`Wethod-Company` and `Wethod-Version` headers; lists are bare arrays paged by limit/offset and
filtered with operator prefixes (`in:1,2`). A create whose response was lost is recovered by
matching project, issue date, value and notes exactly (the diff's adopt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from compiler.model import Item
from compiler.providers.base import (
    ConfigurationError,
    Observed,
    Provider,
    Resource,
    ResourceType,
)
from compiler.providers.values import decimal, integer_id

INVOICE = "wethod_invoice"
API_VERSION = "2024-06-15"
LOCKED_STATUSES = frozenset({"sent", "paid"})
# Plan options that flow into the invoice as they are.
OPTION_FIELDS = ("vat_rate_id", "payment_term_id", "budget_area_uid", "purchase_order",
                 "exchange_rate")  # fmt: skip


class Wethod(Provider):
    vendor = "wethod"
    title = "Wethod"
    default_base_url = "https://api.wethod.com"
    default_token_env = "WETHOD_API_TOKEN"
    types: ClassVar[Mapping[str, ResourceType]] = {INVOICE: ResourceType(INVOICE, "/api/invoices")}
    fixed_fields = frozenset({"project_id"})
    page_size = 100  # the documented maximum `limit`
    rate_limit = 10  # requests a second [assumed: Wethod documents none]

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

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]:
        resources: list[Resource] = []
        problems: list[tuple[Item, str]] = []
        for item in items:
            project = integer_id(item.project_id)
            if project is None:
                problems.append((item, f"Wethod project ids are integers; got {item.project_id!r}"))
                continue
            if item.date is None:
                problems.append((item, "a Wethod invoice needs a date"))
                continue
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
            resources.append(Resource.of(item, INVOICE, project, body))
        return resources, problems

    def list(self, project_ids: Sequence[str | int]) -> list[Observed]:
        if not project_ids:
            return []
        projects = ",".join(str(p) for p in project_ids)

        def fetch(offset: int | None) -> tuple[list[Any], int | None]:
            start = offset or 0
            params = {"project_id": f"in:{projects}", "limit": self.page_size, "offset": start}
            page = self.json(self.request("GET", self.types[INVOICE].path, params=params)) or []
            more = len(page) == self.page_size
            return page, (start + len(page) if more else None)

        return [self.observe(obj) for obj in self.pages(fetch)]

    def create(self, type_name: str, bodies: Sequence[Mapping[str, Any]]) -> list[Observed]:
        (body,) = bodies
        response = self.request(
            "POST", self.types[type_name].path, body=dict(body), retry_on_failure=False
        )
        return [self.observe(self.json(response))]

    def update(self, type_name: str, remote_id: str, attributes: Mapping[str, Any]) -> Observed:
        # PATCH keeps what it is not told: an option the plan no longer sets is sent as null,
        # or Wethod would keep the old one and the invoice could never match the plan.
        cleared = dict.fromkeys(OPTION_FIELDS)
        body = {**cleared, **{k: v for k, v in attributes.items() if k != "project_id"}}
        response = self.request("PATCH", f"{self.types[type_name].path}/{remote_id}", body=body)
        return self.observe(self.json(response))

    def read_one(self, type_name: str, payload: Any) -> Observed:
        return self.observe(payload)

    def observe(self, obj: Mapping[str, Any]) -> Observed:
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
        when = obj.get("issue_date")
        return Observed(
            remote_id=str(obj["id"]),
            type=INVOICE,
            project_id=attributes["project_id"],
            attributes=attributes,
            locked=str(obj.get("status", "draft")) in LOCKED_STATUSES,
            date=date.fromisoformat(when) if when else None,
            amount=attributes["value"],
        )

    def describe_error(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        message = str(payload.get("message") or payload.get("key") or response.reason_phrase)
        failures = payload.get("failures") or []
        if failures:
            details = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in failures)
            message += f" ({details})"
        if response.status_code == 403:
            message += (
                " — the token's user lacks a Wethod permission (invoices.create on projects "
                "where they are PM or Account, invoices.create_other elsewhere, "
                "invoices.edit_sent for sent or paid invoices)"
            )
        return message
