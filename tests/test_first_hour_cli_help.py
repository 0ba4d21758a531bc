"""Every command's `--help` (issue 19) says what the command does, shows an example, and
explains what a new user cannot guess: `--format`, ADDRESS, REMOTE_ID and LOCK_ID. And
`text` and `table` are one format name on every command that has a view for people."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import billplan, write_plan

from compiler.cli import build_parser

EXPLAINED = ("ADDRESS", "REMOTE_ID", "LOCK_ID")


def _commands(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command that runs something (`state reject`, not `state`), with its words."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups and words:
        yield words, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from _commands(sub, (*words, name))


COMMANDS = dict(_commands(build_parser()))


def test_the_walk_finds_every_command() -> None:
    assert {" ".join(words) for words in COMMANDS} >= {
        "validate", "render", "forecast", "schema", "plan", "show", "apply", "state list",
        "state show", "state rm", "state reject", "force-unlock", "import", "generate",
        "sandbox serve", "sandbox invoice", "sandbox seed-portfolio",
    }  # fmt: skip


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_every_command_help_has_a_description_and_an_example(words: tuple[str, ...]) -> None:
    run = billplan(*words, "--help")

    assert run.code == 0
    usage, description, *_ = run.out.split("\n\n")
    assert usage.startswith(f"usage: billplan {' '.join(words)}")
    assert not description.lstrip().startswith(("positional arguments", "options")), run.out
    assert len(description.split()) >= 5, description
    example = run.out.split("\nexample", 1)
    assert len(example) == 2, f"no example in `billplan {' '.join(words)} --help`"
    assert f"billplan {' '.join(words)}" in example[1]


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_every_command_explains_its_format_and_the_ids_it_takes(words: tuple[str, ...]) -> None:
    parser = COMMANDS[words]
    for action in parser._actions:
        named = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        if named in EXPLAINED or "--format" in action.option_strings:
            assert action.help and len(action.help.split()) >= 6, (words, named)
    out = billplan(*words, "--help").out
    for name in EXPLAINED:
        if re.search(rf"\b{name}\b", out.split("\n\n")[0]):  # in the usage line
            # Listed under the arguments, with what it is beside it.
            assert re.search(rf"^  {name}\s+\S+ \S+ \S+", out, re.MULTILINE), (words, name, out)


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_every_option_and_argument_says_what_it_is(words: tuple[str, ...]) -> None:
    parser = COMMANDS[words]
    bare = [
        action.option_strings[0] if action.option_strings else action.dest
        for action in parser._actions
        if action.help != argparse.SUPPRESS and not action.help
    ]
    assert not bare, f"`billplan {' '.join(words)} --help` leaves unexplained: {bare}"


FORMATS_FOR_PEOPLE = ["render", "forecast", "plan", "show"]


@pytest.mark.parametrize("command", FORMATS_FOR_PEOPLE)
def test_text_and_table_are_one_format_name_everywhere(command: str, tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    target: Path = directory
    if command == "show":
        target = tmp_path / "plan.json"
        assert billplan("plan", directory, "--sandbox", "-o", target).code == 0
    sandbox = ("--sandbox",) if command == "plan" else ()

    as_text = billplan(command, target, "--format", "text", *sandbox)
    as_table = billplan(command, target, "--format", "table", *sandbox)

    assert as_text.code == 0, as_text.text
    assert as_table.code == 0, as_table.text
    assert as_text.out == as_table.out
    assert "{text," in billplan(command, "--help").out  # one canonical name in the help


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_help_breaks_lines_at_spaces_never_inside_an_address_or_a_flag(
    words: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cloud-` then `infra/recurring/...` on the next line reads, and is copied, as two words.
    monkeypatch.setenv("COLUMNS", "100")
    run = billplan(*words, "--help")

    broken = [line for line in run.out.splitlines() if re.search(r"\w-$", line)]
    assert broken == [], run.out
