"""The Wethod emulator on the wire: raw HTTP through a synchronous httpx client, in process through
`InProcessTransport` or over loopback through uvicorn. Each test is one behaviour of Wethod's API
(or of the sandbox's admin surface), with the worked example in the body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.sandbox import SANDBOX_TOKEN, Sandbox, base_url, build_sandbox

from .conftest import FakeClock, serving

ROOT = "http://sandbox.invalid"
INVOICES = "/api/invoices"
VERSION = "2024-06-15"
SEED_INVOICE_FIELDS = [
    "id",
    "created_at",
    "updated_at",
    "status",
    "invoice_number",
    "purchase_order",
    "value",
    "exchange_rate",
    "issue_date",
    "payment_date",
    "notes",
    "project_id",
    "budget_area_uid",
    "vat_rate_id",
    "payment_term_id",
]
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
CREATE_ONLY = ["invoices.create"]
CREATE_OTHER_ONLY = ["invoices.create_other"]
# What the sandbox token holds: a finance user's keys for billplan, without invoices.edit_sent.
FINANCE = [
    "invoices.view",
    "invoices.view_other",
    "invoices.create",
    "invoices.create_other",
    "invoices.edit",
    "invoices.edit_other",
    "invoices.delete",
    "invoices.delete_other",
]
EVERYTHING = [*FINANCE, "invoices.edit_sent"]


def wethod_headers(token: str | None = SANDBOX_TOKEN, company: str = "sandbox") -> dict[str, str]:
    headers = {"Wethod-Company": company, "Wethod-Version": VERSION}
    return headers if token is None else {**headers, "Authorization": f"Bearer {token}"}


def vendor_client(
    sandbox: Sandbox, token: str | None = SANDBOX_TOKEN, company: str = "sandbox"
) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport,
        base_url=base_url("wethod", root=ROOT),
        headers=wethod_headers(token, company),
    )


@pytest.fixture
def wethod(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with vendor_client(sandbox) as client:
        yield client


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport, base_url=f"{ROOT}/wethod/_sandbox") as client:
        yield client


@dataclass(frozen=True)
class Seed:
    """Projects of company "sandbox", by the sandbox user's role on them."""

    as_pm: int
    as_account: int
    others: int
    archived: int


def seed_project(admin: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    response = admin.post("/projects", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def seed(admin: httpx.Client) -> Seed:
    return Seed(
        as_pm=seed_project(
            admin, "Brand Identity", pm="sandbox-user", budget_areas=["design", "copy"]
        )["id"],
        as_account=seed_project(admin, "Website Redesign", account="sandbox-user")["id"],
        others=seed_project(admin, "Annual Report", pm="giulia", account="marco")["id"],
        archived=seed_project(admin, "Old Campaign", pm="sandbox-user", archived=True)["id"],
    )


def invoice(seed: Seed, **fields: Any) -> dict[str, Any]:
    body = {
        "project_id": seed.as_pm,
        "value": 15000,
        "issue_date": "2026-04-01",
        "invoice_number": "INV-2026-001",
    }
    return {key: value for key, value in {**body, **fields}.items() if value is not ...}


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(INVOICES, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def send_json(client: httpx.Client, method: str, path: str, text: str) -> httpx.Response:
    """Send JSON text exactly as written, so numbers keep the digits the test chose."""
    return client.request(method, path, content=text, headers={"Content-Type": "application/json"})


def failures_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["key"] == "invalid_data"
    assert body["message"] == "You provided invalid data. Check 'failures' for details."
    return body["failures"]


def unlimited(admin: httpx.Client) -> None:
    assert admin.put("/settings", json={"rate_limit_per_second": None}).status_code == 200


def use_tokens(admin: httpx.Client, *grants: dict[str, Any]) -> None:
    """The sandbox token plus `grants`, e.g. {"token": "pm", "permissions": [...]}."""
    response = admin.put("/settings", json={"tokens": [SANDBOX_TOKEN, *grants]})
    assert response.status_code == 200, response.text


@contextmanager
def holding(sandbox: Sandbox, admin: httpx.Client, *permissions: str) -> Iterator[httpx.Client]:
    """A client whose token's user (the sandbox user) holds exactly `permissions`."""
    use_tokens(admin, {"token": "limited", "permissions": list(permissions)})
    with vendor_client(sandbox, token="limited") as client:
        yield client


@pytest.fixture
def accountant(sandbox: Sandbox, admin: httpx.Client) -> Iterator[httpx.Client]:
    """The sandbox user with every permission, invoices.edit_sent included: who sets paid."""
    with holding(sandbox, admin, *EVERYTHING) as client:
        yield client


def sent_invoice(
    wethod: httpx.Client, seed: Seed, *, paid_by: httpx.Client | None = None
) -> dict[str, Any]:
    created = create(wethod, invoice(seed))
    assert wethod.post(f"{INVOICES}/{created['id']}:send").status_code == 200
    if paid_by is not None:
        assert paid_by.post(f"{INVOICES}/{created['id']}:set-paid").status_code == 200
    return created


# ---- the sandbox -------------------------------------------------------------------------------


def test_wethod_lives_under_its_own_prefix_with_paths_from_the_host_root() -> None:
    assert base_url("wethod", root=ROOT) == "http://sandbox.invalid/wethod"


def test_the_sandbox_root_lists_wethod_beside_the_other_emulators(sandbox: Sandbox) -> None:
    with httpx.Client(transport=sandbox.transport, base_url=ROOT) as client:
        listed = client.get("/").json()
    assert listed["wethod"] == {"api": "/wethod", "admin": "/wethod/_sandbox"}


# ---- credentials and the two required headers ---------------------------------------------------


def test_a_request_without_a_token_answers_401_with_key_unauthorized(sandbox: Sandbox) -> None:
    with vendor_client(sandbox, token=None) as client:
        response = client.get(INVOICES)
    assert response.status_code == 401
    assert response.json()["key"] == "unauthorized"
    assert set(response.json()) == {"key", "message"}


def test_an_unknown_token_answers_401(sandbox: Sandbox) -> None:
    with vendor_client(sandbox, token="not-a-token") as client:
        assert client.get(INVOICES).status_code == 401


def test_missing_company_and_version_headers_are_each_a_failure(sandbox: Sandbox) -> None:
    with httpx.Client(
        transport=sandbox.transport,
        base_url=base_url("wethod", root=ROOT),
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
    ) as client:
        response = client.get(INVOICES)
    assert failures_of(response) == [
        {"field": "Wethod-Company", "message": "The Wethod-Company header is required."},
        {"field": "Wethod-Version", "message": "The Wethod-Version header is required."},
    ]


def test_a_company_header_that_is_not_the_tokens_company_answers_412(
    wethod: httpx.Client, admin: httpx.Client
) -> None:
    admin.post("/companies", json={"slug": "acme", "name": "Acme"})
    response = wethod.get(INVOICES, headers={"Wethod-Company": "acme"})
    assert response.status_code == 412
    assert response.json() == {
        "key": "precondition_failure",
        "message": "The access token does not belong to the company 'acme'.",
    }


def test_an_unsupported_api_version_answers_412(wethod: httpx.Client) -> None:
    response = wethod.get(INVOICES, headers={"Wethod-Version": "2023-01-01"})
    assert response.status_code == 412
    assert response.json()["key"] == "precondition_failure"
    assert "2024-06-15" in response.json()["message"]


def test_disabled_api_access_answers_403(wethod: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/settings", json={"api_access_enabled": False})
    response = wethod.get(INVOICES)
    assert response.status_code == 403
    assert response.json()["key"] == "forbidden"


def test_an_unknown_path_answers_404_in_the_vendor_shape(wethod: httpx.Client) -> None:
    response = wethod.get("/api/invoice")
    assert response.status_code == 404
    assert response.json()["key"] == "not_found"


def test_a_wrong_method_on_a_known_path_answers_405(wethod: httpx.Client) -> None:
    assert wethod.put(f"{INVOICES}/1", json={}).status_code == 405
    # PUT, which no Wethod operation uses: a GET of `1:send` reads, to the contract, as
    # getInvoice with the id "1:send", whose answers do not include 405.
    assert wethod.put(f"{INVOICES}/1:send").json()["key"] == "method_not_allowed"


def test_an_id_that_is_not_an_integer_answers_404(wethod: httpx.Client) -> None:
    assert wethod.get(f"{INVOICES}/inv-1").status_code == 404


def test_an_unknown_invoice_answers_404_with_key_not_found(wethod: httpx.Client) -> None:
    response = wethod.get(f"{INVOICES}/999")
    assert response.status_code == 404
    assert response.json() == {"key": "not_found", "message": "Invoice 999 does not exist."}


# ---- creating invoices -------------------------------------------------------------------------


def test_a_created_invoice_answers_201_shaped_like_the_vendor_seed(
    wethod: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed, purchase_order="PO-7", notes="Phase 1"))
    assert list(created) == SEED_INVOICE_FIELDS
    assert created["id"] == 1
    assert TIMESTAMP.fullmatch(created["created_at"])
    assert created["updated_at"] == created["created_at"]
    assert {key: created[key] for key in SEED_INVOICE_FIELDS[3:]} == {
        "status": "draft",
        "invoice_number": "INV-2026-001",
        "purchase_order": "PO-7",
        "value": 15000,
        "exchange_rate": None,
        "issue_date": "2026-04-01",
        "payment_date": None,
        "notes": "Phase 1",
        "project_id": seed.as_pm,
        "budget_area_uid": None,
        "vat_rate_id": None,
        "payment_term_id": None,
    }


def test_a_created_invoice_reads_back_the_same_by_id(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed, budget_area_uid="design", vat_rate_id=1))
    assert wethod.get(f"{INVOICES}/{created['id']}").json() == created


def test_value_keeps_its_digits_and_reads_back_in_shortest_form(
    wethod: httpx.Client, seed: Seed
) -> None:
    body = json.dumps(invoice(seed, value=...))[:-1]
    exact = send_json(wethod, "POST", INVOICES, body + ', "value": 12345678901234567.89}')
    padded = send_json(wethod, "POST", INVOICES, body + ', "value": 1600.50}')
    whole = send_json(wethod, "POST", INVOICES, body + ', "value": 1600.00}')
    assert '"value":12345678901234567.89,' in exact.text
    assert '"value":1600.5,' in padded.text
    assert '"value":1600,' in whole.text


def test_every_problem_in_a_create_is_listed_in_failures_at_once(
    wethod: httpx.Client, seed: Seed
) -> None:
    assert failures_of(wethod.post(INVOICES, json={})) == [
        {"field": "value", "message": "The field is required."},
        {"field": "issue_date", "message": "The field is required."},
        {"field": "project_id", "message": "The field is required."},
    ]


def test_value_must_be_a_number(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, value="15000"))
    assert failures_of(response) == [{"field": "value", "message": "Must be a number."}]


def test_issue_date_must_be_a_real_date(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, issue_date="2026-02-30"))
    assert failures_of(response) == [
        {"field": "issue_date", "message": "Must be a valid date in the format YYYY-MM-DD."}
    ]


def test_an_invoice_number_of_256_characters_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, invoice_number="N" * 256))
    assert failures_of(response) == [
        {"field": "invoice_number", "message": "Must be at most 255 characters."}
    ]


def test_an_invoice_number_of_255_characters_is_accepted(wethod: httpx.Client, seed: Seed) -> None:
    assert create(wethod, invoice(seed, invoice_number="N" * 255))["invoice_number"] == "N" * 255


def test_an_invoice_number_may_be_null(wethod: httpx.Client, seed: Seed) -> None:
    assert create(wethod, invoice(seed, invoice_number=None))["invoice_number"] is None


def test_an_unknown_project_is_a_failure_on_project_id(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, project_id=404))
    assert failures_of(response) == [
        {"field": "project_id", "message": "No project with ID 404 exists in this company."}
    ]


def test_a_project_of_another_company_is_unknown(wethod: httpx.Client, admin: httpx.Client) -> None:
    admin.post("/companies", json={"slug": "acme", "name": "Acme"})
    theirs = seed_project(admin, "Acme Launch", company="acme", pm="sandbox-user")["id"]
    response = wethod.post(
        INVOICES, json={"project_id": theirs, "value": 1, "issue_date": "2026-04-01"}
    )
    assert [f["field"] for f in failures_of(response)] == ["project_id"]


def test_an_unknown_vat_rate_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, vat_rate_id=99))
    assert failures_of(response) == [
        {"field": "vat_rate_id", "message": "No VAT rate with ID 99 exists in this company."}
    ]


def test_an_unknown_payment_term_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, payment_term_id=99))
    assert failures_of(response) == [
        {
            "field": "payment_term_id",
            "message": "No payment term with ID 99 exists in this company.",
        }
    ]


def test_the_seeded_vat_rates_and_payment_terms_can_be_used(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    rates = {rate["rate"]: rate["id"] for rate in admin.get("/vat-rates").json()}
    terms = {term["days"]: term["id"] for term in admin.get("/payment-terms").json()}
    created = create(wethod, invoice(seed, vat_rate_id=rates[22], payment_term_id=terms[60]))
    assert (created["vat_rate_id"], created["payment_term_id"]) == (rates[22], terms[60])


def test_a_vat_rate_added_by_the_admin_can_be_used(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    added = admin.post("/vat-rates", json={"id": 40, "rate": 10})
    assert added.json() == {"id": 40, "company": "sandbox", "rate": 10}
    assert create(wethod, invoice(seed, vat_rate_id=40))["vat_rate_id"] == 40


def test_a_budget_area_of_another_project_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(
        INVOICES, json=invoice(seed, project_id=seed.others, budget_area_uid="design")
    )
    assert failures_of(response) == [
        {
            "field": "budget_area_uid",
            "message": f"Budget area 'design' does not belong to project {seed.others}.",
        }
    ]


def test_an_exchange_rate_of_zero_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, exchange_rate=0))
    assert failures_of(response) == [
        {"field": "exchange_rate", "message": "Must be greater than 0."}
    ]


def test_a_positive_exchange_rate_is_kept_exactly(wethod: httpx.Client, seed: Seed) -> None:
    body = json.dumps(invoice(seed))[:-1] + ', "exchange_rate": 1.0850}'
    assert '"exchange_rate":1.085,' in send_json(wethod, "POST", INVOICES, body).text


def test_an_unknown_field_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, amount=15000, status="sent"))
    assert failures_of(response) == [
        {"field": "amount", "message": "Unknown field."},
        {"field": "status", "message": "Unknown field."},
    ]


def test_ids_must_be_integers(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, project_id=str(seed.as_pm), vat_rate_id=0))
    assert failures_of(response) == [
        {"field": "project_id", "message": "Must be an integer greater than or equal to 1."},
        {"field": "vat_rate_id", "message": "Must be an integer greater than or equal to 1."},
    ]


def test_a_body_that_is_not_a_json_object_is_a_failure(wethod: httpx.Client, seed: Seed) -> None:
    response = send_json(wethod, "POST", INVOICES, "[1, 2]")
    assert failures_of(response) == [
        {"field": "body", "message": "The request body must be a JSON object."}
    ]


def test_an_archived_project_answers_412(wethod: httpx.Client, seed: Seed) -> None:
    response = wethod.post(INVOICES, json=invoice(seed, project_id=seed.archived))
    assert response.status_code == 412
    assert response.json() == {
        "key": "precondition_failure",
        "message": f"Project {seed.archived} is archived.",
    }


# ---- permissions: creating ---------------------------------------------------------------------


def test_invoices_create_lets_a_pm_create_on_their_project(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    use_tokens(admin, {"token": "pm", "permissions": CREATE_ONLY})
    with vendor_client(sandbox, token="pm") as client:
        assert client.post(INVOICES, json=invoice(seed, project_id=seed.as_pm)).status_code == 201


def test_invoices_create_lets_an_account_create_on_their_project(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    use_tokens(admin, {"token": "account", "permissions": CREATE_ONLY})
    with vendor_client(sandbox, token="account") as client:
        response = client.post(INVOICES, json=invoice(seed, project_id=seed.as_account))
    assert response.status_code == 201


def test_invoices_create_alone_is_refused_on_a_project_that_is_not_the_users(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    use_tokens(admin, {"token": "pm", "permissions": CREATE_ONLY})
    with vendor_client(sandbox, token="pm") as client:
        response = client.post(INVOICES, json=invoice(seed, project_id=seed.others))
    assert response.status_code == 403
    assert response.json() == {
        "key": "forbidden",
        "message": f"Creating invoices of project {seed.others}, where you are neither PM nor "
        "Account, requires invoices.create_other.",
    }


def test_invoices_create_other_lets_a_user_create_on_a_project_that_is_not_theirs(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    use_tokens(admin, {"token": "finance", "permissions": CREATE_OTHER_ONLY})
    with vendor_client(sandbox, token="finance") as client:
        assert client.post(INVOICES, json=invoice(seed, project_id=seed.others)).status_code == 201


def test_invoices_create_other_alone_is_refused_on_the_users_own_project(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    use_tokens(admin, {"token": "finance", "permissions": CREATE_OTHER_ONLY})
    with vendor_client(sandbox, token="finance") as client:
        response = client.post(INVOICES, json=invoice(seed, project_id=seed.as_account))
    assert response.status_code == 403
    assert "invoices.create" in response.json()["message"]


def test_the_role_is_the_token_users_so_another_user_is_neither_pm_nor_account(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    use_tokens(admin, {"token": "giulia", "user": "giulia", "permissions": CREATE_ONLY})
    with vendor_client(sandbox, token="giulia") as client:
        mine = client.post(INVOICES, json=invoice(seed, project_id=seed.others))
        not_mine = client.post(INVOICES, json=invoice(seed, project_id=seed.as_pm))
    assert (mine.status_code, not_mine.status_code) == (201, 403)


def test_a_token_with_no_create_permission_is_refused_before_the_body_is_read(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    with holding(sandbox, admin, "invoices.view", "invoices.view_other") as viewer:
        response = viewer.post(INVOICES, json={})
        listed = viewer.get(INVOICES)
    assert response.json() == {
        "key": "forbidden",
        "message": "Creating invoices requires invoices.create or invoices.create_other.",
    }
    assert listed.status_code == 200


# ---- permissions: reading (listInvoices, getInvoice) -------------------------------------------


def test_a_token_with_neither_view_key_cannot_list_invoices(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    with holding(sandbox, admin, "invoices.create", "invoices.create_other") as client:
        response = client.get(INVOICES, params={"project_id": seed.as_pm})
    assert response.status_code == 403
    assert response.json() == {
        "key": "forbidden",
        "message": "Listing invoices requires invoices.view or invoices.view_other.",
    }


def test_listing_the_invoices_of_the_users_own_project_needs_invoices_view(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    with holding(sandbox, admin, "invoices.view_other") as client:
        refused = client.get(INVOICES, params={"project_id": seed.as_pm})
    with holding(sandbox, admin, "invoices.view") as client:
        allowed = client.get(INVOICES, params={"project_id": seed.as_pm})
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f"Listing invoices of project {seed.as_pm}, where you are PM or Account, "
        "requires invoices.view."
    )
    assert allowed.status_code == 200


def test_listing_the_invoices_of_another_users_project_needs_invoices_view_other(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    with holding(sandbox, admin, "invoices.view") as client:
        refused = client.get(INVOICES, params={"project_id": f"in:{seed.as_pm},{seed.others}"})
    with holding(sandbox, admin, "invoices.view_other") as client:
        allowed = client.get(INVOICES, params={"project_id": seed.others})
    assert refused.json()["message"] == (
        f"Listing invoices of project {seed.others}, where you are neither PM nor Account, "
        "requires invoices.view_other."
    )
    assert allowed.status_code == 200


def test_an_unfiltered_list_covers_every_project_so_it_needs_both_view_keys(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    with holding(sandbox, admin, "invoices.view") as client:
        response = client.get(INVOICES)
    assert response.status_code == 403
    assert "requires invoices.view_other" in response.json()["message"]


def test_a_list_is_refused_rather_than_cut_short_even_when_it_would_be_empty(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    with holding(sandbox, admin, "invoices.view") as client:
        response = client.get(INVOICES, params={"project_id": seed.others})
    assert response.status_code == 403


def test_reading_one_invoice_needs_the_view_key_for_its_project(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    theirs = create(wethod, invoice(seed, project_id=seed.others))
    with holding(sandbox, admin, "invoices.view") as client:
        refused = client.get(f"{INVOICES}/{theirs['id']}")
    with holding(sandbox, admin, "invoices.view_other") as client:
        allowed = client.get(f"{INVOICES}/{theirs['id']}")
    assert refused.json() == {
        "key": "forbidden",
        "message": f"Reading invoice {theirs['id']} of project {seed.others}, where you are "
        "neither PM nor Account, requires invoices.view_other.",
    }
    assert allowed.json() == theirs


def test_an_unknown_invoice_answers_404_before_any_permission_is_checked(
    sandbox: Sandbox, admin: httpx.Client
) -> None:
    with holding(sandbox, admin) as client:
        assert client.get(f"{INVOICES}/999").status_code == 404


# ---- permissions: editing, deleting, sending, setting paid --------------------------------------


def test_editing_a_draft_on_the_users_own_project_needs_invoices_edit(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    mine = create(wethod, invoice(seed, project_id=seed.as_pm))
    with holding(sandbox, admin, *CREATE_ONLY) as client:
        refused = client.patch(f"{INVOICES}/{mine['id']}", json={"value": 1})
    with holding(sandbox, admin, "invoices.edit") as client:
        allowed = client.patch(f"{INVOICES}/{mine['id']}", json={"value": 1})
    assert refused.json()["message"] == (
        f"Editing invoice {mine['id']} of project {seed.as_pm}, where you are PM or Account, "
        "requires invoices.edit."
    )
    assert allowed.status_code == 200


def test_editing_a_draft_of_another_users_project_needs_invoices_edit_other(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    theirs = create(wethod, invoice(seed, project_id=seed.others))
    with holding(sandbox, admin, "invoices.edit") as client:
        refused = client.patch(f"{INVOICES}/{theirs['id']}", json={"value": 1})
    with holding(sandbox, admin, "invoices.edit_other") as client:
        allowed = client.patch(f"{INVOICES}/{theirs['id']}", json={"value": 1})
    assert "requires invoices.edit_other." in refused.json()["message"]
    assert allowed.status_code == 200


def test_moving_an_invoice_needs_the_edit_key_of_the_project_it_moves_to(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    mine = create(wethod, invoice(seed, project_id=seed.as_pm))
    with holding(sandbox, admin, "invoices.edit") as client:
        response = client.patch(f"{INVOICES}/{mine['id']}", json={"project_id": seed.others})
    assert response.json()["message"] == (
        f"Editing invoice {mine['id']} of project {seed.others}, where you are neither PM nor "
        "Account, requires invoices.edit_other."
    )


def test_deleting_a_draft_on_the_users_own_project_needs_invoices_delete(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    mine = create(wethod, invoice(seed, project_id=seed.as_account))
    with holding(sandbox, admin, "invoices.delete_other", "invoices.edit") as client:
        refused = client.delete(f"{INVOICES}/{mine['id']}")
    with holding(sandbox, admin, "invoices.delete") as client:
        allowed = client.delete(f"{INVOICES}/{mine['id']}")
    assert refused.json()["message"] == (
        f"Deleting invoice {mine['id']} of project {seed.as_account}, where you are PM or "
        "Account, requires invoices.delete."
    )
    assert allowed.status_code == 200


def test_deleting_a_draft_of_another_users_project_needs_invoices_delete_other(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    theirs = create(wethod, invoice(seed, project_id=seed.others))
    with holding(sandbox, admin, "invoices.delete") as client:
        refused = client.delete(f"{INVOICES}/{theirs['id']}")
    with holding(sandbox, admin, "invoices.delete_other") as client:
        allowed = client.delete(f"{INVOICES}/{theirs['id']}")
    assert "requires invoices.delete_other." in refused.json()["message"]
    assert allowed.status_code == 200


def test_deleting_a_sent_invoice_names_every_key_the_token_lacks(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    with holding(sandbox, admin, "invoices.view") as client:
        response = client.delete(f"{INVOICES}/{sent['id']}")
    assert response.json()["message"] == (
        f"Deleting invoice {sent['id']} of project {seed.as_pm}, where you are PM or Account, "
        f"requires invoices.delete. Deleting invoice {sent['id']}, which is sent, requires "
        "invoices.edit_sent."
    )


def test_sending_needs_the_edit_key_for_the_invoices_project(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    theirs = create(wethod, invoice(seed, project_id=seed.others))
    with holding(sandbox, admin, "invoices.edit", "invoices.edit_sent") as client:
        refused = client.post(f"{INVOICES}/{theirs['id']}:send")
    with holding(sandbox, admin, "invoices.edit_other") as client:
        allowed = client.post(f"{INVOICES}/{theirs['id']}:send")
    assert "requires invoices.edit_other." in refused.json()["message"]
    assert allowed.json()["status"] == "sent"


def test_setting_paid_needs_invoices_edit_sent_and_nothing_else(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    refused = wethod.post(f"{INVOICES}/{sent['id']}:set-paid")  # every key but edit_sent
    with holding(sandbox, admin, "invoices.edit_sent") as client:
        allowed = client.post(f"{INVOICES}/{sent['id']}:set-paid")
    assert refused.json() == {
        "key": "forbidden",
        "message": f"Setting paid invoice {sent['id']}, which is sent, requires "
        "invoices.edit_sent.",
    }
    assert allowed.json()["status"] == "paid"


# ---- deleting ----------------------------------------------------------------------------------


def test_deleting_a_draft_answers_200_with_no_body(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    response = wethod.delete(f"{INVOICES}/{created['id']}")
    assert (response.status_code, response.content) == (200, b"")
    assert wethod.get(f"{INVOICES}/{created['id']}").status_code == 404


def test_deleting_a_sent_invoice_without_edit_sent_answers_403(
    wethod: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    response = wethod.delete(f"{INVOICES}/{sent['id']}")
    assert response.status_code == 403
    assert response.json() == {
        "key": "forbidden",
        "message": f"Deleting invoice {sent['id']}, which is sent, requires invoices.edit_sent.",
    }


def test_deleting_a_paid_invoice_without_edit_sent_answers_403(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    paid = sent_invoice(wethod, seed, paid_by=accountant)
    assert wethod.delete(f"{INVOICES}/{paid['id']}").status_code == 403


def test_edit_sent_allows_deleting_sent_and_paid_invoices(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    paid = sent_invoice(wethod, seed, paid_by=accountant)
    assert accountant.delete(f"{INVOICES}/{sent['id']}").status_code == 200
    assert accountant.delete(f"{INVOICES}/{paid['id']}").status_code == 200
    assert accountant.get(INVOICES).json() == []


def test_a_deleted_invoices_id_is_never_given_again(wethod: httpx.Client, seed: Seed) -> None:
    first = create(wethod, invoice(seed))
    wethod.delete(f"{INVOICES}/{first['id']}")
    assert create(wethod, invoice(seed))["id"] == first["id"] + 1


# ---- editing -----------------------------------------------------------------------------------


def test_patching_a_draft_changes_it_and_moves_updated_at(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    patched = wethod.patch(f"{INVOICES}/{created['id']}", json={"value": 14000, "notes": "Revised"})
    assert patched.status_code == 200
    assert (patched.json()["value"], patched.json()["notes"]) == (14000, "Revised")
    assert patched.json()["updated_at"] > created["updated_at"]
    assert patched.json()["created_at"] == created["created_at"]
    assert wethod.get(f"{INVOICES}/{created['id']}").json() == patched.json()


def test_a_patch_that_changes_nothing_keeps_updated_at(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    body = '{"value": 15000.00, "issue_date": "2026-04-01"}'
    patched = send_json(wethod, "PATCH", f"{INVOICES}/{created['id']}", body)
    assert patched.json() == created


def test_patching_a_sent_invoice_without_edit_sent_answers_403(
    wethod: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    response = wethod.patch(f"{INVOICES}/{sent['id']}", json={"value": 1})
    assert response.status_code == 403
    assert "invoices.edit_sent" in response.json()["message"]


def test_edit_sent_allows_patching_a_sent_invoice(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    patched = accountant.patch(f"{INVOICES}/{sent['id']}", json={"notes": "Corrected"})
    assert (patched.status_code, patched.json()["status"]) == (200, "sent")


def test_project_id_can_be_patched_to_move_an_invoice_to_another_project(
    wethod: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed, project_id=seed.as_pm))
    moved = wethod.patch(f"{INVOICES}/{created['id']}", json={"project_id": seed.others})
    assert (moved.status_code, moved.json()["project_id"]) == (200, seed.others)
    listed = wethod.get(INVOICES, params={"project_id": seed.others}).json()
    assert [entry["id"] for entry in listed] == [created["id"]]


def test_a_moved_invoice_keeps_its_budget_area_only_if_the_new_project_has_it(
    wethod: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed, project_id=seed.as_pm, budget_area_uid="design"))
    path = f"{INVOICES}/{created['id']}"
    assert failures_of(wethod.patch(path, json={"project_id": seed.others})) == [
        {
            "field": "budget_area_uid",
            "message": f"Budget area 'design' does not belong to project {seed.others}; send the "
            "budget_area_uid of one of its areas, or null.",
        }
    ]
    moved = wethod.patch(path, json={"project_id": seed.others, "budget_area_uid": None})
    assert (moved.json()["project_id"], moved.json()["budget_area_uid"]) == (seed.others, None)


def test_moving_an_invoice_to_an_archived_project_answers_412(
    wethod: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed))
    response = wethod.patch(f"{INVOICES}/{created['id']}", json={"project_id": seed.archived})
    assert response.json() == {
        "key": "precondition_failure",
        "message": f"Project {seed.archived} is archived.",
    }


def test_a_patch_is_validated_like_a_create(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed, project_id=seed.others))
    body = {"value": None, "budget_area_uid": "design", "status": "paid"}
    assert failures_of(wethod.patch(f"{INVOICES}/{created['id']}", json=body)) == [
        {"field": "value", "message": "The field is required."},
        {
            "field": "budget_area_uid",
            "message": f"Budget area 'design' does not belong to project {seed.others}.",
        },
        {"field": "status", "message": "Unknown field."},
    ]


def test_a_patch_may_clear_an_optional_field_with_null(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    patched = wethod.patch(f"{INVOICES}/{created['id']}", json={"invoice_number": None})
    assert patched.json()["invoice_number"] is None


def test_editing_an_invoice_of_an_archived_project_answers_412(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed))
    admin.patch(f"/projects/{seed.as_pm}", json={"archived": True})
    response = wethod.patch(f"{INVOICES}/{created['id']}", json={"value": 1})
    assert response.status_code == 412


# ---- :send and :set-paid ------------------------------------------------------------------------


def test_send_moves_a_draft_to_sent(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    response = wethod.post(f"{INVOICES}/{created['id']}:send")
    assert response.status_code == 200
    assert response.json()["status"] == "sent"
    assert response.json()["updated_at"] > created["updated_at"]


def test_sending_an_invoice_that_is_already_sent_answers_412(
    wethod: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    response = wethod.post(f"{INVOICES}/{sent['id']}:send")
    assert response.status_code == 412
    assert response.json() == {
        "key": "precondition_failure",
        "message": f"Only draft invoices can be sent; invoice {sent['id']} is sent.",
    }


def test_send_may_name_the_invoice_contact_to_send_to(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    response = wethod.post(f"{INVOICES}/{created['id']}:send", json={"invoice_contact_id": 12})
    assert (response.status_code, response.json()["status"]) == (200, "sent")


def test_send_takes_no_other_body_fields(wethod: httpx.Client, seed: Seed) -> None:
    created = create(wethod, invoice(seed))
    body = {"email": "a@b.c", "invoice_contact_id": "12"}
    response = wethod.post(f"{INVOICES}/{created['id']}:send", json=body)
    assert failures_of(response) == [
        {"field": "email", "message": "Unknown field."},
        {
            "field": "invoice_contact_id",
            "message": "Must be an integer greater than or equal to 1.",
        },
    ]


def test_set_paid_moves_a_sent_invoice_to_paid_on_the_date_given(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    path = f"{INVOICES}/{sent['id']}:set-paid"
    response = accountant.post(path, json={"payment_date": "2026-04-30"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["payment_date"]) == ("paid", "2026-04-30")


def test_set_paid_without_a_date_pays_today(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    paid = accountant.post(f"{INVOICES}/{sent['id']}:set-paid").json()
    assert paid["payment_date"] == "2026-03-03"  # the test wall clock's day


def test_set_paid_on_a_draft_answers_412(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed))
    response = accountant.post(f"{INVOICES}/{created['id']}:set-paid")
    assert response.status_code == 412
    assert "Only sent invoices" in response.json()["message"]


def test_set_paid_on_a_paid_invoice_answers_412(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    paid = sent_invoice(wethod, seed, paid_by=accountant)
    assert accountant.post(f"{INVOICES}/{paid['id']}:set-paid").status_code == 412


def test_set_paid_with_a_malformed_date_is_a_failure(
    wethod: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    path = f"{INVOICES}/{sent['id']}:set-paid"
    response = accountant.post(path, json={"payment_date": "30/04/2026"})
    assert failures_of(response) == [
        {"field": "payment_date", "message": "Must be a valid date in the format YYYY-MM-DD."}
    ]


def test_the_actions_answer_404_for_an_unknown_invoice(wethod: httpx.Client) -> None:
    assert wethod.post(f"{INVOICES}/42:send").status_code == 404


# ---- listing -----------------------------------------------------------------------------------


def admin_invoices(admin: httpx.Client, seed: Seed, count: int) -> list[int]:
    """`count` invoices made through the admin surface (no rate limit), in id order."""
    ids = []
    for index in range(count):
        body = {"project_id": seed.as_pm, "value": index, "issue_date": "2026-01-01"}
        response = admin.post("/invoices", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def test_the_list_is_a_bare_array_ordered_by_id(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    ids = admin_invoices(admin, seed, 3)
    listed = wethod.get(INVOICES).json()
    assert isinstance(listed, list)
    assert [entry["id"] for entry in listed] == ids
    assert list(listed[0]) == SEED_INVOICE_FIELDS


def test_limit_and_offset_walk_the_list(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    ids = admin_invoices(admin, seed, 7)
    pages = [
        [
            entry["id"]
            for entry in wethod.get(INVOICES, params={"limit": 3, "offset": offset}).json()
        ]
        for offset in (0, 3, 6, 9)
    ]
    assert pages == [ids[0:3], ids[3:6], ids[6:7], []]


def test_limit_defaults_to_100(wethod: httpx.Client, admin: httpx.Client, seed: Seed) -> None:
    admin_invoices(admin, seed, 101)
    assert len(wethod.get(INVOICES).json()) == 100
    assert len(wethod.get(INVOICES, params={"offset": 100}).json()) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1.5"}, "offset"),
    ],
)
def test_a_limit_or_offset_out_of_range_is_a_failure(
    wethod: httpx.Client, params: dict[str, str], field: str
) -> None:
    assert [f["field"] for f in failures_of(wethod.get(INVOICES, params=params))] == [field]


def test_the_list_holds_only_the_tokens_company(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    mine = create(wethod, invoice(seed))
    admin.post("/companies", json={"slug": "acme", "name": "Acme"})
    use_tokens(admin, {"token": "acme-key", "company": "acme"})
    with vendor_client(sandbox, token="acme-key", company="acme") as acme:
        assert acme.get(INVOICES).json() == []
        assert acme.get(f"{INVOICES}/{mine['id']}").status_code == 404


@pytest.fixture
def dated(admin: httpx.Client, seed: Seed) -> list[int]:
    """Four invoices: (project, issue date, updated_at day in March)
    = (pm, 01-15, 1), (account, 02-15, 2), (others, 03-15, 3), (account, 04-15, 4)."""
    rows = [
        (seed.as_pm, "2026-01-15", "2026-03-01T10:00:00.000Z"),
        (seed.as_account, "2026-02-15", "2026-03-02T10:00:00.000Z"),
        (seed.others, "2026-03-15", "2026-03-03T10:00:00.000Z"),
        (seed.as_account, "2026-04-15", "2026-03-04T10:00:00.000Z"),
    ]
    ids = []
    for project, issued, updated in rows:
        body = {"project_id": project, "value": 100, "issue_date": issued, "updated_at": updated}
        response = admin.post("/invoices", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


# project ids are 1 (pm), 2 (account), 3 (others), 4 (archived) in the seed fixture.
FILTER_CASES = [
    ("project_id", "eq:2", [2, 4]),
    ("project_id", "neq:2", [1, 3]),
    ("project_id", "gt:2", [3]),
    ("project_id", "gte:2", [2, 3, 4]),
    ("project_id", "lt:2", [1]),
    ("project_id", "lte:2", [1, 2, 4]),
    ("project_id", "in:1,3", [1, 3]),
    ("project_id", "nin:1,3", [2, 4]),
    ("project_id", "bt:2,3", [2, 3, 4]),
    ("project_id", "3", [3]),
    ("issue_date", "eq:2026-02-15", [2]),
    ("issue_date", "neq:2026-02-15", [1, 3, 4]),
    ("issue_date", "gt:2026-02-15", [3, 4]),
    ("issue_date", "gte:2026-02-15", [2, 3, 4]),
    ("issue_date", "lt:2026-02-15", [1]),
    ("issue_date", "lte:2026-02-15", [1, 2]),
    ("issue_date", "in:2026-01-15,2026-04-15", [1, 4]),
    ("issue_date", "nin:2026-01-15,2026-04-15", [2, 3]),
    ("issue_date", "bt:2026-02-01,2026-03-31", [2, 3]),
    ("issue_date", "2026-03-15", [3]),
    ("updated_at", "eq:2026-03-02T10:00:00.000Z", [2]),
    ("updated_at", "neq:2026-03-02T10:00:00.000Z", [1, 3, 4]),
    ("updated_at", "gt:2026-03-02T10:00:00.000Z", [3, 4]),
    ("updated_at", "gte:2026-03-02T10:00:00.000Z", [2, 3, 4]),
    ("updated_at", "lt:2026-03-02T10:00:00.000Z", [1]),
    ("updated_at", "lte:2026-03-02T10:00:00.000Z", [1, 2]),
    ("updated_at", "in:2026-03-01T10:00:00.000Z,2026-03-04T10:00:00.000Z", [1, 4]),
    ("updated_at", "nin:2026-03-01T10:00:00.000Z,2026-03-04T10:00:00.000Z", [2, 3]),
    ("updated_at", "bt:2026-03-02,2026-03-03T23:59:59.999Z", [2, 3]),
    ("updated_at", "2026-03-03T10:00:00.000Z", [3]),
]


@pytest.mark.parametrize(("name", "value", "expected"), FILTER_CASES)
def test_each_filter_operator_on_each_filter_field(
    wethod: httpx.Client, dated: list[int], name: str, value: str, expected: list[int]
) -> None:
    listed = wethod.get(INVOICES, params={name: value}).json()
    assert [entry["id"] for entry in listed] == [dated[number - 1] for number in expected]


def test_payment_date_filters_on_the_day_an_invoice_was_paid(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    paid = {"project_id": seed.as_pm, "value": 1, "issue_date": "2026-01-01", "status": "paid"}
    days = ["2026-02-10", "2026-02-20", None]
    ids = [admin.post("/invoices", json={**paid, "payment_date": day}).json()["id"] for day in days]
    listed = wethod.get(INVOICES, params={"payment_date": "gte:2026-02-15"}).json()
    assert [entry["id"] for entry in listed] == [ids[1]]  # an unpaid invoice matches no date


def test_filters_on_several_fields_all_apply(wethod: httpx.Client, dated: list[int]) -> None:
    params = {"project_id": "eq:2", "issue_date": "gte:2026-03-01", "updated_at": "gt:2026-03-01"}
    assert [entry["id"] for entry in wethod.get(INVOICES, params=params).json()] == [dated[3]]


def test_the_plus_of_an_updated_at_offset_must_be_sent_as_percent_2b(
    wethod: httpx.Client, dated: list[int]
) -> None:
    bare = wethod.get(f"{INVOICES}?updated_at=gte:2026-03-03T11:00:00+01:00")
    encoded = wethod.get(f"{INVOICES}?updated_at=gte:2026-03-03T11:00:00%2B01:00")
    assert [f["field"] for f in failures_of(bare)] == ["updated_at"]  # the + arrived as a space
    assert [entry["id"] for entry in encoded.json()] == dated[2:]


def test_updated_at_moves_so_a_client_can_ask_for_what_changed_since(
    wethod: httpx.Client, seed: Seed
) -> None:
    first = create(wethod, invoice(seed))
    second = create(wethod, invoice(seed))
    wethod.patch(f"{INVOICES}/{first['id']}", json={"notes": "late change"})
    since = {"updated_at": f"gt:{second['updated_at']}"}
    assert [entry["id"] for entry in wethod.get(INVOICES, params=since).json()] == [first["id"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("project_id", "abc"),
        ("project_id", "like:2"),
        ("project_id", "in:"),
        ("issue_date", "gt:2026-13-01"),
        ("issue_date", "bt:2026-01-01"),
        ("updated_at", "lt:yesterday"),
    ],
)
def test_a_malformed_filter_is_a_failure_naming_the_parameter(
    wethod: httpx.Client, name: str, value: str
) -> None:
    [only] = failures_of(wethod.get(INVOICES, params={name: value}))
    assert only["field"] == name
    assert value in only["message"]


def test_unknown_query_parameters_are_ignored(wethod: httpx.Client, dated: list[int]) -> None:
    assert len(wethod.get(INVOICES, params={"status": "draft"}).json()) == 4


# ---- the rate limit ----------------------------------------------------------------------------


def test_a_token_may_send_thirty_requests_in_one_second(
    wethod: httpx.Client, clock: FakeClock
) -> None:
    # Wethod documents no rate a second, only the hour's 5,000 (x-rate-limit).
    statuses = []
    for _ in range(30):
        statuses.append(wethod.get(INVOICES).status_code)
        clock.advance(0.01)
    assert statuses == [200] * 30


def test_the_5001st_request_within_the_hour_answers_429_with_x_ratelimit_retry_after(
    sandbox: Sandbox, wethod: httpx.Client
) -> None:
    # 4,990 of the hour's requests spent at this instant without the wire (5,000 round trips
    # would take seconds), then the last ten and one more over it.
    hour = sandbox.emulators["wethod"].hour
    for _ in range(4990):
        hour.spend(SANDBOX_TOKEN)
    statuses = [wethod.get(INVOICES).status_code for _ in range(10)]
    refused = wethod.get(INVOICES)
    assert statuses == [200] * 10
    assert refused.status_code == 429
    assert refused.json() == {
        "key": "too_many_requests",
        "message": "The limit of 5000 requests an hour for this token is reached.",
    }
    assert refused.headers["x-ratelimit-retry-after"] == "3600"  # whole seconds
    assert "Retry-After" not in refused.headers  # Wethod documents only its own header


def test_the_hour_is_rolling_not_the_clocks_so_a_new_hour_refills_nothing_at_once(
    wethod: httpx.Client, admin: httpx.Client, clock: FakeClock
) -> None:
    admin.put("/settings", json={"hourly_limit": 2})
    wethod.get(INVOICES)  # at 0 s
    clock.advance(3599)
    wethod.get(INVOICES)  # at 3,599 s: the last second of a clock hour
    clock.advance(2)  # a clock hour would start again here with two places free
    assert wethod.get(INVOICES).status_code == 200  # the first request's place, freed at 3,600
    refused = wethod.get(INVOICES)  # the second's frees at 7,199
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-retry-after"] == str(7199 - 3601)


def test_a_token_over_its_hourly_limit_is_told_when_the_oldest_request_frees_up(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client, clock: FakeClock
) -> None:
    admin.put("/settings", json={"hourly_limit": 2})
    wethod.get(INVOICES)
    clock.advance(600)
    wethod.get(INVOICES)
    clock.advance(60)
    refused = wethod.get(INVOICES)
    assert refused.status_code == 429
    assert refused.json() == {
        "key": "too_many_requests",
        "message": "The limit of 2 requests an hour for this token is reached.",
    }
    assert refused.headers["x-ratelimit-retry-after"] == str(3600 - 660)
    clock.advance(3600 - 660)
    assert wethod.get(INVOICES).status_code == 200


def test_each_token_has_its_own_hour_even_within_one_company(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client
) -> None:
    use_tokens(admin, {"token": "ci-key"})
    admin.put("/settings", json={"hourly_limit": 1})
    assert [wethod.get(INVOICES).status_code for _ in range(2)] == [200, 429]
    with vendor_client(sandbox, token="ci-key") as other:
        assert other.get(INVOICES).status_code == 200


def test_refused_credentials_do_not_use_the_hour(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/settings", json={"hourly_limit": 1})
    with vendor_client(sandbox, token="wrong") as stranger:
        for _ in range(20):
            stranger.get(INVOICES)
    assert wethod.get(INVOICES).status_code == 200


def test_the_hourly_limit_can_be_switched_off(wethod: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/settings", json={"hourly_limit": 1})
    admin.put("/settings", json={"hourly_limit": None})
    assert {wethod.get(INVOICES).status_code for _ in range(3)} == {200}


def test_a_rate_a_second_set_by_a_test_limits_each_token_apart(
    sandbox: Sandbox, wethod: httpx.Client, admin: httpx.Client
) -> None:
    # Not Wethod's (it documents none): a sandbox setting, to see how a client copes.
    use_tokens(admin, {"token": "ci-key"})
    admin.put("/settings", json={"rate_limit_per_second": 1, "burst": 2})
    assert [wethod.get(INVOICES).status_code for _ in range(3)] == [200, 200, 429]
    with vendor_client(sandbox, token="ci-key") as other:
        assert other.get(INVOICES).status_code == 200


# ---- fault injection ---------------------------------------------------------------------------


def test_an_injected_500_answers_in_the_vendor_shape_and_writes_nothing(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    admin.post("/faults", json={"method": "POST", "path": "/api/invoices", "status": 500})
    response = wethod.post(INVOICES, json=invoice(seed))
    assert response.status_code == 500
    assert response.json()["key"] == "internal_error"
    assert wethod.get(INVOICES).json() == []


def test_a_fault_without_a_path_matches_every_vendor_path(
    wethod: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.post("/faults", json={"status": 503, "times": 2}).status_code == 201
    assert [wethod.get(INVOICES).status_code for _ in range(3)] == [503, 503, 200]


def test_an_injected_429_carries_x_ratelimit_retry_after(
    wethod: httpx.Client, admin: httpx.Client
) -> None:
    admin.post("/faults", json={"path": "/api", "status": 429})
    admin.post("/faults", json={"path": "/api", "status": 429, "retry_after": 7})
    waits = [wethod.get(INVOICES).headers.get("x-ratelimit-retry-after") for _ in range(2)]
    assert waits == ["1", "7"]


def test_a_lost_create_response_raises_a_read_error_although_the_invoice_was_created(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    admin.post("/faults", json={"method": "POST", "path": "/api/invoices", "lose_response": True})
    with pytest.raises(httpx.ReadError):
        wethod.post(INVOICES, json=invoice(seed))
    [created] = wethod.get(INVOICES).json()
    assert created["invoice_number"] == "INV-2026-001"
    lost = admin.get("/requests").json()[0]
    assert (lost["method"], lost["status"], lost["lost"]) == ("POST", 201, True)


def test_a_lost_send_response_still_sends(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed))
    path = f"/api/invoices/{created['id']}:send"
    admin.post("/faults", json={"method": "POST", "path": path, "lose_response": True})
    with pytest.raises(httpx.ReadError):
        wethod.post(f"{INVOICES}/{created['id']}:send")
    assert wethod.get(f"{INVOICES}/{created['id']}").json()["status"] == "sent"


# ---- the admin surface -------------------------------------------------------------------------


def test_the_default_settings_name_the_sandbox_tokens_company_user_and_permissions(
    admin: httpx.Client,
) -> None:
    assert admin.get("/settings").json() == {
        "rate_limit_per_second": None,  # Wethod documents no rate a second
        "burst": 1,
        "api_access_enabled": True,
        "hourly_limit": 5000,  # requests per token in any hour, as Wethod documents
        "tokens": [
            {
                "token": "sandbox",
                "company": "sandbox",
                "user": "sandbox-user",
                "permissions": FINANCE,
            }
        ],
    }


def test_the_sandbox_token_can_list_create_edit_send_and_delete_but_not_set_paid(
    wethod: httpx.Client, seed: Seed
) -> None:
    made = [create(wethod, invoice(seed, project_id=p)) for p in (seed.as_pm, seed.others)]
    assert wethod.get(INVOICES).status_code == 200
    assert wethod.patch(f"{INVOICES}/{made[0]['id']}", json={"value": 1}).status_code == 200
    assert wethod.post(f"{INVOICES}/{made[0]['id']}:send").status_code == 200
    assert wethod.post(f"{INVOICES}/{made[0]['id']}:set-paid").status_code == 403
    assert wethod.delete(f"{INVOICES}/{made[1]['id']}").status_code == 200


def test_the_admin_can_take_a_permission_away_and_give_it_back(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    taken = admin.delete("/tokens/sandbox/permissions/invoices.view_other")
    refused = wethod.get(INVOICES, params={"project_id": seed.others})
    given = admin.put("/tokens/sandbox/permissions/invoices.view_other")
    allowed = wethod.get(INVOICES, params={"project_id": seed.others})
    assert "invoices.view_other" not in taken.json()["permissions"]
    assert refused.status_code == 403
    assert given.json()["permissions"] == FINANCE  # back in its place
    assert allowed.status_code == 200


def test_the_admin_can_give_the_sandbox_token_edit_sent(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    sent = sent_invoice(wethod, seed)
    admin.put("/tokens/sandbox/permissions/invoices.edit_sent")
    assert wethod.post(f"{INVOICES}/{sent['id']}:set-paid").json()["status"] == "paid"
    assert admin.get("/tokens").json()[0]["permissions"] == EVERYTHING


def test_taking_away_an_unknown_permission_or_from_an_unknown_token_is_refused(
    admin: httpx.Client,
) -> None:
    unknown_key = admin.delete("/tokens/sandbox/permissions/invoice.view")
    unknown_token = admin.delete("/tokens/nobody/permissions/invoices.view")
    assert unknown_key.status_code == 400
    assert "invoices.view_other" in unknown_key.json()["error"]  # lists the known keys
    assert unknown_token.status_code == 404


def test_a_token_given_in_full_reads_back_in_full(admin: httpx.Client) -> None:
    grant = {"token": "t", "company": "sandbox", "user": "marco", "permissions": EVERYTHING}
    response = admin.put("/settings", json={"tokens": [grant]})
    assert response.json()["tokens"] == [grant]


def test_a_token_for_a_company_that_is_not_seeded_is_refused(admin: httpx.Client) -> None:
    response = admin.put("/settings", json={"tokens": [{"token": "t", "company": "ghost"}]})
    assert response.status_code == 400
    assert "POST /_sandbox/companies" in response.json()["error"]


def test_an_unknown_permission_is_refused(admin: httpx.Client) -> None:
    grant = {"token": "t", "permissions": ["invoice.create"]}
    assert admin.put("/settings", json={"tokens": [grant]}).status_code == 400


def test_a_seeded_company_gets_its_own_vat_rates_and_payment_terms(admin: httpx.Client) -> None:
    created = admin.post("/companies", json={"slug": "acme", "name": "Acme"})
    assert created.status_code == 201
    assert created.json() == {"slug": "acme", "name": "Acme"}
    assert [r["rate"] for r in admin.get("/vat-rates", params={"company": "acme"}).json()] == [
        22,
        0,
    ]
    terms = admin.get("/payment-terms", params={"company": "acme"}).json()
    assert [t["days"] for t in terms] == [30, 60]
    assert [c["slug"] for c in admin.get("/companies").json()] == ["sandbox", "acme"]


def test_a_company_seeded_twice_is_refused(admin: httpx.Client) -> None:
    assert admin.post("/companies", json={"slug": "sandbox"}).status_code == 409


def test_a_seeded_project_keeps_the_id_it_was_given_and_later_ids_follow_it(
    admin: httpx.Client,
) -> None:
    given = seed_project(admin, "Retainer", id=120, pm="sandbox-user", budget_areas=["ops"])
    after = seed_project(admin, "Next")
    assert given == {
        "id": 120,
        "company": "sandbox",
        "name": "Retainer",
        "pm": "sandbox-user",
        "account": None,
        "archived": False,
        "budget_areas": ["ops"],
    }
    assert after["id"] == 121
    assert [p["id"] for p in admin.get("/projects").json()] == [120, 121]


def test_a_seeded_id_that_is_taken_is_refused(admin: httpx.Client) -> None:
    seed_project(admin, "Retainer", id=7)
    assert admin.post("/projects", json={"id": 7, "name": "Again"}).status_code == 409


def test_a_seeded_id_must_be_an_integer(admin: httpx.Client) -> None:
    response = admin.post("/projects", json={"id": "p-7", "name": "Retainer"})
    assert response.status_code == 400
    assert "integer" in response.json()["error"]


def test_a_payment_term_added_by_the_admin_can_be_used(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    term = admin.post("/payment-terms", json={"days": 90}).json()
    assert term == {"id": 3, "company": "sandbox", "days": 90}
    assert create(wethod, invoice(seed, payment_term_id=3))["payment_term_id"] == 3


def test_an_invoice_made_in_the_ui_bypasses_the_vendor_rules(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    by_hand = {"project_id": seed.archived, "value": 5, "status": "paid", "budget_area_uid": "x"}
    made = admin.post("/invoices", json=by_hand)
    assert made.status_code == 201
    read = wethod.get(f"{INVOICES}/{made.json()['id']}").json()
    assert (read["status"], read["value"], read["budget_area_uid"]) == ("paid", 5, "x")


def test_an_edit_behind_the_clients_back_shows_in_the_next_read(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed))
    admin.patch(f"/invoices/{created['id']}", json={"value": 14000, "issue_date": "2026-04-15"})
    read = wethod.get(f"{INVOICES}/{created['id']}").json()
    assert (read["value"], read["issue_date"]) == (14000, "2026-04-15")
    assert read["updated_at"] > created["updated_at"]


def test_the_admin_can_send_and_pay_an_invoice(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(wethod, invoice(seed))
    assert admin.post(f"/invoices/{created['id']}/send").json()["status"] == "sent"
    paid = admin.post(f"/invoices/{created['id']}/set-paid", json={"payment_date": "2026-05-02"})
    assert (paid.json()["status"], paid.json()["payment_date"]) == ("paid", "2026-05-02")
    assert wethod.get(f"{INVOICES}/{created['id']}").json()["status"] == "paid"


def test_the_admin_can_delete_an_invoice_in_any_status(
    wethod: httpx.Client, admin: httpx.Client, accountant: httpx.Client, seed: Seed
) -> None:
    paid = sent_invoice(wethod, seed, paid_by=accountant)
    assert admin.delete(f"/invoices/{paid['id']}").status_code == 204
    assert wethod.get(f"{INVOICES}/{paid['id']}").status_code == 404


def test_an_invoice_made_in_the_ui_has_a_value_and_an_issue_date_like_every_wethod_invoice(
    admin: httpx.Client, seed: Seed
) -> None:
    made = admin.post("/invoices", json={"project_id": seed.as_pm}).json()
    assert (made["value"], made["issue_date"]) == (0, "2026-03-03")
    assert (
        admin.post("/invoices", json={"project_id": seed.as_pm, "value": None}).status_code == 400
    )


def test_an_admin_invoice_needs_a_seeded_project(admin: httpx.Client) -> None:
    response = admin.post("/invoices", json={"project_id": 77, "value": 1})
    assert response.status_code == 400


def test_reset_empties_the_company_and_restores_the_defaults(
    wethod: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    create(wethod, invoice(seed))
    admin.post("/companies", json={"slug": "acme"})
    admin.put("/settings", json={"rate_limit_per_second": None, "tokens": ["other"]})
    assert admin.post("/reset").status_code == 204
    assert admin.get("/settings").json()["tokens"][0]["token"] == "sandbox"
    assert admin.get("/companies").json() == [{"slug": "sandbox", "name": "Sandbox"}]
    assert [r["id"] for r in admin.get("/vat-rates").json()] == [1, 2]
    assert admin.get("/projects").json() == []
    assert wethod.get(INVOICES).json() == []


def test_the_request_log_records_vendor_calls_in_order(
    wethod: httpx.Client, admin: httpx.Client
) -> None:
    wethod.get(INVOICES, params={"limit": "5"})
    send_json(wethod, "POST", INVOICES, '{"value": 1600.50}')
    log = admin.get("/requests").json()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/api/invoices", "limit=5", 200),
        ("POST", "/api/invoices", "", 400),
    ]
    assert '"body":{"value":1600.50}' in admin.get("/requests").text


# ---- persistence and a real socket --------------------------------------------------------------


def test_objects_survive_across_two_sandboxes_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / ".billplan" / "sandbox.sqlite"
    with build_sandbox(path) as first, vendor_client(first) as wethod:
        admin = httpx.Client(transport=first.transport, base_url=f"{ROOT}/wethod/_sandbox")
        project = seed_project(admin, "Brand Identity", pm="sandbox-user")["id"]
        body = {"project_id": project, "issue_date": "2026-04-01"}
        text = json.dumps(body)[:-1] + ', "value": 0.10}'
        created = send_json(wethod, "POST", INVOICES, text).json()
        assert created["value"] == 0.1
    with build_sandbox(path) as second, vendor_client(second) as wethod:
        admin = httpx.Client(transport=second.transport, base_url=f"{ROOT}/wethod/_sandbox")
        assert wethod.get(f"{INVOICES}/{created['id']}").json() == created
        assert [r["id"] for r in admin.get("/vat-rates").json()] == [1, 2]
        assert create(wethod, {**body, "value": 1})["id"] == created["id"] + 1


def test_a_real_http_server_routes_the_colon_actions(sandbox: Sandbox) -> None:
    with serving(sandbox.app) as root, httpx.Client(headers=wethod_headers()) as http:
        project = http.post(f"{root}/wethod/_sandbox/projects", json={"name": "Web"}).json()
        url = base_url("wethod", root=root) + INVOICES
        body = {"project_id": project["id"], "value": 15000, "issue_date": "2026-04-01"}
        created = http.post(url, json=body)
        assert created.status_code == 201
        sent = http.post(f"{url}/{created.json()['id']}:send")
        assert (sent.status_code, sent.json()["status"]) == (200, "sent")
        assert http.get(url).json() == [sent.json()]
