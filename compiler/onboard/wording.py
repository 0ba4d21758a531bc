"""Descriptions and keys for generated charges: the template that writes every item's text of
a run exactly (the period's label, month names, a month range, quarter, year and days),
literal text escaped so that it renders as itself, and readable unique keys.

A description is a template only when it holds `{` (compiler.expand): literal text that holds
one is written as a Jinja string literal, which renders to exactly that text.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from compiler.schedule import Period
from compiler.templates import TemplateProblem, render

# The period values a description may name, as the plan language's filters write them. The
# longest rendered value is replaced first, so a label 2026-01 wins over its year 2026.
_PLACES = ("start", "end")
_KEY_LENGTH = 40
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Template expressions and tags, with the letters and digits written onto an expression: the
# Q of `Q{{ period.start | quarter }}` is part of the value it writes, not a word.
_TEMPLATED = re.compile(r"[A-Za-z0-9]*(?:\{\{.*?\}\}|\{%.*?%\})[A-Za-z0-9]*")
# How charges of one name are told apart by when they bill: the year, else the month, else
# the day, the first that differs for each of them.
_WHEN = ("%Y", "%Y-%m", "%Y-%m-%d")


def literal(text: str) -> str:
    """Template source that renders to exactly `text`."""
    if "{" not in text:
        return text
    return "{{ " + _string(text) + " }}"


def _string(text: str) -> str:
    # Jinja reads a string literal with Python's unicode-escape rules after normalising
    # newlines: escaping backslashes, quotes and line breaks keeps every character as it was.
    escaped = (
        text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    )
    return "'" + escaped + "'"


def templates(text: str, period: Period) -> Iterator[str]:
    """Candidate description templates that render `text` for `period`: the text itself
    first, then the text with the period's label, month and year written as expressions."""
    yield literal(text)
    # A stub's length is a number like any other: each template with and without it.
    lengths: list[list[tuple[str, str]]] = [[], [(str(period.days), "{{ period.days }}")]]
    for place in _PLACES:
        day = getattr(period, place)
        # May is both a month's name and its abbreviation: each reading is a candidate.
        for month in ("month_name", "month_abbr"):
            names = calendar.month_name if month == "month_name" else calendar.month_abbr
            values = [
                (period.label, "{{ period.label }}"),
                (names[day.month], f"{{{{ period.{place} | {month} }}}}"),
                (f"Q{(day.month - 1) // 3 + 1}", f"Q{{{{ period.{place} | quarter }}}}"),
                (f"{day.year:04d}", f"{{{{ period.{place}.year }}}}"),
            ]
            # A range names both ends: `Apr-Jun 2026` is the start's month and the end's.
            other = "end" if place == "start" else "start"
            last = getattr(period, other)
            ranged = [
                (f"{names[day.month]}-{names[last.month]}", _range(month, place, other)),
                *values,
            ]
            for length in lengths:
                for candidate in (values, ranged):
                    source = _with_expressions(text, [*candidate, *length])
                    if source is not None:
                        yield source


def endings(text: str, period: Period) -> Iterator[str]:
    """Template source for what a stub's description adds to a full period's: with the stub's
    days and its first and last day as expressions (so that one ending writes both stubs),
    then as it is."""
    values = [
        (str(period.days), "{{ period.days }}"),
        *(
            (getattr(period, place).strftime(fmt), f"{{{{ period.{place} | date('{fmt}') }}}}")
            for place in _PLACES
            for fmt in ("%d %B", "%d %b", "%Y-%m-%d")
        ),
    ]
    source = _with_expressions(text, values)
    if source is not None:
        yield source
    yield _piece(text)


def rendered(source: str, period: Period | None) -> str | None:
    """The text the template renders for an item of `period`; None when it cannot render."""
    if "{" not in source:
        return source
    try:
        return render(source, {"period": period and period.context()})
    except TemplateProblem:
        return None


def _range(month: str, first: str, second: str) -> str:
    return f"{{{{ period.{first} | {month} }}}}-{{{{ period.{second} | {month} }}}}"


def _with_expressions(text: str, values: list[tuple[str, str]]) -> str | None:
    """The text with each whole-word occurrence of a value replaced by its expression, the
    rest escaped; None when no value occurs in it."""
    ordered = sorted(values, key=lambda pair: -len(pair[0]))
    pattern = re.compile(
        "|".join(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])" for value, _ in ordered)
    )
    expressions = dict(values)
    pieces: list[str] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append(_piece(text[at : match.start()]))
        pieces.append(expressions[match.group(0)])
        at = match.end()
    if not pieces:
        return None
    if at < len(text):
        pieces.append(_piece(text[at:]))
    return "".join(pieces)


def _piece(text: str) -> str:
    """Literal text between expressions: escaped when Jinja would read it as anything else."""
    if "{" in text or "}" in text or "\r" in text or "\n" in text:
        return "{{ " + _string(text) + " }}"
    return text


def describes(source: str, period: Period | None, text: str) -> bool:
    """Whether the template renders `text` for an item of `period`, as expansion renders it."""
    if "{" not in source:
        return source == text
    return _renders(source, period, text)


@lru_cache(maxsize=65536)
def _renders(source: str, period: Period | None, text: str) -> bool:
    context: dict[str, Any] = {"period": period and period.context()}
    try:
        return render(source, context) == text
    except TemplateProblem:
        return False


def slug(text: str) -> str:
    """A key's readable part: lowercase ASCII words joined by hyphens, template expressions
    and tags (`{% if period.is_stub %}`) left out, with what is written onto them (`Q{{ ...
    }}`); empty when nothing readable is left."""
    plain = _TEMPLATED.sub(" ", text)
    ascii_text = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(words) > _KEY_LENGTH:
        words = words[:_KEY_LENGTH].rsplit("-", 1)[0] if "-" in words[:_KEY_LENGTH] else words
        words = words[:_KEY_LENGTH].strip("-")
    return words


class Keys:
    """Keys handed out once each: the readable slug, told apart by date where several
    charges would share it, then slug-2, slug-3, ..."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def own(self, key: str | None) -> str | None:
        """Take a key as it is, when it is a valid key nobody holds yet."""
        if key is None or key in self.taken or not _KEY.fullmatch(key):
            return None
        self.taken.add(key)
        return key

    def claim_all(self, wanted: Sequence[tuple[str, str, date | None]]) -> list[str]:
        """Keys for (text, fallback, first billed) of several charges at once: each its
        readable slug; charges whose slugs are one are told apart by when they bill, all in
        one way (the year, else the month, else the day: `workshop-2026-03`,
        `workshop-2026-09`), so that each key says which it is; numbered where that does not
        tell them apart."""
        bases = [slug(text) or fallback for text, fallback, _ in wanted]
        dates: dict[str, list[date]] = {}
        for base, (_, _, when) in zip(bases, wanted, strict=True):
            if when is not None:
                dates.setdefault(base, []).append(when)
        shared = Counter(bases)
        keys: list[str] = []
        for base, (_, _, when) in zip(bases, wanted, strict=True):
            fmt = _telling_apart(dates[base]) if shared[base] > 1 and when is not None else None
            keys.append(self._numbered(base if fmt is None else f"{base}-{when:{fmt}}"))
        return keys

    def _numbered(self, base: str) -> str:
        key, n = base, 1
        while key in self.taken:
            n += 1
            key = f"{base}-{n}"
        self.taken.add(key)
        return key


def _telling_apart(dates: Sequence[date]) -> str | None:
    """The first of year, month and day that writes each of the dates differently (the day
    when none does); None when they are one date, which only a number tells apart."""
    if len(set(dates)) == 1:
        return None
    return next(
        (fmt for fmt in _WHEN if len({d.strftime(fmt) for d in dates}) == len(dates)), _WHEN[-1]
    )
