"""The command line around plan and apply: exit codes for CI, the JSON and markdown views of
a plan, the confirmation apply asks for, and `state list / show / rm`. Every run is
`billplan ... --sandbox` in process on a plan directory of the test's own.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from support import (
    ADDRESSES,
    AS_OF_TEXT,
    KICKOFF,
    KICKOFF_LINE,
    LICENSES,
    MILESTONE,
    PLAN,
    PRODUCT_ITEM,
    billplan,
    plan_sandbox,
    remote_ids,
    sandboxed,
    state_file,
    variant,
    write_plan,
)

from compiler.render.plan import MARKDOWN_LIMIT

SECOND_PROJECT = """\
  support-desk:
    provider: ruddr
    project_id: 3153caf4-d97f-4cbb-b449-41fa6d00913e
    milestones:
      onboarding: {description: Onboarding, date: 2026-03-02, amount: 7500}
"""


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    directory = write_plan(tmp_path / "billing")
    run = sandboxed("apply", directory)
    assert run.code == 0, run.text
    return directory


# ---- --detailed-exitcode -----------------------------------------------------------------


def test_detailed_exitcode_is_2_when_there_are_changes(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    assert sandboxed("plan", directory, "--detailed-exitcode").code == 2


def test_detailed_exitcode_is_0_when_the_vendor_matches_the_plan(applied: Path) -> None:
    assert sandboxed("plan", applied, "--detailed-exitcode").code == 0


def test_detailed_exitcode_is_0_when_the_only_differences_are_locked(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        admin.invoice(MILESTONE, remote_ids(applied)[KICKOFF])
    write_plan(applied, variant(("amount: 10000}", "amount: 12000}")))

    assert sandboxed("plan", applied, "--detailed-exitcode").code == 0


def test_detailed_exitcode_is_1_on_an_error(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", variant(("amount: 10000}", "amount: lots}")))

    run = sandboxed("plan", directory, "--detailed-exitcode")

    assert run.code == 1
    assert "plan.yaml:" in run.err


def test_without_detailed_exitcode_a_plan_with_changes_exits_0(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    assert sandboxed("plan", directory).code == 0


# ---- --format json -----------------------------------------------------------------------


def test_plan_format_json_prints_only_the_documented_json(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = sandboxed("plan", directory, "--format", "json")

    document = json.loads(run.out)
    assert document["format_version"] == "1"
    assert document["summary"]["create"] == 7
    assert document["summary"]["text"] == "Plan: 7 to create, 0 to update, 0 to delete, 0 locked."
    assert sorted(c["address"] for c in document["changes"]) == ADDRESSES
    licenses = next(c for c in document["changes"] if c["address"] == LICENSES)
    assert licenses["after"]["quantity"] == 10 and licenses["after"]["fee"] == 1500.00
    assert document["impact"]["after"] == {"USD": 106500.00}


def test_plan_format_json_lists_unmanaged_objects(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        other = admin.add(PRODUCT_ITEM, date="2026-08-01", description="Hardware", fee=99)

    document = json.loads(sandboxed("plan", applied, "--format", "json").out)

    (unmanaged,) = document["unmanaged"]
    assert (unmanaged["remote_id"], unmanaged["project"]) == (other["id"], "cloud-infra")
    assert unmanaged["attributes"]["description"] == "Hardware"


# ---- --format markdown -------------------------------------------------------------------


def test_plan_markdown_starts_with_the_summary(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = sandboxed("plan", directory, "--format", "markdown")

    marker, first = run.out.splitlines()[:2]
    assert marker == "<!-- billplan-plan -->"
    assert first == "### billplan: Plan: 7 to create, 0 to update, 0 to delete, 0 locked."
    assert "Warning" not in run.out


def test_plan_markdown_has_one_collapsible_block_per_project(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", PLAN + SECOND_PROJECT)

    markdown = sandboxed("plan", directory, "--format", "markdown").out

    assert markdown.count("<details><summary><b>") == 2  # and one for the net change by month
    assert markdown.count("<details>") == markdown.count("</details>") == 3
    assert "<details><summary><b>cloud-infra</b>: 7 to create</summary>" in markdown
    assert "<details><summary><b>support-desk</b>: 1 to create</summary>" in markdown
    assert markdown.index("Plan:") < markdown.index("<details>")


def test_plan_markdown_warns_when_something_is_deleted(applied: Path) -> None:
    write_plan(applied, variant((KICKOFF_LINE, "")))

    markdown = sandboxed("plan", applied, "--format", "markdown").out

    lines = markdown.splitlines()
    assert lines[1:3] == ["> [!WARNING]", "> 1 to delete."]
    assert f"| 🗑️ **DELETE** | {KICKOFF}<br>" in markdown


def test_plan_markdown_warns_when_something_is_locked(applied: Path) -> None:
    with plan_sandbox(applied) as admin:
        admin.invoice(MILESTONE, remote_ids(applied)[KICKOFF])
    write_plan(applied, variant(("amount: 10000}", "amount: 12000}")))

    markdown = sandboxed("plan", applied, "--format", "markdown").out

    assert "> [!WARNING]\n> 1 locked" in markdown
    assert f"| 🔒 **LOCKED** | {KICKOFF}<br>" in markdown


def _huge_plan(projects: int, weeks: int) -> str:
    blocks = ["projects:\n"]
    for n in range(projects):
        project_id = uuid.uuid5(uuid.NAMESPACE_URL, f"billplan-test/{n}")
        blocks.append(
            f"  project-{n:02d}:\n"
            "    provider: ruddr\n"
            f"    project_id: {project_id}\n"
            "    recurring:\n"
            "      support:\n"
            '        description: "Managed support, week {{ period.label }}"\n'
            "        every: week\n"
            "        amount: 2000\n"
            "        start: 2026-01-05\n"
            f"        count: {weeks}\n"
        )
    return "".join(blocks)


def test_plan_markdown_for_a_huge_plan_is_cut_under_65000_characters_with_a_note(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", _huge_plan(projects=12, weeks=100))

    markdown = sandboxed("plan", directory, "--format", "markdown").out

    assert len(markdown) <= MARKDOWN_LIMIT
    assert markdown.startswith("<!-- billplan-plan -->\n### billplan: Plan: 1200 to create,")
    assert markdown.count("<details><summary><b>") == 12  # each project trimmed, none left out
    shown = markdown.count("| + create |")
    assert 0 < shown < 1200
    note = f"trimmed to stay under 65,000 characters: {1200 - shown:,} of 1,200 changes"
    assert note in markdown
    assert markdown.count("<details>") == markdown.count("</details>")  # no block cut in half


# ---- apply's confirmation ----------------------------------------------------------------


def test_apply_without_auto_approve_and_no_terminal_refuses_and_writes_nothing(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")

    run = billplan("apply", directory, "--sandbox", "--as-of", AS_OF_TEXT)

    assert run.code == 1
    assert "apply needs confirmation: run it in a terminal, or pass --auto-approve" in run.errors
    assert "nothing was changed" in run.out
    assert not state_file(directory).exists()
    with plan_sandbox(directory) as admin:
        assert admin.objects(MILESTONE) == []


# ---- state list / show / rm --------------------------------------------------------------


def test_state_list_prints_each_address_with_its_type_and_remote_id(applied: Path) -> None:
    ids = remote_ids(applied)

    run = sandboxed("state", "list", applied)

    assert run.code == 0
    assert run.out.splitlines() == [
        f"{a}\t{PRODUCT_ITEM if a == LICENSES else MILESTONE}\t{ids[a]}" for a in ADDRESSES
    ]


def test_state_show_prints_one_entry_as_json(applied: Path) -> None:
    run = sandboxed("state", "show", KICKOFF, applied)

    shown = json.loads(run.out)
    assert shown["address"] == KICKOFF
    assert shown["remote_id"] == remote_ids(applied)[KICKOFF]
    assert shown["attributes"]["fee"] == 10000
    assert shown["status"] == "managed"


def test_state_show_of_an_unknown_address_is_an_error(applied: Path) -> None:
    run = sandboxed("state", "show", "cloud-infra/milestones/nope", applied)

    assert run.code == 1
    assert "cloud-infra/milestones/nope is not in the state at" in run.errors


def test_state_rm_forgets_the_address_and_leaves_the_object(applied: Path) -> None:
    kickoff_id = remote_ids(applied)[KICKOFF]

    run = sandboxed("state", "rm", KICKOFF, applied)

    assert run.code == 0, run.text
    assert "Removed 1 address(es) from state" in run.out
    assert KICKOFF not in remote_ids(applied)
    with plan_sandbox(applied) as admin:
        assert admin.get(MILESTONE, kickoff_id)["name"] == "Kickoff"


def test_state_rm_of_an_unknown_address_removes_nothing(applied: Path) -> None:
    before = state_file(applied).read_bytes()

    run = sandboxed("state", "rm", KICKOFF, "cloud-infra/milestones/nope", applied)

    assert run.code == 1
    assert "not in state: cloud-infra/milestones/nope; nothing was removed" in run.errors
    assert state_file(applied).read_bytes() == before
