"""A plan is the YAML in its own directory: a pull request cannot make billplan read plan
files from anywhere else by committing a symlink.

A symlink leading out would make a plan's meaning depend on the machine it runs on: a file
that exists in the apply job but not in the pull request's (the downloaded artifact, under
$RUNNER_TEMP), or any file of the runner. Such a link is an error at its file, in `validate`
and every command that reads the plan, whether its target exists or not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import AS_OF_TEXT, billplan, sandboxed, write_plan

EXTRA = """\
projects:
  extra:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    milestones:
      bonus: {description: Bonus, date: 2026-06-01, amount: 99999}
"""


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "repo" / "plans" / "billing")


def outside(tmp_path: Path) -> Path:
    """A plan fragment outside the plan's directory, as the apply job's artifact would be."""
    path = tmp_path / "runner-temp" / "reviewed" / "extra.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(EXTRA, "utf-8")
    return path


@pytest.mark.parametrize("command", ["validate", "render", "plan", "state list"])
def test_a_plan_file_that_is_a_symlink_leading_out_is_refused_at_its_file(
    directory: Path, tmp_path: Path, command: str
) -> None:
    link = directory / "extra.yaml"
    link.symlink_to(outside(tmp_path))
    if command in ("plan", "state list"):
        run = sandboxed(*command.split(), directory)
    else:
        run = billplan(
            command, directory, *(("--as-of", AS_OF_TEXT) if command == "render" else ())
        )

    assert run.code == 1, run.text
    assert f"{link}:1:1: $: extra.yaml leads out of the plan's directory" in run.errors
    assert "Bonus" not in run.text


def test_a_dangling_symlink_is_refused_rather_than_skipped(directory: Path, tmp_path: Path) -> None:
    # Absent in the pull request's job, present in the apply job: the plan would change.
    link = directory / "extra.yaml"
    link.symlink_to(tmp_path / "runner-temp" / "reviewed" / "extra.yaml")

    run = billplan("validate", directory)

    assert run.code == 1
    assert f"{link}:1:1: $: extra.yaml leads out of the plan's directory" in run.errors


def test_a_symlink_to_a_file_inside_the_plan_directory_is_read(directory: Path) -> None:
    (directory / "shared").mkdir()
    (directory / "shared" / "extra.txt").write_text(EXTRA, "utf-8")
    (directory / "extra.yaml").symlink_to(Path("shared") / "extra.txt")

    run = billplan("render", directory, "--as-of", AS_OF_TEXT, "--format", "csv")

    assert run.code == 0, run.text
    assert "extra/milestones/bonus" in run.out


def test_a_plan_file_named_on_the_command_line_may_not_lead_out_either(
    directory: Path, tmp_path: Path
) -> None:
    link = directory / "extra.yaml"
    link.symlink_to(outside(tmp_path))

    run = billplan("validate", link)

    assert run.code == 1
    assert "extra.yaml leads out of the plan's directory" in run.errors
