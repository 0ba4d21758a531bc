"""The billplan-validate pre-commit hook (.pre-commit-hooks.yaml), run by the real pre-commit
from PyPI on a new git repository, as a new user adds it (issue 19): with no `args` it
validates plans/, and where there is no plans/ it says to name the directory with
`args: [DIR]`, never `the following arguments are required: PATH`.

pre-commit installs billplan from this working tree (`try-repo`, which takes uncommitted
changes too) into an environment of its own, as it would from the published repository.
Skipped only on a developer's machine without pre-commit; in CI (CI=true), which installs
it (the test extra), a missing pre-commit fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "plans" / "examples"
PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which(
    "pre-commit"
)
pytestmark = pytest.mark.skipif(
    PRE_COMMIT is None and os.environ.get("CI") != "true", reason="pre-commit is not installed"
)


def _git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _hook_run(directory: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` of this repository's billplan-validate hook, on every file of the
    git repository at directory, with the hook's defaults (no `args`)."""
    _git(directory, "init", "-q")
    _git(directory, "add", "-A")
    _git(directory, "commit", "-q", "-m", "plans")
    assert PRE_COMMIT is not None, "pre-commit is not installed (the test extra installs it)"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    env.pop("PRE_COMMIT", None)  # as a user's shell has it, not as a hook of this repo would
    return subprocess.run(
        [
            PRE_COMMIT,
            "try-repo",
            str(REPO),
            "billplan-validate",
            "--all-files",
            "--color=never",
            "--verbose",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def test_the_hook_validates_plans_by_default(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(EXAMPLES, repository / "plans", ignore=shutil.ignore_patterns(".billplan"))

    done = _hook_run(repository, tmp_path / "pre-commit-home")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "billplan validate" in done.stdout and "Passed" in done.stdout
    assert "plans/: valid (13 projects" in done.stdout


def test_the_hook_says_to_name_the_plan_directory_where_there_is_no_plans_directory(
    tmp_path: Path,
) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(EXAMPLES, repository / "billing", ignore=shutil.ignore_patterns(".billplan"))

    done = _hook_run(repository, tmp_path / "pre-commit-home")

    shown = " ".join(done.stdout.split())
    assert done.returncode == 1
    assert "the following arguments are required" not in shown
    assert "plans/: no such plan directory here" in shown
    assert "`args: [DIR]`" in shown
