"""Hostile text is shown escaped, never obeyed: whatever a plan's author or a vendor's user
typed, no output of billplan can clear a terminal, retitle it, plant a hyperlink, reorder a
line or rewrite the lines around it.

The hostile text below holds each kind: a CSI screen clear, an OSC window title, an OSC 8
hyperlink, a carriage return, a backspace, DEL, the C1 control CSI, bidi overrides and
isolates, a zero-width space, and rich markup. It reaches billplan as a description, a key,
a file name, what a vendor holds (an object edited or made by hand) and a vendor's error.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from support import (
    AS_OF_TEXT,
    KICKOFF,
    MILESTONE,
    Remote,
    billplan,
    plan_sandbox,
    remote_ids,
    sandboxed,
    state_file,
    variant,
    write_plan,
)

from compiler.render.safe import json_visible, markup, visible

OSC8_LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
HOSTILE = (
    "Kickoff\x1b[2J\x1b[H\x1b]0;owned\x07" + OSC8_LINK + "\rFORGED\x08\x7f\x9b2J"
    "\u202eevil\u202c\u2066iso\u2069\u200b [bold]B[/bold] [link=https://evil.example]L[/link]"
)
# What must never reach a terminal as itself, and how each is shown instead.
RAW = ("\x1b", "\x07", "\r", "\x08", "\x7f", "\x9b", "\u202e", "\u202c", "\u2066", "\u200b")
SHOWN = ("\\x1b[2J", "\\x1b]0;owned\\x07", "\\r", "\\x08", "\\x7f", "\\x9b", "\\u202e",
         "\\u2066", "\\u200b")  # fmt: skip
MARKUP = ("[bold]B[/bold]", "[link=https://evil.example]L[/link]")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """No line folding: each hostile text stays on one line, to be found whole."""
    monkeypatch.setenv("COLUMNS", "1000")


def yaml_text(text: str) -> str:
    """text as a YAML double-quoted scalar: JSON's escapes are YAML's."""
    return json.dumps(text)


def assert_inert(output: str) -> None:
    raw = [char for char in RAW if char in output]
    assert not raw, f"raw {raw!r} reached the output: {output!r}"


def assert_shown(output: str) -> None:
    assert_inert(output)
    missing = [shown for shown in SHOWN if shown not in output]
    assert not missing, f"{missing!r} not shown in {output!r}"


# ---- the rule ----------------------------------------------------------------------------


def test_every_control_escape_and_bidi_character_is_shown_as_its_escape() -> None:
    assert visible(HOSTILE).startswith("Kickoff\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x1b]8;;")
    assert_shown(visible(HOSTILE))


def test_other_scripts_emoji_and_joiners_are_shown_as_themselves() -> None:
    text = "Façade Ünïcode 東京\u3000オフィス مهر\u200cداد 👩\u200d💻 Ω ₹ € —"

    assert visible(text) == text


def test_a_newline_is_escaped_unless_the_message_has_several_lines_by_design() -> None:
    assert visible("one\ntwo") == "one\\ntwo"
    assert visible("one\ntwo\x1b", keep_newlines=True) == "one\ntwo\\x1b"


def test_rich_markup_in_user_text_is_shown_as_typed() -> None:
    assert markup("[bold]B[/bold]\x1b") == "\\[bold]B\\[/bold]\\x1b"


def test_json_keeps_the_same_data_with_hidden_characters_written_as_escapes() -> None:
    value = {"name": HOSTILE + "\U000e0041 東京"}
    text = json_visible(json.dumps(value, ensure_ascii=False))

    assert_inert(text)
    assert "\\u202e" in text and "\\udb40\\udc41" in text and "東京" in text
    assert json.loads(text) == value


# ---- errors ------------------------------------------------------------------------------

BAD_KEYS = """\
version: 1
providers:
  ruddr: {type: ruddr}
defaults: {currency: USD}
projects:
  %s:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    milestones:
      kickoff: {description: Kickoff, date: 2026-01-15, amount: 100, %s: 1}
"""


@pytest.fixture
def bad_keys(tmp_path: Path) -> Path:
    """A plan whose keys are hostile, in a file whose name is hostile too."""
    path = tmp_path / "plan\x1b[2J\u202e,a:b%.yaml"
    path.write_text(BAD_KEYS % (yaml_text("acme" + HOSTILE), yaml_text(HOSTILE)), "utf-8")
    return path


def test_validate_errors_show_hostile_keys_and_file_names_escaped(bad_keys: Path) -> None:
    run = billplan("validate", bad_keys)

    assert run.code == 1
    assert_shown(run.err)
    assert "plan\\x1b[2J\\u202e,a:b%.yaml:6:3: $.projects.acmeKickoff\\x1b[2J" in run.err
    lines = run.err.splitlines()
    assert len(lines) == 3 and lines[-1] == "2 errors found."  # one line per diagnostic


def test_github_annotations_escape_user_text_and_their_own_syntax(
    bad_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    run = billplan("validate", bad_keys)

    annotations = run.out.splitlines()
    assert len(annotations) == 2
    assert_inert(run.out)
    # In a property, `,` and `:` would end it and start another; `%` starts an escape.
    assert annotations[0].startswith(
        f"::error file={bad_keys.parent}/plan\\x1b[2J\\u202e%2Ca%3Ab%25.yaml,line=6,col=3::"
    )
    assert annotations[0].count("::") == 2
    assert "FORGED" in annotations[0] and "%0D" not in annotations[0]


def test_an_error_quoting_a_command_line_argument_shows_it_escaped(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = billplan("state", "show", HOSTILE, directory, "--sandbox")

    assert run.code == 1
    assert_shown(run.err)
    assert all(text in run.errors for text in MARKUP)


def test_a_vendor_error_message_is_shown_escaped(ruddr: Remote, tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    ruddr.admin.fault("GET", status=422, message=HOSTILE, times=10)

    run = ruddr.billplan("plan", directory)

    assert run.code == 1
    assert_shown(run.err)
    assert all(text in run.errors for text in MARKUP)


# ---- a plan with hostile descriptions, and a vendor holding hostile text ------------------

HOSTILE_PLAN = variant(
    ("{description: Kickoff,", "{description: " + yaml_text(HOSTILE) + ","),
    ("name: Cloud Infrastructure Services", "name: " + yaml_text("Cloud " + HOSTILE)),
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile plan applied to its sandbox; then, behind billplan's back, one managed
    object renamed to hostile text and one object made by hand with it (unmanaged), and the
    plan's kickoff description changed (an update showing old and new)."""
    directory = write_plan(tmp_path_factory.mktemp("hostile") / "billing", HOSTILE_PLAN)
    assert sandboxed("apply", directory).code == 0
    retainer = remote_ids(directory)["cloud-infra/recurring/retainer/2026-01"]
    with plan_sandbox(directory) as admin:
        admin.edit(MILESTONE, retainer, name="Retainer " + HOSTILE)
        admin.add(MILESTONE, name="By hand " + HOSTILE, date="2026-05-01", fee=5)
    write_plan(
        directory, variant((yaml_text(HOSTILE), yaml_text(HOSTILE + " v2")), body=HOSTILE_PLAN)
    )
    return directory


def test_render_shows_hostile_descriptions_escaped_in_its_table(hostile: Path) -> None:
    run = billplan("render", hostile, "--as-of", AS_OF_TEXT)

    assert run.code == 0, run.text
    assert_shown(run.out)
    assert f"│ {visible(HOSTILE)} v2 " in run.out


def test_render_csv_shows_hostile_descriptions_escaped_one_row_per_item(hostile: Path) -> None:
    # A spreadsheet's input, but often read on a terminal or in a CI log: a raw newline would
    # let a description start a line of its own (`::add-mask::`, see test_workflow_commands).
    run = billplan("render", hostile, "--as-of", AS_OF_TEXT, "--format", "csv")

    assert run.code == 0, run.text
    assert_shown(run.out)
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(run.out.splitlines()) == len(rows) + 1
    assert f"{visible(HOSTILE)} v2" in {row["description"] for row in rows}


def test_plan_text_shows_hostile_plan_and_vendor_text_escaped(hostile: Path) -> None:
    run = sandboxed("plan", hostile)

    assert run.code == 0, run.text
    assert_shown(run.text)
    assert f'"Retainer {visible(HOSTILE)}" -> "Retainer January 2026"' in run.out
    assert "By hand Kickoff\\x1b[2J" in run.out  # the unmanaged object
    assert all(text in run.out for text in MARKUP)


def test_plan_markdown_shows_hostile_plan_and_vendor_text_escaped(hostile: Path) -> None:
    run = sandboxed("plan", hostile, "--format", "markdown")

    assert run.code == 0, run.text
    assert_inert(run.out)
    # Backslash-escaped for markdown: the reader sees \x1b, \u202e.
    assert "Kickoff\\\\x1b\\[2J" in run.out and "\\\\u202e" in run.out


def test_plan_json_keeps_hostile_text_as_data_with_escapes(hostile: Path) -> None:
    run = sandboxed("plan", hostile, "--format", "json")

    assert run.code == 0, run.text
    assert_inert(run.out)
    names = {
        change["before"]["name"]
        for change in json.loads(run.out)["changes"]
        if change["before"] and "name" in change["before"]
    }
    assert "Retainer " + HOSTILE in names


def test_refresh_only_shows_what_the_vendor_holds_escaped(hostile: Path) -> None:
    text = sandboxed("plan", hostile, "--refresh-only")
    markdown = sandboxed("plan", hostile, "--refresh-only", "--format", "markdown")

    assert text.code == markdown.code == 0
    assert_shown(text.out)
    assert_shown(markdown.out)
    assert f'-> "Retainer {visible(HOSTILE)}"' in text.out


def test_a_vendor_value_cannot_close_the_drift_comments_code_block(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    with plan_sandbox(directory) as admin:
        admin.edit(MILESTONE, remote_ids(directory)[KICKOFF], name="x\n```\n<img src=x>\n````")

    run = sandboxed("plan", directory, "--refresh-only", "--format", "markdown")

    fence = "`````"
    assert f"{fence}diff\n" in run.out and f"\n{fence}\n" in run.out
    assert 'name: "Kickoff" -> "x\\n```\\n<img src=x>\\n````"' in run.out


def test_forecast_of_a_hostile_plan_prints_nothing_raw(hostile: Path) -> None:
    run = billplan("forecast", hostile, "--as-of", AS_OF_TEXT, "--from", HOSTILE)

    assert run.code == 1
    assert_inert(run.text)


def test_state_list_and_show_escape_what_the_state_holds(hostile: Path, tmp_path: Path) -> None:
    path = state_file(hostile)
    raw = json.loads(path.read_text("utf-8"))
    raw["entries"][0]["remote_id"] = HOSTILE
    copy = write_plan(tmp_path / "copy", variant(body=HOSTILE_PLAN))
    state_file(copy).parent.mkdir()
    state_file(copy).write_text(json.dumps(raw), "utf-8")
    address = raw["entries"][0]["address"]

    listed = billplan("state", "list", copy, "--sandbox")
    shown = billplan("state", "show", address, copy, "--sandbox")

    assert listed.code == shown.code == 0
    assert_shown(listed.out)
    assert f"{address}\t{MILESTONE}\t{visible(HOSTILE)}\n" in listed.out
    assert_inert(shown.out)
    assert json.loads(shown.out)["remote_id"] == HOSTILE


def test_an_abandoned_lock_file_is_described_escaped_when_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A lock file nobody holds (committed, or left by a run that died) says who took it.
    directory = write_plan(tmp_path / "billing")
    lock = state_file(directory).with_name("sandbox-state.json.lock")
    lock.parent.mkdir()
    lock.write_text(json.dumps({"id": "l", "operation": "apply", "who": HOSTILE, "pid": 1,
                                "created": "2026-11-23T00:00:00Z"}), "utf-8")  # fmt: skip

    run = sandboxed("apply", directory)

    assert run.code == 0, run.text
    assert "by Kickoff\\x1b[2J" in caplog.text  # the warning billplan prints on stderr
    assert_inert(caplog.text)


def test_a_hostile_project_name_in_the_sandbox_notes_is_shown_escaped(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", HOSTILE_PLAN)

    run = sandboxed("plan", directory)

    assert run.code == 0, run.text
    assert f"(Cloud {visible(HOSTILE)}, fixed_recurring)" in run.errors
    assert_inert(run.err)


def test_import_refusing_a_hostile_remote_id_shows_it_escaped(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = sandboxed("import", KICKOFF, HOSTILE, directory)

    assert run.code == 1
    assert_shown(run.err)


def test_import_refuses_an_id_that_would_change_the_url_it_reads(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = sandboxed("import", KICKOFF, "../../projects/x", directory)

    assert run.code == 1
    assert "'../../projects/x' is not an id a vendor gives" in run.errors
