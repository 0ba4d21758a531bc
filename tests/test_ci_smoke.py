"""The CI workflow's steps, run for real: plans/ci/smoke.sh against the sandbox, and the review
guarantee end to end (a saved plan applies exactly what was reviewed, or, if a remote object
changed behind billplan's back since, refuses, lists it and writes nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import (
    KICKOFF,
    LICENSES,
    MILESTONE,
    billplan,
    plan_sandbox,
    remote_ids,
    sandboxed,
    state_file,
    variant,
    write_plan,
)

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "plans" / "ci" / "smoke.sh"


def test_the_smoke_script_runs_every_workflow_step_against_the_sandbox(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None, "the smoke script needs bash"
    # The billplan of this interpreter, whatever virtualenv runs the tests.
    env = {**os.environ, "BILLPLAN": f"{sys.executable} -m compiler", "TMPDIR": str(tmp_path)}
    env.pop("BILLPLAN_SANDBOX", None)

    done = subprocess.run(
        [bash, str(SMOKE)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("validate", "plan -o plan.json", "apply plan.json", "a second plan",
                 "a stale saved plan is refused", "all steps passed"):  # fmt: skip
        assert f"== smoke: {name}" in done.stdout
    assert "change-request-01: was invoiced since the plan was made" in done.stdout
    assert list(tmp_path.iterdir()) == [], "the smoke script left its work directory behind"


def test_the_smoke_script_fails_loudly_without_a_billplan(tmp_path: Path) -> None:
    copy = tmp_path / "repo" / "plans" / "ci"
    copy.mkdir(parents=True)
    shutil.copy(SMOKE, copy / "smoke.sh")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    done = subprocess.run(["bash", str(copy / "smoke.sh")], env=env, capture_output=True, text=True)

    assert done.returncode == 1
    assert "smoke: no billplan found" in done.stderr


def test_a_reviewed_plan_applies_exactly_the_saved_changes(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, variant(("amount: 10000}", "amount: 12000}")))
    out = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "-o", out).code == 0

    run = billplan("apply", out, directory, "--sandbox", "--auto-approve")

    assert run.code == 0, run.text
    assert "Apply complete: 1 updated." in run.out
    with plan_sandbox(directory) as admin:
        assert admin.get(MILESTONE, remote_ids(directory)[KICKOFF])["fee"] == 12000


def test_a_reviewed_plan_is_refused_when_main_says_otherwise_after_the_review(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, variant(("amount: 10000}", "amount: 12000}")))
    out = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "-o", out).code == 0
    write_plan(directory, variant(("amount: 10000}", "amount: 99000}")))  # after the review

    run = billplan("apply", out, directory, "--sandbox", "--auto-approve")

    assert run.code == 1
    assert f"{KICKOFF}: fee: the saved plan has 12000.00, the merged plan has 99000.00" in (
        run.errors
    )
    with plan_sandbox(directory) as admin:
        assert admin.get(MILESTONE, remote_ids(directory)[KICKOFF])["fee"] == 10000


def test_a_reviewed_plan_is_refused_when_an_object_changed_behind_billplans_back(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, variant(("amount: 10000}", "amount: 12000}")))
    out = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "-o", out).code == 0
    ids = remote_ids(directory)
    with plan_sandbox(directory) as admin:
        admin.edit(MILESTONE, ids[KICKOFF], name="Kick-off, renamed in Ruddr")
    before = state_file(directory).read_bytes()

    run = billplan("apply", out, directory, "--sandbox", "--auto-approve")

    assert run.code == 1
    assert f"{KICKOFF}: changed remotely since the plan was made" in run.errors
    assert f"{out} is stale: 1 object(s) changed since it was made" in run.errors
    assert LICENSES not in run.errors  # only what moved is listed
    assert state_file(directory).read_bytes() == before
    with plan_sandbox(directory) as admin:
        assert admin.get(MILESTONE, ids[KICKOFF])["fee"] == 10000
