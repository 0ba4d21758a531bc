"""Addressing: `billplan import ADDRESS REMOTE_ID` and its refusals, and partial plans with
`--target` / `--exclude` on plan, apply and saved plans. billplan's command line runs in
process against the Ruddr and Kantata emulators served over loopback, so that their request
logs show exactly what billplan read and wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import support_kantata as kantata
from support import (
    ADDRESSES,
    EXTRA,
    KICKOFF,
    LICENSES,
    MILESTONE,
    PLAN,
    PRODUCT_ITEM,
    WITH_EXTRA,
    Remote,
    billplan,
    remote,
    remote_ids,
    write_plan,
)

OTHER_PROJECT = "3153caf4-d97f-4cbb-b449-41fa6d00913e"
SECOND_PROJECT = f"""\
  support-desk:
    provider: ruddr
    project_id: {OTHER_PROJECT}
    milestones:
      onboarding: {{description: Onboarding, date: 2026-03-02, amount: 7500}}
"""
ONBOARDING = "support-desk/milestones/onboarding"
TWO_PROJECTS = PLAN + SECOND_PROJECT


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        served.admin.add_project(OTHER_PROJECT)
        yield served


@pytest.fixture
def applied(ruddr: Remote, tmp_path: Path) -> Path:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    run = ruddr.billplan("apply", directory)
    assert run.code == 0, run.text
    write_plan(directory, WITH_EXTRA, head=ruddr.head)
    ruddr.admin.clear_requests()
    return directory


def hand_made(ruddr: Remote, project_id: str = OTHER_PROJECT) -> str:
    made = ruddr.admin.add(
        MILESTONE, projectId=project_id, date="2026-06-01", name="Workshop", fee=5000,
        typeId="custom",
    )  # fmt: skip
    return str(made["id"])


def writes(ruddr: Remote) -> list[str]:
    return [r["method"] for r in ruddr.admin.requests() if r["method"] != "GET"]


# ---- import ------------------------------------------------------------------------------


def test_import_adopts_an_object_of_the_address_project(ruddr: Remote, applied: Path) -> None:
    remote_id = hand_made(ruddr, project_id="d077258e-2158-4f34-aabd-97e971d0c18d")

    run = ruddr.billplan("import", EXTRA, remote_id, applied)

    assert run.code == 0, run.text
    assert remote_ids(applied, sandbox=False)[EXTRA] == remote_id
    assert writes(ruddr) == []


def test_import_refuses_an_object_of_another_project_and_names_both(
    ruddr: Remote, applied: Path
) -> None:
    remote_id = hand_made(ruddr)

    run = ruddr.billplan("import", EXTRA, remote_id, applied)

    assert run.code == 1
    assert (
        f"{remote_id} belongs to Ruddr project {OTHER_PROJECT} (a project this plan does not "
        f"bill), but {EXTRA} is in project cloud-infra (Ruddr project "
        "d077258e-2158-4f34-aabd-97e971d0c18d); nothing was imported"
    ) in run.errors
    assert EXTRA not in remote_ids(applied, sandbox=False)


def test_import_names_the_plans_own_key_for_the_other_project(ruddr: Remote, applied: Path) -> None:
    write_plan(applied, WITH_EXTRA + SECOND_PROJECT, head=ruddr.head)
    remote_id = hand_made(ruddr)

    run = ruddr.billplan("import", EXTRA, remote_id, applied)

    assert run.code == 1
    assert f"Ruddr project {OTHER_PROJECT} (the plan's project support-desk)" in run.errors


def test_import_refuses_an_object_of_another_kind(ruddr: Remote, applied: Path) -> None:
    licenses_id = remote_ids(applied, sandbox=False)[LICENSES]
    run = billplan("state", "rm", LICENSES, applied)
    assert run.code == 0, run.text

    run = ruddr.billplan("import", EXTRA, licenses_id, applied)

    assert run.code == 1
    assert f"{licenses_id} is a {PRODUCT_ITEM}, but {EXTRA} is a {MILESTONE}" in run.errors


def test_import_of_an_id_that_does_not_exist_says_so(ruddr: Remote, applied: Path) -> None:
    missing = "0f0f0f0f-0000-4000-8000-000000000000"

    run = ruddr.billplan("import", EXTRA, missing, applied)

    assert run.code == 1
    assert f"Ruddr has no {MILESTONE} {missing} (provider ruddr); nothing was imported" in (
        run.errors
    )


def test_import_refuses_an_object_another_address_owns(ruddr: Remote, applied: Path) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]

    run = ruddr.billplan("import", EXTRA, kickoff_id, applied)

    assert run.code == 1
    assert f"{kickoff_id} is already owned by {KICKOFF}; nothing was imported" in run.errors


def test_import_refuses_an_address_not_in_the_plan(ruddr: Remote, applied: Path) -> None:
    run = ruddr.billplan("import", "cloud-infra/milestones/nope", hand_made(ruddr), applied)

    assert run.code == 1
    assert "cloud-infra/milestones/nope is not an address of this plan" in run.errors


WORKSHOP = "cascade/milestones/workshop"
WORKSHOP_LINE = "      workshop: {description: Workshop, date: 2026-06-01, amount: 5000}\n"


@pytest.fixture
def kantata_applied(tmp_path: Path) -> Iterator[tuple[kantata.Remote, Path]]:
    with kantata.remote() as served:
        directory = kantata.write_plan(tmp_path / "billing", head=served.head)
        assert served.billplan("apply", directory).code == 0
        body = kantata.variant((kantata.KICKOFF_LINE, kantata.KICKOFF_LINE + WORKSHOP_LINE))
        kantata.write_plan(directory, body, head=served.head)
        yield served, directory


def test_kantata_import_refuses_a_milestone_of_another_workspace(
    kantata_applied: tuple[kantata.Remote, Path],
) -> None:
    served, directory = kantata_applied
    served.admin.add_workspace(41002)
    draft = served.admin.add(workspace_id=41002, title="Workshop", amount_in_cents=500000,
                             date_to_invoice="2026-06-01")  # fmt: skip

    run = served.billplan("import", WORKSHOP, draft["id"], directory)

    assert run.code == 1
    assert f"{draft['id']} belongs to Kantata OX project 41002" in run.errors
    assert f"but {WORKSHOP} is in project cascade (Kantata OX project 41001)" in run.errors


def test_kantata_import_refuses_a_milestone_tagged_for_another_address(
    kantata_applied: tuple[kantata.Remote, Path],
) -> None:
    served, directory = kantata_applied
    kickoff_id = remote_ids(directory, sandbox=False)[kantata.KICKOFF]
    assert billplan("state", "rm", kantata.KICKOFF, directory).code == 0

    run = served.billplan("import", WORKSHOP, kickoff_id, directory)

    assert run.code == 1
    assert f"{kickoff_id} is tagged as billplan's {kantata.KICKOFF}" in run.errors


def test_kantata_import_of_a_missing_id_says_so(
    kantata_applied: tuple[kantata.Remote, Path],
) -> None:
    served, directory = kantata_applied

    run = served.billplan("import", WORKSHOP, "999999", directory)

    assert run.code == 1
    assert "Kantata OX has no kantata_billing_milestone 999999" in run.errors


def test_kantata_import_adopts_a_hand_made_milestone(
    kantata_applied: tuple[kantata.Remote, Path],
) -> None:
    served, directory = kantata_applied
    draft = served.admin.add(title="Workshop", amount_in_cents=500000, date_to_invoice="2026-06-01")

    run = served.billplan("import", WORKSHOP, draft["id"], directory)

    assert run.code == 0, run.text
    assert remote_ids(directory, sandbox=False)[WORKSHOP] == str(draft["id"])


# ---- --target and --exclude --------------------------------------------------------------


@pytest.fixture
def two(ruddr: Remote, tmp_path: Path) -> Path:
    """Two projects planned, nothing applied yet."""
    return write_plan(tmp_path / "billing", TWO_PROJECTS, head=ruddr.head)


def addresses_of(run_out: str) -> list[str]:
    """The addresses a JSON plan would change."""
    return sorted(c["address"] for c in json.loads(run_out)["changes"] if c["action"] != "no-op")


def test_a_target_limits_the_plan_to_addresses_under_it(ruddr: Remote, two: Path) -> None:
    run = ruddr.billplan("plan", two, "--target", "support-desk", "--format", "json")

    assert run.code == 0, run.text
    assert addresses_of(run.out) == [ONBOARDING]
    document = json.loads(run.out)
    assert document["targets"] == {"include": ["support-desk"], "exclude": []}
    assert document["notes"][0].startswith("partial plan: only support-desk (--target)")
    assert "Warning: partial plan: only support-desk (--target)" in run.errors


def test_a_partial_plan_says_so_in_text_and_markdown(ruddr: Remote, two: Path) -> None:
    text = ruddr.billplan("plan", two, "--target", "support-desk")
    markdown = ruddr.billplan("plan", two, "--target", "support-desk", "--format", "markdown")

    assert "partial plan: only support-desk (--target)" in " ".join(text.out.split())
    assert "partial plan: only support-desk (--target)" in markdown.out


def test_a_target_reads_only_the_projects_it_names(ruddr: Remote, two: Path) -> None:
    assert ruddr.billplan("plan", two, "--target", "support-desk").code == 0

    reads = [r for r in ruddr.admin.requests() if r["method"] == "GET"]
    assert reads and all("d077258e" not in json.dumps(r) for r in reads), reads


def test_targets_and_excludes_match_whole_segments(ruddr: Remote, two: Path) -> None:
    run = ruddr.billplan(
        "plan", two, "--target", "cloud-infra/milestones", "--exclude",
        "cloud-infra/milestones/delivery", "--format", "json",
    )  # fmt: skip

    assert run.code == 0, run.text
    assert addresses_of(run.out) == [KICKOFF]


def test_an_exclude_alone_leaves_out_what_is_under_it(ruddr: Remote, two: Path) -> None:
    run = ruddr.billplan("plan", two, "--exclude", "cloud-infra", "--format", "json")

    assert addresses_of(run.out) == [ONBOARDING]


def test_a_prefix_that_matches_nothing_is_an_error(ruddr: Remote, two: Path) -> None:
    # `cloud` is not a segment of `cloud-infra/...`.
    run = ruddr.billplan("plan", two, "--target", "cloud")

    assert run.code == 1
    assert "--target cloud matches no address of the plan or of billplan's state" in run.errors


def test_apply_with_a_target_writes_only_under_it(ruddr: Remote, two: Path) -> None:
    run = ruddr.billplan("apply", two, "--target", "support-desk")

    assert run.code == 0, run.text
    assert "Apply complete: 1 created." in run.out
    assert list(remote_ids(two, sandbox=False)) == [ONBOARDING]
    rest = ruddr.billplan("plan", two, "--format", "json")
    assert addresses_of(rest.out) == ADDRESSES


def test_a_saved_partial_plan_records_its_targets_and_applies_only_them(
    ruddr: Remote, two: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    assert ruddr.billplan("plan", two, "--exclude", "cloud-infra", "-o", out).code == 0

    refused = billplan("apply", out, two, "--auto-approve", "--target", "cloud-infra")
    run = billplan("apply", out, two, "--auto-approve")

    assert refused.code == 1
    assert "it applies exactly what was saved" in refused.errors
    assert json.loads(out.read_text(encoding="utf-8"))["targets"]["exclude"] == ["cloud-infra"]
    assert run.code == 0, run.text
    assert "partial plan: without cloud-infra (--exclude)" in run.errors
    assert list(remote_ids(two, sandbox=False)) == [ONBOARDING]
    assert writes(ruddr) == ["POST"]
