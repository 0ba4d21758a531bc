"""User text can never issue a GitHub Actions workflow command from billplan's output.

The runner reads every line a step prints, on stdout and stderr, and obeys it as a command
when it starts with `::` once leading spaces are trimmed (`::add-mask::x`, `::error::x`,
`::stop-commands::x`), or when it holds `##[` anywhere (the older form: `##[add-mask]x`).
A plan's description or key, or a vendor's text, that became such a line could hide words
from the log, plant annotations, or stop billplan's own annotations from showing. So user
text is shown with those sequences escaped (`#\\x23[`, `:\\x3a`), and output that is not a
terminal is never folded, so that no fold can start a line with user text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import AS_OF_TEXT, billplan, sandboxed, variant, write_plan

from compiler.render.safe import json_visible, markup, visible

# A description that word wrapping at 160 columns would fold right before its `::`.
FOLDED = "Kickoff " + "word " * 22 + "wordword ::add-mask::Kickoff"
# One word longer than 160 columns, which folding would cut right before its `::`.
FOLDED_WORD = "K" * 159 + "::add-mask::Kickoff"
LEGACY = "x ##[add-mask]Kickoff"


def commands(output: str) -> list[str]:
    """The lines of output a GitHub Actions runner would obey (ActionCommand.TryParseV2 and
    TryParse)."""
    return [line for line in output.splitlines() if line.lstrip().startswith("::") or "##[" in line]


@pytest.fixture(autouse=True)
def ci_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as a CI log gets it: not a terminal, no COLUMNS."""
    monkeypatch.delenv("COLUMNS", raising=False)


def test_user_text_shows_workflow_command_sequences_escaped() -> None:
    assert visible("##[add-mask]x") == "#\\x23[add-mask]x"
    assert visible("::add-mask::x") == ":\\x3aadd-mask::x"
    assert visible("a ::error::x") == "a :\\x3aerror::x"
    assert commands(visible("one\n  ::error::x", keep_newlines=True)) == []
    assert commands(markup("##[stop-commands]t")) == []


def test_colons_inside_a_word_are_shown_as_themselves() -> None:
    assert visible("Phase::one [::1]:8765") == "Phase::one [::1]:8765"


def test_json_writes_the_legacy_command_prefix_as_an_escape_of_the_same_data() -> None:
    value = {"description": LEGACY, "name": "##[##[ 東京"}
    text = json_visible(json.dumps(value, ensure_ascii=False, indent=2))

    assert commands(text) == []
    assert json.loads(text) == value


def test_a_changed_description_in_plan_and_apply_output_issues_no_command(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, variant(("{description: Kickoff,", f"{{description: '{FOLDED}',")))
    planned = sandboxed("plan", directory)
    write_plan(directory, variant(("{description: Kickoff,", f"{{description: {FOLDED_WORD},")))
    folded = sandboxed("plan", directory)
    write_plan(directory, variant(("{description: Kickoff,", f"{{description: '{LEGACY}',")))
    applied = sandboxed("apply", directory)

    assert planned.code == folded.code == applied.code == 0
    assert commands(planned.text + folded.text + applied.text) == []
    assert "wordword :\\x3aadd-mask::Kickoff" in planned.out
    assert "x #\\x23[add-mask]Kickoff" in applied.out


def test_a_hostile_key_in_validate_errors_issues_no_command_but_billplans_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    directory = write_plan(
        tmp_path / "billing",
        variant(("{description: Kickoff,", f"{{'{LEGACY}': 1, '::stop-commands::t': 2,")),
    )

    run = billplan("validate", directory)

    assert run.code == 1
    assert commands(run.err) == []
    annotations = commands(run.out)
    assert len(annotations) == len(run.err.splitlines()) - 1  # one per error, and the count
    assert all(line.startswith("::error file=") and "##[" not in line for line in annotations)


def test_render_json_issues_no_command(tmp_path: Path) -> None:
    directory = write_plan(
        tmp_path / "billing", variant(("{description: Kickoff,", f"{{description: '{LEGACY}',"))
    )

    run = billplan("render", directory, "--as-of", AS_OF_TEXT, "--format", "json")

    assert run.code == 0
    assert commands(run.out) == []
    descriptions = {item["description"] for item in json.loads(run.out)["items"]}
    assert LEGACY in descriptions
