"""First use of the sandbox for a plan: create, through each emulator's admin surface, the
projects (and Ruddr invoice items) the plan refers to and the sandbox lacks.

The vendor paths still reject unknown projects, as the real services do; this is what lets
`billplan plan --sandbox` work on any plan, with no account anywhere. Every object created
is reported, so the output never hides it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from compiler.model import Item

from . import DEFAULT_ROOT, Sandbox, build_sandbox

Seeder = Callable[[httpx.Client, str, list[Item]], list[str]]


def _ruddr(client: httpx.Client, vendor: str, items: list[Item]) -> list[str]:
    notes: list[str] = []
    admin = f"/{vendor}/_sandbox"
    projects = {p["id"] for p in _get(client, f"{admin}/projects")}
    by_project: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_project[str(item.project_id).lower()].append(item)
    for project_id, group in sorted(by_project.items()):
        if project_id in projects:
            continue
        # Milestones need a fixed-fee billing type; recurring fees fit fixed_recurring.
        kinds = {item.kind for item in group}
        billing = "fixed_recurring" if "recurring" in kinds else "fixed"
        name = group[0].project
        _post(
            client,
            f"{admin}/projects",
            {"id": project_id, "name": name, "billingTypeId": billing, "isBillable": True,
             "currency": group[0].currency},
        )  # fmt: skip
        notes.append(f"sandbox: created Ruddr project {project_id} ({name}, {billing})")
    invoice_items = {i["id"] for i in _get(client, f"{admin}/invoice-items")}
    wanted = {
        str(item.options["invoice_item"]) for item in items if item.options.get("invoice_item")
    }
    for invoice_item in sorted(wanted - invoice_items):
        _post(client, f"{admin}/invoice-items", {"id": invoice_item, "name": "Services"})
        notes.append(f"sandbox: created Ruddr invoice item {invoice_item}")
    return notes


SEEDERS: Mapping[str, Seeder] = {"ruddr": _ruddr}


def prepare(
    sandbox: Sandbox, items: Iterable[Item], providers: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Make sure every project the items name exists in the sandbox; say what was created."""
    by_vendor: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_vendor[item.provider_type].append(item)
    notes: list[str] = []
    with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client:
        for vendor, group in sorted(by_vendor.items()):
            seeder = SEEDERS.get(vendor)
            if seeder is not None:
                notes.extend(seeder(client, vendor, group))
    return notes


def _get(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    response = client.get(path)
    response.raise_for_status()
    return response.json()


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body)
    if response.status_code >= 400:
        raise RuntimeError(f"sandbox admin {path} refused {body}: {response.text}")


# Where each kind of object billplan writes can be marked invoiced through the admin surface.
INVOICE_PATHS: Mapping[str, str] = {
    "ruddr_invoice_milestone": "/ruddr/_sandbox/project-invoice-milestones/{id}/invoice",
    "ruddr_product_item": "/ruddr/_sandbox/project-product-items/{id}/invoice",
}


def mark_invoiced(plan_path: Path, type_name: str, remote_id: str) -> None:
    """Invoice an object in the embedded sandbox of a plan, as a person would in the vendor."""
    path = INVOICE_PATHS.get(type_name)
    if path is None:
        raise RuntimeError(f"the sandbox cannot invoice a {type_name}")
    base = plan_path if plan_path.is_dir() else plan_path.parent
    with (
        build_sandbox(base / ".billplan" / "sandbox.sqlite") as sandbox,
        httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client,
    ):
        response = client.post(path.format(id=remote_id))
        if response.status_code >= 400:
            raise RuntimeError(f"the sandbox refused to invoice {remote_id}: {response.text}")
