"""Validation in three layers (YAML syntax, JSON Schema, meaning), reported together.

Schema errors are translated into messages a plan author can act on: unknown keys with a
suggestion, the expected form of a pattern in words, and the most relevant error per place.
Meaning is checked by expanding the plan, so validate and render can never disagree.
"""

from __future__ import annotations

import difflib
import gc
import json
import numbers
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler import credentials
from compiler.diagnostics import Diagnostic, sorted_diagnostics
from compiler.expand import expand
from compiler.limits import Limits
from compiler.load import Document, LoadError, PathKey, load
from compiler.model import Item, Kind
from compiler.moved import plan_problems
from compiler.state.location import plan_file_problems, state_path_problems

if TYPE_CHECKING:
    # jsonschema is imported when a plan fails the fast check: only then are its messages needed.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_NAME = "billing-plan.schema.json"
_DEF_FOR_KIND: dict[Kind, str] = {
    "recurring": "recurringCharge",
    "milestone": "milestone",
    "product": "product",
}


def schema_text() -> str:
    """The plan schema as shipped: inside the wheel, or in the source tree's schemas/."""
    packaged = resources.files("compiler") / "_schemas" / SCHEMA_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME).read_text("utf-8")


@lru_cache(maxsize=1)
def plan_schema() -> dict[str, Any]:
    return json.loads(schema_text())


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(plan_schema())


def _kind_schema(kind: Kind) -> dict[str, Any]:
    schema = {**plan_schema(), "$ref": f"#/$defs/{_DEF_FOR_KIND[kind]}"}
    for key in ("properties", "required", "additionalProperties", "unevaluatedProperties"):
        schema.pop(key, None)
    return schema


@lru_cache(maxsize=4)
def _kind_validator(kind: Kind) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_kind_schema(kind))


# -- the fast verdict -----------------------------------------------------------------------
#
# jsonschema walks the schema anew for every value, resolving each $ref through `referencing`:
# about half of `validate` on a large plan. Most plans are valid, so the schema is also
# compiled once into plain Python predicates that answer only "valid or not", for the keywords
# this schema uses. A valid verdict is final; an invalid one (or a schema using a keyword the
# compiler does not know) goes to jsonschema, whose errors are the ones reported. The two are
# held in agreement by tests/test_portfolio.py.

Check = Callable[[Any], bool]

# Keywords that never decide validity.
_ANNOTATIONS = frozenset(
    {"description", "x-hint", "default", "enumDescriptions", "examples", "title", "$comment",
     "$defs", "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, numbers.Number) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


class _Unsupported(Exception):
    """The schema uses a keyword the fast compiler does not know: use jsonschema alone."""


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema's enum, const and uniqueItems mean it: true is not 1, numbers
    compare by value (1 == 1.0), containers element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or a.keys() != b.keys():
            return False
        return all(_json_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return False
        return all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return bool(a == b)


def _unique(values: list[Any]) -> bool:
    return not any(
        _json_equal(values[i], values[j])
        for i in range(len(values))
        for j in range(i + 1, len(values))
    )


class _SchemaCompiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any, *, top: bool = False) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise _Unsupported(repr(schema))
        checks: list[Check] = []
        for keyword, value in schema.items():
            if (
                keyword in _ANNOTATIONS
                or keyword.startswith("x-")  # extensions, which jsonschema ignores
                or (top and keyword in ("$schema", "$id"))
            ):
                continue
            if keyword in ("then", "else", "additionalProperties") and (
                keyword != "additionalProperties" or "patternProperties" in schema
            ):
                if keyword == "additionalProperties":
                    raise _Unsupported(keyword)
                continue  # compiled with `if`
            method = getattr(self, f"_{keyword.lstrip('$')}", None)
            if method is None:
                raise _Unsupported(keyword)
            checks.append(method(value, schema))
        return _all(checks)

    def _ref(self, ref: Any, schema: dict[str, Any]) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _Unsupported(f"$ref {ref!r}")
        if ref not in self.refs:
            self.refs[ref] = lambda v: False  # replaced below; a recursive ref sees the real one
            target: Any = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise _Unsupported(f"$ref {ref!r}")
                target = target[part]
            compiled = self.compile(target)
            self.refs[ref] = compiled
        refs = self.refs
        return lambda v: refs[ref](v)

    def _type(self, value: Any, schema: dict[str, Any]) -> Check:
        names = value if isinstance(value, list) else [value]
        if any(name not in _TYPES for name in names):
            raise _Unsupported(f"type {value!r}")
        checks = [_TYPES[name] for name in names]
        if len(checks) == 1:
            return checks[0]
        return lambda v: any(check(v) for check in checks)

    def _properties(self, value: dict[str, Any], schema: dict[str, Any]) -> Check:
        props = [(name, self.compile(sub)) for name, sub in value.items()]
        extra: Check | None = None
        if "additionalProperties" in schema:
            extra = self.compile(schema["additionalProperties"])
        known = frozenset(value)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for name, sub in props:
                if name in v and not sub(v[name]):
                    return False
            if extra is not None:
                for name, item in v.items():
                    if name not in known and not extra(item):
                        return False
            return True

        return check

    def _additionalProperties(self, value: Any, schema: dict[str, Any]) -> Check:
        if "properties" in schema:
            return lambda v: True  # compiled with `properties`
        extra = self.compile(value)
        return lambda v: not isinstance(v, dict) or all(extra(item) for item in v.values())

    def _required(self, value: list[str], schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, dict) or all(name in v for name in value)

    def _propertyNames(self, value: Any, schema: dict[str, Any]) -> Check:
        names = self.compile(value)
        return lambda v: not isinstance(v, dict) or all(names(name) for name in v)

    def _items(self, value: Any, schema: dict[str, Any]) -> Check:
        if "prefixItems" in schema:
            raise _Unsupported("prefixItems")
        each = self.compile(value)
        return lambda v: not isinstance(v, list) or all(each(item) for item in v)

    def _pattern(self, value: str, schema: dict[str, Any]) -> Check:
        search = re.compile(value).search
        return lambda v: not isinstance(v, str) or search(v) is not None

    def _enum(self, value: list[Any], schema: dict[str, Any]) -> Check:
        texts = frozenset(e for e in value if isinstance(e, str))
        others = [e for e in value if not isinstance(e, str)]
        return lambda v: (
            (v in texts) if isinstance(v, str) else any(_json_equal(v, e) for e in others)
        )

    def _const(self, value: Any, schema: dict[str, Any]) -> Check:
        return lambda v: _json_equal(v, value)

    def _minLength(self, value: int, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, str) or len(v) >= value

    def _maxLength(self, value: int, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, str) or len(v) <= value

    def _minItems(self, value: int, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) >= value

    def _minProperties(self, value: int, schema: dict[str, Any]) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) >= value

    def _uniqueItems(self, value: bool, schema: dict[str, Any]) -> Check:
        return lambda v: not value or not isinstance(v, list) or _unique(v)

    def _minimum(self, value: Any, schema: dict[str, Any]) -> Check:
        return _bound(lambda v: v >= value)

    def _maximum(self, value: Any, schema: dict[str, Any]) -> Check:
        return _bound(lambda v: v <= value)

    def _exclusiveMinimum(self, value: Any, schema: dict[str, Any]) -> Check:
        return _bound(lambda v: v > value)

    def _exclusiveMaximum(self, value: Any, schema: dict[str, Any]) -> Check:
        return _bound(lambda v: v < value)

    def _anyOf(self, value: list[Any], schema: dict[str, Any]) -> Check:
        subs = [self.compile(sub) for sub in value]
        return lambda v: any(sub(v) for sub in subs)

    def _allOf(self, value: list[Any], schema: dict[str, Any]) -> Check:
        return _all([self.compile(sub) for sub in value])

    def _oneOf(self, value: list[Any], schema: dict[str, Any]) -> Check:
        subs = [self.compile(sub) for sub in value]
        return lambda v: sum(1 for sub in subs if sub(v)) == 1

    def _not(self, value: Any, schema: dict[str, Any]) -> Check:
        sub = self.compile(value)
        return lambda v: not sub(v)

    def _if(self, value: Any, schema: dict[str, Any]) -> Check:
        condition = self.compile(value)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda v: then(v) if condition(v) else otherwise(v)


def _all(checks: list[Check]) -> Check:
    """Every check holds; written out for the few that schemas combine, as this runs for
    every value of a large plan."""
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    if len(checks) == 3:
        first, second, third = checks
        return lambda v: first(v) and second(v) and third(v)
    return lambda v: all(check(v) for check in checks)


def _bound(holds: Check) -> Check:
    is_number = _TYPES["number"]
    return lambda v: not is_number(v) or holds(v)


@lru_cache(maxsize=8)
def fast_check(kind: Kind | None = None) -> Check | None:
    """Whether a whole plan (or a charge of a kind) is schema-valid, fast; None if unknown."""
    schema = plan_schema() if kind is None else _kind_schema(kind)
    try:
        return _SchemaCompiler(schema).compile(schema, top=True)
    except _Unsupported:
        return None


# Errors about a key itself point at the key, not at its value.
_KEY_ERRORS = frozenset(
    {"additionalProperties", "unevaluatedProperties", "propertyNames", "required"}
)


@dataclass
class Checked:
    """The outcome of checking a plan: its document and items when it got that far."""

    document: Document | None
    items: list[Item] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def check(target: Path, as_of: date, limits: Limits | None = None) -> Checked:
    """Load, schema-check and expand a plan; every problem found is in .diagnostics.

    limits: how large it may expand; by default BILLPLAN_MAX_ITEMS or the default limits.
    """
    with _no_cycle_collection():
        return _check(target, as_of, limits or Limits.given())


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
            gc.enable()


def _check(target: Path, as_of: date, limits: Limits) -> Checked:
    if linked := plan_file_problems(target):
        # What such a file holds is not the plan's: reported alone, never read.
        return Checked(None, diagnostics=linked)
    try:
        doc = load(target)
    except LoadError as exc:
        return Checked(None, diagnostics=sorted_diagnostics(exc.diagnostics))
    own = list(_credential_problems(doc))
    # billplan's own words win over the schema's where both speak of one place.
    said = {path for path, _ in own}
    schema = [(path, d) for path, d in _schema_problems(doc) if path not in said]
    located = schema + own + list(_missing_sections(doc))
    problems = [diagnostic for _, diagnostic in located] + state_path_problems(doc)
    broken = [path for path, _ in located]

    def skip(path: PathKey) -> bool:
        n = len(path)
        return any(b[:n] == path for b in broken)

    expansion = expand(doc, as_of, skip=skip, revalidate=revalidate_charge, limits=limits)
    diagnostics = sorted_diagnostics([*problems, *expansion.diagnostics])
    if not diagnostics:
        # `moved:` renames are checked against the addresses the plan expands to.
        diagnostics = plan_problems(doc, (item.address for item in expansion.items))
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


def revalidate_charge(kind: Kind, merged: dict[str, Any]) -> list[tuple[PathKey, str]]:
    """Check a charge merged with its template against the schema for its kind."""
    fast = fast_check(kind)
    if fast is not None and fast(merged):
        return []
    out: list[tuple[PathKey, str]] = []
    for error in _kind_validator(kind).iter_errors(merged):
        for rel, message in _describe(error):
            out.append((rel, message))
    return out


def _schema_problems(doc: Document) -> Iterator[tuple[PathKey, Diagnostic]]:
    fast = fast_check()
    if fast is not None and fast(doc.root):
        return
    seen: set[tuple[PathKey, str]] = set()
    for error in _validator().iter_errors(doc.root):
        for rel, message in _describe(error):
            if (rel, message) in seen:
                continue
            seen.add((rel, message))
            at_key = error.validator in _KEY_ERRORS or _about_key_name(error)
            yield rel, doc.diagnostic(rel, message, at_key=at_key)


def _about_key_name(error: ValidationError) -> bool:
    """jsonschema reports a bad key (propertyNames) as an error on its parent mapping."""
    return "propertyNames" in error.absolute_schema_path


def _describe(error: ValidationError) -> list[tuple[PathKey, str]]:
    """One or more (path, message) pairs for a schema error, in a plan author's words."""
    from jsonschema.exceptions import best_match

    hint = error.schema.get("x-hint") if isinstance(error.schema, dict) else None
    if error.validator in ("anyOf", "oneOf") and hint:
        return [(tuple(error.absolute_path), f"{_show(error.instance)} is not {hint}")]
    if error.context:
        error = best_match([error])
    path: PathKey = tuple(error.absolute_path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if _about_key_name(error) and isinstance(error.instance, str):
        # Point at the key itself: $.projects.Cloud Infra, not $.projects.
        path = (*path, error.instance)
        hint = schema.get("x-hint") or f"in the form {error.validator_value}"
        return [(path, f"the name {error.instance!r} is not allowed: use {hint}")]
    if validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(_known_keys(schema))
        out = []
        for key in _unexpected(error):
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
            elif allowed:
                message += f"; allowed here: {', '.join(allowed)}"
            out.append(((*path, key), message))
        return out
    if validator == "required":
        missing = re.match(r"'(.*)' is a required property", error.message)
        name = missing.group(1) if missing else error.message
        return [(path, f"`{name}` is required here but missing; add it")]
    if validator == "pattern":
        hint = schema.get("x-hint") or f"in the form {error.validator_value}"
        return [(path, f"{_show(error.instance)} is not {hint}")]
    if validator == "propertyNames":
        return [((*path, str(error.instance)), _key_message(error))]
    if validator == "type":
        got = _type_name(error.instance)
        if not isinstance(error.instance, dict | list | type(None)):
            got += f" {_show(error.instance)}"
        if schema.get("x-hint"):
            return [(path, f"expected {schema['x-hint']}, got {got}")]
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_JSON_TYPE_WORDS.get(name, name) for name in names)
        return [(path, f"expected {wanted}, got {got}")]
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = _BOUND_WORDS[validator]
        return [(path, f"must be {bound} {error.validator_value}, got {_show(error.instance)}")]
    if validator == "minLength":
        return [(path, "must not be empty")]
    if validator == "maxLength":
        length = len(error.instance) if isinstance(error.instance, str) else 0
        return [(path, f"is {length:,} characters long; at most {error.validator_value:,}")]
    if validator == "minProperties":
        return [(path, "needs at least one entry")]
    if validator == "minItems":
        return [(path, "needs at least one item")]
    if validator == "uniqueItems":
        return [(path, "lists the same value more than once; remove the repeats")]
    if validator == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return [(path, f"{_show(error.instance)} is not one of: {options}")]
    if validator == "const":
        return [(path, f"must be {error.validator_value!r}")]
    if validator == "not" and schema.get("x-refused"):
        return [(path, str(schema["x-refused"]))]
    return [(path, error.message)]


def _key_message(error: ValidationError) -> str:
    sub = error.context[0] if error.context else error
    hint = sub.schema.get("x-hint") if isinstance(sub.schema, dict) else None
    return f"key {error.instance!r} is not allowed: keys must be {hint or sub.message}"


def _unexpected(error: ValidationError) -> list[str]:
    inside = re.search(r"\((.*) (?:was|were) unexpected\)", error.message)
    if not inside:
        return []
    return re.findall(r"'((?:[^'\\]|\\.)*)'", inside.group(1))


def _known_keys(schema: dict[str, Any], depth: int = 0) -> set[str]:
    """Property names a (possibly composed) object schema accepts, following local $refs."""
    if depth > 8 or not isinstance(schema, dict):
        return set()
    keys = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = plan_schema()
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        keys |= _known_keys(target, depth + 1)
    for combinator in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(combinator, []):
            keys |= _known_keys(sub, depth + 1)
    for branch in ("then", "else"):
        keys |= _known_keys(schema.get(branch, {}), depth + 1)
    return keys


_BOUND_WORDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
}

# JSON Schema's type names in a plan author's words.
_JSON_TYPE_WORDS = {
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a number"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return _type_name(value)
    text = repr(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
