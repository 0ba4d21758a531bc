"""Two processes where a core is free: the worker process, the messages it exchanges with
this one, and what a large plan's expansion sends back.

Two ways of using them. A plan directory large enough is read, checked and expanded in
halves by its files (compiler/halves.py; `plan_split` says where the worker's files start).
Otherwise a plan of thousands of charges is expanded in two where its charges are about
halved (`split`): this process expands the first projects while a worker forked then
expands the rest. Either way the worker sends back its items, problems and template work in
texts and numbers (`encode`), and its items are appended after this process's own, in the
order the plan writes them.

What comes out is exactly what one process makes. The worker's part is kept only when the
plan's limits could not have ended it differently had it been expanded here, after the first
part: its items fit under the item limit counted from there, and the template budget, with
both parts' work taken from it, is still well above what one description may take.
Otherwise, or if the worker fails, this process expands the rest itself, as it would have
anyway. Forking is used only where it is safe and worth it: on Linux, with no other thread
running, a core to spare (two or more, one of them idle) and a plan large enough to repay it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from compiler.diagnostics import Diagnostic, Mark
from compiler.model import Item
from compiler.schedule import Period
from compiler.template_limits import PlanBudget

# Charges below which a plan is expanded here alone: forking and reading back cost a few
# milliseconds, about what expanding a thousand charges saves.
MIN_CHARGES = 1_000
# Of the charges, the share this process keeps: it also rebuilds the worker's items, which
# costs about a third of making them.
OWN_SHARE = 0.45


def split(projects: Any) -> int | None:
    """How many of the plan's projects to expand here before the worker's; None to expand
    them all here."""
    if not _can_fork() or not isinstance(projects, Mapping) or len(projects) < 2:
        return None
    return _cut([_charges(project) for project in projects.values()], MIN_CHARGES, OWN_SHARE)


# A plan directory whose files hold less is read in one process (compiler/halves.py): about
# 4,000 items. Measured: 3,500 items check in 0.077 s in two, 0.082 s in one; 10,000 in
# 0.18 s and 0.23 s.
MIN_PLAN_BYTES = 100_000
# Of a plan directory's bytes, the share whose files this process reads. The worker encodes
# its items after expanding them (about a quarter of what expanding them took) while this
# process waits for them: in a 100k plan's trace this process waited 0.17 s at an even split.
OWN_BYTES_SHARE = 0.55
# The share when the items' records are made too (render's JSON): this process makes its own
# while the worker encodes, which evens the two (compiler/halves.py).
RECORDING_SHARE = 0.5


def plan_split(files: Sequence[Path], share: float = OWN_BYTES_SHARE) -> int | None:
    """Where the worker's files start, for a plan directory read in two processes
    (compiler/halves.py), this process reading `share` of the bytes; None to read it in this
    one alone."""
    if len(files) < 2 or not _can_fork():
        return None
    try:
        sizes = [os.stat(file).st_size for file in files]
    except OSError:
        return None  # reading it alone says what is wrong
    return _cut(sizes, MIN_PLAN_BYTES, share)


def _cut(weights: Sequence[int], least: int, share: float) -> int | None:
    """The index after the first weights that make up `share` of them all, leaving at least
    one for the worker; None when they weigh less than `least` in all."""
    total = sum(weights)
    if total < least:
        return None
    kept = 0
    for index, weight in enumerate(weights):
        kept += weight
        if kept >= total * share:
            return min(index + 1, len(weights) - 1)
    return None


def _can_fork() -> bool:
    # A fork copies only the thread that calls it: another thread's locks (the import lock,
    # an HTTP client's) would be held for ever in the worker.
    if sys.platform != "linux" or threading.active_count() != 1:
        return False
    # A core to spare: on a machine already busy, the worker would wait for one while this
    # process waits for it, and sending its items back would cost more than it saves.
    cores = len(os.sched_getaffinity(0))
    return cores >= 2 and _running() < cores


def _running() -> int:
    """Threads running or ready to run on the machine right now, this one included (the
    kernel's count in /proc/loadavg: a snapshot, where the load average lags a minute)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            return int(loadavg.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 1


def _charges(project: Any) -> int:
    if not isinstance(project, Mapping):
        return 1
    sections = (project.get(section) for section in ("recurring", "milestones", "products"))
    return 1 + sum(len(charges) for charges in sections if isinstance(charges, Mapping))


@dataclass
class Part:
    """What the worker's projects expanded to, and what expanding them took."""

    items: list[Item]
    diagnostics: list[Diagnostic]
    stopped: bool  # a limit of the whole plan stopped the worker
    # The most items the plan would have held at any of the worker's limit checks, counted
    # from the worker's first project: its items so far plus the periods of the charge at hand.
    peak: int
    steps: int  # template steps its descriptions took
    elapsed: float  # seconds its descriptions took
    compiled: frozenset[str]  # templates it paid to compile

    def fits(self, items_before: int, max_items: int, budget: PlanBudget) -> bool:
        """Whether expanding the part after items_before items, with the budget as it is now,
        would have gone exactly as it did in the worker."""
        return (
            not self.stopped
            and items_before + self.peak <= max_items
            # Its steps count compiling the templates both processes used: more than it
            # would have taken here, which only makes this stricter.
            and budget.affords(self.steps, self.elapsed)
        )


class Worker:
    """A forked process running `work`, which talks with this one through a Channel.

    The worker never returns to the caller's code: it exits when `work` returns (status 0)
    or raises (status 1). Leaving the `with` block before the worker is done kills it.
    """

    def __init__(self, work: Callable[[Channel], None]) -> None:
        from_parent, to_worker = os.pipe()  # os.pipe(): (read end, write end)
        from_worker, to_parent = os.pipe()
        _widen(to_parent)
        self.pid = os.fork()
        if self.pid == 0:  # the worker
            status = 1
            try:
                os.close(to_worker)
                os.close(from_worker)
                work(Channel(from_parent, to_parent))
                status = 0
            finally:
                os._exit(status)
        os.close(from_parent)
        os.close(to_parent)
        self.channel = Channel(from_worker, to_worker)
        self.done = False

    def receive(self) -> bytes | None:
        """The worker's next message, or None when it ended without sending one."""
        return self.channel.receive()

    def send(self, data: bytes) -> bool:
        """Send the worker a message; False when it has already ended."""
        return self.channel.send(data)

    def result(self) -> bytes | None:
        """The worker's last message, once it has exited cleanly; None when it failed."""
        data = self.receive()
        self.channel.close()
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        return data if os.waitstatus_to_exitcode(status) == 0 else None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:  # this process stopped first (a limit, an interrupt, a fallback)
            self.channel.close()
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)


# What a pipe from the worker holds at once: its items and records are tens of megabytes,
# and at Linux's default of 64 KiB each chunk waits for the other process to be scheduled.
PIPE_BYTES = 1 << 20


def _widen(pipe: int) -> None:
    """Let the pipe hold PIPE_BYTES (Linux; at most /proc/sys/fs/pipe-max-size, 1 MiB by
    default, for a process without privileges); left as it is where that is refused."""
    with contextlib.suppress(OSError, ImportError, AttributeError):
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class Channel:
    """Messages of bytes over a pair of pipes, each preceded by its length."""

    def __init__(self, read: int, write: int) -> None:
        self.reader = os.fdopen(read, "rb")
        self.writer = os.fdopen(write, "wb")

    def send(self, data: bytes) -> bool:
        try:
            self.writer.write(len(data).to_bytes(8, "little"))
            self.writer.write(data)
            self.writer.flush()
        except (BrokenPipeError, ValueError):  # the other side ended (or this one closed)
            return False
        return True

    def receive(self) -> bytes | None:
        """The next message; None when the other side ended before sending it whole."""
        try:
            header = self.reader.read(8)
            if len(header) < 8:
                return None
            size = int.from_bytes(header, "little")
            data = self.reader.read(size)
        except ValueError:  # closed here
            return None
        return data if len(data) == size else None

    def close(self) -> None:
        for end in (self.reader, self.writer):
            # Bytes left unflushed are for a side that will never read them.
            with contextlib.suppress(BrokenPipeError):
                end.close()


# -- the worker's part, as texts and numbers ---------------------------------------------------

_Header = tuple[Any, ...]  # what an Item shares with the other items of its charge


def encode(
    items: Sequence[Item],
    diagnostics: Sequence[Diagnostic],
    *,
    stopped: bool,
    peak: int,
    steps: int,
    elapsed: float,
    compiled: frozenset[str],
) -> bytes:
    headers: list[_Header] = []
    rows: list[tuple[Any, ...]] = []
    last: _Header | None = None
    for item in items:
        # Reused while every field of it is the same: the next project's charge of the same
        # key, under the same settings (the very same options), is another project's.
        header = (
            item.project, item.kind, item.charge, item.currency, item.provider,
            item.provider_type, item.project_id, item.options, item.option_marks, item.mark,
            item.adjust,
        )  # fmt: skip
        if header != last:
            headers.append(header)
            last = header
        period = item.period
        rows.append(
            (len(headers) - 1, item.address, item.label, _day(item.date),
             None if period is None else (
                 period.start.toordinal(), period.end.toordinal(),
                 period.full_start.toordinal(), period.full_end.toordinal(),
                 period.label, period.index, period.count),
             item.description, _text(item.quantity), _text(item.rate), str(item.amount),
             item.task, _text(item.percent))
        )  # fmt: skip
    problems = [(d.mark.file, d.mark.line, d.mark.col, d.path, d.message) for d in diagnostics]
    part = (headers, rows, problems, stopped, peak, steps, elapsed, compiled)
    return pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> Part:
    headers, rows, problems, stopped, peak, steps, elapsed, compiled = pickle.loads(data)
    # A plan's items share most of their dates, amounts and periods: each is made once here
    # (all immutable), and each Item is made as the tuple it is, without its keyword-taking
    # constructor.
    day = _Made(date.fromordinal)
    number = _Made(Decimal)
    periods = _Made(lambda p: Period(day[p[0]], day[p[1]], day[p[2]], day[p[3]], p[4], p[5], p[6]))
    made = tuple.__new__
    items = []
    for row in rows:
        header, address, label, when, period, description, quantity, rate, amount, task, pc = row
        (project, kind, charge, currency, provider, vendor, project_id, options, option_marks,
         mark, adjust) = headers[header]  # fmt: skip
        items.append(
            made(Item, (
                address, project, kind, charge, label,
                None if when is None else day[when],
                None if period is None else periods[period],
                description,
                None if quantity is None else number[quantity],
                None if rate is None else number[rate],
                number[amount], currency, provider, vendor, project_id, task,
                None if pc is None else number[pc],
                options, option_marks, mark, adjust,
            ))
        )  # fmt: skip
    diagnostics = [
        Diagnostic(Mark(file, line, col), path, message)
        for file, line, col, path, message in problems
    ]
    return Part(items, diagnostics, stopped, peak, steps, elapsed, compiled)


class _Made(dict[Any, Any]):
    """Values made once each from their keys (`make`), on first asking."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.make(key)
        return value


def _day(value: date | None) -> int | None:
    return None if value is None else value.toordinal()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)  # exact: Decimal(str(d)) is d, digits and all
