"""The lifecycle core over a real socket: `billplan` (no --sandbox) talks HTTP to the Ruddr
emulator served by uvicorn on 127.0.0.1, an ephemeral port, in a thread of the test. The
plan names a token of Ruddr's family in `token_env`; the host is set outside the plan, in
BILLPLAN_RUDDR_BASE_URL, as a workflow would set it (a plan cannot name one).
"""

from __future__ import annotations

from pathlib import Path

from support import (
    ADDRESSES,
    INVOICE_ITEM,
    KICKOFF,
    MILESTONE,
    PROJECT_ID,
    Remote,
    remote,
    remote_ids,
    variant,
    write_plan,
)

KICKOFF_12000 = variant(("amount: 10000}", "amount: 12000}"))


def test_apply_over_http_creates_each_item_once(ruddr: Remote, tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    run = ruddr.billplan("apply", directory)

    assert run.code == 0, run.text
    assert "Apply complete: 7 created." in run.out
    posts = ruddr.admin.requests("POST")
    assert len(posts) == 7 and {p["status"] for p in posts} == {200}
    assert sorted(remote_ids(directory, sandbox=False)) == ADDRESSES
    assert not (directory / ".billplan" / "sandbox-state.json").exists()


def test_the_plan_after_an_apply_over_http_shows_no_changes(ruddr: Remote, applied: Path) -> None:
    run = ruddr.billplan("plan", applied, "--detailed-exitcode")

    assert run.code == 0, run.text
    assert "No changes." in run.out


def test_a_second_apply_over_http_sends_only_reads(ruddr: Remote, applied: Path) -> None:
    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    reads = ruddr.admin.requests()
    assert [r["method"] for r in reads] == ["GET"] * 4  # 2 lists, the project, the invoice item
    assert f"projectId={PROJECT_ID}" in reads[0]["query"]
    assert reads[2]["path"].endswith(f"/projects/{PROJECT_ID}")
    assert reads[3]["path"].endswith(f"/invoice-items/{INVOICE_ITEM}")


def test_changing_an_amount_over_http_patches_only_that_object(
    ruddr: Remote, applied: Path
) -> None:
    write_plan(applied, KICKOFF_12000, head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert "Apply complete: 1 updated." in run.out
    (patch,) = [r for r in ruddr.admin.requests() if r["method"] != "GET"]
    assert patch["method"] == "PATCH"
    assert patch["path"].endswith(remote_ids(applied, sandbox=False)[KICKOFF])
    assert patch["body"]["fee"] == 12000


def test_an_invoiced_object_over_http_is_locked_and_never_patched(
    ruddr: Remote, applied: Path
) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    ruddr.admin.invoice(MILESTONE, kickoff_id)
    write_plan(applied, KICKOFF_12000, head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert "! LOCKED" in run.out and "1 locked." in run.out
    assert [r["method"] for r in ruddr.admin.requests()] == ["GET"] * 4  # no PATCH
    assert ruddr.admin.get(MILESTONE, kickoff_id)["fee"] == 10000


WEEKLY_40 = """\
projects:
  cloud-infra:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    recurring:
      support:
        description: "Support {{ period.label }}"
        every: week
        amount: 2000
        start: 2026-01-05
        count: 40
"""
WEEKLY_90 = WEEKLY_40.replace("count: 40", "count: 90")


def test_apply_paces_itself_under_ruddrs_real_rate_limit_and_provokes_no_429(
    tmp_path: Path,
) -> None:
    with remote(rate_limit=True) as limited:
        assert limited.admin.settings()["rate_limit_per_second"] == 20
        directory = write_plan(tmp_path / "billing", WEEKLY_40, head=limited.head)

        run = limited.billplan("apply", directory)

        assert run.code == 0, run.text
        assert "Apply complete: 40 created." in run.out
        posts = limited.admin.requests("POST")
        assert [p["status"] for p in posts] == [200] * 40
        assert len(limited.admin.objects(MILESTONE)) == 40


def test_apply_completes_by_backing_off_when_its_pace_exceeds_the_limit(tmp_path: Path) -> None:
    with remote(rate_limit=True) as limited:
        # max_rps far above Ruddr's 20 a second: the burst of 60 runs out and 429s must be
        # waited out.
        head = limited.head.replace("token_env:", "max_rps: 1000, token_env:")
        directory = write_plan(tmp_path / "billing", WEEKLY_90, head=head)

        run = limited.billplan("apply", directory)

        assert run.code == 0, run.text
        assert "Apply complete: 90 created." in run.out
        posts = limited.admin.requests("POST")
        assert any(p["status"] == 429 for p in posts), "the burst should have run out"
        assert len([p for p in posts if p["status"] == 200]) == 90
        assert len(limited.admin.objects(MILESTONE)) == 90
