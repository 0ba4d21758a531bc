"""Where billplan's commands write for a person: the consoles for stdout and stderr (never
folded outside a terminal), located problems (with GitHub annotations in Actions), errors,
notes and warnings, and JSON for machines that a person may read in a terminal.

Every command's own output goes through here, so that one rule decides how a line reaches a
terminal or a CI log; what a line says about a plan or an apply is its view's
(compiler.render.plan, drift, apply).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostic
from compiler.render.safe import json_visible, markup

if TYPE_CHECKING:
    from rich.console import Console

    from compiler.model.change import Plan


def console(stderr: bool = False) -> Console:
    """A console for stdout, or stderr; a new one each time, for the stream as it is now."""
    # Output that is not a terminal (a CI log, a file; even where FORCE_COLOR makes rich
    # style it as one) is never folded: one line printed is one line written, so no fold can
    # start a line with user text, which a CI runner could obey as a workflow command
    # (compiler.render.safe). Tables are still laid out to the width.
    from rich.console import Console  # only once something is printed through one (35 ms)

    stream = sys.stderr if stderr else sys.stdout
    soft_wrap = not (hasattr(stream, "isatty") and stream.isatty())
    made = Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        # Piped or captured output (CI logs, files) is read wide; 80 columns folds addresses.
        made = Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap, width=160)
    return made


def stdout() -> Console:
    return console()


def stderr() -> Console:
    return console(stderr=True)


def report(diagnostics: Sequence[Diagnostic]) -> None:
    """Every diagnostic on stderr; GitHub annotations too when running in Actions."""
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for diagnostic in diagnostics:
            print(diagnostic.github_annotation())
    count = len(diagnostics)
    print(f"{count} error{'s' if count != 1 else ''} found.", file=sys.stderr)


def error(message: str) -> None:
    """What stopped a command, on stderr."""
    text = markup(message, keep_newlines=True)  # billplan's own messages may span lines
    stderr().print(f"[bold red]Error:[/bold red] {text}", highlight=False)


def details(lines: Sequence[str]) -> None:
    """The lines that explain an error (what changed, what differs), indented, on stderr."""
    for line in lines:
        stderr().print(f"  {markup(line)}", highlight=False)


def note(text: str) -> None:
    """Something a person should know about the run (where a plan came from), on stderr."""
    stderr().print(f"[cyan]{markup(text)}[/cyan]")


def warn_partial(plan: Plan) -> None:
    """A plan narrowed by --target/--exclude says so, on stderr: it is not the whole plan."""
    from compiler.targets import Targets

    if plan.targets or plan.excludes:
        partial = Targets(plan.targets, plan.excludes).note()
        stderr().print(f"[bold yellow]Warning: {markup(partial)}[/bold yellow]")


def print_json(text: str) -> None:
    """JSON for machines, which a person may read in a terminal: hidden characters inside
    its strings written as \\u escapes (the same data for a JSON reader)."""
    sys.stdout.write(json_visible(text))


def print_json_parts(parts: Iterable[str]) -> None:
    """print_json of the text these parts make, written part by part: json_visible rewrites
    a hidden character alone and a `##[` whole, and no part may end inside one (a part ends
    between JSON values or tokens: render.items.json_parts)."""
    write = sys.stdout.write
    for part in parts:
        write(json_visible(part))


def print_in(
    format: str, texts: Mapping[str, Callable[[], str]], table: Callable[[Console], None]
) -> None:
    """One view in the --format asked for: a format for machines or pages (JSON, with its
    hidden characters escaped; CSV; markdown), made only when it is the one asked for, or
    else the view for a person, printed on stdout's console."""
    if format not in texts:
        table(stdout())
    elif format == "json":
        print_json(texts[format]())
    else:
        sys.stdout.write(texts[format]())


def count(n: int, noun: str) -> str:
    """`1 change`, `2 changes`: a count and its noun, for a sentence."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
