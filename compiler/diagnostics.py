"""Errors as values with a location: what every stage reports and the CLI prints.

A Diagnostic names the file, line and column (1-based) a person should look at, the JSON path
inside the plan, and a message that says what is wrong and what to do. File names, paths and
messages quote user text, so both printed forms show it through compiler.render.safe: one
diagnostic is one line, whatever the text holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from compiler.render.safe import visible


class Mark(NamedTuple):
    """A position in a source file; line and column count from 1.

    A named tuple: a plan of 100,000 items has about 200,000 of them, made while it loads.
    """

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    mark: Mark
    path: str  # JSON path such as "$.projects.acme.recurring.retainer.start"
    message: str

    def __str__(self) -> str:
        return visible(f"{self.mark}: {self.path}: {self.message}")

    def github_annotation(self) -> str:
        """The diagnostic as a GitHub Actions `::error` workflow command. Its user text is
        made visible first, then escaped as workflow commands require: %, CR and LF in the
        message; those and `,` and `:` in a property (a file name could otherwise end the
        property and start another, or the command)."""
        message = _workflow_data(visible(f"{self.path}: {self.message}"))
        file = _workflow_property(visible(self.mark.file))
        return f"::error file={file},line={self.mark.line},col={self.mark.col}::{message}"


def _workflow_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _workflow_property(text: str) -> str:
    return _workflow_data(text).replace(":", "%3A").replace(",", "%2C")


class PlanError(Exception):
    """Raised when a plan cannot go further; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = sorted_diagnostics(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = dict.fromkeys(diagnostics)
    return sorted(unique, key=lambda d: (d.mark, d.path, d.message))


def json_path(parts: Sequence[str | int]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
