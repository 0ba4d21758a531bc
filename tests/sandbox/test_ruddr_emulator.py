"""The Ruddr emulator on the wire: raw HTTP through a synchronous httpx client, in process through
`InProcessTransport` or over loopback through uvicorn. Each test is one behaviour of Ruddr's API
(or of the sandbox's admin surface), with the worked example in the body."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.sandbox import SANDBOX_TOKEN, NoEmulatorError, Sandbox, base_url, build_sandbox

from .conftest import FakeClock, serving

ROOT = "http://sandbox.invalid"
MILESTONES = "/project-invoice-milestones"
PRODUCT_ITEMS = "/project-product-items"
SEED_MILESTONE_FIELDS = [
    "id",
    "typeId",
    "date",
    "quantity",
    "rate",
    "fee",
    "name",
    "createdAt",
    "invoiceItem",
    "project",
    "invoiced",
]
SEED_PRODUCT_ITEM_FIELDS = [
    "id",
    "date",
    "quantity",
    "rate",
    "fee",
    "description",
    "createdAt",
    "project",
    "invoiceItem",
    "invoiced",
]


def vendor_client(sandbox: Sandbox, token: str | None = SANDBOX_TOKEN) -> httpx.Client:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.Client(
        transport=sandbox.transport, base_url=base_url("ruddr", root=ROOT), headers=headers
    )


@pytest.fixture
def ruddr(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with vendor_client(sandbox) as client:
        yield client


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport, base_url=f"{ROOT}/ruddr/_sandbox") as client:
        yield client


@dataclass(frozen=True)
class Seed:
    fixed: str
    fixed_recurring: str
    tm: str
    non_billable: str
    item: str
    other_item: str


def seed_project(admin: httpx.Client, name: str, billing_type: str, **extra: Any) -> dict:
    body = {"name": name, "billingTypeId": billing_type, "client": {"name": "Paul's Boutique"}}
    response = admin.post("/projects", json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def seed(admin: httpx.Client) -> Seed:
    def item(name: str) -> str:
        response = admin.post("/invoice-items", json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    return Seed(
        fixed=seed_project(admin, "Cloud Infrastructure Services", "fixed")["id"],
        fixed_recurring=seed_project(admin, "Managed Services", "fixed_recurring")["id"],
        tm=seed_project(admin, "CRM Implementation", "tm")["id"],
        non_billable=seed_project(admin, "Internal Tools", "non_billable")["id"],
        item=item("Consulting Services"),
        other_item=item("Products"),
    )


def milestone(seed: Seed, **fields: Any) -> dict[str, Any]:
    body = {
        "projectId": seed.fixed,
        "invoiceItemId": seed.item,
        "date": "2026-04-01",
        "name": "Phase 1 Delivery",
        "quantity": 1,
        "rate": 15000,
    }
    return {key: value for key, value in {**body, **fields}.items() if value is not ...}


def product_item(seed: Seed, **fields: Any) -> dict[str, Any]:
    body = {
        "projectId": seed.tm,
        "invoiceItemId": seed.other_item,
        "date": "2026-06-04",
        "description": "Premium CRM licenses",
        "quantity": 10,
        "rate": 150,
    }
    return {key: value for key, value in {**body, **fields}.items() if value is not ...}


def send_json(client: httpx.Client, method: str, path: str, text: str) -> httpx.Response:
    """Send JSON text exactly as written, so numbers keep the digits the test chose."""
    return client.request(method, path, content=text, headers={"Content-Type": "application/json"})


def create(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def errors_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    return response.json()["errors"]


def unlimited(admin: httpx.Client) -> None:
    assert admin.put("/settings", json={"rate_limit_per_second": None}).status_code == 200


def admin_milestones(admin: httpx.Client, seed: Seed, count: int) -> list[str]:
    """`count` milestones made through the admin surface (no rate limit), oldest first."""
    ids = []
    for index in range(count):
        body = {"projectId": seed.fixed, "invoiceItemId": seed.item, "name": f"M{index}"}
        response = admin.post(MILESTONES, json={**body, "fee": index, "date": "2026-01-01"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


# ---- the sandbox -------------------------------------------------------------------------------


def test_each_vendor_has_its_base_url_under_its_own_prefix() -> None:
    assert base_url("ruddr", root="http://sandbox.invalid") == (
        "http://sandbox.invalid/ruddr/api/workspace"
    )
    assert base_url("ruddr", root="http://127.0.0.1:8765/") == (
        "http://127.0.0.1:8765/ruddr/api/workspace"
    )


def test_a_vendor_without_an_emulator_has_no_base_url() -> None:
    with pytest.raises(NoEmulatorError, match="ruddr"):
        base_url("harvest")


def test_the_sandbox_root_lists_its_emulators(sandbox: Sandbox) -> None:
    with httpx.Client(transport=sandbox.transport, base_url=ROOT) as client:
        listing = client.get("/").json()
    assert listing["ruddr"] == {"api": "/ruddr/api/workspace", "admin": "/ruddr/_sandbox"}


# ---- authentication, access and routing ---------------------------------------------------------


def test_a_request_without_a_token_answers_401(sandbox: Sandbox) -> None:
    with vendor_client(sandbox, token=None) as client:
        response = client.get(MILESTONES)
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert set(response.json()) == {"status", "message"}


def test_a_request_with_an_unknown_token_answers_401(sandbox: Sandbox) -> None:
    with vendor_client(sandbox, token="not-the-key") as client:
        assert client.get(MILESTONES).status_code == 401


def test_a_token_added_in_settings_is_accepted(sandbox: Sandbox, admin: httpx.Client) -> None:
    admin.put("/settings", json={"tokens": [SANDBOX_TOKEN, "ci-key"]})
    with vendor_client(sandbox, token="ci-key") as client:
        assert client.get(MILESTONES).status_code == 200


def test_disabled_api_access_answers_423_with_the_documented_message(
    ruddr: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/settings", json={"api_access_enabled": False})
    response = ruddr.get(MILESTONES)
    assert response.status_code == 423
    assert response.json() == {
        "status": 423,
        "message": "API access is disabled, please contact support for assistance.",
    }


def test_milestones_switched_off_for_the_workspace_answer_403_to_list_and_create(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    made = create(ruddr, MILESTONES, milestone(seed))
    admin.put("/settings", json={"disabled_features": ["invoice_milestones"]})
    forbidden = {
        "status": 403,
        "message": "The requested feature is not enabled for this workspace.",
    }
    assert ruddr.get(MILESTONES).json() == forbidden
    assert ruddr.post(MILESTONES, json=milestone(seed)).json() == forbidden
    # The other operations declare no 403 in the spec: they go on answering.
    assert ruddr.get(f"{MILESTONES}/{made['id']}").status_code == 200
    assert ruddr.post(PRODUCT_ITEMS, json=product_item(seed)).status_code == 200


def test_product_items_switched_off_for_the_workspace_answer_403_to_create(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    admin.put("/settings", json={"disabled_features": ["product_items"]})
    assert ruddr.post(PRODUCT_ITEMS, json=product_item(seed)).status_code == 403
    assert ruddr.get(PRODUCT_ITEMS).status_code == 200  # listProjectProductItems declares none
    assert ruddr.post(MILESTONES, json=milestone(seed)).status_code == 200


def test_settings_refuse_a_feature_they_do_not_know(admin: httpx.Client) -> None:
    response = admin.put("/settings", json={"disabled_features": ["timesheets"]})
    assert response.status_code == 400
    assert "invoice_milestones, product_items" in response.json()["error"]


def test_an_unknown_path_answers_404_in_the_vendor_error_shape(ruddr: httpx.Client) -> None:
    response = ruddr.get("/project-invoice-milestonez")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_a_wrong_method_on_a_known_path_answers_405(ruddr: httpx.Client, seed: Seed) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    assert ruddr.put(f"{MILESTONES}/{created['id']}", json={}).status_code == 405
    assert ruddr.post("/projects", json={}).json()["status"] == 405


def test_an_id_that_is_not_a_uuid_answers_400(ruddr: httpx.Client) -> None:
    response = ruddr.get(f"{MILESTONES}/phase-1")
    assert response.status_code == 400
    assert response.json()["message"] == "Parameter 'id' is not a valid UUID."


def test_an_unknown_milestone_answers_404(ruddr: httpx.Client) -> None:
    assert ruddr.get(f"{MILESTONES}/{uuid.uuid4()}").status_code == 404


# ---- creating milestones and product items ------------------------------------------------------


def test_a_created_milestone_is_shaped_like_the_vendor_seed(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    assert list(created) == SEED_MILESTONE_FIELDS
    assert uuid.UUID(created["id"]).version == 4
    assert created["createdAt"] == "2026-03-03T09:15:00.007Z"
    assert {key: created[key] for key in ("typeId", "date", "quantity", "rate", "fee")} == {
        "typeId": "custom",
        "date": "2026-04-01",
        "quantity": 1,
        "rate": 15000,
        "fee": 15000,
    }
    assert created["invoiceItem"] == {"id": seed.item, "name": "Consulting Services"}
    assert created["project"]["id"] == seed.fixed
    assert created["project"]["name"] == "Cloud Infrastructure Services"
    assert created["project"]["client"]["name"] == "Paul's Boutique"
    assert created["invoiced"] is False


def test_a_created_product_item_is_shaped_like_the_vendor_seed(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, PRODUCT_ITEMS, product_item(seed))
    assert list(created) == SEED_PRODUCT_ITEM_FIELDS
    assert (created["quantity"], created["rate"], created["fee"]) == (10, 150, 1500)
    assert created["description"] == "Premium CRM licenses"
    assert created["invoiceItem"] == {"id": seed.other_item, "name": "Products"}


def test_a_created_milestone_reads_back_the_same_by_id(ruddr: httpx.Client, seed: Seed) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    assert ruddr.get(f"{MILESTONES}/{created['id']}").json() == created


def test_a_fee_only_milestone_reads_back_with_null_quantity_and_rate(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed, quantity=..., rate=..., fee=15000))
    assert (created["quantity"], created["rate"], created["fee"]) == (None, None, 15000)


def test_the_fee_is_quantity_times_rate_computed_exactly(ruddr: httpx.Client, seed: Seed) -> None:
    body = milestone(seed, quantity=..., rate=...)
    text = json.dumps(body)[:-1] + ', "quantity": 3, "rate": 0.1}'
    response = send_json(ruddr, "POST", MILESTONES, text)
    assert '"fee":0.3,' in response.text


def test_money_keeps_its_digits_and_reads_back_in_shortest_form(
    ruddr: httpx.Client, seed: Seed
) -> None:
    body = json.dumps(milestone(seed, quantity=..., rate=...))[:-1]
    exact = send_json(ruddr, "POST", MILESTONES, body + ', "fee": 12345678901234567.89}')
    padded = send_json(ruddr, "POST", MILESTONES, body + ', "fee": 1600.50}')
    whole = send_json(ruddr, "POST", MILESTONES, body + ', "fee": 1600.00}')
    assert '"fee":12345678901234567.89,' in exact.text
    assert '"fee":1600.5,' in padded.text
    assert '"fee":1600,' in whole.text


def test_a_milestone_takes_a_fee_or_quantity_and_rate_never_all_three(
    ruddr: httpx.Client, seed: Seed
) -> None:
    # ruddr.openapi.yml MilestoneCreate: oneOf [fee] | [quantity, rate].
    response = ruddr.post(MILESTONES, json=milestone(seed, quantity=2, rate=7500, fee=15000))
    assert errors_of(response) == [
        "'fee' cannot be sent with 'quantity' and 'rate': send either 'fee', or 'quantity' "
        "and 'rate'"
    ]


def test_a_product_item_fee_that_differs_from_quantity_times_rate_is_rejected(
    ruddr: httpx.Client, seed: Seed
) -> None:
    body = product_item(seed, quantity=2, rate=7500, fee=14999)
    response = ruddr.post(PRODUCT_ITEMS, json=body)
    assert errors_of(response) == [
        "'fee' must equal 'quantity' x 'rate' (2 x 7500 = 15000), not 14999"
    ]


def test_a_product_item_fee_equal_to_quantity_times_rate_in_another_spelling_is_accepted(
    ruddr: httpx.Client, seed: Seed
) -> None:
    body = json.dumps(product_item(seed, quantity=2, rate=7500))[:-1]
    response = send_json(ruddr, "POST", PRODUCT_ITEMS, body + ', "fee": 15000.00}')
    assert response.status_code == 200
    assert response.json()["fee"] == 15000


def test_quantity_without_rate_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, rate=..., fee=15000))
    assert errors_of(response) == ["'rate' is required when 'quantity' is provided"]


def test_rate_without_quantity_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, quantity=..., fee=15000))
    assert errors_of(response) == ["'quantity' is required when 'rate' is provided"]


def test_a_fee_is_required_when_quantity_and_rate_are_absent(
    ruddr: httpx.Client, seed: Seed
) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, quantity=..., rate=...))
    assert errors_of(response) == ["'fee' is required when 'quantity' and 'rate' are not provided"]


def test_every_problem_in_a_create_is_reported_at_once(ruddr: httpx.Client) -> None:
    response = ruddr.post(MILESTONES, json={})
    assert response.json()["message"].startswith("There was a problem processing your request")
    assert errors_of(response) == [
        "'projectId' is required",
        "'invoiceItemId' is required",
        "'date' is required",
        "'name' is required",
        "'fee' is required when 'quantity' and 'rate' are not provided",
    ]


def test_a_project_that_does_not_exist_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, projectId=str(uuid.uuid4())))
    assert errors_of(response) == ["'projectId' does not refer to an existing project"]


def test_a_project_id_that_is_not_a_uuid_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, projectId="cloud-infra"))
    assert errors_of(response) == ["'projectId' must be a valid UUID"]


def test_an_invoice_item_that_does_not_exist_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, invoiceItemId=str(uuid.uuid4())))
    assert errors_of(response) == ["'invoiceItemId' does not refer to an existing invoice item"]


@pytest.mark.parametrize("day", ["2026-02-30", "2026/04/01", "2026-4-1", "2026-W14-3", 20260401])
def test_a_date_that_is_not_a_real_yyyy_mm_dd_date_is_rejected(
    ruddr: httpx.Client, seed: Seed, day: object
) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, date=day))
    assert errors_of(response) == ["'date' must be a valid date in the form YYYY-MM-DD"]


def test_a_name_may_have_255_characters_but_not_256(ruddr: httpx.Client, seed: Seed) -> None:
    assert ruddr.post(MILESTONES, json=milestone(seed, name="x" * 255)).status_code == 200
    response = ruddr.post(MILESTONES, json=milestone(seed, name="x" * 256))
    assert errors_of(response) == ["'name' must be at most 255 characters"]


def test_a_blank_name_counts_as_missing(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, name="   "))
    assert errors_of(response) == ["'name' is required"]


def test_type_id_defaults_to_custom_and_accepts_recurring(ruddr: httpx.Client, seed: Seed) -> None:
    assert create(ruddr, MILESTONES, milestone(seed))["typeId"] == "custom"
    assert create(ruddr, MILESTONES, milestone(seed, typeId="recurring"))["typeId"] == "recurring"


def test_an_unknown_type_id_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, typeId="monthly"))
    assert errors_of(response) == ["'typeId' must be one of: custom, recurring"]


def test_a_number_sent_as_a_string_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, quantity=..., rate=..., fee="15000"))
    assert errors_of(response) == ["'fee' must be a number"]


def test_a_field_the_endpoint_does_not_know_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, amount=15000))
    assert errors_of(response) == ["'amount' is not a valid field"]


def test_a_body_that_is_not_json_is_rejected(ruddr: httpx.Client) -> None:
    response = send_json(ruddr, "POST", MILESTONES, "{'name': 'Phase 1'}")
    assert response.status_code == 400
    assert response.json()["message"] == "The request body is not valid JSON."


@pytest.mark.parametrize("project", ["tm", "non_billable"])
def test_milestones_are_refused_on_projects_without_a_fixed_fee(
    ruddr: httpx.Client, seed: Seed, project: str
) -> None:
    response = ruddr.post(MILESTONES, json=milestone(seed, projectId=getattr(seed, project)))
    [problem] = errors_of(response)
    assert "'fixed' or 'fixed_recurring'" in problem
    assert f"billing type '{project}'" in problem


def test_milestones_are_accepted_on_fixed_recurring_projects(
    ruddr: httpx.Client, seed: Seed
) -> None:
    body = milestone(seed, projectId=seed.fixed_recurring, typeId="recurring")
    assert create(ruddr, MILESTONES, body)["project"]["name"] == "Managed Services"


def test_product_items_are_refused_on_non_billable_projects(
    ruddr: httpx.Client, seed: Seed
) -> None:
    response = ruddr.post(PRODUCT_ITEMS, json=product_item(seed, projectId=seed.non_billable))
    assert errors_of(response) == [
        "Product items are only available for billable projects; project 'Internal Tools' is not."
    ]


@pytest.mark.parametrize("project", ["tm", "fixed", "fixed_recurring"])
def test_product_items_are_accepted_on_every_billable_project(
    ruddr: httpx.Client, seed: Seed, project: str
) -> None:
    assert create(ruddr, PRODUCT_ITEMS, product_item(seed, projectId=getattr(seed, project)))


def test_a_product_item_requires_a_description(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(PRODUCT_ITEMS, json=product_item(seed, description=...))
    assert errors_of(response) == ["'description' is required"]


def test_a_product_item_has_no_type_id(ruddr: httpx.Client, seed: Seed) -> None:
    response = ruddr.post(PRODUCT_ITEMS, json=product_item(seed, typeId="custom"))
    assert errors_of(response) == ["'typeId' is not a valid field"]


# ---- updating and deleting ---------------------------------------------------------------------


def test_an_update_changes_only_the_fields_sent(ruddr: httpx.Client, seed: Seed) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    response = ruddr.patch(f"{MILESTONES}/{created['id']}", json={"date": "2026-05-01"})
    assert response.status_code == 200
    assert response.json() == {**created, "date": "2026-05-01"}


def test_an_update_of_quantity_recomputes_the_fee(ruddr: httpx.Client, seed: Seed) -> None:
    created = create(ruddr, MILESTONES, milestone(seed, quantity=1, rate=2650))
    updated = ruddr.patch(f"{MILESTONES}/{created['id']}", json={"quantity": 10}).json()
    assert (updated["quantity"], updated["rate"], updated["fee"]) == (10, 2650, 26500)


def test_an_update_of_the_fee_alone_must_agree_with_the_stored_quantity_and_rate(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed, quantity=10, rate=2650))
    response = ruddr.patch(f"{MILESTONES}/{created['id']}", json={"fee": 25000})
    assert errors_of(response) == [
        "'fee' must equal 'quantity' x 'rate' (10 x 2650 = 26500), not 25000"
    ]


def test_an_update_clearing_quantity_and_rate_leaves_a_fee_only_milestone(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed, quantity=10, rate=2650))
    cleared = {"quantity": None, "rate": None, "fee": 25000}
    updated = ruddr.patch(f"{MILESTONES}/{created['id']}", json=cleared).json()
    assert (updated["quantity"], updated["rate"], updated["fee"]) == (None, None, 25000)


def test_an_update_sending_project_id_is_rejected(ruddr: httpx.Client, seed: Seed) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    response = ruddr.patch(f"{MILESTONES}/{created['id']}", json={"projectId": seed.fixed})
    assert errors_of(response) == ["projectId cannot be changed"]


def test_an_update_is_validated_like_a_create(ruddr: httpx.Client, seed: Seed) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    bad = {"date": "2026-13-01", "name": "", "invoiceItemId": str(uuid.uuid4()), "rate": None}
    response = ruddr.patch(f"{MILESTONES}/{created['id']}", json=bad)
    assert errors_of(response) == [
        "'invoiceItemId' does not refer to an existing invoice item",
        "'date' must be a valid date in the form YYYY-MM-DD",
        "'name' is required",
        "'rate' is required when 'quantity' is provided",
    ]


def test_an_update_can_move_a_milestone_to_another_invoice_item(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    patch = {"invoiceItemId": seed.other_item}
    updated = ruddr.patch(f"{MILESTONES}/{created['id']}", json=patch).json()
    assert updated["invoiceItem"] == {"id": seed.other_item, "name": "Products"}


def test_an_invoiced_milestone_cannot_be_updated(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    admin.post(f"{MILESTONES}/{created['id']}/invoice")
    response = ruddr.patch(f"{MILESTONES}/{created['id']}", json={"name": "Phase 1 (revised)"})
    assert response.status_code == 409
    assert response.json() == {"status": 409, "message": "the resource is read-only"}


def test_an_invoiced_product_item_cannot_be_deleted(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, PRODUCT_ITEMS, product_item(seed))
    admin.post(f"{PRODUCT_ITEMS}/{created['id']}/invoice")
    assert ruddr.delete(f"{PRODUCT_ITEMS}/{created['id']}").status_code == 409
    assert ruddr.get(f"{PRODUCT_ITEMS}/{created['id']}").json()["invoiced"] is True


def test_a_delete_answers_204_with_no_body_and_the_object_is_gone(
    ruddr: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    response = ruddr.delete(f"{MILESTONES}/{created['id']}")
    assert (response.status_code, response.content) == (204, b"")
    assert ruddr.get(f"{MILESTONES}/{created['id']}").status_code == 404


def test_updating_a_milestone_that_does_not_exist_answers_404(ruddr: httpx.Client) -> None:
    assert ruddr.patch(f"{MILESTONES}/{uuid.uuid4()}", json={"fee": 1}).status_code == 404


# ---- lists and pagination ----------------------------------------------------------------------


def test_a_list_is_newest_first_and_filtered_by_project(ruddr: httpx.Client, seed: Seed) -> None:
    first = create(ruddr, MILESTONES, milestone(seed, name="First"))
    second = create(ruddr, MILESTONES, milestone(seed, name="Second"))
    create(ruddr, MILESTONES, milestone(seed, projectId=seed.fixed_recurring))
    listed = ruddr.get(MILESTONES, params={"projectId": seed.fixed}).json()
    assert listed == {"results": [second, first], "hasMore": False}


def test_a_project_filter_naming_no_project_gives_an_empty_list(ruddr: httpx.Client) -> None:
    listed = ruddr.get(MILESTONES, params={"projectId": str(uuid.uuid4())}).json()
    assert listed == {"results": [], "hasMore": False}


def test_a_list_gives_ten_objects_when_no_limit_is_sent(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    admin_milestones(admin, seed, 12)
    listed = ruddr.get(MILESTONES).json()
    assert (len(listed["results"]), listed["hasMore"]) == (10, True)


def test_walking_forward_with_starting_after_visits_every_object_once(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    newest_first = list(reversed(admin_milestones(admin, seed, 23)))
    pages, params = [], {"limit": "10"}
    while True:
        page = ruddr.get(MILESTONES, params=params).json()
        pages.append(([item["id"] for item in page["results"]], page["hasMore"]))
        if not page["hasMore"]:
            break
        params = {"limit": "10", "startingAfter": page["results"][-1]["id"]}
    assert pages == [
        (newest_first[0:10], True),
        (newest_first[10:20], True),
        (newest_first[20:23], False),
    ]


def test_walking_backward_with_ending_before_returns_the_previous_pages(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    newest_first = list(reversed(admin_milestones(admin, seed, 23)))
    before_last = {"limit": "10", "endingBefore": newest_first[20]}
    middle = ruddr.get(MILESTONES, params=before_last).json()
    before_middle = {"limit": "10", "endingBefore": middle["results"][0]["id"]}
    first = ruddr.get(MILESTONES, params=before_middle).json()
    assert ([item["id"] for item in middle["results"]], middle["hasMore"]) == (
        newest_first[10:20],
        True,
    )
    assert ([item["id"] for item in first["results"]], first["hasMore"]) == (
        newest_first[0:10],
        False,
    )


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_a_limit_outside_1_to_100_is_rejected(ruddr: httpx.Client, limit: str) -> None:
    response = ruddr.get(MILESTONES, params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["message"] == "Parameter 'limit' must be a whole number from 1 to 100."


@pytest.mark.parametrize("limit", ["³", "٣"])
def test_a_limit_in_digits_other_than_0_to_9_is_rejected_not_crashed_on(
    ruddr: httpx.Client, limit: str
) -> None:
    # Found by schemathesis (tests/contract/test_fuzz_emulators.py): "³".isdigit() holds but
    # int("³") fails, and the list answered 500.
    response = ruddr.get(MILESTONES, params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["message"] == "Parameter 'limit' must be a whole number from 1 to 100."


@pytest.mark.parametrize("limit", ["1", "100"])
def test_a_limit_of_1_or_100_is_accepted(ruddr: httpx.Client, limit: str) -> None:
    assert ruddr.get(MILESTONES, params={"limit": limit}).status_code == 200


def test_starting_after_and_ending_before_together_are_rejected(
    ruddr: httpx.Client, seed: Seed
) -> None:
    one = create(ruddr, MILESTONES, milestone(seed))["id"]
    response = ruddr.get(MILESTONES, params={"startingAfter": one, "endingBefore": one})
    assert response.status_code == 400


def test_a_cursor_that_names_no_object_is_rejected(ruddr: httpx.Client) -> None:
    response = ruddr.get(MILESTONES, params={"startingAfter": str(uuid.uuid4())})
    assert response.status_code == 400
    assert "startingAfter" in response.json()["message"]


def test_projects_and_invoice_items_can_be_listed_and_read(ruddr: httpx.Client, seed: Seed) -> None:
    projects = ruddr.get("/projects", params={"limit": "100"}).json()["results"]
    project = ruddr.get(f"/projects/{seed.tm}").json()
    items = ruddr.get("/invoice-items", params={"name": "Products"}).json()
    assert [p["name"] for p in projects] == [
        "Internal Tools",
        "CRM Implementation",
        "Managed Services",
        "Cloud Infrastructure Services",
    ]
    assert (project["billingTypeId"], project["isBillable"]) == ("tm", True)
    assert [item["id"] for item in items["results"]] == [seed.other_item]


# ---- the rate limit ----------------------------------------------------------------------------


def test_a_burst_of_60_passes_and_the_61st_request_answers_429_without_retry_after(
    ruddr: httpx.Client,
) -> None:
    # ruddr.openapi.yml x-rate-limit: 20 a second with a burst of 60.
    statuses = [ruddr.get("/projects").status_code for _ in range(60)]
    refused = ruddr.get("/projects")
    assert statuses == [200] * 60
    assert refused.status_code == 429
    assert refused.json() == {"status": 429, "message": "Too many requests"}
    assert "retry-after" not in refused.headers


def test_the_rate_limit_refills_at_20_requests_per_second(
    ruddr: httpx.Client, clock: FakeClock
) -> None:
    for _ in range(60):
        ruddr.get("/projects")
    clock.advance(0.05)
    assert [ruddr.get("/projects").status_code for _ in range(2)] == [200, 429]
    clock.advance(1)
    assert [ruddr.get("/projects").status_code for _ in range(21)] == [200] * 20 + [429]


def test_the_rate_limit_can_be_switched_off(ruddr: httpx.Client, admin: httpx.Client) -> None:
    unlimited(admin)
    assert {ruddr.get("/projects").status_code for _ in range(60)} == {200}


def test_refused_credentials_do_not_use_the_rate_limit(
    sandbox: Sandbox, ruddr: httpx.Client
) -> None:
    with vendor_client(sandbox, token="wrong") as stranger:
        for _ in range(30):
            stranger.get("/projects")
    assert ruddr.get("/projects").status_code == 200


def test_admin_calls_are_neither_rate_limited_nor_logged(
    ruddr: httpx.Client, admin: httpx.Client
) -> None:
    for _ in range(40):
        assert admin.get("/projects").status_code == 200
    ruddr.get("/projects")
    assert [entry["path"] for entry in admin.get("/requests").json()] == ["/api/workspace/projects"]
    assert ruddr.get("/projects").status_code == 200


# ---- fault injection ---------------------------------------------------------------------------


def test_an_injected_500_answers_in_the_vendor_shape_and_writes_nothing(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    fault = {"method": "POST", "path": "/api/workspace/project-invoice-milestones", "status": 500}
    admin.post("/faults", json=fault)
    response = ruddr.post(MILESTONES, json=milestone(seed))
    assert response.status_code == 500
    assert response.json()["status"] == 500
    assert ruddr.get(MILESTONES).json()["results"] == []


def test_an_injected_fault_applies_only_as_many_times_as_asked(
    ruddr: httpx.Client, admin: httpx.Client
) -> None:
    admin.post(
        "/faults", json={"method": "GET", "path": "/api/workspace", "status": 503, "times": 2}
    )
    assert [ruddr.get("/projects").status_code for _ in range(3)] == [503, 503, 200]


def test_an_injected_fault_matches_only_its_method_and_path_prefix(
    ruddr: httpx.Client, admin: httpx.Client
) -> None:
    admin.post(
        "/faults", json={"method": "GET", "path": "/api/workspace/invoice-items", "status": 500}
    )
    assert ruddr.get("/projects").status_code == 200
    assert ruddr.post("/invoice-items").status_code == 405
    assert ruddr.get("/invoice-items").status_code == 500


def test_an_injected_message_is_the_error_message(ruddr: httpx.Client, admin: httpx.Client) -> None:
    admin.post(
        "/faults", json={"method": "*", "path": "/", "status": 403, "message": "No API add-on"}
    )
    assert ruddr.get("/projects").json() == {"status": 403, "message": "No API add-on"}


def test_a_lost_response_raises_a_read_error_although_the_milestone_was_created(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    path = "/api/workspace/project-invoice-milestones"
    admin.post("/faults", json={"method": "POST", "path": path, "lose_response": True})
    with pytest.raises(httpx.ReadError):
        ruddr.post(MILESTONES, json=milestone(seed))
    [created] = ruddr.get(MILESTONES).json()["results"]
    assert created["name"] == "Phase 1 Delivery"
    assert admin.get("/requests").json()[0] | {"body": None, "received": ""} == {
        "method": "POST",
        "path": path,
        "query": "",
        "status": 200,
        "body": None,
        "lost": True,
        "received": "",
    }


def test_a_lost_delete_response_still_deletes(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    admin.post(
        "/faults", json={"method": "DELETE", "path": "/api/workspace", "lose_response": True}
    )
    with pytest.raises(httpx.ReadError):
        ruddr.delete(f"{MILESTONES}/{created['id']}")
    assert ruddr.get(f"{MILESTONES}/{created['id']}").status_code == 404


def test_a_delay_beyond_the_read_timeout_times_out_but_the_write_still_happens(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    admin.post("/faults", json={"method": "POST", "path": "/api/workspace", "delay_ms": 200})
    with pytest.raises(httpx.ReadTimeout):
        ruddr.post(MILESTONES, json=milestone(seed), timeout=0.02)
    deadline = time.monotonic() + 5
    while not ruddr.get(MILESTONES).json()["results"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(ruddr.get(MILESTONES).json()["results"]) == 1


def test_clearing_faults_disarms_them(ruddr: httpx.Client, admin: httpx.Client) -> None:
    admin.post("/faults", json={"method": "*", "path": "/api/workspace", "status": 500})
    assert admin.delete("/faults").status_code == 204
    assert admin.get("/faults").json() == []
    assert ruddr.get("/projects").status_code == 200


def test_a_fault_cannot_both_answer_an_error_and_lose_the_response(admin: httpx.Client) -> None:
    fault = {"method": "POST", "path": "/api/workspace", "status": 500, "lose_response": True}
    response = admin.post("/faults", json=fault)
    assert response.status_code == 400
    assert "either" in response.json()["error"]


# ---- the admin surface -------------------------------------------------------------------------


def test_an_object_made_in_the_ui_bypasses_the_vendor_rules(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    by_hand = {"projectId": seed.tm, "invoiceItemId": seed.item, "name": "Kickoff"}
    made = admin.post(
        MILESTONES, json={**by_hand, "date": "2026-04-01", "quantity": 2, "rate": 10, "fee": 5}
    )
    assert made.status_code == 201
    listed = ruddr.get(MILESTONES, params={"projectId": seed.tm}).json()["results"]
    assert [(m["name"], m["quantity"], m["rate"], m["fee"]) for m in listed] == [
        ("Kickoff", 2, 10, 5)
    ]


def test_an_object_made_in_the_ui_has_a_date_a_name_and_an_amount(
    admin: httpx.Client, seed: Seed
) -> None:
    by_hand = {"projectId": seed.fixed, "invoiceItemId": seed.item, "name": "Kickoff", "fee": 5}
    response = admin.post(MILESTONES, json=by_hand)
    assert (response.status_code, response.json()) == (400, {"error": "date is required"})


def test_an_edit_behind_the_clients_back_shows_in_the_next_read(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    admin.patch(f"{MILESTONES}/{created['id']}", json={"fee": 14000, "date": "2026-04-15"})
    read = ruddr.get(f"{MILESTONES}/{created['id']}").json()
    assert (read["quantity"], read["rate"], read["fee"], read["date"]) == (
        1,
        15000,
        14000,
        "2026-04-15",
    )


def test_an_invoiced_object_can_still_be_edited_behind_the_clients_back(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    created = create(ruddr, MILESTONES, milestone(seed))
    admin.post(f"{MILESTONES}/{created['id']}/invoice")
    edited = admin.patch(f"{MILESTONES}/{created['id']}", json={"invoiced": False})
    assert edited.json()["invoiced"] is False
    assert ruddr.delete(f"{MILESTONES}/{created['id']}").status_code == 204


def test_a_seeded_project_is_billable_unless_it_is_non_billable(admin: httpx.Client) -> None:
    kinds = ["tm", "fixed", "fixed_recurring", "non_billable"]
    billable = [seed_project(admin, kind, kind)["isBillable"] for kind in kinds]
    assert billable == [True, True, True, False]


def test_projects_seeded_for_one_client_name_share_the_client(admin: httpx.Client) -> None:
    first = seed_project(admin, "Website", "fixed")
    second = seed_project(admin, "Support", "tm")
    assert first["client"] == second["client"]


def test_a_seeded_id_must_be_a_uuid(admin: httpx.Client) -> None:
    response = admin.post("/projects", json={"id": "acme", "name": "Acme", "billingTypeId": "tm"})
    assert response.status_code == 400
    assert "UUID" in response.json()["error"]


def test_a_seeded_project_keeps_the_id_it_was_given(
    ruddr: httpx.Client, admin: httpx.Client
) -> None:
    wanted = "d077258e-2158-4f34-aabd-97e971d0c18d"
    seed_project(admin, "Cloud Infrastructure Services", "fixed", id=wanted)
    assert ruddr.get(f"/projects/{wanted}").json()["name"] == "Cloud Infrastructure Services"


def test_reset_empties_the_workspace_and_restores_default_settings(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    create(ruddr, MILESTONES, milestone(seed))
    admin.put("/settings", json={"rate_limit_per_second": None, "api_access_enabled": False})
    assert admin.post("/reset").status_code == 204
    assert admin.get("/settings").json() == {
        "rate_limit_per_second": 20,
        "burst": 60,
        "api_access_enabled": True,
        "tokens": ["sandbox"],
        "disabled_features": [],
    }
    assert ruddr.get(MILESTONES).json() == {"results": [], "hasMore": False}
    assert admin.get("/projects").json() == []


def test_the_request_log_records_vendor_calls_in_order(
    ruddr: httpx.Client, admin: httpx.Client
) -> None:
    ruddr.get(MILESTONES, params={"limit": "5"})
    send_json(ruddr, "POST", MILESTONES, '{"fee": 1600.50}')
    log = admin.get("/requests").json()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/api/workspace/project-invoice-milestones", "limit=5", 200),
        ("POST", "/api/workspace/project-invoice-milestones", "", 400),
    ]
    assert '"body":{"fee":1600.50}' in admin.get("/requests").text
    assert admin.delete("/requests").status_code == 204
    assert admin.get("/requests").json() == []


def test_settings_refuse_a_key_they_do_not_know(admin: httpx.Client) -> None:
    response = admin.put("/settings", json={"rate_limit": 5})
    assert response.status_code == 400


# ---- persistence, concurrency and a real socket -------------------------------------------------


def test_objects_survive_across_two_sandboxes_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / ".billplan" / "sandbox.sqlite"
    with build_sandbox(path) as first, vendor_client(first) as ruddr:
        admin = httpx.Client(transport=first.transport, base_url=f"{ROOT}/ruddr/_sandbox")
        project = seed_project(admin, "Cloud Infrastructure Services", "fixed")["id"]
        item = admin.post("/invoice-items", json={"name": "Consulting"}).json()["id"]
        body = {"projectId": project, "invoiceItemId": item, "date": "2026-04-01", "name": "P1"}
        response = send_json(ruddr, "POST", MILESTONES, json.dumps(body)[:-1] + ', "fee": 0.10}')
        created = response.json()
        assert created["fee"] == 0.1
    with build_sandbox(path) as second, vendor_client(second) as ruddr:
        assert ruddr.get(f"{MILESTONES}/{created['id']}").json() == created


def test_creates_from_several_threads_all_land_exactly_once(
    ruddr: httpx.Client, admin: httpx.Client, seed: Seed
) -> None:
    unlimited(admin)

    def make(index: int) -> str:
        return create(ruddr, MILESTONES, milestone(seed, name=f"M{index}"))["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(make, range(80)))
    listed = ruddr.get(MILESTONES, params={"limit": "100"}).json()["results"]
    assert len(set(ids)) == 80
    assert sorted(m["id"] for m in listed) == sorted(ids)


def test_the_rate_limit_holds_under_concurrent_requests(ruddr: httpx.Client) -> None:
    barrier = threading.Barrier(8)

    def burst(_: int) -> list[int]:
        barrier.wait()
        return [ruddr.get("/projects").status_code for _ in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for batch in pool.map(burst, range(8)) for status in batch]
    assert (statuses.count(200), statuses.count(429)) == (60, 20)


def test_a_closed_transport_serves_the_next_request(sandbox: Sandbox) -> None:
    with vendor_client(sandbox) as client:
        client.get("/projects")
    with vendor_client(sandbox) as client:
        assert client.get("/projects").status_code == 200


def test_a_real_http_server_serves_the_same_emulator(sandbox: Sandbox) -> None:
    with serving(sandbox.app) as root, httpx.Client(base_url=root) as http:
        headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
        admin = f"{root}/ruddr/_sandbox"
        project = http.post(f"{admin}/projects", json={"name": "Web", "billingTypeId": "fixed"})
        item = http.post(f"{admin}/invoice-items", json={"name": "Services"})
        body = {
            "projectId": project.json()["id"],
            "invoiceItemId": item.json()["id"],
            "date": "2026-04-01",
            "name": "Launch",
            "fee": 15000,
        }
        url = base_url("ruddr", root=root) + MILESTONES
        created = http.post(url, json=body, headers=headers)
        assert created.status_code == 200
        assert http.get(url, headers=headers).json()["results"] == [created.json()]
        assert http.get(url).status_code == 401


def test_a_lost_response_over_a_real_server_breaks_the_connection_after_the_write(
    sandbox: Sandbox, admin: httpx.Client, seed: Seed
) -> None:
    fault = {"method": "POST", "path": "/api/workspace", "lose_response": True}
    admin.post("/faults", json=fault)
    with serving(sandbox.app) as root, httpx.Client(base_url=base_url("ruddr", root=root)) as http:
        http.headers["Authorization"] = f"Bearer {SANDBOX_TOKEN}"
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            http.post(MILESTONES, json=milestone(seed))
        [created] = http.get(MILESTONES).json()["results"]
    assert created["name"] == "Phase 1 Delivery"
