"""A new user's first hour at the command line (issue 19): what billplan says when it is
given the wrong thing (a saved plan to `plan`, one fragment of a plan directory to
`validate`, a closed stdin to `apply`), and what an apply shows while it runs.

The terminal itself (the prompt, Ctrl-C) is read off a real one in
tests/test_first_hour_cli_terminal.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    AS_OF_TEXT,
    HEAD,
    PLAN,
    billplan,
    remote,
    remote_ids,
    sandboxed,
    write_plan,
)

PROJECTS_ONLY = PLAN  # a fragment: its projects, and nothing of HEAD's providers or version


def test_plan_given_a_saved_plan_says_to_apply_or_show_it(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    saved = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "-o", saved).code == 0

    run = billplan("plan", saved, "--sandbox")

    assert run.code == 1
    assert "is a saved plan" in run.errors
    assert f"billplan apply {saved} PATH" in run.errors
    assert f"billplan show {saved}" in run.errors
    assert "`projects` is required" not in run.errors


def test_validate_given_a_saved_plan_says_to_apply_or_show_it(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    saved = tmp_path / "reviewed.plan"  # `plan -o` takes any name
    assert sandboxed("plan", directory, "-o", saved).code == 0

    run = billplan("validate", saved)

    assert run.code == 1
    assert "is a saved plan" in run.errors and f"billplan show {saved}" in run.errors


def test_validating_one_fragment_says_which_directory_to_validate(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    directory.mkdir()
    (directory / "providers.yaml").write_text(HEAD, encoding="utf-8")
    fragment = directory / "cloud-infra.yaml"
    fragment.write_text(PROJECTS_ONLY, encoding="utf-8")

    run = billplan("validate", fragment, "--as-of", AS_OF_TEXT)

    assert run.code == 1
    assert "one fragment of the plan in" in run.errors
    assert f"billplan validate {directory}" in run.errors
    assert "the plan is valid" in run.errors
    assert "`providers` is required" not in run.errors
    assert billplan("validate", directory, "--as-of", AS_OF_TEXT).code == 0


def test_a_file_lacking_sections_that_no_other_file_gives_is_reported_as_before(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    directory.mkdir()
    fragment = directory / "cloud-infra.yaml"
    fragment.write_text(PROJECTS_ONLY, encoding="utf-8")
    (directory / "notes.yaml").write_text("vars: {po: PO-1}\n", encoding="utf-8")

    run = billplan("validate", fragment, "--as-of", AS_OF_TEXT)

    assert run.code == 1
    assert "`providers` is required here but missing" in run.errors
    assert "one fragment" not in run.errors


def test_apply_with_a_closed_stdin_says_it_needs_confirmation(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    command = [sys.executable, "-m", "compiler", "apply", str(directory), "--sandbox"]
    # `<&-`: the shell closes stdin before billplan starts, as a cron job or a detached run can.
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *command, "--as-of", AS_OF_TEXT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "apply needs confirmation: run it in a terminal, or pass --auto-approve" in " ".join(
        done.stderr.split()
    )
    assert "Apply cancelled; nothing was changed." in done.stdout


def test_apply_prints_a_line_per_object_written_with_its_count_time_and_remote_id(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")

    run = sandboxed("apply", directory)

    assert run.code == 0
    ids = remote_ids(directory)
    lines = [line for line in run.out.splitlines() if line.startswith("[")]
    assert len(lines) == 7
    shape = re.compile(r"\[(\d)/7 (\d+:\d\d)\] (\S+): created \(id (\S+)\)")
    seen = []
    for n, line in enumerate(lines, start=1):
        matched = shape.fullmatch(line)
        assert matched is not None, line
        assert int(matched[1]) == n
        assert ids[matched[3]] == matched[4]
        seen.append(matched[3])
    assert sorted(seen) == sorted(ids)
    assert run.out.index(lines[-1]) < run.out.index("Apply complete: 7 created.")


def test_a_failed_write_has_a_line_saying_so_and_its_error_at_the_end(tmp_path: Path) -> None:
    with remote() as ruddr:
        ruddr.admin.fault("POST", "/project-invoice-milestones", status=422)
        directory = write_plan(tmp_path / "billing", head=ruddr.head)

        run = ruddr.billplan("apply", directory)

    assert run.code == 1
    failed = [line for line in run.out.splitlines() if "failed (see below)" in line]
    assert len(failed) == 1 and re.fullmatch(r"\[\d/7 \d+:\d\d\] \S+: create failed.*", failed[0])
    address = failed[0].split("] ")[1].split(":")[0]
    assert f"{address}: Ruddr 422" in run.errors
    assert "Apply incomplete: 6 created; 1 failed." in run.out


EXAMPLES = Path(__file__).resolve().parents[1] / "plans" / "examples"
# Not the examples' .billplan/: README's command 1 applies them to a sandbox kept there, and a
# copy of that sandbox would make this plan one against it, not a first one.
LOCAL = shutil.ignore_patterns(".billplan")


def test_amounts_line_up_in_one_column_in_the_text_plan_on_completion_rows_too(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "examples"
    shutil.copytree(EXAMPLES, directory, ignore=LOCAL)

    run = sandboxed("plan", directory)

    assert run.code == 0
    rows = [line for line in run.out.splitlines() if line.startswith("  + create  ")]
    assert any("  on completion  " in row for row in rows)
    # Every amount ends where the others do: the rows, amount and currency last, are as long.
    assert len({len(row) for row in rows}) == 1, "\n".join(rows)
    months = run.out.split("Net change by month:\n")[1].split("\n\n")[0].splitlines()
    assert any(line.strip().startswith("on completion") for line in months)
    assert len({len(line) for line in months}) == 1, "\n".join(months)


def test_a_field_diff_shows_money_as_every_amount_is_shown(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, PLAN.replace("amount: 10000}", "amount: 18600}"))

    run = sandboxed("plan", directory)

    assert "      fee: 10,000.00 -> 18,600.00" in run.out.splitlines()
    assert "18,600.00 USD" in run.out  # the row's amount reads the same way


def _next_after_ctrl_c(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What an apply started with argv says to run next once Ctrl-C stopped it."""
    from compiler.apply import Applied
    from compiler.cli import _rerun_options, build_parser
    from compiler.operations.applying import Interrupted
    from compiler.render import apply_view

    args = build_parser().parse_args(["apply", *argv])
    saved = args.path if args.plan_dir else None
    path = args.plan_dir or args.path
    rerun = _rerun_options(args, saved is None)
    apply_view.interrupted(Interrupted(Applied(), 7, 0), path, saved, rerun)
    shown = " ".join(capsys.readouterr().err.split())
    return shown.split("Next: ")[1]


def test_after_ctrl_c_the_commands_to_run_next_keep_the_sandbox_and_the_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Without --sandbox, the suggested plan would go to the real vendors; without --target,
    # the suggested apply would apply the whole plan.
    shown = _next_after_ctrl_c(capsys, "plans/", "--sandbox", "--target", "acme/milestones")

    assert shown == (
        "`billplan plan plans/ --sandbox --target acme/milestones` shows what is left; "
        "`billplan apply plans/ --sandbox --target acme/milestones` to apply the rest."
    )


def test_after_ctrl_c_of_a_saved_plan_the_commands_keep_where_it_was_applied(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = _next_after_ctrl_c(
        capsys, "plan.json", "plans/", "--sandbox-url", "http://127.0.0.1:8765"
    )

    assert "`billplan plan plans/ --sandbox-url http://127.0.0.1:8765` shows what is left" in shown
    assert "then `billplan apply plan.json plans/ --sandbox-url http://127.0.0.1:8765`" in shown
