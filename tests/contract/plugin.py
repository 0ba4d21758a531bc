"""The pytest plugin that holds every test to the vendors' published contracts.

At session start it points BILLPLAN_SANDBOX_EXCHANGE_LOG at a file of its own, so that every
sandbox the tests start (in process, in a thread on loopback, or in a `billplan` subprocess,
which inherits the variable) logs each vendor exchange there. After each phase of each test it
reads the new lines, checks them (checker.py), and:

- BILLPLAN_CONTRACT=enforce (the default): fails the test whose exchanges broke a contract,
  naming each violation. Exchanges made while setting up count for the test itself; only
  exchanges made while tearing down can fail the teardown (reported by pytest as an error).
- BILLPLAN_CONTRACT=report: fails nothing, and prints at the end, per vendor, how many
  distinct violations the suite found and the commonest.

Either way it counts which operations and statuses the suite exercised, and writes that with
the violations to the JSON file BILLPLAN_CONTRACT_COVERAGE names, if set (coverage_table.py
turns it into the table in docs/contracts.md)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.sandbox import EXCHANGE_LOG_ENV

from .checker import ContractChecker, Exchange, Verdict, Violation

MODE_ENV = "BILLPLAN_CONTRACT"
COVERAGE_ENV = "BILLPLAN_CONTRACT_COVERAGE"
MODES = ("enforce", "report")
SHOWN = 25  # violations listed in one test's failure; the rest are counted


class ExchangeLogReader:
    """Reads the lines appended to the exchange log since the last read. A line still being
    written (no newline yet) waits for the next read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.unreadable = 0

    def new_exchanges(self) -> Iterator[Exchange]:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                yield Exchange.from_json(line.decode("utf-8"))
            except (ValueError, KeyError):
                self.unreadable += 1


class Coverage:
    """Which operation answered which status how often, split by who sent the request."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], int] = Counter()

    def record(self, verdict: Verdict, from_billplan: bool) -> None:
        if verdict.operation is None:
            return
        status = "no answer" if verdict.status is None else str(verdict.status)
        if verdict.status is not None and not verdict.response_checked:
            status += " (fault)"
        sender = "billplan" if from_billplan else "other"
        self.counts[(verdict.vendor, verdict.operation, status, sender)] += 1

    def as_json(self) -> dict[str, Any]:
        tree: dict[str, Any] = defaultdict(lambda: defaultdict(dict))
        for (vendor, operation, status, sender), count in sorted(self.counts.items()):
            tree[vendor][operation].setdefault(status, {})[sender] = count
        return json.loads(json.dumps(tree))


class ContractPlugin:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.directory = Path(tempfile.mkdtemp(prefix="billplan-contract-"))
        self.log = self.directory / "exchanges.jsonl"
        self.previous = os.environ.get(EXCHANGE_LOG_ENV)
        os.environ[EXCHANGE_LOG_ENV] = str(self.log)
        self.reader = ExchangeLogReader(self.log)
        self.checker = ContractChecker()
        self.coverage = Coverage()
        self.exchanges = 0
        self.pending: list[Violation] = []  # found since the current test's last report
        self.found: Counter[tuple[str, str, str, str, str]] = Counter()
        self.first_seen: dict[tuple[str, str, str, str, str], str] = {}
        self.unattributed: list[Violation] = []

    # ---- each test ------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
        self.pending += self._check_new(item.nodeid)
        if not self.pending or self.mode != "enforce":
            self.pending.clear()
            return
        if report.when == "setup" and report.passed:
            return  # the test itself answers for what its setup sent
        if report.when == "setup" and report.skipped:
            return  # to teardown, which always runs
        text = describe(self.pending)
        self.pending = []
        if report.failed:
            report.sections.append(("contract violations", text))
        else:
            report.outcome = "failed"
            report.longrepr = text
            if hasattr(report, "wasxfail"):
                del report.wasxfail

    def _check_new(self, nodeid: str) -> list[Violation]:
        found = []
        for exchange in self.reader.new_exchanges():
            verdict = self.checker.check(exchange)
            self.exchanges += 1
            self.coverage.record(verdict, exchange.from_billplan)
            for violation in verdict.violations:
                self.found[violation.kind] += 1
                self.first_seen.setdefault(violation.kind, nodeid)
            found += verdict.violations
        return found

    # ---- the session ----------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.unattributed = self._check_new("(after the last test)")
        if self.unattributed and self.mode == "enforce":
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        target = os.environ.get(COVERAGE_ENV)
        if target:
            Path(target).write_text(json.dumps(self.as_json(), indent=1) + "\n", encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        if self.unattributed:
            terminalreporter.write_sep("=", "contract violations after the last test")
            write(describe(self.unattributed))
        if self.reader.unreadable:
            write(f"contract: {self.reader.unreadable} unreadable exchange log line(s) skipped")
        if self.mode != "report":
            return
        terminalreporter.write_sep("=", "vendor contracts (BILLPLAN_CONTRACT=report)")
        for line in summary(self.found, self.exchanges):
            write(line)

    def pytest_unconfigure(self) -> None:
        if self.previous is None:
            os.environ.pop(EXCHANGE_LOG_ENV, None)
        else:
            os.environ[EXCHANGE_LOG_ENV] = self.previous
        shutil.rmtree(self.directory, ignore_errors=True)

    def as_json(self) -> dict[str, Any]:
        return {
            "exchanges": self.exchanges,
            "coverage": self.coverage.as_json(),
            "violations": [
                {
                    "vendor": vendor,
                    "operation": operation,
                    "side": side,
                    "field": field,
                    "message": message,
                    "count": count,
                    "first_test": self.first_seen[(vendor, operation, side, field, message)],
                }
                for (vendor, operation, side, field, message), count in sorted(self.found.items())
            ],
        }


def describe(violations: list[Violation]) -> str:
    """A test's violations, one line per kind (a mistake repeated on several objects once),
    with one concrete field and how often it happened."""
    kinds: dict[tuple[str, str, str, str, str], list[Violation]] = defaultdict(list)
    for violation in violations:
        kinds[violation.kind].append(violation)
    lines = [
        f"{len(kinds)} violation(s) of the vendors' published API contracts "
        "(tests/contract/specs; see docs/contracts.md):"
    ]
    for kind, seen in sorted(kinds.items())[:SHOWN]:
        first = seen[0]
        if len(seen) == 1:
            lines.append(f"  {first}")
            continue
        vendor, operation, side, field, message = kind
        lines.append(
            f"  {vendor} {operation} {side} {field}: {message}  "
            f"({len(seen)} times, first at {first.field})"
        )
    if len(kinds) > SHOWN:
        lines.append(f"  ... and {len(kinds) - SHOWN} more")
    return "\n".join(lines)


def summary(found: Counter[tuple[str, str, str, str, str]], exchanges: int) -> list[str]:
    """Per vendor: distinct violations (same operation, side, field and message) and the
    commonest."""
    by_vendor: dict[str, Counter[tuple[str, str, str, str, str]]] = defaultdict(Counter)
    for kind, count in found.items():
        by_vendor[kind[0]][kind] = count
    lines = [f"{exchanges} exchanges checked; {len(found)} distinct violation(s)"]
    for vendor, kinds in sorted(by_vendor.items()):
        lines.append(f"{vendor}: {len(kinds)} distinct violation(s)")
        for (_, operation, side, field, message), count in kinds.most_common(8):
            lines.append(f"  {count:6d}x {operation} {side} {field}: {message}")
    return lines


def register(config: pytest.Config) -> None:
    """Called from tests/conftest.py's pytest_configure."""
    mode = os.environ.get(MODE_ENV, "enforce")
    if mode not in MODES:
        raise pytest.UsageError(f"{MODE_ENV}={mode!r}: use one of {', '.join(MODES)}")
    config.pluginmanager.register(ContractPlugin(mode), "billplan-contract")
