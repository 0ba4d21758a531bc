"""`plan --no-refresh PROVIDER`: plan a vendor from billplan's state alone, without calling it
and without its token, for a pull-request job that must hold no key that can write (Ruddr's
keys have no scopes). What the vendor holds is taken to be what billplan last wrote; apply
reads the vendor and refuses a saved plan that reality would change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    KICKOFF,
    MILESTONE,
    TOKEN_ENV,
    Remote,
    billplan,
    remote,
    remote_ids,
    variant,
    write_plan,
)

KICKOFF_12000 = variant(("amount: 10000}", "amount: 12000}"))


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        yield served


@pytest.fixture
def changed(ruddr: Remote, tmp_path: Path) -> Path:
    """A plan applied at the vendor, then changed: the kickoff goes from 10000 to 12000."""
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    assert ruddr.billplan("apply", directory).code == 0
    write_plan(directory, KICKOFF_12000, head=ruddr.head)
    ruddr.admin.clear_requests()
    return directory


def test_a_plan_without_refresh_calls_no_vendor_and_needs_no_token(
    ruddr: Remote, changed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)

    run = ruddr.billplan("plan", changed, "--no-refresh", "ruddr")

    assert run.code == 0, run.text
    assert ruddr.admin.requests() == []
    text = " ".join(run.out.split())
    assert "Plan: 0 to create, 1 to update, 0 to delete, 0 locked." in text
    assert "ruddr: planned from billplan's state, without reading Ruddr (--no-refresh)" in text


def test_a_saved_plan_made_without_refresh_applies_when_the_vendor_holds_what_state_says(
    ruddr: Remote, changed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reviewed.json"
    assert ruddr.billplan("plan", changed, "--no-refresh", "ruddr", "-o", out).code == 0

    run = billplan("apply", out, changed, "--auto-approve")

    assert run.code == 0, run.text
    assert ruddr.admin.get(MILESTONE, remote_ids(changed, sandbox=False)[KICKOFF])["fee"] == 12000


def test_a_saved_plan_made_without_refresh_is_refused_when_the_vendor_says_otherwise(
    ruddr: Remote, changed: Path, tmp_path: Path
) -> None:
    kickoff = remote_ids(changed, sandbox=False)[KICKOFF]
    ruddr.admin.invoice(MILESTONE, kickoff)  # the plan without refresh cannot know
    out = tmp_path / "reviewed.json"
    assert ruddr.billplan("plan", changed, "--no-refresh", "ruddr", "-o", out).code == 0

    run = billplan("apply", out, changed, "--auto-approve")

    assert run.code == 1
    assert f"{KICKOFF}: was invoiced since the plan was made" in run.errors
    assert ruddr.admin.get(MILESTONE, kickoff)["fee"] == 10000


def test_no_refresh_of_a_provider_the_plan_lacks_names_the_ones_it_has(changed: Path) -> None:
    run = billplan("plan", changed, "--no-refresh", "kantata")

    assert run.code == 1
    assert "--no-refresh kantata: the plan has no such provider" in run.errors
    assert "ruddr (ruddr)" in run.errors


def test_no_refresh_does_not_go_with_refresh_only(changed: Path) -> None:
    run = billplan("plan", changed, "--refresh-only", "--no-refresh", "ruddr")

    assert run.code == 1
    assert "--refresh-only reads the vendors to find drift; drop --no-refresh" in run.errors
