"""One reading of a plan's numbers: billplan, check-jsonschema and the editor agree.

The rule is YAML 1.2's core schema, which yaml-language-server uses: `1e4` and `0x2710` are ten
thousand, `10_000`, `yes` and `on` are text. billplan used to read YAML 1.1 (PyYAML's), where
`10_000` is a number and `1e4` text, the opposite of the editor (issue 19). The editor's side
is in tests/test_editor_lsp.py; here billplan's reading and check-jsonschema's verdicts.

check-jsonschema reads YAML with ruamel.yaml, which departs from the core schema in one way:
it reads digit separators and binary (`10_000`, `0b101`) as numbers. Those two spellings are
pinned as the known difference; billplan and the editor refuse them with the same message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from compiler.load import load
from compiler.validate import check

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "schemas" / "billing-plan.schema.json"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# (as written in a plan, what YAML 1.2's core schema reads it as)
SPELLINGS: list[tuple[str, Any]] = [
    ("10000", 10000),
    ("+10000", 10000),
    ("010000", 10000),
    ("1e4", 10000),
    ("1.5e3", 1500),
    ("2.5E-1", Decimal("0.25")),
    ("0x2710", 10000),
    ("0o23420", 10000),
    ("10000.50", Decimal("10000.50")),
    (".5", Decimal("0.5")),
    ("10_000", "10_000"),
    ("10_000.50", "10_000.50"),
    ("0b101", "0b101"),
    ("1:30", "1:30"),
    ("yes", "yes"),
    ("on", "on"),
    ("true", True),
    ("~", None),
]
# What ruamel.yaml (check-jsonschema's reader) reads as a number though YAML 1.2 says text.
RUAMEL_NUMBERS = {"10_000", "10_000.50", "0b101"}


@pytest.mark.parametrize(("written", "value"), SPELLINGS, ids=[w for w, _ in SPELLINGS])
def test_billplan_reads_a_plain_value_as_yaml_1_2_does(
    tmp_path: Path, written: str, value: Any
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(f"a: {written}\n", encoding="utf-8")
    read = load(path).root["a"]
    assert read == value and type(read) is type(value)


def test_a_decimal_written_with_an_exponent_shows_its_digits(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("a: 1.25e-3\n", encoding="utf-8")
    assert str(load(path).root["a"]) == "0.00125"


AMOUNTS = [w for w, _ in SPELLINGS if w not in ("true", "~")] + ["'1e4'", "1,000", ".inf"]


def plan_with_amount(directory: Path, written: str) -> Path:
    name = "".join(c if c.isalnum() else f"_{ord(c)}_" for c in written)
    path = directory / f"amount_{name}.yaml"
    path.write_text(
        "version: 1\nproviders:\n  ruddr: {type: ruddr}\ndefaults: {currency: USD}\n"
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n    milestones:\n"
        f"      kickoff: {{description: Kickoff, date: 2026-01-15, amount: {written}}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.skipif(
    not CHECK_JSONSCHEMA.is_file() and os.environ.get("CI") != "true",
    reason="check-jsonschema is not installed: pip install -e '.[test]'",
)
def test_billplan_and_check_jsonschema_agree_on_each_way_of_writing_an_amount(
    tmp_path: Path,
) -> None:
    plans = {written: plan_with_amount(tmp_path, written) for written in AMOUNTS}
    run = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA_PATH), "-o", "json",
         *map(str, plans.values())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = json.loads(run.stdout)
    refused_by_tool = {Path(e["filename"]).name for e in report["errors"] + report["parse_errors"]}
    verdicts = {
        written: (
            bool(check(path, date(2026, 1, 1)).diagnostics),
            path.name in refused_by_tool,
        )
        for written, path in plans.items()
    }
    refused = sorted(w for w, (ours, _) in verdicts.items() if ours)
    assert refused == sorted(
        ["'1e4'", "1,000", ".inf", "10_000", "10_000.50", "0b101", "1:30", "yes", "on"]
    )
    differ = sorted(w for w, (ours, theirs) in verdicts.items() if ours != theirs)
    assert differ == sorted(RUAMEL_NUMBERS)
