"""Ruddr: recurring occurrences and milestones become project invoice milestones (typeId
recurring / custom); products become project product items. Cursor pagination, bearer auth,
money as decimal numbers in major units, `invoiced` objects are read-only.

The contract is `ruddr.openapi.yml` (written from Ruddr's documentation pages). Before any
write, `list` reads each planned project and invoice item once and refuses the whole plan,
naming every problem at once, when Ruddr would refuse its writes: a milestone on a project that
is not `fixed` / `fixed_recurring`, a product item on a project that is not billable, a
project or invoice item that does not exist, a project billed in another currency.

The planned projects are read from the workspace's list of projects (listProjects, 100 a
page, newest first, until every planned project has shown) while that takes fewer requests than
reading each one (getProject), which is how the rest are read.

Assumed operations (`x-evidence: assumed` in the spec: no vendor page was found; billplan
needs them, so it uses the most plausible shape, copied from a documented sibling). Everything
else this client sends is documented.

| operation                     | request                                         | answer   |
|-------------------------------|-------------------------------------------------|----------|
| deleteProjectInvoiceMilestone | DELETE /project-invoice-milestones/{id}         | 204; 409 |
| listProjectProductItems       | GET /project-product-items?projectId=&limit=    | a page   |
| getProjectProductItem         | GET /project-product-items/{id}                 | the item |
| updateProjectProductItem      | PATCH /project-product-items/{id}, no projectId | item;409 |
| deleteProjectProductItem      | DELETE /project-product-items/{id}              | 204; 409 |

A page is `{results, hasMore}` with `startingAfter`, as every documented list; 409 is Ruddr's
read-only answer, for an invoiced object.

Onboarding lists the workspace's projects with listProjects (their currency is the project's)
and reads each object back the way compile_one wrote it: a `recurring` milestone is a recurring
charge's occurrence, a `custom` one a milestone, a product item a product; the invoice item is
the plan's `invoice_item`. An object a plan could not write again (a priced line whose fee is
not quantity x rate, a product item without a description) is refused with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.model import Item, Kind, Observed, Resource
from compiler.onboard.found import Found
from compiler.providers.base import Planned, Provider, ProviderError
from compiler.providers.declare import Connection, PlanOptions
from compiler.providers.traits import Cursor, MajorUnits, PerProject, ProjectList, WhenTrue
from compiler.providers.values import decimal, moment

if TYPE_CHECKING:
    import httpx

MILESTONE = "ruddr_invoice_milestone"
PRODUCT_ITEM = "ruddr_product_item"
NAME_LIMIT = 255
EXAMPLE_UUID = "d077258e-2158-4f34-aabd-97e971d0c18d"
MILESTONE_BILLING_TYPES = ("fixed", "fixed_recurring")
# What the feature behind each collection is called in messages (a 403 switches it off).
FEATURES = {
    "/project-invoice-milestones": "invoice milestones (the fixed-fee billing schedule)",
    "/project-product-items": "products (project product items)",
}


class Ruddr(Provider):
    vendor = "ruddr"
    title = "Ruddr"
    plan_options = PlanOptions(
        keys={
            "invoice_item": {
                "description": "The Ruddr invoice item (the line's category on the invoice) to "
                "file lines under: its id, a uuid such as aba04832-216c-463e-8998-c520948f707c.",
                "type": "string",
                "minLength": 1,
            },
        },
        description="Ruddr options, e.g. {invoice_item: aba04832-216c-463e-8998-c520948f707c}.",
        summary="Ruddr options, e.g. {invoice_item: <invoice item uuid>}.",
    )
    connection = Connection(summary="Ruddr (invoice milestones and product items).")
    default_base_url = "https://www.ruddr.io/api/workspace"
    default_token_env = "RUDDR_API_TOKEN"
    rate_limit = 20  # requests a second per workspace [doc]
    rate_burst = 60  # "a burst allowance of 60" (ruddr.openapi.yml x-rate-limit) [doc]
    types: ClassVar[Mapping[str, str]] = {
        MILESTONE: "/project-invoice-milestones",
        PRODUCT_ITEM: "/project-product-items",
    }
    fixed_fields = frozenset({"projectId"})
    paging = Cursor(after="startingAfter", size="limit", rows="results", more="hasMore")
    scope = PerProject(param="projectId")
    project_list = ProjectList("/projects", paging, name="name", currency="currency")
    money = MajorUnits("fee")  # a priced milestone's fee is Ruddr's: read, never compared
    project_field, date_field = "projectId", "date"
    text_fields = frozenset({"name", "description"})  # a milestone's name, an item's text
    lock = WhenTrue("invoiced")  # 409 is Ruddr's answer to a write of an invoiced object
    project_noun = "Ruddr project"
    integer_projects = False  # UUIDs
    page_size = 100  # the documented maximum `limit`
    # Ruddr's 429 carries no Retry-After; the vendor advises exponential backoff.
    text_field: ClassVar[Mapping[str, str]] = {MILESTONE: "name", PRODUCT_ITEM: "description"}

    def compile_one(self, item: Item, project: str | int) -> Resource | str:
        invoice_item = item.options.get("invoice_item")
        if not invoice_item:
            return (
                "Ruddr needs an invoice item: set `ruddr: {invoice_item: <uuid>}` under "
                "defaults, on the project or on the charge"
            )
        if item.date is None:
            return "Ruddr milestones need a date"
        not_uuids = [
            f"{what} {value!r}"
            for what, value in (("project_id", item.project_id), ("invoice_item", invoice_item))
            if not _is_uuid(value)
        ]
        if not_uuids:
            # ruddr.openapi.yml: every Ruddr id is a UUID; anything else would be sent to
            # Ruddr only to be refused (or, in a path, to name another resource).
            return (
                f"Ruddr ids are UUIDs (like {EXAMPLE_UUID}); this charge's "
                f"{' and '.join(not_uuids)} is not: copy the id from Ruddr"
            )
        type_name = PRODUCT_ITEM if item.kind == "product" else MILESTONE
        text_key = self.text_field[type_name]
        if type_name == MILESTONE and len(item.description) > NAME_LIMIT:
            return (
                f"Ruddr milestone names are at most {NAME_LIMIT} characters; "
                f"this description has {len(item.description)}"
            )
        if type_name == PRODUCT_ITEM and not item.description.strip():
            return "Ruddr product items need a description: give one"
        body: dict[str, Any] = {
            # Ruddr ids are UUIDs, which Ruddr returns in lowercase canonical form.
            "projectId": str(item.project_id).lower(),
            "invoiceItemId": str(invoice_item).lower(),
            "date": item.date.isoformat(),
            text_key: item.description,
        }
        if type_name == MILESTONE:
            body["typeId"] = "recurring" if item.kind == "recurring" else "custom"
        body.update(_amounts(type_name, item))
        return Resource.of(item, type_name, body["projectId"], body)

    def list(
        self, project_ids: Sequence[str | int], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        found = super().list(project_ids, planned)
        self._check_plan([str(p) for p in project_ids], Planned.of(planned))
        return found

    def _check_plan(self, project_ids: Sequence[str], planned: Planned) -> None:
        """Everything about the planned projects and invoice items that would make Ruddr refuse
        the writes, all at once: one read per planned project and per invoice item."""
        problems: list[str] = []
        invoice_items: set[str] = set()
        wanted = [project for project in project_ids if project in planned.projects]
        held = self._projects(wanted)
        for project_id in wanted:
            problems += self._project_problems(
                project_id, held.get(project_id), planned.projects[project_id]
            )
            invoice_items |= {
                str(r.attributes["invoiceItemId"]) for r in planned.projects[project_id]
            }
        for invoice_item in sorted(invoice_items):
            if self.read_or_none(f"/invoice-items/{invoice_item}") is None:
                problems.append(
                    f"Ruddr invoice item {invoice_item} does not exist in the workspace: set "
                    "`ruddr: {invoice_item: <uuid>}` to one of the workspace's invoice items "
                    "(Settings > Invoice items)"
                )
        if problems:
            raise ProviderError(
                f"{self.title} would refuse this plan; nothing was written:\n  - "
                + "\n  - ".join(problems)
            )

    def _projects(self, project_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The planned projects as Ruddr holds them (billing type, billability, currency); one
        it does not hold is left out. Read from the workspace's list of projects, newest first,
        until the last of them shows, while that costs fewer requests than reading each by id
        (one page of 100 instead of 22 reads, in a workspace of up to 100 projects): the list
        is left once it has taken a quarter as many pages as projects are still unseen, so a
        large workspace costs at most a quarter more than reading by id. Those still unseen
        are read by id: the list is never taken to prove a project absent (it may leave out
        archived ones)."""
        unseen = set(project_ids)
        held: dict[str, Mapping[str, Any]] = {}
        pages = 0
        at: Any = None
        while unseen and 4 * (pages + 1) <= len(unseen):
            page = self.json(
                self.request("GET", "/projects", params=self.paging.ask(at, self.page_size))
            )
            rows = self.page_rows(page, "/projects", self.paging.rows)
            pages += 1
            for row in rows:
                if isinstance(row, dict) and (project := str(row.get("id")).lower()) in unseen:
                    held[project] = row
                    unseen.discard(project)
            at = self.paging.following(at, page, rows, self.page_size)
            if at is None:
                break
        for project in sorted(unseen):
            if (read := self.read_or_none(f"/projects/{project}")) is not None:
                held[project] = read
        return held

    def _project_problems(
        self, project_id: str, project: Mapping[str, Any] | None, planned: Sequence[Resource]
    ) -> list[str]:
        if project is None:
            return [
                f"Ruddr project {project_id} does not exist in the workspace of this API key: "
                "check the project's `project_id`"
            ]
        named = f"Ruddr project {project_id} ({project.get('name')})"
        problems = []
        types = {resource.type for resource in planned}
        billing = project.get("billingTypeId")
        if MILESTONE in types and billing not in MILESTONE_BILLING_TYPES:
            problems.append(
                f"{named} has billing type {billing!r}: Ruddr takes invoice milestones only on "
                "'fixed' or 'fixed_recurring' projects; change the project's billing type in "
                "Ruddr, or bill these charges from a fixed-fee project"
            )
        if PRODUCT_ITEM in types and project.get("isBillable") is False:
            problems.append(
                f"{named} is not billable: Ruddr takes product items only on billable "
                "projects; make it billable in Ruddr, or move the products to a billable project"
            )
        held, wanted = project.get("currency"), {resource.currency for resource in planned}
        if held and wanted and wanted != {held}:
            problems.append(
                f"{named} bills in {held}, but the plan bills it in "
                f"{', '.join(sorted(wanted))}: Ruddr would read every fee as {held}. Set the "
                f"project's currency to {held} in the plan"
            )
        return problems

    def update_body(
        self, type_name: str, changes: Mapping[str, Any], private: Mapping[str, Any]
    ) -> dict[str, Any]:
        body = dict(changes)
        if "quantity" not in body:
            # Moving to a fee-only line: clear a pair Ruddr would otherwise keep.
            body["quantity"] = None
            body["rate"] = None
        return body

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
        priced = quantity is not None and rate is not None
        if priced:
            attributes["quantity"] = decimal(quantity)
            attributes["rate"] = decimal(rate)
        if not (priced and type_name == MILESTONE):
            attributes["fee"] = decimal(fee)  # a priced milestone's fee is theirs, not a field
        return self.observed(type_name, obj, attributes, created=moment(obj.get("createdAt")))

    def read_back(self, observed: Observed, currency: str) -> Found | str:
        attributes = observed.attributes
        type_name = observed.type
        kind: Kind = "product"
        if type_name == MILESTONE:
            kind = "recurring" if attributes.get("typeId") == "recurring" else "milestone"
        description = str(attributes.get(self.text_field[type_name]) or "")
        if type_name == PRODUCT_ITEM and not description.strip():
            return "a Ruddr product item without a description: a plan's product needs one"
        if observed.date is None:
            return "a Ruddr object without a date: every plan item has one"
        quantity, rate = attributes.get("quantity"), attributes.get("rate")
        fee = attributes.get("fee")
        amount = quantity * rate if fee is None and quantity is not None else observed.amount
        if quantity is not None and quantity * rate != amount:
            return (
                f"a Ruddr product item of {quantity} x {rate} whose fee is {fee}, not their "
                "product: billplan sends the pair only when it is exactly the fee"
            )
        options = {"invoice_item": attributes.get("invoiceItemId")}
        return self.found_as(
            observed, currency, kind, description,
            amount=amount, quantity=quantity, rate=rate, options=options,
        )  # fmt: skip

    def describe_error(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        words = super().describe_error(payload, response)
        status = response.status_code
        if status == 403:
            path = response.request.url.path
            feature = next((f for p, f in FEATURES.items() if p in path), "the feature it needs")
            return (
                f"{words.rstrip('.')}. Ruddr answers 403 when a feature is switched off for the "
                f"whole workspace, here {feature}; it is not a missing permission (API keys "
                "have none), so another key will not help: ask a Ruddr workspace administrator "
                "to turn the feature on in Ruddr's workspace settings"
            )
        if status == 423:
            return (
                f"{words.rstrip('.')}. Ruddr answers 423 when API access is disabled for the "
                "whole workspace: no key of the workspace can be used until it is enabled again; "
                "ask a Ruddr workspace administrator, or Ruddr support, to enable API access"
            )
        return words


def _amounts(type_name: str, item: Item) -> dict[str, Any]:
    """The money of one create body. Ruddr computes fee = quantity x rate itself, so the pair is
    sent only when that is exactly the amount billplan rounded. A milestone takes `fee`, or
    `quantity` and `rate`, never all three (MilestoneCreate's oneOf); a product item takes the
    fee always, beside the pair (the spec's advice, "send fee always to be safe")."""
    exact = (
        item.quantity is not None
        and item.rate is not None
        and item.quantity * item.rate == item.amount
    )
    if not exact:
        return {"fee": item.amount}
    pair = {"quantity": item.quantity, "rate": item.rate}
    return pair if type_name == MILESTONE else {**pair, "fee": item.amount}


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
