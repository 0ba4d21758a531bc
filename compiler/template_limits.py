"""How much a description template may compute: the size of every value it makes and the
steps it takes, both counted by the sandbox (compiler/templates.py) while the template runs.

Plans arrive in pull requests and are compiled on CI, where a few characters of Jinja could
otherwise make gigabytes (doubling a string, chains of `replace`, powers) or loop for minutes.
Every value a template makes is weighed (characters, counting what a list or mapping holds)
and may weigh at most WIDTH. Operations that can grow far past their inputs are weighed before
they run, by the estimates in FILTER_GROWTH and METHOD_GROWTH; everything else after.
Every operation, call, comparison, value written, loop pass and macro call costs steps: one,
and one more for each CHARS_PER_STEP characters and ITEMS_PER_STEP list or mapping entries it
handles, measured only as far as the template can still pay. A description may take STEPS, a
whole plan a budget the caller sets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import chain
from string import Formatter
from typing import Any

from jinja2.exceptions import SecurityError

# A description is a line of text: no value a template makes, nor its output, needs more.
WIDTH = 10_000
# Steps one description may take: a few milliseconds of work.
STEPS = 10_000
# Lists and mappings a template builds nest at most this deep (repr and pprint recurse).
DEPTH = 32
# Calls in progress at once: macros calling macros (recursion) stop here.
CALL_DEPTH = 32
# Seconds all the descriptions of a plan may take, measured: a backstop for work the steps
# cannot see (Python unpacking a huge list from `vars` before a call, Jinja's own work per
# rendering), far above the second or two a 200,000-item plan takes.
PLAN_SECONDS = 20.0
# Template source a plan compiles costs this many steps a character: compiling is far
# slower than running (about 30 microseconds a character).
COMPILE_STEPS_PER_CHAR = 30
# An operation costs one step, plus one per this many characters it handles, plus one per
# this many entries of the lists and mappings it handles (a step is about a microsecond)...
CHARS_PER_STEP = 64
ITEMS_PER_STEP = 4
# ...times this for filters that do far more work than that (textwrap, regular expressions,
# sorting), as measured.
SLOW_FILTERS: Mapping[str, int] = {
    "wordwrap": 64,
    "urlize": 128,
    "title": 16,
    "striptags": 8,
    "pprint": 16,
    "sort": 4,
    "unique": 4,
    "dictsort": 4,
    "groupby": 4,
}


class TooLarge(SecurityError):
    """A value a template would make is heavier than WIDTH."""


class Exhausted(SecurityError):
    """A template took more steps than it may."""

    def __init__(self, message: str, *, plan: bool) -> None:
        super().__init__(message)
        self.plan = plan  # the plan's budget ran out, not the description's own


@dataclass
class PlanBudget:
    """Template steps and seconds for a whole plan, shared by all of its descriptions."""

    total: int
    advice: str  # how to raise it, for the message that says it ran out
    seconds: float = PLAN_SECONDS
    steps: int = field(init=False)  # left
    elapsed: float = 0.0  # seconds taken so far
    compiled: set[str] = field(default_factory=set)  # sources already paid for

    @property
    def spent(self) -> bool:
        return self.steps <= 0 or self.elapsed > self.seconds

    def __post_init__(self) -> None:
        self.steps = self.total

    def pay_compile(self, source: str) -> None:
        if source in self.compiled:
            return
        self.compiled.add(source)
        self.steps -= len(source) * COMPILE_STEPS_PER_CHAR

    # A plan's descriptions rendered in two processes (compiler/expand/parallel.py): the
    # other's work is taken from this budget as if it had been done here, afterwards.

    def affords(self, steps: int, seconds: float) -> bool:
        """Whether taking that much more leaves at least what one description may take: then
        every rendering of the other process had its full allowance, as it would have here."""
        return self.steps - steps >= STEPS and self.elapsed + seconds <= self.seconds

    def take(self, steps: int, seconds: float, compiled: Iterable[str]) -> None:
        self.steps -= steps
        self.elapsed += seconds
        self.compiled.update(compiled)


@dataclass
class _Meter:
    """Steps of the rendering in progress on this thread (one at a time: a template cannot
    render another)."""

    running: bool = False
    started: float = 0.0  # time.perf_counter() when the rendering began
    allowed: int = 0  # steps this description may take
    left: int = 0  # of them, still to take
    plan_bound: bool = False  # whether `allowed` was cut to what the plan had left
    depth: int = 0  # calls in progress


_meter: ContextVar[_Meter | None] = ContextVar("billplan_template_meter", default=None)


def start(budget: PlanBudget | None) -> _Meter:
    """Begin counting one rendering's steps, against its own allowance and what the plan has
    left (the caller checks that it has some)."""
    meter = _meter.get()
    if meter is None:  # one per thread, reused: this runs for every description
        meter = _Meter()
        _meter.set(meter)
    allowed = STEPS if budget is None else max(min(STEPS, budget.steps), 0)
    meter.running = True
    meter.allowed = meter.left = allowed
    meter.plan_bound = allowed < STEPS
    meter.depth = 0
    meter.started = time.perf_counter()
    return meter


def stop(meter: _Meter, budget: PlanBudget | None) -> int:
    """End the rendering; the steps it took, up to what it had, paid from the budget."""
    meter.running = False
    took = meter.allowed - max(meter.left, 0)
    if budget is not None:
        budget.steps -= took
        budget.elapsed += time.perf_counter() - meter.started
    return took


def _plan_exhausted() -> Exhausted:
    return Exhausted("the plan's descriptions together take too many template steps", plan=True)


def spend(steps: int) -> None:
    """Count steps; outside a rendering (Jinja folding constants at compile time) nothing is
    counted: what is folded is bounded by the template's own text."""
    meter = _meter.get()
    if meter is not None and meter.running:
        _pay(meter, steps)


def _pay(meter: _Meter, steps: int) -> None:
    meter.left -= steps
    if meter.left < 0:
        if meter.plan_bound:
            raise _plan_exhausted()
        raise Exhausted(
            f"it takes more than {STEPS:,} steps (loop passes, calls, operations); "
            "a description is a line of text",
            plan=False,
        )


def enter_call() -> None:
    meter = _meter.get()
    if meter is None or not meter.running:
        return
    meter.depth += 1
    if meter.depth > CALL_DEPTH:
        raise Exhausted(
            f"calls nest more than {CALL_DEPTH} deep (a macro or a recursive loop calling itself?)",
            plan=False,
        )


def leave_call() -> None:
    meter = _meter.get()
    if meter is not None:
        meter.depth -= 1


def weight(value: Any, limit: int = WIDTH) -> int:
    """Characters a value stands for, counting everything a list or mapping holds.

    Counting stops a little past `limit`, so weighing costs at most that much whatever the
    value; nesting deeper than DEPTH is refused.
    """
    return _measure(value, limit)[0]


def _measure(value: Any, limit: int, most_entries: int | None = None) -> tuple[int, int]:
    """(characters, entries) of a value: counting stops a little past `limit` characters or
    `most_entries` entries, so that measuring costs no more than that, however large it is."""
    # The values every description handles, cheaply: this runs on every operation.
    kind = type(value)
    if kind is str:
        return len(value), 1
    if kind is date or value is None or kind is bool:
        return 1, 1
    if kind is Decimal:
        return _decimal_width(value), 1
    if kind is int:
        return value.bit_length() // 3 + 1, 1  # at least its decimal digits
    most = limit if most_entries is None else most_entries
    chars = entries = 0
    # Iterators, not lists of entries: a list of a million is never copied to be measured.
    stack: list[tuple[Iterator[Any], int]] = [(iter((value,)), 0)]
    while stack and chars <= limit and entries <= most:
        items, depth = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
            continue
        entries += 1
        if isinstance(item, str | bytes | bytearray):
            chars += len(item)
        elif isinstance(item, bool) or item is None:
            chars += 1
        elif isinstance(item, int):
            chars += item.bit_length() // 3 + 1
        elif isinstance(item, Decimal):
            chars += _decimal_width(item)
        elif isinstance(item, Mapping | list | tuple | set | frozenset):
            if depth >= DEPTH:
                raise TooLarge(f"values nest more than {DEPTH} deep in a description")
            chars += len(item) + 1
            entries += len(item)  # counted whole at once: a huge one stops here
            held = chain.from_iterable(item.items()) if isinstance(item, Mapping) else iter(item)
            stack.append((held, depth + 1))
        else:
            chars += 1 if isinstance(item, date) else 8  # floats, dates, loop objects
    return chars, entries


_END = object()


def charge(*values: Any, slower: int = 1) -> None:
    """Pay for handling values: a step, and one more per CHARS_PER_STEP characters and per
    ITEMS_PER_STEP entries, `slower` times over. They are measured only as far as the
    rendering can still pay, so that measuring a huge value costs no more than refusing it."""
    meter = _meter.get()
    if meter is None or not meter.running:
        return
    affordable = max(meter.left, 0) // slower + 1  # steps
    chars = entries = 0
    for value in values:
        if type(value) is str:  # the common case, without a call
            chars += len(value)
            entries += 1
            continue
        more, visited = _measure(
            value,
            affordable * CHARS_PER_STEP - chars,
            affordable * ITEMS_PER_STEP - entries,
        )
        chars += more
        entries += visited
        if chars // CHARS_PER_STEP + entries // ITEMS_PER_STEP > affordable:
            break  # more than can be paid: _pay() below refuses
    _pay(meter, slower * (1 + chars // CHARS_PER_STEP + entries // ITEMS_PER_STEP))


def _decimal_width(value: Decimal) -> int:
    """Characters `'{:f}'` can make of a Decimal: its zeros before or after the point, and
    up to the context's 28 digits (a generous bound, and cheaper than counting digits)."""
    return abs(value.adjusted()) + 30


def check_width(value: Any, what: str, name: str = "") -> Any:
    """The value, when it is light enough for a description; TooLarge otherwise, saying
    `what % name` made it (formatted only then: this runs on every operation). Weighing a
    large value costs steps, as making it did."""
    chars, entries = _measure(value, WIDTH)
    steps = chars // CHARS_PER_STEP + entries // ITEMS_PER_STEP
    if steps:
        spend(steps)  # first: weighing is paid for even when it refuses
    if chars > WIDTH:
        raise too_large(what % name if name else what, chars)
    return value


def too_large(what: str, chars: int) -> TooLarge:
    return TooLarge(
        f"{what} would make a value of {_about(chars)} characters, too large for a "
        f"description (at most {WIDTH:,})"
    )


def _about(chars: int) -> str:
    return f"{chars:,}" if chars <= 10 * WIDTH else f"more than {10 * WIDTH:,}"


# -- growth: operations whose result can outgrow their inputs many times over --------------
#
# Each estimate is an upper bound on the result's weight, computed from the arguments before
# the operation runs. Estimates may be generous: a description has no use for the borderline.

Estimate = Callable[[Any, Sequence[Any], Mapping[str, Any]], int]


def _arg(args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _replaced(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    count = _arg(args, kwargs, 2, "count")
    text = _text(subject)
    if not isinstance(old, str):
        return weight(subject) * (1 + weight(new))
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return weight(subject) + found * weight(new)


def _joined(items: Any, separator: Any) -> int:
    many = len(items) if isinstance(items, Sequence | Mapping) else weight(items)
    return weight(items) + many * weight(separator)


def _indented(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    width = _arg(args, kwargs, 0, "width")
    per_line = width if isinstance(width, int) else weight(width) if width is not None else 4
    return weight(subject) + (_text(subject).count("\n") + 1) * max(per_line, 0)


def _wrapped(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    width = _arg(args, kwargs, 0, "width")
    wrapstring = _arg(args, kwargs, 2, "wrapstring")
    text = _text(subject)
    lines = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    return weight(subject) + lines * weight(wrapstring if wrapstring is not None else "\n")


def _linked(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    # Every word may become <a href="word" rel="..." target="...">word</a>.
    extras = sum(weight(value) for value in (*args, *kwargs.values()) if value is not None)
    return 3 * weight(subject) + len(_text(subject).split()) * (extras + 50)


def _json(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    indent = _arg(args, kwargs, 0, "indent")
    step = indent if isinstance(indent, int) else weight(indent) if indent is not None else 0
    heavy = weight(subject)
    return 6 * heavy + heavy * step * DEPTH  # escapes, and each line indented by its depth


def formatted(template: Any, values: Sequence[Any] | Mapping[str, Any]) -> int:
    """`%` formatting: the template, each field's width, and any value in any field."""
    text = _text(template)
    if _STAR_WIDTH.search(text):
        raise TooLarge(_FROM_ARGUMENT)
    fields = _PERCENT_FIELD.findall(text)
    widths = sum(int(number) for spec in fields for number in re.findall(r"\d+", spec))
    return len(text) + widths + len(fields) * weight(values)


def str_formatted(template: Any, values: Any) -> int:
    """str.format: the same, with {}-fields whose spec may hold widths."""
    text = _text(template)
    fields = 0
    widths = 0
    try:
        for _, name, spec, _ in Formatter().parse(text):
            if name is None:
                continue
            fields += 1
            if spec and "{" in spec:
                raise TooLarge(_FROM_ARGUMENT)
            widths += sum(int(number) for number in re.findall(r"\d+", spec or ""))
    except ValueError:
        return len(text)  # not a valid format: str.format will say so
    return len(text) + widths + fields * weight(values)


_FROM_ARGUMENT = (
    "a format width taken from an argument is not allowed in a description: it could be "
    "as large as any number"
)
# `%` fields ("%%" is a literal percent sign), and a width or precision given as `*`.
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?([-+ #0]*\d*(?:\.\d*)?)[hlL]?[a-zA-Z]")
_STAR_WIDTH = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(?:\*|\d*\.\*)")


def _padded(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    width = _arg(args, kwargs, 0, "width")
    return max(weight(subject), width if isinstance(width, int) else 80)


def _tabs_expanded(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    size = _arg(args, kwargs, 0, "tabsize")
    per_tab = size if isinstance(size, int) else 8
    return weight(subject) + _text(subject).count("\t") * max(per_tab, 0)


def _translated(subject: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    table = _arg(args, kwargs, 0, "table")
    longest = (
        max((weight(v) for v in table.values()), default=1) if isinstance(table, Mapping) else 1
    )
    return weight(subject) * max(longest, 1)


FILTER_GROWTH: Mapping[str, Estimate] = {
    "replace": _replaced,
    "join": lambda items, args, kwargs: _joined(items, _arg(args, kwargs, 0, "d") or ""),
    "indent": _indented,
    "wordwrap": _wrapped,
    "urlize": _linked,
    "tojson": _json,
    "format": lambda template, args, kwargs: formatted(template, args or kwargs),
    "center": _padded,
}

METHOD_GROWTH: Mapping[str, Estimate] = {
    "replace": _replaced,
    "join": lambda separator, args, kwargs: _joined(_arg(args, kwargs, 0, "iterable"), separator),
    "center": _padded,
    "ljust": _padded,
    "rjust": _padded,
    "zfill": _padded,
    "expandtabs": _tabs_expanded,
    "translate": _translated,
}


def repeated(sequence: Any, times: Any) -> int | None:
    """The weight of sequence * times, or None when that is not a repetition."""
    if not isinstance(sequence, str | list | tuple) or isinstance(times, bool):
        return None
    if not isinstance(times, int):
        return None
    return weight(sequence) * max(times, 0)


def power_digits(base: Any, exponent: Any) -> int:
    """About how many digits base ** exponent has (integers only; Decimal has a context)."""
    if isinstance(base, bool) or isinstance(exponent, bool):
        return 0
    if not isinstance(base, int) or not isinstance(exponent, int) or exponent <= 0:
        return 0
    return base.bit_length() * exponent // 3
