"""The GitHub Actions workflow (plans/ci/billplan.yml) and the pre-commit hook
(.pre-commit-hooks.yaml) as files: they parse, and every billplan command they run is a real
command with real flags, so a team that copies them gets runs that work.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.cli import build_parser
from compiler.diff import Plan
from compiler.render.plan import to_markdown

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "plans" / "ci" / "billplan.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
MARKER = "<!-- billplan-plan -->"


def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as true.
    return {("on" if key is True else key): value for key, value in loaded.items()}


def steps(job: str) -> list[dict[str, Any]]:
    return workflow()["jobs"][job]["steps"]


def scripts(job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def billplan_commands(script: str) -> list[list[str]]:
    """Each `billplan ...` command in a shell script, its words with shell variables filled in
    and redirections dropped."""
    found = []
    for match in re.finditer(r"(?m)^\s*(?:if !\s*)?billplan ([^\n|;&>)]+)", script):
        words = shlex.split(match.group(1).replace('"', ""))
        found.append([re.sub(r"\$\{?\w+\}?", "x", word) for word in words])
    return found


def test_the_workflow_has_the_three_jobs_on_their_events() -> None:
    flow = workflow()
    assert set(flow["on"]) >= {"pull_request", "push", "schedule"}
    assert flow["on"]["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert "pull_request" in jobs["plan"]["if"]
    assert "push" in jobs["apply"]["if"]
    assert "schedule" in jobs["drift"]["if"]


def test_permissions_are_minimal() -> None:
    flow = workflow()
    assert flow["permissions"] == {"contents": "read"}
    jobs = flow["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {
        "contents": "read", "actions": "read", "pull-requests": "read"
    }  # fmt: skip
    assert jobs["drift"]["permissions"] == {"contents": "read"}


def test_two_applies_never_run_at_once_and_none_is_cancelled() -> None:
    concurrency = workflow()["jobs"]["apply"]["concurrency"]
    assert concurrency == {"group": "billplan-apply", "cancel-in-progress": False}


def test_the_pull_request_job_validates_plans_posts_and_uploads_in_that_order() -> None:
    runs = billplan_commands(scripts("plan"))
    assert [words[0] for words in runs] == ["validate", "plan"]
    plan = runs[1]
    assert {"-o", "plan.json", "--format", "markdown"} <= set(plan)
    names = [step.get("name") or step.get("uses") for step in steps("plan")]
    assert names.index("Plan") < names.index("Post or update the plan comment")
    upload = next(s for s in steps("plan") if str(s.get("uses", "")).startswith("actions/upload"))
    assert upload["with"]["name"] == "billplan-plan" and upload["with"]["path"] == "plan.json"


def test_the_comment_is_found_by_the_marker_the_markdown_plan_carries() -> None:
    assert MARKER in scripts("plan")
    assert MARKER in to_markdown(Plan())


def test_the_apply_job_applies_the_artifact_the_plan_job_uploaded() -> None:
    script = scripts("apply")
    assert "gh run download" in script and "--name billplan-plan" in script
    assert "--dir reviewed" in script
    (apply,) = billplan_commands(script)
    assert apply == ["apply", "reviewed/plan.json", "--auto-approve"]
    assert "re-run the pull request's plan" in script


def test_the_drift_job_alerts_with_the_detailed_exit_code() -> None:
    (drift,) = billplan_commands(scripts("drift"))
    assert drift[0] == "plan" and {"--refresh-only", "--detailed-exitcode"} <= set(drift)


def test_every_billplan_command_in_the_workflow_parses() -> None:
    parser = build_parser()
    commands = [c for job in ("plan", "apply", "drift") for c in billplan_commands(scripts(job))]
    assert len(commands) == 4
    for words in commands:
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"`billplan {' '.join(words)}` is not a valid billplan command")


def test_secrets_come_from_the_environment() -> None:
    env = workflow()["env"]
    for name in ("RUDDR_API_TOKEN", "KANTATA_API_TOKEN", "WETHOD_API_TOKEN", "COPERNIQ_API_KEY"):
        assert env[name] == f"${{{{ secrets.{name} }}}}"


# ---- the pre-commit hook -----------------------------------------------------------------


def hook() -> dict[str, Any]:
    (only,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    return only


def test_the_hook_validates_whole_plans_not_the_changed_files() -> None:
    entry = hook()
    assert entry["id"] == "billplan-validate"
    assert entry["entry"] == "billplan validate"
    assert entry["language"] == "python"
    assert entry["pass_filenames"] is False
    assert entry["types"] == ["yaml"]


def _run_hook(*args: str) -> subprocess.CompletedProcess[str]:
    """The hook's entry as pre-commit runs it, with `billplan` being this interpreter's."""
    words = hook()["entry"].split()
    assert words[0] == "billplan"
    command = [sys.executable, "-m", "compiler", *words[1:], *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_hook_entry_runs_and_passes_on_a_valid_plan_directory() -> None:
    done = _run_hook("plans/examples")

    assert done.returncode == 0, done.stderr
    assert "plans/examples: valid" in done.stdout


def test_the_hook_does_not_pass_single_fragments_because_one_alone_is_not_a_plan() -> None:
    done = _run_hook("plans/examples/retainer.yaml")

    assert done.returncode == 1
    assert "`providers` is required here but missing" in done.stderr
