"""The GitHub Actions workflow (plans/ci/billplan.yml) and the pre-commit hook
(.pre-commit-hooks.yaml) as files: they parse, every billplan command they run is a real
command with real flags, and the workflow keeps its trust boundary (docs/ci.md): the pull
request's jobs hold no credential that can write, write credentials live only in the
environment limited to main, and apply checks the reviewed plan against the merged main.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.cli import build_parser
from compiler.model.change import Plan
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


JOBS = ("plan", "comment", "apply", "drift")
# The secrets that can write at a vendor or to billplan's state.
WRITE_SECRETS = ("RUDDR_API_TOKEN", "KANTATA_API_TOKEN", "WETHOD_API_TOKEN", "COPERNIQ_API_KEY",
                 "BILLPLAN_PG_DSN")  # fmt: skip


def secrets_of(job: str) -> set[str]:
    """The names of the secrets a job's definition mentions, anywhere in it."""
    text = yaml.safe_dump(workflow()["jobs"][job])
    return set(re.findall(r"secrets\.(\w+)", text))


def test_the_workflow_has_its_jobs_on_their_events() -> None:
    flow = workflow()
    assert set(flow["on"]) >= {"pull_request", "push", "schedule"}
    assert flow["on"]["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert set(jobs) == set(JOBS)
    assert "pull_request" in jobs["plan"]["if"] and "pull_request" in jobs["comment"]["if"]
    assert jobs["comment"]["needs"] == "plan"
    assert "push" in jobs["apply"]["if"] and "refs/heads/main" in jobs["apply"]["if"]
    assert "schedule" in jobs["drift"]["if"]


def test_permissions_are_minimal() -> None:
    flow = workflow()
    assert flow["permissions"] == {}
    jobs = flow["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {
        "contents": "read", "actions": "read", "pull-requests": "read"
    }  # fmt: skip
    assert jobs["drift"]["permissions"] == {"contents": "read"}


def test_the_pull_request_jobs_hold_no_credential_that_can_write() -> None:
    assert secrets_of("plan") == {
        "KANTATA_READ_TOKEN", "WETHOD_READ_TOKEN", "COPERNIQ_READ_KEY", "BILLPLAN_PG_READ_DSN"
    }  # fmt: skip
    assert workflow()["jobs"]["plan"]["environment"] == "billplan-plan"
    assert secrets_of("comment") == set()
    # Nothing secret reaches every job.
    assert "secrets." not in yaml.safe_dump(workflow().get("env", {}))


def test_the_read_only_tokens_reach_billplan_under_the_vendors_variable_names() -> None:
    env = workflow()["jobs"]["plan"]["env"]
    assert env == {
        "KANTATA_API_TOKEN": "${{ secrets.KANTATA_READ_TOKEN }}",
        "WETHOD_API_TOKEN": "${{ secrets.WETHOD_READ_TOKEN }}",
        "COPERNIQ_API_KEY": "${{ secrets.COPERNIQ_READ_KEY }}",
        "BILLPLAN_PG_DSN": "${{ secrets.BILLPLAN_PG_READ_DSN }}",
    }
    # Ruddr's keys can always write, so the pull request plans Ruddr from state.
    (_, plan) = billplan_commands(scripts("plan"))
    assert plan[plan.index("--no-refresh") + 1] == "ruddr"


def test_write_credentials_live_only_in_the_environment_limited_to_main() -> None:
    jobs = workflow()["jobs"]
    for job in JOBS:
        if secrets_of(job) & set(WRITE_SECRETS):
            assert jobs[job].get("environment") == "billplan-apply", job
    env = jobs["apply"]["env"]
    assert {name: env[name] for name in WRITE_SECRETS} == {
        name: f"${{{{ secrets.{name} }}}}" for name in WRITE_SECRETS
    }


def test_every_action_is_pinned_to_a_full_commit_with_its_version_beside_it() -> None:
    uses = re.findall(r"(?m)^\s*- uses: (\S+)(.*)$", WORKFLOW.read_text(encoding="utf-8"))
    assert uses
    for action, rest in uses:
        assert re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", rest), f"{action}: no version comment"


def test_no_checkout_keeps_its_token_and_no_script_expands_an_expression() -> None:
    for job in JOBS:
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job
                assert "ref" not in step["with"], job  # the event's own commit: main on push
            assert "${{" not in step.get("run", ""), f"{job}: {step.get('name')}"


def test_two_applies_never_run_at_once_and_none_is_cancelled() -> None:
    concurrency = workflow()["jobs"]["apply"]["concurrency"]
    assert concurrency == {"group": "billplan-apply", "cancel-in-progress": False}


def test_the_pull_request_job_validates_plans_and_uploads_the_plan_and_comment() -> None:
    runs = billplan_commands(scripts("plan"))
    assert [words[0] for words in runs] == ["validate", "plan"]
    plan = runs[1]
    assert {"-o", "plan.json", "--format", "markdown"} <= set(plan)
    upload = next(s for s in steps("plan") if str(s.get("uses", "")).startswith("actions/upload"))
    assert upload["with"]["name"] == "billplan-plan"
    assert upload["with"]["path"].split() == ["plan.json", "comment.md"]


def test_the_comment_job_posts_the_uploaded_comment_and_runs_no_billplan() -> None:
    download = steps("comment")[0]
    assert str(download["uses"]).startswith("actions/download-artifact@")
    assert download["with"] == {"name": "billplan-plan"}
    assert billplan_commands(scripts("comment")) == []
    assert "body=@comment.md" in scripts("comment")


def test_the_comment_is_found_by_the_marker_the_markdown_plan_carries() -> None:
    assert MARKER in scripts("comment")
    assert MARKER in to_markdown(Plan())


def test_the_comment_job_updates_only_a_comment_it_posted() -> None:
    # Anyone can comment the marker on a pull request before the first plan runs.
    program = re.search(r'--jq "(.*?)" \| head', scripts("comment"))
    assert program is not None
    find = program.group(1).replace('\\"', '"').replace("$marker", MARKER)
    comments = [
        {"id": 1, "user": {"login": "attacker"}, "body": f"{MARKER}\nNo changes."},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "Thanks for the PR!"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\n### plan"},
    ]

    run = jq(find, comments)

    assert run.stdout.split() == ["3"]


def test_the_apply_job_checks_the_reviewed_plan_against_the_merged_main() -> None:
    script = scripts("apply")
    assert "gh run download" in script and "--name billplan-plan" in script
    assert 'billplan apply "$REVIEWED/plan.json" "$PLAN_DIR" --auto-approve' in script
    assert "re-run the pull request's plan" in script


def test_the_reviewed_plan_lands_where_no_file_of_main_can_point() -> None:
    # A fixed path ($RUNNER_TEMP/reviewed) could be named by a symlink a pull request commits
    # (plans/billing itself, say), making the artifact's files part of "main".
    fetch, apply = (s for s in steps("apply") if "billplan apply" in s.get("run", "")
                    or "gh run download" in s.get("run", ""))  # fmt: skip
    assert 'dir=$(mktemp -d "$RUNNER_TEMP/reviewed.XXXXXXXXXX")' in fetch["run"]
    assert '--name billplan-plan --dir "$dir"' in fetch["run"]
    assert 'echo "dir=$dir" >> "$GITHUB_OUTPUT"' in fetch["run"]
    assert apply["env"] == {"REVIEWED": f"${{{{ steps.{fetch['id']}.outputs.dir }}}}"}


def jq(program: str, document: Any, **args: str) -> subprocess.CompletedProcess[str]:
    options = [word for name, value in args.items() for word in ("--arg", name, value)]
    return subprocess.run(
        ["jq", "-e", *options, program], input=json.dumps(document), capture_output=True,
        text=True, check=False,
    )  # fmt: skip


SAVED = {"as_of": "2026-11-23", "targets": {"include": [], "exclude": []}, "changes": []}


@pytest.mark.parametrize(
    ("edit", "accepted"),
    [
        ({}, True),
        ({"as_of": "2026-11-24"}, True),  # re-run the next day
        ({"as_of": "2000-01-01"}, False),  # would drop open-ended charges' later periods
        ({"as_of": "2026-11-25"}, False),
        ({"as_of": 20261123}, False),
        ({"targets": {"include": ["acme"], "exclude": []}}, False),
        ({"targets": {"include": [], "exclude": ["acme/milestones/kickoff"]}}, False),
    ],
)
def test_apply_takes_only_a_saved_plan_its_pull_request_run_could_have_made(
    edit: dict[str, Any], accepted: bool
) -> None:
    fetch = next(s for s in steps("apply") if "gh run download" in s.get("run", ""))
    assert '"$REVIEWABLE" "$dir/plan.json"' in fetch["run"]

    run = jq(fetch["env"]["REVIEWABLE"], {**SAVED, **edit}, **{"from": "2026-11-23"},
             to="2026-11-24")  # fmt: skip

    assert (run.returncode == 0) is accepted, run.stderr


def test_the_drift_job_alerts_with_the_detailed_exit_code() -> None:
    (drift,) = billplan_commands(scripts("drift"))
    assert drift[0] == "plan" and {"--refresh-only", "--detailed-exitcode"} <= set(drift)


def test_every_billplan_command_in_the_workflow_parses() -> None:
    parser = build_parser()
    commands = [c for job in JOBS for c in billplan_commands(scripts(job))]
    assert len(commands) == 4
    for words in commands:
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"`billplan {' '.join(words)}` is not a valid billplan command")


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
    assert "is one fragment of the plan in plans/examples/" in done.stderr
    assert "`billplan validate plans/examples`" in done.stderr


def _run_step(job: str, name: str, tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run one step's script under bash, as the runner would, with a stub `billplan` on PATH
    that exits with $STUB_CODE; the exit code and what it wrote to $GITHUB_OUTPUT."""
    step = next(s for s in steps(job) if s.get("name") == name)
    stub = tmp_path / "bin" / "billplan"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/sh\necho "<!-- billplan-plan -->"\nexit "$STUB_CODE"\n')
    stub.chmod(0o755)
    output = tmp_path / "output"
    output.write_text("")
    run = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=tmp_path,
        env={
            "PATH": f"{stub.parent}:/usr/bin:/bin",
            "GITHUB_OUTPUT": str(output),
            "PLAN_DIR": "plans",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    return run.returncode, output.read_text()


@pytest.mark.parametrize("code", [3, 4])
def test_a_plan_refused_by_a_guardrail_is_still_uploaded_and_commented_then_fails(
    tmp_path: Path, code: int
) -> None:
    # The comment is how the author learns which guardrail refused the plan: the Plan step
    # passes (so the artifact is uploaded), the comment job runs after a failed plan job, and
    # the job fails in its last step with billplan's code.
    assert _run_step("plan", "Plan", tmp_path, {"STUB_CODE": str(code)}) == (0, f"code={code}\n")
    assert (tmp_path / "comment.md").read_text().startswith(MARKER)
    upload = next(s for s in steps("plan") if str(s.get("uses", "")).startswith("actions/upload"))
    assert "if" not in upload  # runs whenever Plan passed
    refused = next(s for s in steps("plan") if s.get("name") == "Refused by a guardrail")
    assert refused["if"] == "steps.plan.outputs.code != '0'"
    assert _run_step("plan", "Refused by a guardrail", tmp_path, {"CODE": str(code)})[0] == code
    comment = workflow()["jobs"]["comment"]["if"]
    assert "!cancelled()" in comment and "needs.plan.outputs.planned == 'true'" in comment


@pytest.mark.parametrize("code", [1, 2, 5])
def test_any_other_failure_of_the_plan_stops_the_job_before_the_upload(
    tmp_path: Path, code: int
) -> None:
    assert _run_step("plan", "Plan", tmp_path, {"STUB_CODE": str(code)}) == (code, f"code={code}\n")
