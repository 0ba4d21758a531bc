"""Loading plans: YAML files into one Document of plain values plus source marks.

Only the safe YAML subset is accepted (no language-specific tags), duplicate keys are errors,
and plain values are read as YAML 1.2's core schema reads them, as editors do (yaml-language-
server), so that a plan means one thing in the editor, in JSON Schema tools and to billplan:
`1e3` is a thousand and `0x10` sixteen, while `1_000`, `yes` and `2026-01-31` are text. Numbers
with a fraction become Decimal from their source text. Dates stay strings here;
their meaning is checked later. A plan comes from a pull request, so what is read is bounded:
regular files only (never a FIFO or a device), MAX_FILE_BYTES a file, nesting, alias expansion
and the values of the whole plan.
"""

from __future__ import annotations

import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from compiler.diagnostics import Diagnostic, Mark, json_path

PathKey = tuple[str | int, ...]

# A plan has a few hundred values; a million constructed nodes can only be an alias bomb.
MAX_NODES = 200_000
MAX_DEPTH = 64
# A plan of 100,000 items is about 2.4 MB of YAML, in many files; what one file may hold
# bounds the time and memory of parsing it (about 300 MB for 2 MiB of `[1,1,1,...`).
MAX_FILE_BYTES = 2 * 1024 * 1024
# Values in all the files of a plan together (10 for each item of a 100,000-item plan).
MAX_PLAN_NODES = 1_000_000
PLAN_SUFFIXES = (".yaml", ".yml")
_TAG = "tag:yaml.org,2002:"


@dataclass
class Document:
    """A whole plan: merged values and where each value and key was written."""

    root: dict[str, Any]
    base_dir: Path
    files: list[Path] = field(default_factory=list)
    marks: dict[PathKey, Mark] = field(default_factory=dict)
    key_marks: dict[PathKey, Mark] = field(default_factory=dict)
    # Projects whose values' marks were left out: another process read their files
    # (compiler/halves.py), and `remark` finds them in the text it read when first asked for.
    unmarked: frozenset[str] = frozenset()
    remark: Callable[[Document], None] | None = None

    def mark(self, path: PathKey) -> Mark:
        """Where a value was written, or the nearest enclosing value that has a mark.

        For a plan read in two processes, the first mark asked for inside a project the
        other process read parses that process's text again (`remark`), once."""
        if self.unmarked and path not in self.marks:
            self._complete(path)
        for end in range(len(path), -1, -1):
            found = self.marks.get(path[:end])
            if found is not None:
                return found
        return Mark(str(self.files[0]) if self.files else str(self.base_dir), 1, 1)

    def key_mark(self, path: PathKey) -> Mark:
        """Where a mapping key was written (for errors about the key itself)."""
        if self.unmarked and path not in self.key_marks:
            self._complete(path)
        return self.key_marks.get(path) or self.mark(path)

    def _complete(self, path: PathKey) -> None:
        if len(path) > 2 and path[0] == "projects" and path[1] in self.unmarked:
            remark, self.remark, self.unmarked = self.remark, None, frozenset()
            if remark is not None:
                remark(self)

    def diagnostic(self, path: PathKey, message: str, *, at_key: bool = False) -> Diagnostic:
        mark = self.key_mark(path) if at_key else self.mark(path)
        return Diagnostic(mark, json_path(path), message)


class LoadError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


_MAP, _SEQ, _STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP, _MERGE = (
    _TAG + name
    for name in ("map", "seq", "str", "null", "bool", "int", "float", "timestamp", "merge")
)

# The types of plain (unquoted) scalars in YAML 1.2's core schema (spec 1.2.2, 10.3.2), by
# first character. PyYAML resolves YAML 1.1's instead, where `yes` is true, `1_000` a thousand,
# `0x10` text-like and `1e3` text: not what an editor shows for the same file. `<<` stays a
# merge key only so that billplan can refuse it with advice.
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_CORE_TYPES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (_NULL, re.compile(r"null|Null|NULL|~|"), "nN~"),
    (_BOOL, re.compile(r"true|True|TRUE|false|False|FALSE"), "tTfF"),
    (_INT, _CORE_INT, "-+0123456789"),
    (_FLOAT, _CORE_FLOAT, "-+.0123456789"),
    (_MERGE, re.compile(r"<<"), "<"),
)
_CORE: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple((tag, regexp) for tag, regexp, firsts in _CORE_TYPES if first in firsts)
    for first in {char for _, _, firsts in _CORE_TYPES for char in firsts}
}


def _core_tag(value: str) -> str:
    """The tag YAML 1.2's core schema gives a plain scalar."""
    if not value:
        return _NULL
    for tag, regexp in _CORE.get(value[0], ()):
        if regexp.fullmatch(value):
            return tag
    return _STR


def reads_as_text(value: str) -> bool:
    """Whether `value`, written plain (unquoted), reads back as the same text: not a number,
    a boolean or null under YAML 1.2's core schema (`1e3`, `0x10`, `true`, `~` do not). A
    writer quotes the others."""
    return _core_tag(value) == _STR


class _Core:
    """Plain scalars resolved by YAML 1.2's core schema (mixed into both parsers below)."""

    # Plain scalars already resolved in this file (keys repeat on every charge).
    _plain: dict[str, str] | None = None

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not ScalarNode:
            # Untagged collections: the defaults PyYAML's resolver gives them (it has no
            # path resolvers here).
            return _MAP if kind is MappingNode else _SEQ
        if not implicit[0]:
            return _STR
        plain = self._plain
        if plain is None:
            plain = self._plain = {}
        tag = plain.get(value)
        if tag is None:
            tag = plain[value] = _core_tag(value)
        return tag


class _Composer(_Core, yaml.SafeLoader):
    """The pure-Python parser: its error messages are the ones billplan reports (see compose).

    Its composer recurses once per level of nesting: deeper than MAX_DEPTH stops it there,
    long before Python's recursion limit (5,000 `[` would otherwise raise RecursionError).
    """

    _depth = 0
    _section: tuple[str, Any] | None = None  # the top-level key being composed, and its mark

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth == 2 and isinstance(index, ScalarNode):
                self._section = (index.value, self.peek_event().start_mark)
            if self._depth > MAX_DEPTH + 1:  # the document's root is at depth 1
                raise _TooDeep(self._section)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    def __init__(self, section: tuple[str, Any] | None) -> None:
        self.section = section


class _LibyamlComposer(_Core, yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """libyaml's parser and composer, with the core schema's tag resolution."""


_FastComposer = _LibyamlComposer if yaml.__with_libyaml__ else None


def compose(text: str) -> Node | None:
    """Parse and compose one YAML document; construction into values is ours (_Builder).

    libyaml does the work when it is there. Its error messages differ from PyYAML's own,
    which are the ones billplan reports (with hints keyed on their wording), so a text that
    libyaml refuses is parsed again by the pure-Python parser, whose verdict stands.
    """
    if _FastComposer is not None:
        loader = _FastComposer(text)
        try:
            return loader.get_single_node()
        except yaml.YAMLError:
            pass
        finally:
            loader.dispose()
    loader = _Composer(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _mark(file: str, node: Node) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node graph into plain values, recording marks and refusing bad input.

    Called once per value of the plan, so it is written for speed: node kinds by their `id`,
    tags against constants, one Mark per value and per key and nothing else per value.
    """

    def __init__(
        self,
        file: str,
        marks: dict[PathKey, Mark],
        key_marks: dict[PathKey, Mark],
        max_nodes: int = MAX_NODES,
    ):
        self.file = file
        self.marks = marks
        self.key_marks = key_marks
        self.max_nodes = max_nodes
        self.nodes = 0
        self.errors: list[Diagnostic] = []

    def error(self, node: Node, path: PathKey, message: str) -> None:
        self.errors.append(Diagnostic(_mark(self.file, node), json_path(path), message))

    def build(self, node: Node, path: PathKey) -> Any:
        self.nodes += 1
        if self.nodes > self.max_nodes or len(path) > MAX_DEPTH:
            raise _Bomb(path, node)
        start = node.start_mark
        self.marks[path] = tuple.__new__(Mark, (self.file, start.line + 1, start.column + 1))
        kind = node.id
        if kind == "scalar":
            return self._scalar(node, path)
        if kind == "mapping":
            return self._mapping(node, path)
        if node.tag != _SEQ:
            self.error(node, path, _tag_message(node.tag))
            return None
        return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]

    def _mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any] | None:
        if node.tag != _MAP:
            self.error(node, path, _tag_message(node.tag))
            return None
        out: dict[str, Any] = {}
        file = self.file
        marks = self.marks
        key_marks = self.key_marks
        new_mark = tuple.__new__  # Mark(...) without its Python-level constructor
        for key_node, value_node in node.value:
            if key_node.id != "scalar":
                self.error(key_node, path, "mapping keys must be plain text")
                continue
            key = str(key_node.value)
            key_path = (*path, key)
            start = key_node.start_mark
            key_mark = new_mark(Mark, (file, start.line + 1, start.column + 1))
            if key == "<<" and key_node.tag == _MERGE:
                self.error(
                    key_node,
                    path,
                    "YAML merge keys (<<) are not supported; share settings with a template "
                    "and `use:` instead",
                )
                continue
            if key in out:
                self.error(
                    key_node,
                    key_path,
                    f"duplicate key {key!r}: already defined at {key_marks[key_path]}; "
                    "remove one of them",
                )
                continue
            key_marks[key_path] = key_mark
            if value_node.tag == _STR and value_node.id == "scalar":
                # Most values are text: what build() does for them, without the call.
                self.nodes += 1
                if self.nodes > self.max_nodes or len(key_path) > MAX_DEPTH:
                    raise _Bomb(key_path, value_node)
                start = value_node.start_mark
                marks[key_path] = new_mark(Mark, (file, start.line + 1, start.column + 1))
                out[key] = value_node.value
            else:
                out[key] = self.build(value_node, key_path)
        return out

    def _scalar(self, node: ScalarNode, path: PathKey) -> Any:
        tag = node.tag
        text = node.value
        if tag == _STR:
            return text
        if tag == _INT:
            if not _CORE_INT.fullmatch(text):
                return text  # `!!int 1_000`: not a core-schema integer; the schema refuses it
            base = {"0o": 8, "0x": 16}.get(text[:2], 10)
            return int(text if base == 10 else text[2:], base)
        if tag == _FLOAT:
            # Money must never pass through a binary float: read the digits as written.
            try:
                value = Decimal(text) if _CORE_FLOAT.fullmatch(text) else None
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite():
                self.error(node, path, f"{text!r} is not a finite number")
                return None
            if "e" in text or "E" in text:
                # 1e3 has no written decimals: a whole number is an int, as 1000 would be.
                return int(value) if value == value.to_integral_value() else _plain(value)
            return value
        if tag == _TIMESTAMP:
            return text  # checked as a real calendar date by the meaning layer
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        self.error(node, path, _tag_message(tag))
        return None


def _plain(value: Decimal) -> Decimal:
    """1.5E-3 written out as 0.0015, so that messages and decimals count show digits."""
    return Decimal(format(value, "f"))


# PyYAML's words for common mistakes, and what a plan author should do about each.
_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    ("'\\t'", "indent with spaces, not tabs"),
    (
        "<block end>",
        "check the indentation: this line does not line up with the keys above it",
    ),
    (
        "mapping values are not allowed here",
        'quote a value that contains ": ", e.g. description: "Phase: one", '
        "or check the indentation",
    ),
    ("expected ',' or", "close the [ ... ] or { ... } that was opened, or add the missing comma"),
    ("while scanning a quoted scalar", "close the quote"),
    ("undefined alias", "define the anchor (&name) before using it (*name)"),
    ("cannot start any token", "put the value in quotes"),
)


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.problem:
        started = exc.context_mark
        if (
            started is not None
            and exc.problem_mark is not None
            and (started.line != exc.problem_mark.line)
        ):
            message += f" ({exc.context} that starts at line {started.line + 1})"
        else:
            message += f" ({exc.context})"
    text = f"{exc.problem} {exc.context}"
    for clue, hint in _SYNTAX_HINTS:
        if clue in text:
            return f"{message}; {hint}"
    return message


def _tag_message(tag: str) -> str:
    shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
    return f"YAML tag {shown} is not allowed in a plan; write plain YAML values only"


class _Bomb(Exception):
    def __init__(self, path: PathKey, node: Node) -> None:
        self.path = path
        self.node = node


# What a path that is not a regular file is, for the message that refuses it.
_NOT_FILES: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _Unreadable(Exception):
    """A path that is not a plan file; the message says what it is instead."""


def read_plan_file(path: Path) -> str:
    """The text of one plan file, read only if it is a regular file of at most MAX_FILE_BYTES.

    Opened without blocking and checked on the open file: a FIFO would wait forever for a
    writer and /dev/zero never ends, and a path checked before opening could be swapped.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _NOT_FILES if test(mode)), "not a regular file")
            raise _Unreadable(
                f"this is {kind}, not a plan file; point billplan at a .yaml file or at the "
                "directory that holds the plan's files"
            )
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _Unreadable(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most a plan "
            "file may hold; split the plan into several files in one directory"
        )
    return data.decode("utf-8")


def _file_text(path: Path) -> str:
    """The text of one plan file; LoadError saying why when it cannot be read."""
    file = str(path)
    try:
        return read_plan_file(path)
    except _Unreadable as exc:
        raise LoadError([Diagnostic(Mark(file, 1, 1), "$", str(exc))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError([Diagnostic(Mark(file, 1, 1), "$", f"cannot read file: {exc}")]) from exc


def parse_file(
    path: Path,
    text: str,
    marks: dict[PathKey, Mark],
    key_marks: dict[PathKey, Mark],
    max_nodes: int = MAX_NODES,
) -> Any:
    """Parse the text read from one YAML file; raises LoadError with every problem found in it.

    max_nodes is how many values it may build (fewer when the plan's other files used some).
    """
    file = str(path)
    try:
        node = compose(text)
    except _TooDeep as deep:
        name, where = deep.section or ("", None)
        mark = Mark(file, where.line + 1, where.column + 1) if where else Mark(file, 1, 1)
        path = json_path((name,) if name else ())
        raise LoadError([Diagnostic(mark, path, _bomb_message())]) from None
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        mark = Mark(file, where.line + 1, where.column + 1) if where else Mark(file, 1, 1)
        raise LoadError([Diagnostic(mark, "$", _syntax_message(exc))]) from exc
    except yaml.YAMLError as exc:
        raise LoadError([Diagnostic(Mark(file, 1, 1), "$", f"YAML error: {exc}")]) from exc
    if node is None:
        return None
    builder = _Builder(file, marks, key_marks, max_nodes)
    try:
        value = builder.build(node, ())
    except _Bomb as bomb:
        if max_nodes < MAX_NODES and builder.nodes > max_nodes:
            # Not this file alone: the plan's files together hold too many values.
            where = _mark(file, bomb.node)
            raise LoadError([Diagnostic(where, json_path(bomb.path), _too_many_values())]) from None
        where = marks.get(bomb.path[:1], Mark(file, 1, 1))
        raise LoadError([Diagnostic(where, json_path(bomb.path[:1]), _bomb_message())]) from None
    if builder.errors:
        raise LoadError(builder.errors)
    return value


def _bomb_message() -> str:
    return (
        f"YAML aliases expand to more than {MAX_NODES} values or nest deeper than "
        f"{MAX_DEPTH} levels; a plan never needs that (alias bomb?)"
    )


def _too_many_values() -> str:
    return (
        f"the plan's files hold more than {MAX_PLAN_NODES:,} values together, more than a "
        "plan of several hundred thousand items needs; split it into separate plans"
    )


def plan_files(target: Path) -> list[Path]:
    if target.is_dir():
        # Not only regular files: a FIFO or a device named *.yaml is refused, not skipped.
        return sorted(p for p in target.iterdir() if p.suffix in PLAN_SUFFIXES and not p.is_dir())
    return [target]


def load(target: Path) -> Document:
    """Load a plan directory (every *.yaml / *.yml directly inside) or a single file.

    Fragments merge by top-level section; the same entry defined twice is an error naming
    both places. Raises LoadError with every problem in every file.
    """
    files = plan_file_list(target)
    fragments, errors = load_fragments(files)
    if errors:
        raise LoadError(errors)
    return assemble(target, files, fragments)


def plan_file_list(target: Path) -> list[Path]:
    """The plan's files, sorted; raises LoadError when there are none."""
    if not target.exists():
        raise LoadError([Diagnostic(Mark(str(target), 1, 1), "$", "no such file or directory")])
    files = plan_files(target)
    if not files:
        raise LoadError(
            [
                Diagnostic(
                    Mark(str(target), 1, 1),
                    "$",
                    "no *.yaml or *.yml files in this directory; point billplan at the "
                    "directory that holds the plan's files",
                )
            ]
        )
    return files


@dataclass
class Fragment:
    """One plan file's values, and where each was written (only some of them, for a file
    another process read: compiler/halves.py)."""

    path: Path
    value: dict[str, Any] | None  # None for a file that holds nothing (or only `~`)
    marks: dict[PathKey, Mark]
    key_marks: dict[PathKey, Mark]
    values: int  # how many values it holds, counted against the plan's (a `~` is one)
    text: str  # as read: where its values were written is found in it again (parse_file)


def load_fragments(files: list[Path]) -> tuple[list[Fragment], list[Diagnostic]]:
    """Read and parse each file, counting values against the plan's limit across them."""
    fragments: list[Fragment] = []
    errors: list[Diagnostic] = []
    values = 0  # built so far, in all files: one mark each
    for path in files:
        marks: dict[PathKey, Mark] = {}
        key_marks: dict[PathKey, Mark] = {}
        try:
            text = _file_text(path)
            value = parse_file(
                path, text, marks, key_marks, min(MAX_NODES, MAX_PLAN_NODES - values)
            )
        except LoadError as exc:
            errors.extend(exc.diagnostics)
            if values + len(marks) >= MAX_PLAN_NODES:
                break  # the rest would only repeat that the plan is too large
            continue
        values += len(marks)
        if value is not None and not isinstance(value, dict):
            errors.append(
                Diagnostic(
                    marks[()],
                    "$",
                    "a plan file must be a mapping of sections at the top (version:, "
                    f"providers:, projects:, ...), not {_kind_of(value)}",
                )
            )
            continue
        fragments.append(Fragment(path, value, marks, key_marks, len(marks), text))
    return fragments, errors


def assemble(target: Path, files: list[Path], fragments: list[Fragment]) -> Document:
    """The plan's files merged into one document; raises LoadError on a conflict."""
    base_dir = target if target.is_dir() else target.parent
    doc = Document(root={}, base_dir=base_dir, files=files)
    errors: list[Diagnostic] = []
    for fragment in fragments:
        if fragment.value is not None:
            errors.extend(_merge(doc, fragment.value, fragment.marks, fragment.key_marks))
    if errors:
        raise LoadError(errors)
    if len(files) == 1:
        doc.marks.setdefault((), Mark(str(files[0]), 1, 1))
    return doc


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return "a single value"


# Top-level lists that fragments combine rather than define once.
_CONCATENATED = frozenset({"moved", "removed"})
# Top-level sections one fragment holds whole: a reviewer reads the firm's rules in one place.
_WHOLE = frozenset({"policy"})


def _merge(
    doc: Document,
    fragment: dict[str, Any],
    marks: dict[PathKey, Mark],
    key_marks: dict[PathKey, Mark],
) -> list[Diagnostic]:
    """Merge one file's sections into the document, two levels deep."""
    errors: list[Diagnostic] = []
    adopted: list[PathKey] = []  # prefixes whose marks are the document's now
    shifted: list[tuple[str, int]] = []  # lists appended to another file's, and where
    for section, value in fragment.items():
        if section not in doc.root:
            doc.root[section] = value
            adopted.append((section,))
            continue
        existing = doc.root[section]
        if section in _WHOLE:
            errors.append(
                Diagnostic(
                    key_marks[(section,)],
                    json_path((section,)),
                    f"`{section}:` is already in another file, at {doc.key_mark((section,))}; "
                    "a plan keeps its policy in one file: move these rules there",
                )
            )
            continue
        if section in _CONCATENATED and isinstance(existing, list) and isinstance(value, list):
            # `moved:` and `removed:` lists in several fragments add up.
            shifted.append((section, len(existing)))
            existing.extend(value)
            continue
        if isinstance(existing, dict) and isinstance(value, dict):
            for key, entry in value.items():
                if key in existing:
                    errors.append(
                        Diagnostic(
                            key_marks[(section, key)],
                            json_path((section, key)),
                            f"{section}.{key} is defined twice: already at "
                            f"{doc.key_mark((section, key))}; keep one definition",
                        )
                    )
                    continue
                existing[key] = entry
                adopted.append((section, key))
        elif existing == value and not isinstance(value, dict | list):
            continue  # e.g. `version: 1` repeated at the top of every fragment
        else:
            errors.append(
                Diagnostic(
                    key_marks[(section,)],
                    json_path((section,)),
                    f"{section} is defined twice: already at {doc.key_mark((section,))}; "
                    "keep one definition",
                )
            )
    if errors or shifted:
        _adopt(doc, fragment, marks, key_marks, adopted, shifted)
    else:
        # Every value of the file is the document's now, marked where this file wrote it,
        # except the top and each section's own mark: the first file to write them keeps them.
        firsts = [(), *((section,) for section in fragment)]
        for own, found in ((doc.marks, marks), (doc.key_marks, key_marks)):
            kept = {path: own[path] for path in firsts if path in own}
            own.update(found)
            own.update(kept)
    return errors


def _adopt(
    doc: Document,
    fragment: dict[str, Any],
    marks: dict[PathKey, Mark],
    key_marks: dict[PathKey, Mark],
    adopted: list[PathKey],
    shifted: list[tuple[str, int]],
) -> None:
    """The marks of a file that merged only in part: those of the values it added, and of
    its `moved:` and `removed:` entries at their merged positions."""
    doc.marks.setdefault((), marks[()])
    for section in fragment:
        if (section,) in marks and isinstance(doc.root.get(section), dict):
            doc.marks.setdefault((section,), marks[(section,)])
    # The file's marks grouped by their first one and two path segments, once: adopting them
    # prefix by prefix would otherwise scan every mark of the file for every project.
    for src, dst in ((marks, doc.marks), (key_marks, doc.key_marks)):
        index: dict[PathKey, list[tuple[PathKey, Mark]]] = defaultdict(list)
        for path, mark in src.items():
            index[path[:1]].append((path, mark))
            if len(path) > 1:
                index[path[:2]].append((path, mark))
        for prefix in adopted:
            for path, mark in index.get(prefix, ()):
                dst[path] = mark
        for section, offset in shifted:
            for path, mark in index.get((section,), ()):
                if len(path) > 1 and isinstance(path[1], int):
                    dst[(section, path[1] + offset, *path[2:])] = mark
