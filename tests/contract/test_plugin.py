"""The contract plugin in a pytest run of its own: a violation fails the test whose exchange
caused it (also when a fixture made the exchange), not the next one; report mode fails nothing
and sums up per vendor."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compiler.sandbox import EXCHANGE_LOG_ENV

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = f"""\
import sys
sys.path.insert(0, {str(TESTS)!r})
from contract import plugin


def pytest_configure(config):
    plugin.register(config)
"""

SUITE = """\
import httpx
import pytest

from compiler.sandbox import base_url, build_sandbox


def send_an_invoice_without_its_calculation_method():
    headers = {"User-Agent": "billplan/test", "x-api-key": "sandbox"}
    with (
        build_sandbox() as sandbox,
        httpx.Client(
            transport=sandbox.transport, base_url=base_url("coperniq"), headers=headers
        ) as coperniq,
    ):
        coperniq.post("/invoices", json={"recordId": 1})


@pytest.fixture
def sent_in_setup():
    send_an_invoice_without_its_calculation_method()


def test_one_that_breaks_the_contract():
    send_an_invoice_without_its_calculation_method()


def test_one_that_does_nothing():
    pass


def test_one_whose_fixture_breaks_the_contract(sent_in_setup):
    pass
"""


Run = subprocess.CompletedProcess[str]


def run_suite(tmp_path: Path, mode: str) -> Run:
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != EXCHANGE_LOG_ENV}
    env["BILLPLAN_CONTRACT"] = mode
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_suite(tmp_path_factory.mktemp("enforce"), "enforce")


def test_a_violation_fails_the_test_that_caused_it_and_no_other(enforced: Run) -> None:
    assert "FAILED test_suite.py::test_one_that_breaks_the_contract" in enforced.stdout
    assert "PASSED test_suite.py::test_one_that_does_nothing" in enforced.stdout
    assert (
        "coperniq create-invoice request $.calculationMethod: required, missing" in enforced.stdout
    )


def test_a_violation_in_a_fixture_fails_the_test_not_its_setup(enforced: Run) -> None:
    assert "FAILED test_suite.py::test_one_whose_fixture_breaks_the_contract" in enforced.stdout
    assert "ERROR" not in enforced.stdout


def test_report_mode_fails_nothing_and_sums_up_per_vendor(tmp_path: Path) -> None:
    done = run_suite(tmp_path, "report")

    assert done.returncode == 0, done.stdout
    assert "vendor contracts (BILLPLAN_CONTRACT=report)" in done.stdout
    assert "coperniq: " in done.stdout
    assert "create-invoice request $.calculationMethod: required, missing" in done.stdout
