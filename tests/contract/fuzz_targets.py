"""What each vendor's emulator is fuzzed against (test_fuzz_emulators.py): the credentials every
generated request carries, the objects seeded before each case, and which request fields name
them, so that a generated id can hit an object that exists rather than always a 404.

Seeded objects have fixed ids, so each case meets the same workspace whatever ran before it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from support import MILESTONE, PRODUCT_ITEM, EmulatorAdmin
from support import Admin as RuddrAdmin
from support_coperniq import Admin as CoperniqAdmin
from support_kantata import KantataAdmin
from support_wethod import WethodAdmin

from compiler.sandbox import SANDBOX_TOKEN
from compiler.sandbox.wethod import SANDBOX_COMPANY

Json = Any
Known = Mapping[str, tuple[Json, ...]]


@dataclass(frozen=True)
class Target:
    """One vendor's emulator, ready to fuzz.

    `known` maps a request field (a path or query parameter, or a key anywhere in the body) to
    the seeded values that may stand in for whatever was generated; `in_collection` does the
    same below a collection's path, for names such as Ruddr's `id` that mean another object in
    each collection."""

    vendor: str
    headers: Mapping[str, str]
    seed: Callable[[httpx.Client], None]
    known: Known
    in_collection: Mapping[str, Known]

    def known_at(self, path: str) -> Known:
        """What the fields of the operation at `path` (a spec path template) may name."""
        known = dict(self.known)
        for collection, names in self.in_collection.items():
            if path == collection or path.startswith(collection + "/"):
                known.update(names)
        return known


def _fresh(admin: EmulatorAdmin, **settings: Any) -> None:
    """Back to an empty workspace, without the rate limit: thousands of requests in a few
    seconds are what the fuzzing is, not what it tests."""
    admin.reset()
    admin.settings(rate_limit_per_second=None, **settings)


# ---- Ruddr ------------------------------------------------------------------------------------

RUDDR_FIXED = "6f1c2e4a-0b7d-4c1e-9a55-3d2f8e7b6a01"  # takes milestones
RUDDR_TM = "6f1c2e4a-0b7d-4c1e-9a55-3d2f8e7b6a02"  # time and materials: refuses them
RUDDR_ITEM = "a7d3b9e2-51c4-4f0a-8e6d-2b1c9f7e5d01"
RUDDR_MILESTONES = (
    "0c5e8d21-7a3f-4b6e-91d2-4e8f0a1b2c01",  # a fee
    "0c5e8d21-7a3f-4b6e-91d2-4e8f0a1b2c02",  # quantity and rate
    "0c5e8d21-7a3f-4b6e-91d2-4e8f0a1b2c03",  # invoiced: read-only
)
RUDDR_PRODUCT_ITEMS = (
    "3b9f7c15-2e8a-4d61-b0c4-7a5e1d9f8e01",
    "3b9f7c15-2e8a-4d61-b0c4-7a5e1d9f8e02",  # invoiced
)


def _seed_ruddr(client: httpx.Client) -> None:
    admin = RuddrAdmin(client)
    _fresh(admin)
    admin.add_project(RUDDR_FIXED, billing="fixed_recurring")
    admin.add_project(RUDDR_TM, billing="tm")
    admin.add_invoice_item(RUDDR_ITEM)
    on = {"projectId": RUDDR_FIXED, "invoiceItemId": RUDDR_ITEM, "date": "2026-03-01"}
    fee, rated, invoiced = RUDDR_MILESTONES
    admin.add(MILESTONE, **on, id=fee, name="Kickoff", fee=10000)
    admin.add(MILESTONE, **on, id=rated, name="Design", quantity=3, rate=1500.5)
    admin.add(MILESTONE, **on, id=invoiced, name="Launch", fee=2500)
    admin.invoice(MILESTONE, invoiced)
    for product_item in RUDDR_PRODUCT_ITEMS:
        admin.add(PRODUCT_ITEM, **on, id=product_item, description="Licenses", quantity=12, rate=40)
    admin.invoice(PRODUCT_ITEM, RUDDR_PRODUCT_ITEMS[1])


RUDDR = Target(
    vendor="ruddr",
    headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
    seed=_seed_ruddr,
    known={"projectId": (RUDDR_FIXED, RUDDR_TM), "invoiceItemId": (RUDDR_ITEM,)},
    in_collection={
        "/project-invoice-milestones": dict.fromkeys(
            ("id", "startingAfter", "endingBefore"), RUDDR_MILESTONES
        ),
        "/project-product-items": dict.fromkeys(
            ("id", "startingAfter", "endingBefore"), RUDDR_PRODUCT_ITEMS
        ),
        "/projects": {"id": (RUDDR_FIXED, RUDDR_TM)},
        "/invoice-items": {"id": (RUDDR_ITEM,)},
    },
)


# ---- Kantata OX -------------------------------------------------------------------------------

KANTATA_WORKSPACE = 41001
KANTATA_ARCHIVED = 41002
KANTATA_STORY = 88123
KANTATA_MILESTONES = (61001, 61002, 61003)  # fixed date, upon completion, invoiced


def _seed_kantata(client: httpx.Client) -> None:
    admin = KantataAdmin(client)
    _fresh(admin)
    admin.add_workspace(KANTATA_WORKSPACE)
    admin.add_workspace(KANTATA_ARCHIVED, currency="EUR")
    admin.edit_workspace(KANTATA_ARCHIVED, archived=True)
    admin.add_story(KANTATA_STORY, KANTATA_WORKSPACE)
    fixed, on_completion, invoiced = KANTATA_MILESTONES
    admin.add(id=fixed, title="Kickoff", amount_in_cents=1_000_000, date_to_invoice="2026-01-15")
    admin.add(id=on_completion, title="UAT", amount_in_cents=250_000,
              billing_type="upon_completion", story_id=KANTATA_STORY)  # fmt: skip
    admin.add(id=invoiced, title="Support", amount_in_cents=500_000, date_to_invoice="2026-02-01")
    admin.invoice(str(invoiced))


KANTATA = Target(
    vendor="kantata",
    headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
    seed=_seed_kantata,
    known={
        "workspace_id": (KANTATA_WORKSPACE, KANTATA_ARCHIVED),
        "workspace_ids": (KANTATA_WORKSPACE, KANTATA_ARCHIVED),
        "story_id": (KANTATA_STORY,),
        "story_ids": (KANTATA_STORY,),
    },
    in_collection={
        "/billing_milestones": dict.fromkeys(("id", "only"), KANTATA_MILESTONES),
        "/workspaces": {"only": (KANTATA_WORKSPACE, KANTATA_ARCHIVED)},
    },
)


# ---- Wethod -----------------------------------------------------------------------------------

WETHOD_PROJECT = 7301
WETHOD_ARCHIVED = 7302
WETHOD_BUDGET_AREA = "design"
WETHOD_VAT_RATE = 101
WETHOD_PAYMENT_TERM = 201
WETHOD_INVOICES = (9001, 9002, 9003)  # draft, sent, paid


def _seed_wethod(client: httpx.Client) -> None:
    admin = WethodAdmin(client)
    _fresh(admin, hourly_limit=None)
    company = SANDBOX_COMPANY
    admin.add_project(WETHOD_PROJECT, company, budget_areas=[WETHOD_BUDGET_AREA])
    admin.add_project(WETHOD_ARCHIVED, company)
    admin.edit_project(WETHOD_ARCHIVED, archived=True)
    admin.add_setting("vat-rates", company, id=WETHOD_VAT_RATE, rate=22)
    admin.add_setting("payment-terms", company, id=WETHOD_PAYMENT_TERM, days=30)
    for invoice in WETHOD_INVOICES:
        admin.add(id=invoice, project_id=WETHOD_PROJECT, value=1600, issue_date="2026-03-15")
    _draft, sent, paid = WETHOD_INVOICES
    admin.send(sent)
    admin.send(paid)
    admin.set_paid(paid, "2026-04-15")


WETHOD = Target(
    vendor="wethod",
    headers={
        "Authorization": f"Bearer {SANDBOX_TOKEN}",
        "Wethod-Company": SANDBOX_COMPANY,
        "Wethod-Version": "2024-06-15",
    },
    seed=_seed_wethod,
    known={
        "project_id": (WETHOD_PROJECT, WETHOD_ARCHIVED),
        "budget_area_uid": (WETHOD_BUDGET_AREA,),
        "vat_rate_id": (WETHOD_VAT_RATE,),
        "payment_term_id": (WETHOD_PAYMENT_TERM,),
    },
    in_collection={"/api/invoices": {"id": WETHOD_INVOICES}},
)


# ---- Coperniq ---------------------------------------------------------------------------------

COPERNIQ_PROJECT = 5120
COPERNIQ_CATALOG_ITEMS = (301, 302)
COPERNIQ_INVOICES = (801, 802, 803)  # a draft with lines, a draft by percentage, sent


def _seed_coperniq(client: httpx.Client) -> None:
    admin = CoperniqAdmin(client)
    _fresh(admin)
    admin.add_project(contract_value=612000, record=COPERNIQ_PROJECT)
    admin.add_catalog_item(COPERNIQ_CATALOG_ITEMS[0], "Design")
    admin.add_catalog_item(COPERNIQ_CATALOG_ITEMS[1], "Batteries", kind="PRODUCT")
    lines, percentage, sent = COPERNIQ_INVOICES
    line = {"catalogItemId": COPERNIQ_CATALOG_ITEMS[0], "quantity": 2, "unitCost": 0,
            "unitPrice": 1500, "description": "Design"}  # fmt: skip
    admin.add_invoice(id=lines, recordId=COPERNIQ_PROJECT, lineItems=[line])
    admin.add_invoice(id=percentage, recordId=COPERNIQ_PROJECT,
                      calculationMethod="PERCENTAGE", percentage=10)  # fmt: skip
    admin.add_invoice(id=sent, recordId=COPERNIQ_PROJECT, lineItems=[line])
    admin.set_status(sent, "SENT")


COPERNIQ = Target(
    vendor="coperniq",
    headers={"x-api-key": SANDBOX_TOKEN},
    seed=_seed_coperniq,
    known={
        "recordId": (COPERNIQ_PROJECT,),
        "projectId": (COPERNIQ_PROJECT,),
        "catalogItemId": COPERNIQ_CATALOG_ITEMS,
        "invoiceId": COPERNIQ_INVOICES,
        "id": (0,),  # a line or section sent with id 0 is a new one
    },
    in_collection={},
)


TARGETS: Mapping[str, Target] = {t.vendor: t for t in (RUDDR, KANTATA, WETHOD, COPERNIQ)}
