"""The contract coverage table: which of each vendor's operations billplan uses the test suite
exercised, and with which statuses, from the JSON the contract plugin writes.

    BILLPLAN_CONTRACT_COVERAGE=coverage.json .venv/bin/pytest -q
    .venv/bin/python tests/contract/coverage_table.py coverage.json --write docs/contracts.md

Without --write it prints the markdown. With it, it replaces what lies between the
`<!-- coverage:start -->` and `<!-- coverage:end -->` lines of that file."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `contract` importable from tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.contracts import CONTRACTS, HTTP_METHODS, SPECS

START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"


def routes(vendor: str) -> dict[str, str]:
    """operationId -> "METHOD /path", from the vendor's spec files."""
    import yaml

    found: dict[str, str] = {}
    for name in CONTRACTS[vendor].files:
        document = yaml.load((SPECS / name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        for path, item in document.get("paths", {}).items():
            for method in HTTP_METHODS:
                operation = item.get(method)
                if isinstance(operation, dict) and "operationId" in operation:
                    found[operation["operationId"]] = f"{method.upper()} {path}"
    return found


def statuses(by_status: dict[str, dict[str, int]], sender: str) -> str:
    codes = [status for status, senders in by_status.items() if senders.get(sender)]
    return ", ".join(sorted(codes)) or "-"


def table(coverage: dict[str, Any]) -> str:
    lines = [
        f"From a run of the whole suite: {coverage['exchanges']} exchanges checked. Statuses "
        "marked (fault) were made up by an armed fault and are not held to the contract.",
        "",
    ]
    for vendor, contract in CONTRACTS.items():
        exercised = coverage["coverage"].get(vendor, {})
        route = routes(vendor)
        lines += [
            f"### {contract.title}",
            "",
            "| operation | request | statuses, billplan's requests | statuses, emulator tests |",
            "|---|---|---|---|",
        ]
        never = []
        others = sorted(set(exercised) - set(contract.used))
        for operation in [*contract.used, *others]:
            by_status = exercised.get(operation, {})
            name = operation if operation in contract.used else f"{operation} (not used)"
            if not by_status:
                never.append(operation)
                name = f"**{operation}: never exercised**"
            lines.append(
                f"| {name} | `{route.get(operation, '?')}` | {statuses(by_status, 'billplan')} "
                f"| {statuses(by_status, 'other')} |"
            )
        lines.append("")
        if never:
            lines += [f"Never exercised: {', '.join(never)}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def violations(coverage: dict[str, Any]) -> str:
    """Distinct violations per vendor, for a report."""
    counts = Counter(entry["vendor"] for entry in coverage["violations"])
    return "\n".join(f"{vendor}: {counts.get(vendor, 0)}" for vendor in CONTRACTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("coverage", type=Path, help="the JSON BILLPLAN_CONTRACT_COVERAGE named")
    parser.add_argument("--write", type=Path, metavar="MARKDOWN", help="update this file")
    parser.add_argument("--violations", action="store_true", help="print violations per vendor")
    args = parser.parse_args(argv)
    coverage = json.loads(args.coverage.read_text(encoding="utf-8"))
    if args.violations:
        print(violations(coverage))
        return 0
    rendered = table(coverage)
    if args.write is None:
        print(rendered, end="")
        return 0
    text = args.write.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{args.write}: no {START} ... {END} lines to replace", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    args.write.write_text(f"{head}{START}\n{rendered}{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
