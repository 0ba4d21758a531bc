"""Shared helpers: write a small plan into a temporary directory and check or expand it.

Plans in tests are YAML text, as a finance person would write them in a pull request.
`HEAD` is the header most tests share: one connection per vendor and USD by default.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `pytest tests/...` from a checkout without installing

import support  # noqa: E402  (tests/support.py: the emulators and the CLI, in process)
from contract import plugin as contract_plugin  # noqa: E402  (tests/contract/plugin.py)

from compiler.model import Item  # noqa: E402
from compiler.validate import Checked, check  # noqa: E402

AS_OF = date(2026, 1, 1)


def pytest_configure(config: pytest.Config) -> None:
    # Every vendor request and response of every test is checked against the vendor's
    # published contract (tests/contract/; BILLPLAN_CONTRACT=report only reports).
    contract_plugin.register(config)


HEAD = """\
version: 1
providers:
  ruddr: {type: ruddr}
  kantata: {type: kantata}
  wethod: {type: wethod, company: acme}
  coperniq: {type: coperniq}
defaults: {currency: USD}
"""


def plan_text(body: str, head: str = HEAD) -> str:
    """HEAD followed by the test's own (indented, triple-quoted) YAML."""
    return head + textwrap.dedent(body).lstrip("\n")


WritePlan = Callable[..., Path]
CheckPlan = Callable[..., Checked]
ExpandPlan = Callable[..., list[Item]]


@pytest.fixture
def write_plan(tmp_path: Path) -> WritePlan:
    """write_plan(body, name="plan.yaml", head=HEAD) -> path of the file written."""

    def write(body: str, name: str = "plan.yaml", head: str = HEAD) -> Path:
        path = tmp_path / name
        path.write_text(plan_text(body, head), encoding="utf-8")
        return path

    return write


@pytest.fixture
def check_plan(write_plan: WritePlan) -> CheckPlan:
    """check_plan(body, as_of=AS_OF, head=HEAD) -> Checked, whatever the outcome."""

    def run(body: str, as_of: date = AS_OF, head: str = HEAD) -> Checked:
        return check(write_plan(body, head=head), as_of)

    return run


@pytest.fixture
def expand_plan(check_plan: CheckPlan) -> ExpandPlan:
    """expand_plan(body, as_of=AS_OF, head=HEAD) -> the items; fails the test on any error."""

    def run(body: str, as_of: date = AS_OF, head: str = HEAD) -> list[Item]:
        checked = check_plan(body, as_of=as_of, head=head)
        assert checked.diagnostics == [], "\n".join(map(str, checked.diagnostics))
        return checked.items

    return run


@pytest.fixture
def plan_errors(check_plan: CheckPlan) -> Callable[..., list[str]]:
    """plan_errors(body, ...) -> each diagnostic as 'LINE:COL: $.path: message' (no file)."""

    def run(body: str, as_of: date = AS_OF, head: str = HEAD) -> list[str]:
        checked = check_plan(body, as_of=as_of, head=head)
        return [f"{d.mark.line}:{d.mark.col}: {d.path}: {d.message}" for d in checked.diagnostics]

    return run


# ---- a Ruddr emulator over loopback, and the default plan applied to it ---------------------


@pytest.fixture
def ruddr() -> Iterator[support.Remote]:
    """The Ruddr emulator served over loopback HTTP, seeded with the tests' projects."""
    with support.remote() as served:
        yield served


@pytest.fixture
def applied(ruddr: support.Remote, tmp_path: Path) -> Path:
    """The default test plan, applied to `ruddr`; the request log starts empty after it."""
    directory = support.write_plan(tmp_path / "billing", head=ruddr.head)
    run = ruddr.billplan("apply", directory)
    assert run.code == 0, run.text
    ruddr.admin.clear_requests()
    return directory
