"""A saved plan is what a reviewer approved: `apply FILE` refuses one edited by hand (an amount,
a change removed, the checksum itself), names the file and applies nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import billplan, sandboxed

from compiler import jsonio, planfile
from reliability.faults import plan_text, write

Edit = Callable[[dict[str, Any]], None]


def _first_after(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["changes"] if c["after"])["after"]


def _raise_an_amount(document: dict[str, Any]) -> None:
    after = _first_after(document)
    key = next(k for k in ("fee", "value", "amount_in_cents") if k in after)
    after[key] = after[key] * 10


def _drop_a_change(document: dict[str, Any]) -> None:
    document["changes"].pop()


def _forge_the_checksum(document: dict[str, Any]) -> None:
    document["checksum"] = "sha256:" + "0" * 64


def _remove_the_checksum(document: dict[str, Any]) -> None:
    del document["checksum"]


def _point_elsewhere(document: dict[str, Any]) -> None:
    document["plan_path"] = "/tmp/another/plan.yaml"


EDITS: dict[str, Edit] = {
    "an amount raised": _raise_an_amount,
    "a change removed": _drop_a_change,
    "the checksum replaced": _forge_the_checksum,
    "the checksum removed": _remove_the_checksum,
    "the plan path changed": _point_elsewhere,
}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, Path]:
    directory = write(tmp_path / "billing", plan_text(("ruddr", "wethod")))
    out = tmp_path / "reviewed.json"
    run = sandboxed("plan", directory, "-o", out)
    assert run.code == 0, run.text
    return directory, out


def test_a_saved_plan_carries_a_sha256_of_its_content(saved: tuple[Path, Path]) -> None:
    _, out = saved
    document = jsonio.loads(out.read_text(encoding="utf-8"))
    assert document["checksum"].startswith("sha256:") and len(document["checksum"]) == 71
    assert planfile.checksum(document) == document["checksum"]


def test_an_untouched_saved_plan_applies(saved: tuple[Path, Path]) -> None:
    directory, out = saved
    run = billplan("apply", out, directory, "--sandbox", "--auto-approve")
    assert run.code == 0, run.text
    assert "Apply complete: 10 created." in run.out


def test_reformatting_a_saved_plan_keeps_it_valid(saved: tuple[Path, Path]) -> None:
    # Whitespace and key order are not content: a pretty-printer may touch the file.
    _, out = saved
    document = jsonio.loads(out.read_text(encoding="utf-8"))
    out.write_text(jsonio.dumps(dict(reversed(list(document.items())))), encoding="utf-8")
    assert planfile.load(out).plan.count("create") == 10


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_a_saved_plan_edited_by_hand_is_refused_and_nothing_is_applied(
    edit: str, saved: tuple[Path, Path]
) -> None:
    directory, out = saved
    document = jsonio.loads(out.read_text(encoding="utf-8"))
    EDITS[edit](document)
    out.write_text(jsonio.dumps(document, indent=2), encoding="utf-8")

    run = billplan("apply", out, directory, "--sandbox", "--auto-approve")

    assert run.code == 1
    assert str(out) in run.errors
    if edit == "the checksum removed":
        assert "has no checksum" in run.errors
    else:
        assert "does not match its checksum: it was edited or damaged" in run.errors
    assert "Nothing was applied" in run.errors or "make it again" in run.errors
    assert not (directory / ".billplan" / "sandbox-state.json").exists()


def test_a_changed_digit_in_the_raw_text_is_caught(saved: tuple[Path, Path]) -> None:
    # Edited as text, as a person would: 1000.00 becomes 9000.00 somewhere.
    _, out = saved
    text = out.read_text(encoding="utf-8")
    assert '"fee": 1000' in text
    out.write_text(text.replace('"fee": 1000', '"fee": 9000', 1), encoding="utf-8")
    with pytest.raises(planfile.PlanFileError, match="does not match its checksum"):
        planfile.load(out)
    json.loads(out.read_text(encoding="utf-8"))  # still valid JSON: only the checksum tells
