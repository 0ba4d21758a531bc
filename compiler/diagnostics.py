"""Errors as values with a location: what every stage reports and the CLI prints.

A Diagnostic names the file, line and column (1-based) a person should look at, the JSON path
inside the plan, and a message that says what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Mark:
    """A position in a source file; line and column count from 1."""

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
        return f"{self.mark}: {self.path}: {self.message}"

    def github_annotation(self) -> str:
        # GitHub workflow commands need %, CR and LF escaped in the message part.
        message = f"{self.path}: {self.message}"
        message = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return f"::error file={self.mark.file},line={self.mark.line},col={self.mark.col}::{message}"


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
