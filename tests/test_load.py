"""Loading plans: exact numbers, source marks, safe YAML only, fragments merged by section."""

from __future__ import annotations

import os
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from compiler import load as load_module
from compiler.diagnostics import Mark
from compiler.load import MAX_FILE_BYTES, LoadError, load


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_errors(target: Path) -> list[str]:
    with pytest.raises(LoadError) as caught:
        load(target)
    base = target if target.is_dir() else target.parent
    return [str(d).removeprefix(f"{base}/") for d in caught.value.diagnostics]


def test_a_number_with_a_fraction_is_read_as_the_decimal_written(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "p.yaml", "a: 1234.50\nb: 0.1\nc: 1000.25\n"))
    assert doc.root == {"a": Decimal("1234.50"), "b": Decimal("0.1"), "c": Decimal("1000.25")}
    assert str(doc.root["a"]) == "1234.50"  # the trailing zero survives: no float in between


def test_a_whole_number_is_an_int(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "p.yaml", "a: 15000\nb: -250\nc: 1e3\n"))
    assert doc.root == {"a": 15000, "b": -250, "c": 1000}


def test_numbers_are_read_as_yaml_1_2_reads_them_as_editors_do(tmp_path: Path) -> None:
    # Issue 19: billplan reads what yaml-language-server reads (YAML 1.2's core schema): 0100
    # is a hundred (not YAML 1.1's octal 64), 0x1F is 31, and 1:30 is text (not base 60).
    doc = load(write(tmp_path / "p.yaml", "a: 0100\nb: 0x1F\nc: 1:30\nd: 0\n"))
    assert doc.root == {"a": 100, "b": 31, "c": "1:30", "d": 0}


def test_dates_stay_text_until_their_meaning_is_checked(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "p.yaml", "a: 2026-02-30\nb: 2026-01-31\n"))
    assert doc.root == {"a": "2026-02-30", "b": "2026-01-31"}


def test_every_value_and_key_has_a_mark_with_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """
        projects:
          acme:
            cap: 300000
        """,
    )
    doc = load(path)
    assert doc.mark(("projects", "acme", "cap")) == Mark(str(path), 3, 10)
    assert doc.key_mark(("projects", "acme", "cap")) == Mark(str(path), 3, 5)
    # a path that was never written falls back to the nearest enclosing value
    assert doc.mark(("projects", "acme", "cap", "nothing")) == Mark(str(path), 3, 10)


def test_fragments_in_a_directory_merge_by_section(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "version: 1\nprojects:\n  one: {provider: x}\n")
    write(tmp_path / "b.yml", "version: 1\nprojects:\n  two: {provider: y}\nvars: {pm: Dana}\n")
    write(tmp_path / "notes.txt", "not a plan")
    doc = load(tmp_path)
    assert doc.root == {
        "version": 1,
        "projects": {"one": {"provider": "x"}, "two": {"provider": "y"}},
        "vars": {"pm": "Dana"},
    }
    assert [p.name for p in doc.files] == ["a.yaml", "b.yml"]
    assert doc.mark(("projects", "two")).file == str(tmp_path / "b.yml")


def test_an_empty_fragment_is_ignored_in_a_directory(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "version: 1\n")
    write(tmp_path / "empty.yaml", "# nothing yet\n")
    assert load(tmp_path).root == {"version": 1}


def test_the_same_var_in_two_fragments_is_an_error_naming_both_places(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "vars:\n  pm: Dana\n")
    write(tmp_path / "b.yaml", "vars:\n  pm: Lee\n")
    with pytest.raises(LoadError) as caught:
        load(tmp_path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{tmp_path}/b.yaml:2:3: $.vars.pm: vars.pm is defined twice: already at "
        f"{tmp_path}/a.yaml:2:3; keep one definition"
    ]


def test_a_scalar_section_given_two_different_values_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "version: 1\n")
    write(tmp_path / "b.yaml", "version: 2\n")
    assert load_errors(tmp_path) == [
        "b.yaml:1:1: $.version: version is defined twice: already at "
        f"{tmp_path}/a.yaml:1:1; keep one definition"
    ]


def test_a_yaml_merge_key_is_refused_in_favour_of_templates(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n")
    assert load_errors(path) == [
        "p.yaml:3:3: $.c: YAML merge keys (<<) are not supported; share settings with a "
        "template and `use:` instead"
    ]


def test_a_deeply_nested_document_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "a: " + "[" * 70 + "]" * 70 + "\n")
    (message,) = load_errors(path)
    assert message.startswith("p.yaml:1:4: $.a: YAML aliases expand to more than 200000 values")


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    assert load_errors(tmp_path / "nowhere") == ["nowhere:1:1: $: no such file or directory"]


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    (message,) = load_errors(path)
    assert message.startswith("p.yaml:1:1: $: cannot read file:")


def test_deep_nesting_that_libyaml_refuses_is_refused_without_recursion_error(
    tmp_path: Path,
) -> None:
    # libyaml stops at 1,000 levels; PyYAML's own composer, which then reports, recurses.
    path = write(tmp_path / "p.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    (message,) = load_errors(path)
    assert message.startswith("p.yaml:1:4: $.a: YAML aliases expand to more than 200000 values")


def test_a_plan_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.yaml")
    assert load_errors(tmp_path / "p.yaml") == [
        "p.yaml:1:1: $: this is a named pipe (FIFO), not a plan file; point billplan at a "
        ".yaml file or at the directory that holds the plan's files"
    ]


def test_a_plan_file_over_the_size_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    assert load_errors(path) == [
        "p.yaml:1:1: $: the file is larger than 2 MiB, the most a plan file may hold; split "
        "the plan into several files in one directory"
    ]


def test_the_files_of_a_plan_hold_a_bounded_number_of_values_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_module, "MAX_PLAN_NODES", 10)
    write(tmp_path / "a.yaml", "vars: {a: 1, b: 2, c: 3}\n")
    write(tmp_path / "b.yaml", "projects: {p: {x: 1, y: 2, z: 3}}\n")
    (message,) = load_errors(tmp_path)
    assert message.startswith("b.yaml:1:")
    assert "the plan's files hold more than 10 values together" in message
