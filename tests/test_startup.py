"""Start-up: `billplan --help` imports nothing it does not print, `validate`, which reads
the provider registry, does not import the HTTP client, and neither `validate` nor `render
--format json` imports the terminal library when the plan holds (each in a fresh
interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What runs `billplan ARGS` in process and then names every module it imported.
RUN = """\
import contextlib, io, sys
from compiler.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
# A None entry is an import refused (compiler/__init__.py refuses httpx._main).
print(" ".join(sorted(name for name, module in sys.modules.items() if module is not None)))
"""
LIBRARIES = ("yaml", "jinja2", "rich", "httpx", "jsonschema", "deepdiff", "dateutil", "markupsafe")


def imported(*args: str) -> set[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        check=True,
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["plan", "--help"]])
def test_help_imports_only_what_builds_the_parser(args: list[str]) -> None:
    modules = imported(*args)
    assert {m for m in modules if m.split(".")[0] in LIBRARIES} == set()
    assert {m for m in modules if m.startswith("compiler")} == {
        "compiler",
        "compiler.cli",
        "compiler.credentials",
        "compiler.limits",
    }


def test_validate_reads_the_vendors_without_importing_the_http_client() -> None:
    modules = imported("validate", "plans/examples", "--as-of", "2026-01-01")
    assert "compiler.expand" in modules  # it did validate
    assert {"httpx", "deepdiff"} & modules == set()


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "plans/examples", "--as-of", "2026-01-01"],
        ["render", "plans/examples", "--as-of", "2026-01-01", "--format", "json"],
    ],
)
def test_a_plan_checked_without_a_problem_imports_no_terminal_library(args: list[str]) -> None:
    # rich, 35 ms of start-up, is for tables, colours and messages: neither prints one.
    modules = imported(*args)
    assert "compiler.expand" in modules
    assert {m for m in modules if m.split(".")[0] == "rich"} == set()


def test_a_plan_imports_deepdiff_only_once_a_pair_differs() -> None:
    # A tenth of a second before the first vendor request, which a no-op plan never needs.
    script = """\
import sys
from compiler.model.fields import field_changes
import compiler.workspace
field_changes({"fee": 1000, "note": None}, {"fee": 1000.0})
print("deepdiff" in sys.modules)
field_changes({"fee": 1000}, {"fee": 1001})
print("deepdiff" in sys.modules)
"""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True
    )
    assert done.stdout.split() == ["False", "True"]


def test_a_plan_starts_reading_the_vendors_before_importing_what_shows_it() -> None:
    # The slowest vendor's first request waits for whatever is imported before the read
    # ahead starts; showing and saving the plan (and rich) can be imported during its waits.
    script = """\
import sys
import compiler.workspace as workspace
from compiler.cli import main

def start(self, document):
    print(" ".join(sorted(n for n, m in sys.modules.items() if m is not None)))
    raise SystemExit(0)

workspace.ReadAhead.start = start
main(["plan", "plans/examples", "--as-of", "2026-01-01"])
"""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        check=True,
    )
    modules = set(done.stdout.split())
    assert "compiler.load" in modules  # the plan was loaded: the read ahead was starting
    shows = {"compiler.operations.planning", "compiler.planfile", "compiler.render.plan"}
    assert {m for m in modules if m in shows or m.split(".")[0] == "rich"} == set()
