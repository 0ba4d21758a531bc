"""The contract checker on exchanges written by hand: what passes, and how each kind of
violation names the vendor, the operation, the side and the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compiler import __version__

from .checker import ContractChecker, Exchange, Verdict, Violation

BILLPLAN = (("user-agent", f"billplan/{__version__}"),)
JSON = (("content-type", "application/json"),)
COPERNIQ_KEY = (("x-api-key", "[redacted]"),)
BEARER = (("authorization", "Bearer [redacted]"),)
WETHOD_HEADERS = (*BEARER, ("wethod-company", "acme"), ("wethod-version", "2024-06-15"))

LINE = {"catalogItemId": 7, "quantity": 2, "unitCost": 0, "unitPrice": 150.5}
INVOICE_BODY = {"recordId": 5120, "calculationMethod": "LINE_ITEMS", "lineItems": [LINE]}
INVOICE = {
    "id": 1,
    "uid": 1001,
    "status": "DRAFT",
    "amount": 301,
    "amountPaid": 0,
    "calculationMethod": "LINE_ITEMS",
    "createdAt": "2026-03-03T09:15:00.000Z",
    "updatedAt": "2026-03-03T09:15:00.000Z",
}
MILESTONE = {
    "id": "11",
    "title": "Kickoff",
    "amount_in_cents": 1000000,
    "billing_type": "fixed_date",
    "date_to_invoice": "2026-01-15",
    "workspace_id": "41001",
    "invoice_id": None,
    "story_id": None,
}


@pytest.fixture(scope="module")
def checker() -> ContractChecker:
    return ContractChecker()


def exchange(
    vendor: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    status: int | None = 200,
    answer: Any = None,
    headers: tuple[tuple[str, str], ...] = (),
    query: tuple[tuple[str, str], ...] = (),
    sender: tuple[tuple[str, str], ...] = BILLPLAN,
    fault_status: int | None = None,
) -> Exchange:
    return Exchange(
        vendor=vendor,
        method=method,
        path=path,
        query=query,
        request_headers=(*sender, *headers, *(JSON if body is not None else ())),
        request_body="" if body is None else json.dumps(body),
        status=status,
        response_headers=JSON if answer is not None else (),
        response_body=None if answer is None else json.dumps(answer),
        fault_status=fault_status,
    )


def create_invoice(
    body: Any = INVOICE_BODY, *, status: int = 201, answer: Any = INVOICE
) -> Exchange:
    return exchange(
        "coperniq",
        "POST",
        "/invoices",
        body=body,
        status=status,
        answer=answer,
        headers=COPERNIQ_KEY,
    )


def only(verdict: Verdict) -> Violation:
    assert len(verdict.violations) == 1, verdict.violations
    return verdict.violations[0]


def test_a_request_and_answer_as_the_contract_describes_them_pass(
    checker: ContractChecker,
) -> None:
    verdict = checker.check(create_invoice())

    assert verdict.violations == ()
    assert (verdict.operation, verdict.status, verdict.response_checked) == (
        "create-invoice",
        201,
        True,
    )


def test_a_request_missing_a_required_body_field_names_the_field(
    checker: ContractChecker,
) -> None:
    line = {key: value for key, value in LINE.items() if key != "unitCost"}
    verdict = checker.check(create_invoice({**INVOICE_BODY, "lineItems": [line]}))

    assert only(verdict) == Violation(
        "coperniq", "create-invoice", "request", "$.lineItems[0].unitCost", "required, missing"
    )
    assert str(only(verdict)) == (
        "coperniq create-invoice request $.lineItems[0].unitCost: required, missing"
    )


def test_a_fractional_quantity_is_a_violation_where_the_contract_takes_an_integer(
    checker: ContractChecker,
) -> None:
    verdict = checker.check(
        create_invoice({**INVOICE_BODY, "lineItems": [{**LINE, "quantity": 1.5}]})
    )

    violation = only(verdict)
    assert (violation.side, violation.field) == ("request", "$.lineItems[0].quantity")
    assert violation.message == "number 1.5, where the contract says integer"


def test_a_field_the_contract_does_not_name_is_a_violation(checker: ContractChecker) -> None:
    verdict = checker.check(create_invoice({**INVOICE_BODY, "currency": "USD"}))

    assert only(verdict) == Violation(
        "coperniq",
        "create-invoice",
        "request",
        "$.currency",
        "not a field of this object in the contract",
    )


def test_a_status_the_operation_does_not_answer_is_a_violation(checker: ContractChecker) -> None:
    verdict = checker.check(
        exchange("coperniq", "DELETE", "/invoices/1", status=204, headers=COPERNIQ_KEY)
    )

    violation = only(verdict)
    assert (violation.operation, violation.side, violation.field) == (
        "delete-invoice",
        "response",
        "status",
    )
    assert violation.message.startswith("204 is not a status this operation answers (200, ")


def test_a_list_answered_in_the_wrong_envelope_is_a_violation(checker: ContractChecker) -> None:
    verdict = checker.check(
        exchange(
            "coperniq",
            "GET",
            "/projects/5120/invoices",
            answer=[INVOICE],
            headers=COPERNIQ_KEY,
        )
    )

    assert only(verdict) == Violation(
        "coperniq",
        "get-project-invoices",
        "response",
        "$",
        "an array, where the contract says object",
    )


def test_an_operation_missing_from_the_contract_is_a_violation(checker: ContractChecker) -> None:
    verdict = checker.check(exchange("ruddr", "POST", "/invoices", body={}, headers=BEARER))

    assert verdict.operation is None
    assert only(verdict) == Violation(
        "ruddr",
        "POST /invoices",
        "request",
        "path",
        "POST /invoices is not in Ruddr's published contract",
    )


def test_a_wethod_request_without_the_company_header_is_a_violation(
    checker: ContractChecker,
) -> None:
    headers = tuple(h for h in WETHOD_HEADERS if h[0] != "wethod-company")
    verdict = checker.check(exchange("wethod", "GET", "/api/invoices", answer=[], headers=headers))

    violation = only(verdict)
    assert (violation.vendor, violation.operation, violation.side) == (
        "wethod",
        "listInvoices",
        "request",
    )
    assert violation.field == "header Wethod-Company"
    assert "Missing required header parameter" in violation.message


def test_a_query_parameter_the_operation_does_not_take_is_a_violation(
    checker: ContractChecker,
) -> None:
    verdict = checker.check(
        exchange(
            "wethod",
            "GET",
            "/api/invoices",
            answer=[],
            headers=WETHOD_HEADERS,
            query=(("limit", "100"), ("currency", "EUR")),
        )
    )

    violation = only(verdict)
    assert (violation.side, violation.field) == ("request", "query currency")
    assert violation.message.startswith("not a parameter of this operation")


def test_a_kantata_request_without_a_bearer_token_is_a_violation(checker: ContractChecker) -> None:
    verdict = checker.check(
        exchange("kantata", "GET", "/billing_milestones", answer={"count": 0, "results": []})
    )

    violation = only(verdict)
    assert (violation.operation, violation.field) == (
        "GetBillingMilestones",
        "header Authorization",
    )


def test_kantata_may_answer_null_where_it_documents_a_field_as_unset(
    checker: ContractChecker,
) -> None:
    answer = {
        "count": 1,
        "results": [{"key": "billing_milestones", "id": "11"}],
        "billing_milestones": {"11": MILESTONE},
    }
    verdict = checker.check(
        exchange("kantata", "GET", "/billing_milestones", answer=answer, headers=BEARER)
    )

    assert verdict.violations == ()


def test_kantata_may_not_answer_null_anywhere_else(checker: ContractChecker) -> None:
    answer = {
        "count": 1,
        "results": [{"key": "billing_milestones", "id": "11"}],
        "billing_milestones": {"11": {**MILESTONE, "title": None}},
    }
    verdict = checker.check(
        exchange("kantata", "GET", "/billing_milestones", answer=answer, headers=BEARER)
    )

    assert only(verdict).field == '$.billing_milestones["11"].title'
    assert only(verdict).message == "null, where the contract says string"


def test_billplan_may_not_send_null_for_a_field_kantata_types_as_integer(
    checker: ContractChecker,
) -> None:
    body = {
        "billing_milestone": {
            "title": "Kickoff",
            "amount_in_cents": 1000,
            "workspace_id": 41001,
            "story_id": None,
        }
    }
    verdict = checker.check(
        exchange(
            "kantata",
            "POST",
            "/billing_milestones",
            body=body,
            headers=BEARER,
            answer={"count": 0, "results": []},
        )
    )

    assert only(verdict) == Violation(
        "kantata",
        "CreateBillingMilestone",
        "request",
        "$.billing_milestone.story_id",
        "null, where the contract says integer",
    )


def test_an_object_assembled_with_all_of_may_hold_every_part_s_fields(
    checker: ContractChecker,
) -> None:
    refused = {
        "key": "invalid_data",
        "message": "You provided invalid data.",
        "failures": [{"field": "value", "message": "The field is required."}],
    }
    verdict = checker.check(
        exchange(
            "wethod",
            "POST",
            "/api/invoices",
            body={"project_id": 1},
            status=400,
            answer=refused,
            headers=WETHOD_HEADERS,
            sender=(),
        )
    )

    assert verdict.violations == ()


def test_requests_from_emulator_tests_are_not_held_to_the_contract_but_answers_are(
    checker: ContractChecker,
) -> None:
    broken = exchange(
        "coperniq",
        "POST",
        "/invoices",
        body={"recordId": "x"},
        status=400,
        answer={"message": "recordId must be an integer", "code": "BAD", "statusCode": 400},
        headers=COPERNIQ_KEY,
        sender=(),
    )

    violations = checker.check(broken).violations

    assert {v.side for v in violations} == {"response"}
    assert "$.statusCode" in {v.field for v in violations}


def test_an_outage_a_test_made_up_with_a_fault_is_not_held_to_the_contract(
    checker: ContractChecker,
) -> None:
    made_up = create_invoice(status=503, answer={"message": "Service Unavailable"})
    made_up = Exchange(**{**made_up.__dict__, "fault_status": 503})

    verdict = checker.check(made_up)

    assert (verdict.violations, verdict.response_checked) == ((), False)


def test_a_request_cut_short_by_a_killed_client_is_not_held_to_the_contract(
    checker: ContractChecker,
) -> None:
    cut = Exchange(**{**create_invoice(body={}).__dict__, "request_complete": False})

    assert [v.side for v in checker.check(cut).violations] == []
