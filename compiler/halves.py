"""A large plan directory checked in two processes, each reading, checking and expanding the
projects of about half its files.

A plan of 100,000 items spends its time in three passes that each go project by project:
parsing the YAML, the schema's verdict and expansion. On a machine with a core to spare,
a worker forked before anything is read takes the last files (compiler/expand/parallel.py
decides where they start), and both processes:

1. parse their own files, keeping where every value was written;
2. send each other the values (and where the top-level sections and each project's key were
   written), and merge all the files in the order one process would;
3. give the schema's verdict on their own projects (the rest of the plan is checked here);
4. expand their own projects; the worker sends back its items (compiler.expand.Halves).

What comes out is exactly what one process makes, or nothing: at the first problem in
either half (a file that does not parse, a conflict between files, a schema error) the
caller checks the whole plan again in one process, whose messages are the ones a plan author
sees. Where values were written inside the worker's projects is left in the text the worker
read until something asks (Document.remark parses it again).
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from operator import attrgetter, is_
from pathlib import Path
from typing import Any

from compiler.diagnostics import Mark
from compiler.expand import Halves, expand_part, parallel
from compiler.limits import Limits
from compiler.load import (
    MAX_PLAN_NODES,
    Document,
    Fragment,
    LoadError,
    PathKey,
    assemble,
    load_fragments,
    parse_file,
)
from compiler.model import Item
from compiler.schema_check import fast_check, revalidate_charge

_HOLDS = b"schema holds"


@dataclass
class Merged:
    """The plan's files merged in one document, and which projects each process expands."""

    document: Document
    first: list[str]  # projects of the first files: this process's
    rest: list[str]  # projects of the last files: the worker's


class InTwo:
    """This process's side of a plan checked in two; every step returns None (or False)
    when the plan must be checked again in one process."""

    def __init__(self, worker: parallel.Worker, target: Path, files: list[Path], split: int):
        self.worker = worker
        self.target = target
        self.files = files
        self.split = split
        # This process's items in their order, with their records in runs (Halves.meanwhile).
        self.own: tuple[list[Item], dict[str, str]] = ([], {})

    def merged(self) -> Merged | None:
        """Both halves read and merged; None at the first problem in either."""
        own, errors = load_fragments(self.files[: self.split])
        if errors:
            return None
        sent = self.worker.receive()
        if sent is None or not self.worker.send(_outline(own)):
            return None
        return _merged(self.target, self.files, own, pickle.loads(sent), read_here=own)

    def schema_holds(self, merged: Merged) -> bool:
        """The schema's verdict on the whole plan: this process's projects and the rest of
        the plan here, the worker's projects there."""
        check = fast_check()
        root = merged.document.root
        mine = {**root, "projects": {key: root["projects"][key] for key in merged.first}}
        return check is not None and check(mine) and self.worker.receive() == _HOLDS

    def halves(self, merged: Merged, record: Record | None = None) -> Halves:
        """The projects in two; with `record`, this process makes its own items' records
        while the worker encodes its items (it would only wait otherwise)."""

        def meanwhile(items: Sequence[Item]) -> None:  # in item order
            assert record is not None
            mine = list(items)
            self.own = (mine, runs(mine, record))

        return Halves(
            merged.first, merged.rest, self.worker.receive, None if record is None else meanwhile
        )

    def records(self, merged: Merged, items: list[Item], record: Record) -> list[str]:
        """The items' records in their order, in runs, a project's records each (compiler.
        validate.Checked.records): the worker's made there (it sent them after its items),
        this process's made meanwhile. Where either are not those of these very items (the
        worker's did not come, or this process expanded the rest itself), all are made here,
        one run an item."""
        rest = frozenset(merged.rest)
        sent = self.worker.receive()
        made = pickle.loads(sent) if sent is not None else None
        theirs = [item.address for item in items if item.project in rest]
        mine = [item for item in items if item.project not in rest]
        own, own_runs = self.own
        if (
            made is None
            or made[0] != theirs
            or len(own) != len(mine)
            or not all(map(is_, own, mine))
        ):
            return [record(item) for item in items]
        made_runs = {**own_runs, **made[1]}
        return [made_runs[project] for project in dict.fromkeys(item.project for item in items)]


def runs(items: Sequence[Item], record: Record) -> dict[str, str]:
    """Per project, its items' records joined as to_json joins records (`items` in their
    order, a project's together)."""
    # Only render records, and it has imported this already; validate and plan need not.
    from compiler.render.items import RECORD_SEPARATOR

    return {
        project: RECORD_SEPARATOR.join(map(record, together))
        for project, together in groupby(items, key=attrgetter("project"))
    }


# Makes an item's record (compiler.render.items: its JSON); pure, so either process may.
Record = Callable[[Item], str]


@contextmanager
def in_two(
    target: Path,
    files: list[Path],
    split: int,
    as_of: date,
    limits: Limits,
    record: Record | None = None,
) -> Iterator[InTwo]:
    """The worker forked, running while the block runs (killed if the block ends first).
    With `record`, the worker also makes its items' records once it has sent them."""

    def work(channel: parallel.Channel) -> None:
        _worker(channel, target, files, split, as_of, limits, record)

    with parallel.Worker(work) as worker:
        yield InTwo(worker, target, files, split)


def _worker(
    channel: parallel.Channel,
    target: Path,
    files: list[Path],
    split: int,
    as_of: date,
    limits: Limits,
    record: Record | None,
) -> None:
    """The worker's side: its files read, the plan merged, its projects checked and expanded,
    and then, when asked, its items' records (in the order the plan's items come). It stops
    (sending nothing more) at the first problem: the parent checks the plan alone."""
    own, errors = load_fragments(files[split:])
    if errors or not channel.send(_outline(own)):
        return
    sent = channel.receive()
    if sent is None:
        return
    merged = _merged(target, files, pickle.loads(sent), own, read_here=own)
    if merged is None:
        return
    check = fast_check()
    projects = merged.document.root["projects"]
    mine = {"projects": {key: projects[key] for key in merged.rest}}
    if check is None or not check(mine) or not channel.send(_HOLDS):
        return
    doc = merged.document
    part, items = expand_part(doc, as_of, merged.rest, revalidate=revalidate_charge, limits=limits)
    if record is None:
        channel.send(part)
        return
    # The items are sent from a thread of their own: the parent reads them only once it has
    # made its own items' records, and meanwhile this process makes its items' records.
    sent: list[bool] = []
    sending = threading.Thread(target=lambda: sent.append(channel.send(part)))
    sending.start()
    made = ([item.address for item in items], runs(items, record))  # items in item order
    sending.join()
    if sent == [True]:
        channel.send(pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL))


def _outline(fragments: list[Fragment]) -> bytes:
    """Fragments for the other process: every value, and where each was written except
    inside a project (the other process expands none of these projects)."""
    return pickle.dumps(
        [
            Fragment(
                fragment.path,
                fragment.value,
                _outside_projects(fragment.marks),
                _outside_projects(fragment.key_marks),
                fragment.values,
                fragment.text,
            )
            for fragment in fragments
        ],
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _outside_projects(marks: dict[PathKey, Mark]) -> dict[PathKey, Mark]:
    return {path: mark for path, mark in marks.items() if len(path) < 3 or path[0] != "projects"}


def _merged(
    target: Path,
    files: list[Path],
    first: list[Fragment],
    rest: list[Fragment],
    read_here: list[Fragment],
) -> Merged | None:
    """The first files' fragments and the rest's merged in the files' order; None where one
    process would have found a problem. Marks inside the projects of the fragments not read
    here are left to Document.remark."""
    if sum(fragment.values for fragment in (*first, *rest)) > MAX_PLAN_NODES:
        return None
    keys = [_project_keys(fragment) for fragment in (*first, *rest)]
    if any(found is None for found in keys):
        return None
    try:
        doc = assemble(target, files, [*first, *rest])
    except LoadError:
        return None
    if not isinstance(doc.root.get("projects"), dict):
        return None
    first_keys = [key for found in keys[: len(first)] for key in found or ()]
    rest_keys = [key for found in keys[len(first) :] for key in found or ()]
    elsewhere = rest if read_here is first else first
    doc.unmarked = frozenset(rest_keys if read_here is first else first_keys)
    doc.remark = _remarker(elsewhere)
    return Merged(doc, first_keys, rest_keys)


def _project_keys(fragment: Fragment) -> list[str] | None:
    projects: Any = (fragment.value or {}).get("projects", {})
    return list(projects) if isinstance(projects, dict) else None


def _remarker(fragments: Sequence[Fragment]) -> Callable[[Document], None]:
    def remark(doc: Document) -> None:
        """Where the values inside the other process's projects were written, found again in
        the text the other process read (the file may have changed since)."""
        for fragment in fragments:
            marks: dict[PathKey, Mark] = {}
            key_marks: dict[PathKey, Mark] = {}
            parse_file(fragment.path, fragment.text, marks, key_marks)
            for own, found in ((doc.marks, marks), (doc.key_marks, key_marks)):
                for where, mark in found.items():
                    if len(where) > 2 and where[0] == "projects":
                        own.setdefault(where, mark)

    return remark
