"""Every setting a run lacks is named in that run, not one per run, with the way to try
billplan without an account (`--sandbox`) said once: plan, apply and generate alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import billplan

PLAN = """\
version: 1
providers:
  ruddr: {type: ruddr}
  kantata: {type: kantata}
projects:
  a:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    currency: USD
    ruddr: {invoice_item: 5a1d0c2e-7b1f-4c8e-9e61-2f4b8d9a0001}
    milestones:
      k: {description: Kickoff, date: 2026-01-15, amount: 100}
  b:
    provider: kantata
    project_id: 41001
    currency: USD
    milestones:
      k: {description: Kickoff, date: 2026-01-15, amount: 100}
"""
HINT = "Or run with --sandbox to use the built-in emulators."


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUDDR_API_TOKEN", "KANTATA_API_TOKEN", "BILLPLAN_PG_DSN"):
        monkeypatch.delenv(name, raising=False)


def _plan(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "plan.yaml").write_text(PLAN + extra, encoding="utf-8")
    return tmp_path


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_every_missing_token_is_named_in_one_run_with_the_sandbox_hint_once(
    tmp_path: Path, command: str
) -> None:
    run = billplan(command, _plan(tmp_path), "--as-of", "2026-01-01")
    assert run.code == 1
    assert "2 connections cannot be used; nothing was read or written:" in run.errors
    assert "needs an API token in $KANTATA_API_TOKEN; set it - provider" in run.errors
    assert "needs an API token in $RUDDR_API_TOKEN; set it Or run" in run.errors
    assert run.errors.count("--sandbox") == 1 and HINT in run.errors


@pytest.mark.usefixtures("unset")
def test_a_missing_state_database_is_named_with_the_missing_tokens(tmp_path: Path) -> None:
    directory = _plan(tmp_path, "state: {backend: postgres, name: acme}\n")
    run = billplan("plan", directory, "--as-of", "2026-01-01")
    assert run.code == 1
    assert "3 settings cannot be used; nothing was read or written:" in run.errors
    assert "environment variable BILLPLAN_PG_DSN, which is not set" in run.errors
    assert "$KANTATA_API_TOKEN" in run.errors and "$RUDDR_API_TOKEN" in run.errors
    assert run.errors.count("--sandbox") == 1


@pytest.mark.usefixtures("unset")
def test_a_missing_state_database_alone_is_said_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUDDR_API_TOKEN", "t")
    monkeypatch.setenv("KANTATA_API_TOKEN", "t")
    directory = _plan(tmp_path, "state: {backend: postgres, name: acme}\n")
    run = billplan("plan", directory, "--as-of", "2026-01-01")
    assert run.code == 1
    assert "BILLPLAN_PG_DSN, which is not set" in run.errors
    assert "cannot be used" not in run.errors


@pytest.mark.usefixtures("unset")
def test_generate_all_names_every_connection_without_a_token_before_reading(
    tmp_path: Path,
) -> None:
    (tmp_path / "providers.yaml").write_text(
        "version: 1\nproviders:\n  ruddr: {type: ruddr}\n  kantata: {type: kantata}\n",
        encoding="utf-8",
    )
    run = billplan("generate", tmp_path, "--all")
    assert run.code == 1
    assert "2 connections cannot be used; nothing was read:" in run.errors
    assert "$KANTATA_API_TOKEN" in run.errors and "$RUDDR_API_TOKEN" in run.errors
    assert run.errors.count("--sandbox") == 1
