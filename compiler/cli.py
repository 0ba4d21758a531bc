"""The `billplan` command line: argument parsing, output selection and exit codes only.

Exit codes: 0 success, 1 error (a bad plan, a failed call), and with `plan
--detailed-exitcode`, 2 when there are changes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rich.console import Console

from compiler import __version__
from compiler.diagnostics import Diagnostic
from compiler.render import items as render_items
from compiler.validate import check, schema_text

EXIT_OK = 0
EXIT_ERROR = 1


def _as_of(text: str | None) -> date:
    value = text or os.environ.get("BILLPLAN_AS_OF")
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SystemExit(
            f"billplan: error: as-of date {value!r} is not a date like 2026-01-31"
        ) from None


def _stdout() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped or captured output (CI logs, files) is read wide; 80 columns folds addresses.
        console = Console(highlight=False, width=160)
    return console


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def report(diagnostics: Sequence[Diagnostic]) -> None:
    """Every diagnostic on stderr; GitHub annotations too when running in Actions."""
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for diagnostic in diagnostics:
            print(diagnostic.github_annotation())
    count = len(diagnostics)
    print(f"{count} error{'s' if count != 1 else ''} found.", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    as_of = _as_of(args.as_of)
    failed = False
    for target in args.paths:
        checked = check(Path(target), as_of)
        if checked.diagnostics:
            report(checked.diagnostics)
            failed = True
            continue
        projects = len({item.project for item in checked.items})
        print(f"{target}: valid ({projects} projects, {len(checked.items)} items as of {as_of})")
    return EXIT_ERROR if failed else EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    as_of = _as_of(args.as_of)
    checked = check(Path(args.path), as_of)
    if checked.diagnostics:
        report(checked.diagnostics)
        return EXIT_ERROR
    if args.format == "json":
        sys.stdout.write(render_items.to_json(checked.items, as_of))
    elif args.format == "csv":
        sys.stdout.write(render_items.to_csv(checked.items))
    else:
        render_items.print_table(checked.items, _stdout())
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="billplan",
        description="Billing plans as code: validate YAML billing plans, expand them into "
        "dated billing items, and plan and apply them to your PSA tool.",
    )
    parser.add_argument("--version", action="version", version=f"billplan {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    as_of_help = "date to expand open-ended charges from (default: BILLPLAN_AS_OF or today)"

    validate = commands.add_parser(
        "validate", help="check plans: YAML syntax, schema and meaning; exit 1 on any error"
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="plan directory or file")
    validate.add_argument("--as-of", metavar="DATE", help=as_of_help)
    validate.set_defaults(run=cmd_validate)

    render = commands.add_parser("render", help="show the dated billing items a plan expands to")
    render.add_argument("path", metavar="PATH", help="plan directory or file")
    render.add_argument("--format", choices=("table", "json", "csv"), default="table")
    render.add_argument("--as-of", metavar="DATE", help=as_of_help)
    render.set_defaults(run=cmd_render)

    schema = commands.add_parser("schema", help="print the plan's JSON Schema")
    schema.set_defaults(run=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("billplan: interrupted", file=sys.stderr)
        return 130
