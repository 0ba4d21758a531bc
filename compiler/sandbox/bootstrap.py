"""First use of the sandbox for a plan: create, through each emulator's admin surface, what
the plan refers to and the sandbox lacks (projects, workspaces, stories, records, Ruddr
invoice items, Coperniq catalog items, the Wethod company).

The vendor paths still reject unknown projects, as the real services do; this is what lets
`billplan plan --sandbox` work on any plan, with no account anywhere. Every object created
is reported, so the output never hides it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from compiler import jsonio
from compiler.model import Item

from . import DEFAULT_ROOT, SANDBOX_TOKEN, Sandbox, build_sandbox


class SeedError(RuntimeError):
    """The sandbox cannot be prepared for this plan; the message says why and what to do."""


@dataclass(frozen=True)
class Seeding:
    client: httpx.Client
    vendor: str
    items: list[Item]
    projects: Mapping[str, Mapping[str, Any]]  # the plan's projects, by key
    providers: Mapping[str, Mapping[str, Any]]  # the plan's provider connections, by name

    @property
    def admin(self) -> str:
        return f"/{self.vendor}/_sandbox"

    def by_project(self, key: Callable[[Item], str]) -> dict[str, list[Item]]:
        grouped: dict[str, list[Item]] = defaultdict(list)
        for item in self.items:
            grouped[key(item)].append(item)
        return dict(sorted(grouped.items()))

    def title(self, item: Item) -> str:
        return str(self.projects.get(item.project, {}).get("name") or item.project)

    def existing(self, collection: str) -> set[str]:
        return {str(row["id"]) for row in _get(self.client, f"{self.admin}/{collection}")}

    def add(self, collection: str, body: dict[str, Any]) -> None:
        _post(self.client, f"{self.admin}/{collection}", body)


def _ruddr(seed: Seeding) -> list[str]:
    notes: list[str] = []
    known = seed.existing("projects")
    for project_id, group in seed.by_project(lambda i: str(i.project_id).lower()).items():
        if project_id in known:
            continue
        # Milestones need a fixed-fee billing type; recurring fees fit fixed_recurring.
        billing = "fixed_recurring" if any(i.kind == "recurring" for i in group) else "fixed"
        name = seed.title(group[0])
        seed.add(
            "projects",
            {"id": project_id, "name": name, "billingTypeId": billing, "isBillable": True,
             "currency": group[0].currency},
        )  # fmt: skip
        notes.append(f"sandbox: created Ruddr project {project_id} ({name}, {billing})")
    invoice_items = seed.existing("invoice-items")
    wanted = {
        str(i.options["invoice_item"]).lower() for i in seed.items if i.options.get("invoice_item")
    }
    for invoice_item in sorted(wanted - invoice_items):
        seed.add("invoice-items", {"id": invoice_item, "name": "Services"})
        notes.append(f"sandbox: created Ruddr invoice item {invoice_item}")
    return notes


def _kantata(seed: Seeding) -> list[str]:
    notes: list[str] = []
    known = seed.existing("workspaces")
    stories = seed.existing("stories")
    for workspace, group in seed.by_project(lambda i: str(i.project_id)).items():
        if workspace not in known:
            name = seed.title(group[0])
            seed.add(
                "workspaces",
                {"id": int(workspace), "title": name, "currency": group[0].currency},
            )
            notes.append(f"sandbox: created Kantata workspace {workspace} ({name})")
        for task in sorted({str(i.task) for i in group if i.task is not None}):
            if task not in stories:
                seed.add(
                    "stories", {"id": int(task), "workspace_id": int(workspace), "title": "Task"}
                )
                stories.add(task)
                notes.append(f"sandbox: created Kantata task {task} in workspace {workspace}")
    return notes


def _wethod(seed: Seeding) -> list[str]:
    notes: list[str] = []
    companies = sorted(
        {str(c["company"]) for c in seed.providers.values() if c.get("type") == "wethod"}
    )
    if len(companies) > 1:
        # The sandbox's one token belongs to one company at a time.
        raise SeedError(
            f"the sandbox serves one Wethod company per run; this plan names {companies}. "
            "Plan them in separate runs, or against a served sandbox per company."
        )
    known_companies = {str(c["slug"]) for c in _get(seed.client, f"{seed.admin}/companies")}
    for company in companies:
        if company not in known_companies:
            seed.add("companies", {"slug": company, "name": company})
            notes.append(f"sandbox: created Wethod company {company}")
    if companies:
        # Settings live with the running sandbox: give its token the plan's company each run,
        # keeping its user and the permissions it holds (the emulator seeds a finance user's;
        # whoever took one away meant to see the 403 it leads to).
        tokens = _get_json(seed.client, f"{seed.admin}/settings")["tokens"]
        for token in tokens:
            if token["token"] == SANDBOX_TOKEN:
                token["company"] = companies[0]
        response = seed.client.put(f"{seed.admin}/settings", json={"tokens": tokens})
        response.raise_for_status()
    for collection, option, body in (
        ("vat-rates", "vat_rate_id", {"rate": 22}),
        ("payment-terms", "payment_term_id", {"days": 30}),
    ):
        rows = _get(seed.client, f"{seed.admin}/{collection}")
        existing = {(str(row["company"]), str(row["id"])) for row in rows}
        for item in seed.items:
            wanted = item.options.get(option)
            company = str(seed.providers[item.provider].get("company"))
            if wanted is None or (company, str(wanted)) in existing:
                continue
            if any(row_id == str(wanted) for _, row_id in existing):
                raise SeedError(
                    f"the sandbox's Wethod {collection[:-1]} {wanted} belongs to another "
                    f"company; use another id for {company} in the plan"
                )
            seed.add(collection, {"id": int(wanted), "company": company, **body})
            existing.add((company, str(wanted)))
            notes.append(f"sandbox: created Wethod {collection[:-1]} {wanted} for {company}")
    known = seed.existing("projects")
    for project_id, group in seed.by_project(lambda i: str(i.project_id)).items():
        if project_id in known:
            continue
        company = str(seed.providers[group[0].provider].get("company"))
        name = seed.title(group[0])
        areas = sorted({str(i.options["budget_area_uid"]) for i in group
                        if i.options.get("budget_area_uid")})  # fmt: skip
        seed.add(
            "projects",
            {"id": int(project_id), "company": company, "name": name, "budget_areas": areas},
        )
        notes.append(f"sandbox: created Wethod project {project_id} ({name})")
    return notes


def _coperniq(seed: Seeding) -> list[str]:
    notes: list[str] = []
    known = seed.existing("projects")
    for record, group in seed.by_project(lambda i: str(i.project_id)).items():
        if record in known:
            continue
        name = seed.title(group[0])
        body: dict[str, Any] = {"id": int(record), "title": name}
        value = seed.projects.get(group[0].project, {}).get("contract_value")
        if value is not None:
            body["contractValue"] = Decimal(str(value))
        seed.add("projects", body)
        notes.append(f"sandbox: created Coperniq project {record} ({name})")
    # Every invoice line names a catalog item: make those the plan names, called after the
    # charges that use them (a product when only products do, else a service).
    catalog = seed.existing("catalog-items")
    for catalog_item, users in sorted(_catalog_items(seed.items).items()):
        if catalog_item in catalog:
            continue
        charges = sorted({item.charge for item in users})
        name = ", ".join(charges[:3]).capitalize() + (", ..." if len(charges) > 3 else "")
        kind = "PRODUCT" if all(item.kind == "product" for item in users) else "SERVICE"
        seed.add("catalog-items", {"id": int(catalog_item), "name": name, "type": kind})
        notes.append(f"sandbox: created Coperniq catalog item {catalog_item} ({name})")
    return notes


def _catalog_items(items: Iterable[Item]) -> dict[str, list[Item]]:
    """The catalog items the plan's lines name, with the items using each (a malformed id is
    the plan's error, reported when it compiles)."""
    used: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        value = str(item.options.get("catalog_item", ""))
        if item.percent is None and value.isascii() and value.isdigit() and int(value) >= 1:
            used[str(int(value))].append(item)
    return used


SEEDERS: Mapping[str, Callable[[Seeding], list[str]]] = {
    "ruddr": _ruddr,
    "kantata": _kantata,
    "wethod": _wethod,
    "coperniq": _coperniq,
}


def prepare(
    sandbox: Sandbox,
    items: Iterable[Item],
    projects: Mapping[str, Mapping[str, Any]],
    providers: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Make sure everything the items refer to exists in the sandbox; say what was created."""
    by_vendor: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_vendor[item.provider_type].append(item)
    notes: list[str] = []
    with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client:
        for vendor, group in sorted(by_vendor.items()):
            seeder = SEEDERS.get(vendor)
            if seeder is not None:
                notes.extend(seeder(Seeding(client, vendor, group, projects, providers)))
    return notes


# How a person locks an object in each vendor (invoices it, sends it), via the admin surface.
LOCK_ACTIONS: Mapping[str, tuple[str, dict[str, Any] | None]] = {
    "ruddr_invoice_milestone": ("/ruddr/_sandbox/project-invoice-milestones/{id}/invoice", None),
    "ruddr_product_item": ("/ruddr/_sandbox/project-product-items/{id}/invoice", None),
    "kantata_billing_milestone": ("/kantata/_sandbox/billing_milestones/{id}/invoice", None),
    "wethod_invoice": ("/wethod/_sandbox/invoices/{id}/send", None),
    "coperniq_invoice": ("/coperniq/_sandbox/invoices/{id}/status", {"status": "SENT"}),
}


def mark_invoiced(plan_path: Path, type_name: str, remote_id: str) -> None:
    """Invoice (or send) an object in the embedded sandbox of a plan, as a person would."""
    action = LOCK_ACTIONS.get(type_name)
    if action is None:
        raise SeedError(f"the sandbox cannot invoice a {type_name}")
    path, body = action
    base = plan_path if plan_path.is_dir() else plan_path.parent
    with (
        build_sandbox(base / ".billplan" / "sandbox.sqlite") as sandbox,
        httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client,
    ):
        response = client.post(path.format(id=remote_id), json=body)
        if response.status_code >= 400:
            raise SeedError(f"the sandbox refused to invoice {remote_id}: {response.text}")


def _get(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    return _get_json(client, path)


def _get_json(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    response.raise_for_status()
    return response.json()


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    content = jsonio.dumps(body)  # money stays exact
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})
    if response.status_code >= 400:
        try:
            reason = response.json().get("error") or response.text
        except (ValueError, AttributeError):
            reason = response.text
        vendor, what = path.strip("/").split("/")[0], path.rstrip("/").rsplit("/", 1)[-1]
        named = body.get("name") or body.get("id") or ""
        raise SeedError(
            f"the {vendor} sandbox cannot create {named!r} ({what}) for this plan: {reason}; "
            "correct the plan (the real vendor would refuse it too)"
        )
