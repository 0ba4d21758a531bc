"""Kantata's and Wethod's list endpoints read the store once per version of it, not once a page:
every write after a read must still show in the next list, whether it came through the same
sandbox or through another process's connection to the same SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.sandbox import SANDBOX_TOKEN, Sandbox, base_url, build_sandbox

ROOT = "http://sandbox.invalid"


def client(sandbox: Sandbox, vendor: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    if vendor == "wethod":
        headers |= {"Wethod-Company": "sandbox", "Wethod-Version": "2024-06-15"}
    return httpx.Client(
        transport=sandbox.transport, base_url=base_url(vendor, root=ROOT), headers=headers
    )


def admin(sandbox: Sandbox, vendor: str) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport, base_url=f"{ROOT}/{vendor}/_sandbox")


def unlimited(sandbox: Sandbox, vendor: str) -> None:
    with admin(sandbox, vendor) as surface:
        response = surface.put("/settings", json={"rate_limit_per_second": None})
        assert response.status_code == 200, response.text


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.sqlite"


@pytest.fixture
def first(path: Path) -> Iterator[Sandbox]:
    with build_sandbox(path) as sandbox:
        unlimited(sandbox, "kantata")
        unlimited(sandbox, "wethod")
        yield sandbox


@pytest.fixture
def workspace(first: Sandbox) -> int:
    with admin(first, "kantata") as surface:
        response = surface.post("/workspaces", json={"title": "Cascade"})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


@pytest.fixture
def project(first: Sandbox) -> int:
    with admin(first, "wethod") as surface:
        response = surface.post("/projects", json={"name": "Brand", "pm": "sandbox-user"})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def new_milestone(sandbox: Sandbox, workspace: int, title: str) -> str:
    body = {"title": title, "amount_in_cents": 1000, "workspace_id": workspace,
            "date_to_invoice": "2026-04-01"}  # fmt: skip
    with client(sandbox, "kantata") as kantata:
        response = kantata.post("/billing_milestones", json={"billing_milestone": body})
        assert response.status_code in (200, 201), response.text
        return str(response.json()["results"][0]["id"])


def milestone_titles(sandbox: Sandbox, workspace: int, per_page: int = 2) -> list[str]:
    """Every milestone's title, read page by page."""
    titles: list[str] = []
    with client(sandbox, "kantata") as kantata:
        page = 1
        while True:
            params = {"workspace_ids": str(workspace), "per_page": per_page, "page": page,
                      "order": "created_at:asc"}  # fmt: skip
            envelope: dict[str, Any] = kantata.get("/billing_milestones", params=params).json()
            titles += [
                envelope["billing_milestones"][r["id"]]["title"] for r in envelope["results"]
            ]
            if page >= envelope["meta"]["page_count"]:
                return titles
            page += 1


def new_invoice(sandbox: Sandbox, project: int, notes: str) -> int:
    body = {"project_id": project, "value": 100, "issue_date": "2026-04-01", "notes": notes}
    with client(sandbox, "wethod") as wethod:
        response = wethod.post("/api/invoices", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def invoice_notes(sandbox: Sandbox, project: int, limit: int = 2) -> list[str]:
    notes: list[str] = []
    with client(sandbox, "wethod") as wethod:
        offset = 0
        while True:
            params = {"project_id": f"in:{project}", "limit": limit, "offset": offset}
            page = wethod.get("/api/invoices", params=params).json()
            notes += [invoice["notes"] for invoice in page]
            if len(page) < limit:
                return notes
            offset += limit


def test_a_kantata_list_shows_a_create_and_an_update_made_after_it(
    first: Sandbox, workspace: int
) -> None:
    made = [new_milestone(first, workspace, f"M{n}") for n in range(3)]
    assert milestone_titles(first, workspace) == ["M0", "M1", "M2"]

    new_milestone(first, workspace, "M3")
    with client(first, "kantata") as kantata:
        body = {"billing_milestone": {"title": "M0 renamed"}}
        assert kantata.put(f"/billing_milestones/{made[0]}", json=body).status_code == 200

    assert milestone_titles(first, workspace) == ["M0 renamed", "M1", "M2", "M3"]


def test_a_kantata_list_shows_a_write_through_another_connection_to_the_file(
    first: Sandbox, workspace: int, path: Path
) -> None:
    new_milestone(first, workspace, "M0")
    assert milestone_titles(first, workspace) == ["M0"]

    with build_sandbox(path) as other:
        unlimited(other, "kantata")
        new_milestone(other, workspace, "M1")

    assert milestone_titles(first, workspace) == ["M0", "M1"]


def test_a_wethod_list_shows_a_create_and_a_delete_made_after_it(
    first: Sandbox, project: int
) -> None:
    made = [new_invoice(first, project, f"I{n}") for n in range(3)]
    assert invoice_notes(first, project) == ["I0", "I1", "I2"]

    new_invoice(first, project, "I3")
    with client(first, "wethod") as wethod:
        assert wethod.delete(f"/api/invoices/{made[1]}").status_code in (200, 204)

    assert invoice_notes(first, project) == ["I0", "I2", "I3"]


def test_a_wethod_list_shows_a_write_through_another_connection_to_the_file(
    first: Sandbox, project: int, path: Path
) -> None:
    new_invoice(first, project, "I0")
    assert invoice_notes(first, project) == ["I0"]

    with build_sandbox(path) as other:
        unlimited(other, "wethod")
        new_invoice(other, project, "I1")

    assert invoice_notes(first, project) == ["I0", "I1"]


# ---- a person deleting a row while a list is paged (the `then_delete` fault) -----------------


def arm(sandbox: Sandbox, vendor: str, fault: dict[str, Any]) -> httpx.Response:
    with admin(sandbox, vendor) as surface:
        return surface.post("/faults", json=fault)


def test_a_row_deleted_after_the_first_kantata_page_pushes_the_next_row_off_its_page(
    first: Sandbox, workspace: int
) -> None:
    made = [new_milestone(first, workspace, f"M{n}") for n in range(4)]
    fault = {"method": "GET", "path": "/api/v1/billing_milestones",
             "then_delete": f"/billing_milestones/{made[0]}"}  # fmt: skip
    assert arm(first, "kantata", fault).status_code == 201

    assert milestone_titles(first, workspace) == ["M0", "M1", "M3"]  # M2 moved to page 1
    assert milestone_titles(first, workspace) == ["M1", "M2", "M3"]


def test_a_row_deleted_after_the_first_wethod_page_pushes_the_next_row_off_its_page(
    first: Sandbox, project: int
) -> None:
    made = [new_invoice(first, project, f"I{n}") for n in range(4)]
    fault = {"method": "GET", "path": "/api/invoices", "then_delete": f"/invoices/{made[1]}"}
    assert arm(first, "wethod", fault).status_code == 201

    assert invoice_notes(first, project) == ["I0", "I1", "I3"]
    assert invoice_notes(first, project) == ["I0", "I2", "I3"]


def test_then_delete_of_the_first_row_deletes_the_first_row_of_the_page_served(
    first: Sandbox, workspace: int, project: int
) -> None:
    for n in range(4):
        new_milestone(first, workspace, f"M{n}")
        new_invoice(first, project, f"I{n}")
    fault = {"method": "GET", "after": 1, "then_delete": "/billing_milestones/{first}"}
    assert arm(first, "kantata", {**fault, "path": "/api/v1/billing_milestones"}).status_code == 201
    fault = {"method": "GET", "then_delete": "/invoices/{first}"}
    assert arm(first, "wethod", {**fault, "path": "/api/invoices"}).status_code == 201

    assert milestone_titles(first, workspace) == ["M0", "M1", "M2", "M3"]  # deleted after page 2
    assert milestone_titles(first, workspace) == ["M0", "M1", "M3"]
    assert invoice_notes(first, project) == ["I0", "I1", "I3"]


@pytest.mark.parametrize(
    ("fault", "refusal"),
    [
        ({"then_delete": "/workspaces/1"}, "/workspaces/1 is not an object the admin surface"),
        ({"then_delete": "billing_milestones/1"}, "then_delete must be an admin path"),
        ({"then_delete": "/billing_milestones/1", "status": 503}, "goes with a request that is"),
    ],
    ids=["not deletable", "not a path", "not served"],
)
def test_a_then_delete_fault_that_cannot_happen_is_refused_when_armed(
    first: Sandbox, fault: dict[str, Any], refusal: str
) -> None:
    answer = arm(first, "kantata", {"method": "GET", **fault})

    assert answer.status_code == 400
    assert refusal in answer.json()["error"]
