"""`horizon` is one rule: the schema's `duration` pattern, schedule.parse_duration and
docs/language.md accept exactly the same forms (N days|weeks|months|years, a bare unit for
one, no quarters, at most 100 years ahead)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from compiler.schedule import HORIZON_PATTERN, parse_duration

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas/billing-plan.schema.json").read_text()
)
DURATION = SCHEMA["$defs"]["duration"]

GOOD = [
    "day", "week", "month", "year",
    "1 day", "1 week", "1 month", "1 year",
    "1 days", "1 weeks", "1 months", "1 years",
    "90 days", "6 weeks", "12 months", "2 years",
    "36525 days", "5218 weeks", "1200 months", "100 years",
    "9 days", "10 weeks", "99 months", "99 years", "999 days", "9999 days", "29999 days",
    "36099 days", "36519 days", "4999 weeks", "5099 weeks", "5209 weeks", "1199 months",
]  # fmt: skip
BAD = [
    "", "12", "months", "days", "2 month", "2 day", "2 week", "2 year", "0 days", "0 months",
    "012 months", "-1 months", "+3 months", "a year", "1 fortnight", "Month", "12 Months",
    "12months", " 12 months", "12 months ", "12  months", "12\tmonths",
    "quarter", "1 quarter", "1 quarters", "2 quarters", "3 quarters",
    "36526 days", "40000 days", "99999 days", "5219 weeks", "5300 weeks", "6000 weeks",
    "1201 months", "1300 months", "2000 months", "101 years", "200 years", "1000 years",
    "1e3 days", "١٢ months", "12 mois",
]  # fmt: skip


def schema_accepts(text: str) -> bool:
    return Draft202012Validator(DURATION).is_valid(text)


def parser_accepts(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("accepts", [schema_accepts, parser_accepts])
def test_the_schema_and_the_parser_accept_every_documented_horizon(
    accepts: Callable[[str], bool],
) -> None:
    assert [text for text in GOOD if not accepts(text)] == []


@pytest.mark.parametrize("accepts", [schema_accepts, parser_accepts])
def test_the_schema_and_the_parser_refuse_every_other_text(
    accepts: Callable[[str], bool],
) -> None:
    assert [text for text in BAD if accepts(text)] == []


def test_the_schema_pattern_is_the_parsers_rule_written_once() -> None:
    assert DURATION["pattern"] == HORIZON_PATTERN


def test_quarters_are_refused_with_what_to_write_instead() -> None:
    with pytest.raises(ValueError, match="quarters are not a horizon unit; write 3 months"):
        parse_duration("1 quarter")


def test_the_docs_list_the_same_forms() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs/language.md").read_text()
    assert "`N days`, `N weeks`, `N months`, `N years`, and `day`, `week`, `month`, `year`" in (
        " ".join(docs.split())
    )
    assert "Quarters are not accepted: write `3 months`" in " ".join(docs.split())
