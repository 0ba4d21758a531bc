"""The schema as an editor uses it: human words for every pattern, and the rules it can state.

yaml-language-server shows a schema's `patternErrorMessage` instead of the raw regex, and an
`errorMessage` for a rule; billplan's own message for the same mistake is worded from the same
text (issue 19). The real editor's view is in tests/test_editor_lsp.py.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from compiler.schema_check import fast_check, plan_schema, plan_validator
from compiler.validate import check


def patterns(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    """Every schema object holding a `pattern`, with its JSON pointer."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.append((where, node))
        for key, value in node.items():
            found += patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += patterns(value, f"{where}/{index}")
    return found


def test_every_pattern_has_a_message_in_words_for_the_editor() -> None:
    found = patterns(plan_schema())
    assert len(found) >= 25
    for where, schema in found:
        message = schema.get("patternErrorMessage", "")
        assert re.fullmatch(r"Expected [^\^\[\]\\]+\.", message), f"{where}: {message!r}"


def test_billplan_words_a_pattern_mistake_with_the_editors_message(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nproviders:\n  ruddr: {type: ruddr}\ndefaults: {currency: USD}\n"
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n    recurring:\n"
        "      support: {description: S, every: fortnightly, start: 2026-01-01, count: 2,"
        " amount: 1}\n",
        encoding="utf-8",
    )
    editor = plan_schema()["$defs"]["every"]["patternErrorMessage"]
    (problem,) = check(plan, date(2026, 1, 1)).diagnostics
    assert problem.message == f"e{editor[1:-1]}, got 'fortnightly'"


def split_with(weights: list[Any]) -> dict[str, Any]:
    parts = {f"p{i}": {"date": "2026-03-01", "weight": w} for i, w in enumerate(weights)}
    return {"description": "Delivery", "split": {"total": 100, "parts": parts}}


def plan_with_milestone(milestone: dict[str, Any]) -> dict[str, Any]:
    project = {"provider": "ruddr", "project_id": 1, "milestones": {"m": milestone}}
    return {"projects": {"acme": project}}


@pytest.mark.parametrize("weight", [0, -1])
def test_the_schema_refuses_a_split_weight_that_is_not_above_zero(weight: Any) -> None:
    errors = list(plan_validator().iter_errors(plan_with_milestone(split_with([weight, 1]))))
    assert [(list(e.absolute_path)[-1], e.validator) for e in errors] == [
        ("weight", "exclusiveMinimum")
    ]


@pytest.mark.parametrize(
    ("milestone", "refused"),
    [
        ({"description": "M", "date": "2026-01-15", "amount": 1, "percent": "5%"}, ["percent"]),
        ({"description": "M", "date": "2026-01-15", "quantity": 2}, ["quantity"]),
        ({"description": "M", "date": "2026-01-15", "rate": 2, "amount": 1}, ["rate"]),
        ({"description": "M", "date": "2026-01-15"}, []),
    ],
)
def test_the_schema_says_a_milestone_has_one_price(
    milestone: dict[str, Any], refused: list[str]
) -> None:
    errors = list(plan_validator().iter_errors(plan_with_milestone(milestone)))
    assert len(errors) == 1
    assert [str(p) for p in errors[0].absolute_path][4:] == refused


def test_billplan_reports_a_second_price_at_its_key_in_the_schemas_words(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nproviders:\n  ruddr: {type: ruddr}\ndefaults: {currency: USD}\n"
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n    contract_value: 10\n"
        "    milestones:\n      m: {description: M, date: 2026-01-15, amount: 1, percent: 5%}\n",
        encoding="utf-8",
    )
    (problem,) = check(plan, date(2026, 1, 1)).diagnostics
    assert str(problem.mark).endswith("plan.yaml:11:65")  # the refused value
    assert problem.path == "$.projects.acme.milestones.m.percent"
    assert problem.message == (
        "a milestone needs exactly one of `amount`, `quantity` with `rate`, `percent` or "
        "`split`; keep one of them"
    )


def test_the_words_added_for_editors_keep_the_fast_schema_check() -> None:
    # patternErrorMessage, errorMessage and examples decide nothing: a plan's verdict stays on
    # the compiled fast path (compiler.schema_compiler), not jsonschema's slow walk.
    assert fast_check() is not None
