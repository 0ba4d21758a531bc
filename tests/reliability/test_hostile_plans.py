"""Hostile plans: what a pull request could write to exhaust the machine that compiles it.

Each plan below is refused by `billplan validate` with a located error (FILE:LINE:COL: $.path:
message), within seconds and in bounded memory, never with a traceback. Every run is a
separate process limited to 1 GiB of address space and SECONDS of time, so that a regression
fails its test instead of taking the machine down or hanging the suite.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

MEMORY = 1 << 30  # bytes of address space a run may use
SECONDS = 30  # of time, and of CPU, a run may take

HEAD = """\
version: 1
providers:
  ruddr: {type: ruddr}
defaults:
  currency: USD
  ruddr: {invoice_item: aba04832-216c-463e-8998-c520948f707c}
vars:
  text: "%s"
projects:
  p:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
""" % ("x" * 1000)


def milestone(description: str = "Kickoff", amount: str = "500") -> str:
    quoted = '"' + description.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return HEAD + (
        "    milestones:\n"
        "      kickoff:\n"
        "        date: 2026-01-15\n"
        f"        amount: {amount}\n"
        f"        description: {quoted}\n"
    )


def recurring(*lines: str) -> str:
    return HEAD + "    recurring:\n      fee:\n" + "".join(f"        {line}\n" for line in lines)


@dataclass(frozen=True)
class Finished:
    code: int | None  # None: still running after SECONDS, and killed
    out: str
    err: str


def bounded(*args: str | Path, env: dict[str, str] | None = None) -> Finished:
    """`python -m compiler ARGS` in a child limited in memory and time."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (SECONDS, SECONDS))

    child = subprocess.Popen(
        [sys.executable, "-m", "compiler", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = child.communicate(timeout=SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        return Finished(None, out, err)
    return Finished(child.returncode, out, err)


def assert_refused(run: Finished, file: str, path: str, words: str) -> None:
    assert run.code is not None, f"still running after {SECONDS} s:\n{run.err[-2000:]}"
    assert "Traceback" not in run.err + run.out, run.err[-3000:]
    assert run.code == 1, run.out[-2000:] + run.err[-2000:]
    located = re.compile(rf"{re.escape(file)}:\d+:\d+: {re.escape(path)}: (.*)")
    messages = [m.group(1) for m in map(located.search, run.err.splitlines()) if m]
    assert messages, run.err
    assert any(re.search(words, message) for message in messages), messages


DESCRIPTION = "$.projects.p.milestones.kickoff.description"
FEE = "$.projects.p.recurring.fee"

# What a pull request may write, where the error must point, and words it must contain.
PLANS: dict[str, tuple[str, str, str]] = {
    "a string doubled with ~": (
        milestone("{% set s = 'aaaaaaaa' %}" + "{% set s = s ~ s %}" * 34 + "{{ s|length }}"),
        DESCRIPTION,
        "too large",
    ),
    "a list doubled with +": (
        milestone("{% set l = [1, 2, 3, 4] %}" + "{% set l = l + l %}" * 34 + "{{ l|length }}"),
        DESCRIPTION,
        "too large|more than 10,000 steps",  # whichever comes first: size or the work
    ),
    "chained replace": (
        milestone("{{ 'aa'" + "|replace('a', 'aa')" * 40 + "|length }}"),
        DESCRIPTION,
        "too large",
    ),
    "a repetition joined": (
        milestone("{% set s = 'a' * 9000 %}{{ ([s] * 9000)|join|length }}"),
        DESCRIPTION,
        "too large|that many times",
    ),
    "a format field repeated": (
        milestone("{{ ('{0}' * 3000).format(vars.text) }}"),
        DESCRIPTION,
        "too large",
    ),
    "nested loops": (
        milestone(
            "{% for a in vars.text %}{% for b in vars.text %}{% for c in vars.text %}"
            "{% endfor %}{% endfor %}{% endfor %}done"
        ),
        DESCRIPTION,
        "steps",
    ),
    "a chain of powers": (
        milestone("{{ ((((7 ** 64) ** 64) ** 64) ** 64) ** 64 }}"),
        DESCRIPTION,
        "too large",
    ),
    "a macro calling itself": (
        milestone("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"),
        DESCRIPTION,
        "nest more than 32 deep",
    ),
    "a macro calling itself twice": (
        milestone(
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(24) }}"
        ),
        DESCRIPTION,
        "steps",
    ),
    "wordwrap of a number": (milestone("{{ 1|wordwrap }}"), DESCRIPTION, "`wordwrap` filter"),
    "an amount of 1e26": (
        milestone(amount="100000000000000000000000000"),
        "$.projects.p.milestones.kickoff.amount",
        "less than 1000000000000000",
    ),
    "an amount of 28 significant digits": (
        milestone(amount="12345678901234567890123456.78"),
        "$.projects.p.milestones.kickoff.amount",
        "less than 1000000000000000",
    ),
    "a quoted amount of 1e26": (
        milestone(amount='"100000000000000000000000000"'),
        "$.projects.p.milestones.kickoff.amount",
        "at most 15 digits",
    ),
    "quantity times rate past 1e15": (
        HEAD + "    products:\n      licences:\n"
        "        {description: Seats, date: 2026-01-15, quantity: 999999999999999,"
        " rate: 999999999999999}\n",
        "$.projects.p.products.licences.quantity",
        "more than the largest amount",
    ),
    "an escalation past 1e15": (
        recurring(
            "description: Fee",
            "every: week",
            "start: 2026-01-01",
            "count: 520",
            "amount: 1000",
            "escalate: {by: 900%, every: week}",
        ),
        f"{FEE}.escalate.by",
        "more than the largest amount",
    ),
    "a schedule past the year 9999": (
        recurring(
            "description: Fee", "every: month", "start: 9999-06-01", "count: 12", "amount: 1"
        ),
        f"{FEE}.count",
        "past 9999-12-31",
    ),
    "count: 10000000": (
        recurring(
            "description: Fee", "every: week", "start: 2026-01-01", "count: 10000000", "amount: 1"
        ),
        f"{FEE}.count",
        "at most 1000000",
    ),
    "count: 300000 (more items than a plan may have)": (
        recurring(
            "description: Fee", "every: week", "start: 2026-01-01", "count: 300000", "amount: 1"
        ),
        f"{FEE}.count",
        r"more than 200,000 billing items.*--max-items",
    ),
    "every: 1000000000 weeks": (
        recurring(
            "description: Fee",
            "every: 1000000000 weeks",
            "start: 2026-01-01",
            "count: 2",
            "amount: 1",
        ),
        f"{FEE}.every",
        "at most 999 weeks",
    ),
    "horizon: 1000000000 years": (
        recurring(
            "description: Fee",
            "every: month",
            "start: 2026-01-01",
            "horizon: 1000000000 years",
            "amount: 1",
        ),
        f"{FEE}.horizon",
        "at most 100 years",
    ),
    "5,000-deep flow YAML": (
        HEAD + "    deep: " + "[" * 5000 + "]" * 5000 + "\n",
        "$.projects",
        "deeper than 64 levels",
    ),
    "four lines making 1.6 million items": (
        HEAD + "    recurring:\n"
        "      a: &w {description: x, every: week, start: 0001-01-01, end: 9999-12-01, amount: 1}\n"
        "      b: *w\n"
        "      c: *w\n",
        "$.projects.p.recurring.a.end",
        "more than 200,000 billing items",
    ),
    "max_rps: 0.0001": (
        milestone().replace("{type: ruddr}", "{type: ruddr, max_rps: 0.0001}"),
        "$.providers.ruddr.max_rps",
        "at least 1",
    ),
}


@pytest.mark.parametrize("name", PLANS, ids=list(PLANS))
def test_a_hostile_plan_is_refused_at_its_line_quickly_and_in_bounded_memory(
    name: str, tmp_path: Path
) -> None:
    text, path, words = PLANS[name]
    (tmp_path / "plan.yaml").write_text(text, encoding="utf-8")
    run = bounded("validate", tmp_path / "plan.yaml", "--as-of", "2026-01-01")
    assert_refused(run, "plan.yaml", path, words)


def test_a_plan_file_that_is_dev_zero_is_refused_without_reading_it() -> None:
    run = bounded("validate", "/dev/zero")
    assert_refused(run, "/dev/zero", "$", "character device, not a plan file")


def test_a_plan_file_that_is_a_fifo_is_refused_without_waiting_for_a_writer(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / "plan.yaml")
    run = bounded("validate", tmp_path / "plan.yaml")
    assert_refused(run, "plan.yaml", "$", r"named pipe \(FIFO\), not a plan file")


def test_a_fifo_in_a_plan_directory_is_refused_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "head.yaml").write_text(milestone(), encoding="utf-8")
    os.mkfifo(tmp_path / "more.yaml")
    run = bounded("validate", tmp_path)
    assert_refused(run, "more.yaml", "$", r"named pipe \(FIFO\)")


def test_a_plan_file_over_two_mebibytes_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "plan.yaml"
    with big.open("w", encoding="utf-8") as file:
        file.write(milestone())
        file.write(("# " + "y" * 1000 + "\n") * 3000)  # 3 MB of comments
    run = bounded("validate", big)
    assert_refused(run, "plan.yaml", "$", "larger than 2 MiB")


def test_a_large_plan_is_checked_within_the_limits_of_these_tests(tmp_path: Path) -> None:
    """The bounds leave room for honest plans: 100,000 items expand under the same limits."""
    (tmp_path / "plan.yaml").write_text(
        recurring(
            "description: Day {{ period.label }}",
            "every: week",
            "start: 0100-01-01",
            "count: 100000",
            "amount: 1",
        ),
        encoding="utf-8",
    )
    started = time.monotonic()
    run = bounded("validate", tmp_path, "--as-of", "2026-01-01")
    assert run.code == 0, run.err[-2000:]
    assert "100000 items" in run.out.replace(",", "")
    assert time.monotonic() - started < SECONDS
