"""Every error Ruddr can answer, as `billplan plan` / `apply` report it: a clear message with
the vendor's own words, the address for a write, exit code 1, and state that still matches
what the vendor holds. The Ruddr emulator serves over loopback; its admin surface refuses
requests on cue (faults, settings) or the plan itself breaks Ruddr's rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import (
    AS_OF,
    DESIGN,
    INVOICE_ITEM,
    KICKOFF,
    KICKOFF_LINE,
    LICENSES,
    MILESTONE,
    PLAN,
    PRODUCT_ITEM,
    PROJECT_ID,
    Remote,
    Run,
    assert_state_consistent,
    billplan,
    plan_sandbox,
    remote,
    remote_ids,
    state_json,
    step,
    variant,
    write_plan,
)

from compiler.apply import apply_plan
from compiler.providers.base import ProviderError
from compiler.providers.ruddr import Ruddr
from compiler.sandbox import SANDBOX_TOKEN, base_url
from compiler.workspace import open_workspace

KICKOFF_12000 = variant(("amount: 10000}", "amount: 12000}"))


def test_milestones_on_a_time_and_materials_project_are_refused_by_plan_before_any_write(
    tmp_path: Path,
) -> None:
    # ruddr.openapi.yml: only `fixed` and `fixed_recurring` projects take milestones.
    with remote(seed=False) as tm:
        tm.admin.add_project(billing="tm")
        tm.admin.add_invoice_item()
        directory = write_plan(tmp_path / "billing", head=tm.head)

        run = tm.billplan("apply", directory)

        assert run.code == 1
        assert "Ruddr would refuse this plan; nothing was written" in run.errors
        assert (
            f"Ruddr project {PROJECT_ID} (Cloud Infrastructure Services) has billing type 'tm': "
            "Ruddr "
            "takes invoice milestones only on 'fixed' or 'fixed_recurring' projects"
        ) in run.errors
        assert [r["method"] for r in tm.admin.requests()] == ["GET"] * 4  # not one write


def test_products_on_a_project_that_is_not_billable_are_refused_by_plan(tmp_path: Path) -> None:
    with remote(seed=False) as internal:
        internal.admin.add_project(billing="non_billable")
        internal.admin.add_invoice_item()
        directory = write_plan(tmp_path / "billing", head=internal.head)

        run = internal.billplan("plan", directory)

        assert run.code == 1
        # Both problems at once: milestones need a fixed fee, products a billable project.
        assert "has billing type 'non_billable'" in run.errors
        assert "is not billable: Ruddr takes product items only on billable projects" in (
            run.errors
        )


def test_a_missing_invoice_item_and_a_missing_project_are_named_by_plan_together(
    tmp_path: Path,
) -> None:
    with remote(seed=False) as bare:
        directory = write_plan(tmp_path / "billing", head=bare.head)

        run = bare.billplan("plan", directory)

        assert run.code == 1
        assert f"Ruddr project {PROJECT_ID} does not exist in the workspace" in run.errors
        assert f"Ruddr invoice item {INVOICE_ITEM} does not exist in the workspace" in run.errors
        assert "`ruddr: {invoice_item: <uuid>}`" in run.errors


def test_a_token_ruddr_does_not_accept_fails_the_plan_with_401(
    ruddr: Remote, tmp_path: Path
) -> None:
    ruddr.admin.settings(tokens=["rotated-token"])
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    run = ruddr.billplan("plan", directory)

    assert run.code == 1
    assert "Ruddr 401: The provided bearer token is missing or invalid." in run.errors


def test_products_switched_off_for_the_workspace_fail_the_write_with_403_and_say_so(
    ruddr: Remote, tmp_path: Path
) -> None:
    ruddr.admin.settings(disabled_features=["product_items"])
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    run = ruddr.billplan("apply", directory)

    assert run.code == 1
    assert (
        f"{LICENSES}: Ruddr 403: The requested feature is not enabled for this workspace. "
        "Ruddr answers 403 when a feature is switched off for the whole workspace, here "
        "products (project product items); it is not a missing permission (API keys have none), "
        "so another key will not help: ask a Ruddr workspace administrator to turn the feature "
        "on in Ruddr's workspace settings"
    ) in run.errors.replace("\n", " ")
    assert LICENSES not in remote_ids(directory, sandbox=False)
    assert_state_consistent(directory, ruddr.admin)


def test_milestones_switched_off_for_the_workspace_fail_the_plan_with_403(
    ruddr: Remote, tmp_path: Path
) -> None:
    ruddr.admin.settings(disabled_features=["invoice_milestones"])
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    run = ruddr.billplan("plan", directory)

    assert run.code == 1
    assert "Ruddr 403: The requested feature is not enabled for this workspace." in run.errors
    assert "switched off for the whole workspace, here invoice milestones" in (
        run.errors.replace("\n", " ")
    )


def test_an_update_answered_404_names_the_address(ruddr: Remote, applied: Path) -> None:
    ruddr.admin.fault("PATCH", "/project-invoice-milestones", status=404)
    write_plan(applied, KICKOFF_12000, head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 1
    assert f"{KICKOFF}: Ruddr 404: The resource or endpoint does not exist." in run.errors
    entry = next(
        e for e in state_json(applied, sandbox=False)["entries"] if e["address"] == KICKOFF
    )
    assert entry["attributes"]["fee"] == 10000  # state still says what Ruddr holds
    assert_state_consistent(applied, ruddr.admin)


def test_a_delete_answered_409_read_only_names_the_address_and_keeps_the_object_owned(
    ruddr: Remote, applied: Path
) -> None:
    # 409 is what deleteProjectInvoiceMilestone declares for a refusal (405 it does not).
    ruddr.admin.fault("DELETE", "/project-invoice-milestones", status=409)
    write_plan(applied, variant((KICKOFF_LINE, "")), head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 1
    assert f"{KICKOFF}: Ruddr 409: the resource is read-only" in run.errors
    assert KICKOFF in remote_ids(applied, sandbox=False)  # not deleted, so still owned
    assert_state_consistent(applied, ruddr.admin)


def test_a_delete_whose_response_is_lost_is_retried_and_ends_deleted(
    ruddr: Remote, applied: Path
) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    ruddr.admin.fault("DELETE", "/project-invoice-milestones", lose_response=True)
    write_plan(applied, variant((KICKOFF_LINE, "")), head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    deletes = [(r["status"], r["lost"]) for r in ruddr.admin.requests("DELETE")]
    assert deletes == [(204, True), (404, False)]  # done, answer lost; retried: already gone
    assert kickoff_id not in {m["id"] for m in ruddr.admin.objects(MILESTONE)}
    assert KICKOFF not in remote_ids(applied, sandbox=False)


def test_an_update_answered_409_read_only_names_the_address(ruddr: Remote, applied: Path) -> None:
    ruddr.admin.fault("PATCH", "/project-invoice-milestones", status=409)
    write_plan(applied, KICKOFF_12000, head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 1
    assert f"{KICKOFF}: Ruddr 409: the resource is read-only" in run.errors
    assert ruddr.admin.get(MILESTONE, remote_ids(applied, sandbox=False)[KICKOFF])["fee"] == 10000
    assert_state_consistent(applied, ruddr.admin)


def test_an_object_invoiced_between_plan_and_apply_is_refused_by_ruddr_with_409(
    ruddr: Remote, applied: Path
) -> None:
    write_plan(applied, KICKOFF_12000, head=ruddr.head)
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    with open_workspace(applied, AS_OF, sandbox=False) as workspace:
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        assert plan.count("update") == 1
        ruddr.admin.invoice(MILESTONE, kickoff_id)  # someone invoices it meanwhile

        applied_run = apply_plan(plan, workspace.providers, workspace.backend, state)

    (failure,) = applied_run.failures
    assert (failure.address, failure.unknown) == (KICKOFF, False)
    assert "Ruddr 409: the resource is read-only" in failure.message
    again = ruddr.billplan("plan", applied)
    assert "! LOCKED" in again.out and "1 locked." in again.out


def test_api_access_disabled_fails_the_plan_with_423_and_says_what_to_do(
    ruddr: Remote, tmp_path: Path
) -> None:
    ruddr.admin.settings(api_access_enabled=False)
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    run = ruddr.billplan("plan", directory)

    assert run.code == 1
    assert (
        "Ruddr 423: API access is disabled, please contact support for assistance. Ruddr "
        "answers 423 when API access is disabled for the whole workspace: no key of the "
        "workspace can be used until it is enabled again; ask a Ruddr workspace administrator, "
        "or Ruddr support, to enable API access"
    ) in run.errors.replace("\n", " ")


def test_a_create_still_refused_after_every_429_retry_is_reported_and_not_recorded(
    ruddr: Remote, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    ruddr.admin.fault("POST", "/project-product-items", status=429, times=Ruddr.max_attempts)
    slept: list[float] = []
    with open_workspace(directory, AS_OF, sandbox=False) as workspace:
        # The same provider, told to record its backoff instead of sleeping through it.
        config = workspace.document.root["providers"]["ruddr"]
        where = workspace.providers["ruddr"].base_url  # set outside the plan
        patient = Ruddr("ruddr", config, base_url=where, sleep=slept.append)
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        result = apply_plan(plan, {"ruddr": patient}, workspace.backend, state)
        patient.close()

    (failure,) = result.failures
    assert failure.address == LICENSES
    assert "Ruddr 429: Too many requests" in failure.message
    assert not failure.unknown  # a 429 is refused before it runs
    attempts = [r for r in ruddr.admin.requests("POST") if "product" in r["path"]]
    assert [r["status"] for r in attempts] == [429] * Ruddr.max_attempts
    assert len(slept) == Ruddr.max_attempts - 1
    assert slept[-1] > slept[0]  # exponential backoff
    assert LICENSES not in remote_ids(directory, sandbox=False)
    assert ruddr.admin.objects(PRODUCT_ITEM) == []
    retry = ruddr.billplan("apply", directory)
    assert "Apply complete: 1 created." in retry.out


def test_a_500_on_a_create_says_the_write_may_have_happened(ruddr: Remote, tmp_path: Path) -> None:
    ruddr.admin.fault("POST", "/project-product-items", status=500)
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    run = ruddr.billplan("apply", directory)

    assert run.code == 1
    assert f"{LICENSES}: Ruddr 500: Something went wrong." in run.errors
    assert "the write may have happened" in run.errors
    assert remote_ids(directory, sandbox=False)[LICENSES] is None  # pending: look for it next
    assert len(ruddr.admin.requests("POST")) == 7  # a create is never retried blindly


def test_after_a_500_on_a_create_the_next_apply_creates_it_once(
    ruddr: Remote, tmp_path: Path
) -> None:
    ruddr.admin.fault("POST", "/project-product-items", status=500)
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    assert ruddr.billplan("apply", directory).code == 1

    run = ruddr.billplan("apply", directory)

    assert run.code == 0, run.text
    assert "holds nothing it could have made: creating it again" in " ".join(run.out.split())
    assert len(ruddr.admin.objects(PRODUCT_ITEM)) == 1
    assert_state_consistent(directory, ruddr.admin)


def test_a_500_on_a_read_is_retried_and_the_plan_succeeds(ruddr: Remote, applied: Path) -> None:
    ruddr.admin.fault("GET", "/project-invoice-milestones", status=500)

    run = ruddr.billplan("plan", applied, "--detailed-exitcode")

    assert run.code == 0, run.text
    statuses = [r["status"] for r in ruddr.admin.requests("GET") if "milestones" in r["path"]]
    assert statuses[-2:] == [500, 200]


def test_a_missing_token_without_sandbox_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUDDR_API_TOKEN", raising=False)
    directory = write_plan(tmp_path / "billing")

    run = billplan("plan", directory, "--as-of", AS_OF.isoformat())

    assert run.code == 1
    assert "provider 'ruddr' (Ruddr) needs an API token in $RUDDR_API_TOKEN" in run.errors
    assert "--sandbox" in run.errors


# ---- a create whose response is lost -------------------------------------------------------


@pytest.fixture
def lost(ruddr: Remote, tmp_path: Path) -> tuple[Path, Run]:
    """An apply during which Ruddr created the product item but its answer never arrived."""
    ruddr.admin.fault("POST", "/project-product-items", lose_response=True)
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    return directory, ruddr.billplan("apply", directory)


def test_a_create_whose_response_is_lost_is_reported_as_possibly_written(
    lost: tuple[Path, Run],
) -> None:
    _, run = lost

    assert run.code == 1
    assert f"{LICENSES}: Ruddr POST /project-product-items: no response" in run.errors
    assert "the write may have happened: the next plan will look for it" in run.errors
    assert "Apply incomplete: 6 created; 1 failed." in run.out


def test_a_create_whose_response_is_lost_stays_in_state_as_pending(
    ruddr: Remote, lost: tuple[Path, Run]
) -> None:
    directory, _ = lost

    (entry,) = [
        e for e in state_json(directory, sandbox=False)["entries"] if e["status"] != "managed"
    ]

    assert (entry["address"], entry["status"], entry["remote_id"]) == (LICENSES, "pending", None)
    assert len(ruddr.admin.objects(PRODUCT_ITEM)) == 1  # it was created all the same


def test_the_plan_after_a_lost_response_adopts_the_object_instead_of_creating_it(
    ruddr: Remote, lost: tuple[Path, Run]
) -> None:
    directory, _ = lost

    run = ruddr.billplan("plan", directory)

    assert f"= adopt   {LICENSES}" in run.out
    assert "the create's response was lost; found it remotely" in run.out
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to adopt, 0 locked." in run.out


def test_applying_after_a_lost_response_leaves_one_object_per_address(
    ruddr: Remote, lost: tuple[Path, Run]
) -> None:
    directory, _ = lost
    ruddr.admin.clear_requests()

    run = ruddr.billplan("apply", directory)

    assert run.code == 0, run.text
    assert ruddr.admin.requests("POST") == []
    (item,) = ruddr.admin.objects(PRODUCT_ITEM)
    assert remote_ids(directory, sandbox=False)[LICENSES] == item["id"]
    assert len(ruddr.admin.objects(MILESTONE)) == 6
    assert ruddr.billplan("plan", directory, "--detailed-exitcode").code == 0


def test_a_lost_response_in_process_is_recovered_without_a_duplicate(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    first = step(
        directory,
        apply=True,
        arrange=lambda admin: admin.fault(
            "POST", "/project-invoice-milestones", lose_response=True
        ),
    )
    (failure,) = first.applied.failures
    assert failure.unknown and failure.address == DESIGN

    second = step(directory, apply=True)

    assert second.change(DESIGN).action == "adopt"
    assert second.writes("POST") == []
    with plan_sandbox(directory) as admin:
        assert [m["name"] for m in admin.objects(MILESTONE)].count("Design sign-off") == 1
    assert not step(directory).plan.has_changes


def _lose_product_item_create(directory: Path) -> None:
    first = step(
        directory,
        apply=True,
        arrange=lambda admin: admin.fault("POST", "/project-product-items", lose_response=True),
    )
    (failure,) = first.applied.failures
    assert (failure.address, failure.unknown) == (LICENSES, True)


def test_a_lost_create_whose_charge_changed_since_is_updated_not_created_twice(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    _lose_product_item_create(directory)
    write_plan(directory, variant(("rate: 150", "rate: 160")))

    second = step(directory, apply=True)

    change = second.change(LICENSES)
    assert change.action == "update"
    assert "the create's response was lost; found it remotely" in change.detail
    assert second.writes("POST") == []
    with plan_sandbox(directory) as admin:
        (item,) = admin.objects(PRODUCT_ITEM)
    assert (item["rate"], item["fee"]) == (160, 1600)
    assert remote_ids(directory)[LICENSES] == item["id"]
    assert not step(directory).plan.has_changes


def test_a_lost_create_whose_charge_was_removed_since_is_forgotten_and_named_not_deleted(
    tmp_path: Path,
) -> None:
    # Issue 15: content alone never proves billplan made it (it was deleted before).
    directory = write_plan(tmp_path / "billing")
    _lose_product_item_create(directory)
    write_plan(directory, PLAN[: PLAN.index("    products:")])

    second = step(directory, apply=True)

    change = second.change(LICENSES)
    with plan_sandbox(directory) as admin:
        (landed,) = admin.objects(PRODUCT_ITEM)
    assert change.action == "forget"
    assert f"holds {landed['id']}, which looks like it" in change.detail
    assert [u.remote_id for u in second.plan.unmanaged] == [landed["id"]]
    assert second.writes("DELETE") == []
    assert LICENSES not in remote_ids(directory)


def test_ruddrs_validation_details_follow_its_message_after_one_colon(tmp_path: Path) -> None:
    with remote(seed=False) as bare:
        bare.admin.add_project()
        ruddr = Ruddr("ruddr", {}, base_url=base_url("ruddr", bare.root), token=SANDBOX_TOKEN)
        body = {"projectId": PROJECT_ID, "invoiceItemId": INVOICE_ITEM, "date": "2026-01-15"}

        with pytest.raises(ProviderError) as refused:
            ruddr.create(MILESTONE, [{**body, "name": "Kickoff", "fee": 10000}])
        ruddr.close()

    assert str(refused.value) == (
        "Ruddr 400: There was a problem processing your request. See errors for more details: "
        "'invoiceItemId' does not refer to an existing invoice item"
    )
