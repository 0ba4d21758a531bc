"""`{amount: 1,000}`: inside braces YAML reads a comma as the end of a key, so the amount is 1
and `000` a key of its own. The editor shows nothing there (yaml-language-server ignores a key
without a colon); billplan says what happened and what to write."""

from __future__ import annotations

from pathlib import Path

from support import billplan

PLAN = """\
version: 1
providers:
  ruddr: {type: ruddr}
projects:
  a:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    currency: USD
    milestones:
      k: {description: Kickoff, date: 2026-01-15, amount: 1,000}
"""


def test_a_thousands_separator_inside_braces_is_explained_at_the_stray_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    run = billplan("validate", tmp_path)
    assert run.code == 1
    assert "plan.yaml:10:61: $.projects.a.milestones.k.000: unknown key '000'" in run.errors
    assert "a comma separates keys" in run.errors
    assert "write it without (1000)" in run.errors


def test_a_misspelt_key_still_gets_its_suggestion(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN.replace("amount: 1,000", "amonut: 1000"))
    run = billplan("validate", tmp_path)
    assert "unknown key 'amonut'; did you mean 'amount'?" in run.errors
