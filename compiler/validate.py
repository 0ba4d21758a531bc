"""Validation in three layers (YAML syntax, JSON Schema, meaning), reported together.

This module orchestrates: load the plan, check it against the schema (compiler.schema_check)
and billplan's own rules for connections and sections, then expand it (compiler.expand),
which checks meaning, so validate and render can never disagree.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from compiler import credentials
from compiler.diagnostics import Diagnostic, sorted_diagnostics
from compiler.expand import Expansion, expand, parallel
from compiler.halves import InTwo, Record, in_two
from compiler.limits import Limits
from compiler.load import Document, LoadError, PathKey, load, plan_file_list
from compiler.model import Item
from compiler.moved import plan_problems
from compiler.policy import read as read_policy
from compiler.removed import plan_problems as removed_problems

# plan_schema and schema_text are also read from here by the CLI and the tests.
from compiler.schema_check import plan_schema, revalidate_charge, schema_problems, schema_text
from compiler.state.location import plan_file_problems, state_path_problems

__all__ = ["Checked", "check", "plan_schema", "schema_text"]


@dataclass
class Checked:
    """The outcome of checking a plan: its document and items when it got that far."""

    document: Document | None
    items: list[Item] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # The items' records in their order, when check() was given a Record to make them: in
    # runs of one or more items' records joined as render's JSON joins them
    # (render.items.RECORD_SEPARATOR; a plan checked in two processes makes a run a project).
    records: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def check(
    target: Path,
    as_of: date,
    limits: Limits | None = None,
    loaded: Callable[[Document], None] | None = None,
    record: Record | None = None,
) -> Checked:
    """Load, schema-check and expand a plan; every problem found is in .diagnostics.

    limits: how large it may expand; by default BILLPLAN_MAX_ITEMS or the default limits.
    loaded: called with the document once it is loaded and its schema holds, before it is
    expanded (`plan` starts reading the vendors then: compiler.workspace.ReadAhead).
    record: makes each item's record (render's JSON) for .records; a plan checked in two
    processes makes the worker's items' records in the worker, while this one makes its own.
    """
    with _no_cycle_collection():
        checked = _check(target, as_of, limits or Limits.given(), loaded, record)
        if record is not None and checked.records is None and checked.ok:
            checked.records = [record(item) for item in checked.items]
        return checked


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a plan is checked.

    Loading and expanding allocate millions of objects that all stay alive (the document and
    the items); each collection walks every one of them again for nothing, about a third
    of the time for 100,000 items. What is built here holds no reference cycles that
    matter: reference counting frees the rest, and the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # What was built moves to the oldest generation, as if it had survived every
            # collection: otherwise the first collection after this walks all of it again
            # (0.2 s for 100,000 items) only to find it alive. Cycles among it are still
            # found by the next full collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _check(
    target: Path,
    as_of: date,
    limits: Limits,
    loaded: Callable[[Document], None] | None,
    record: Record | None,
) -> Checked:
    if linked := plan_file_problems(target):
        # What such a file holds is not the plan's: reported alone, never read.
        return Checked(None, diagnostics=linked)
    try:
        files = plan_file_list(target)
    except LoadError as exc:
        return Checked(None, diagnostics=sorted_diagnostics(exc.diagnostics))
    share = parallel.OWN_BYTES_SHARE if record is None else parallel.RECORDING_SHARE
    if target.is_dir() and (split := parallel.plan_split(files, share)) is not None:
        with in_two(target, files, split, as_of, limits, record) as two:
            checked = _check_in_two(two, as_of, limits, loaded, record)
        if checked is not None:
            return checked
    try:
        doc = load(target)
    except LoadError as exc:
        return Checked(None, diagnostics=sorted_diagnostics(exc.diagnostics))
    own = list(_credential_problems(doc))
    # billplan's own words win over the schema's where both speak of one place.
    said = {path for path, _ in own}
    schema = [(path, d) for path, d in schema_problems(doc) if path not in said]
    located = schema + own + list(_missing_sections(doc))
    problems = [diagnostic for _, diagnostic in located] + state_path_problems(doc)
    broken = [path for path, _ in located]

    def skip(path: PathKey) -> bool:
        n = len(path)
        return any(b[:n] == path for b in broken)

    if loaded is not None and not problems:
        loaded(doc)
    expansion = expand(doc, as_of, skip=skip, revalidate=revalidate_charge, limits=limits)
    return _finished(doc, problems, expansion, skip)


def _check_in_two(
    two: InTwo,
    as_of: date,
    limits: Limits,
    loaded: Callable[[Document], None] | None,
    record: Record | None,
) -> Checked | None:
    """A large plan directory checked in two processes (compiler/halves.py); None at the
    first problem, to check it again in one process, whose messages stand."""
    merged = two.merged()
    if merged is None:
        return None
    doc = merged.document
    if any(_credential_problems(doc)) or any(_missing_sections(doc)) or state_path_problems(doc):
        return None
    if not two.schema_holds(merged):
        return None
    if loaded is not None:
        loaded(doc)
    halves = two.halves(merged, record)
    expansion = expand(doc, as_of, revalidate=revalidate_charge, limits=limits, halves=halves)
    checked = _finished(doc, [], expansion, lambda path: False)
    if record is not None and checked.ok:
        checked.records = two.records(merged, checked.items, record)
    return checked


def _finished(
    doc: Document,
    problems: list[Diagnostic],
    expansion: Expansion,
    skip: Callable[[PathKey], bool],
) -> Checked:
    """The plan's policy read, and its renames and `removed:` blocks checked against what
    it expanded to."""
    problems = problems + read_policy(doc, skip)[1]
    diagnostics = sorted_diagnostics([*problems, *expansion.diagnostics])
    if not diagnostics:
        # `moved:` renames and `removed:` blocks are checked against the expanded addresses.
        addresses = [item.address for item in expansion.items]
        diagnostics = [*plan_problems(doc, addresses), *removed_problems(doc, addresses)]
    return Checked(doc, items=expansion.items if not diagnostics else [], diagnostics=diagnostics)


# Required once the fragments are merged; the schema leaves them optional so that an editor
# accepts a fragment that holds, say, only projects.
REQUIRED_SECTIONS = ("version", "providers", "projects")


def _missing_sections(doc: Document) -> Iterator[tuple[PathKey, Diagnostic]]:
    for section in REQUIRED_SECTIONS:
        if section not in doc.root:
            where = "the plan" if len(doc.files) == 1 else "one file of the plan directory"
            message = f"`{section}` is required here but missing; add it at the top of {where}"
            yield (), doc.diagnostic((), message)


def _credential_problems(doc: Document) -> Iterator[tuple[PathKey, Diagnostic]]:
    """A connection choosing a host, or naming a variable it may not (compiler.credentials)."""
    for path, message, at_key in credentials.plan_problems(doc.root):
        yield path, doc.diagnostic(path, message, at_key=at_key)
