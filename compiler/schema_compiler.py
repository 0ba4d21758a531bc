"""A JSON Schema compiled into plain Python predicates that answer only "valid or not".

jsonschema walks the schema anew for every value, resolving each $ref through `referencing`:
about half of `validate` on a large plan. Most plans are valid, so the plan schema is also
compiled once into predicates, for the keywords it uses. A valid verdict is final; an invalid
one (or a schema using a keyword this compiler does not know) goes to jsonschema, whose errors
are the ones reported (compiler.schema_check). The two are held in agreement by
tests/test_portfolio.py.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Check = Callable[[Any], bool]

_PLAIN_NUMBERS = frozenset({int, float, Decimal})

# Keywords that never decide validity (patternErrorMessage and errorMessage are the texts
# yaml-language-server shows for a failure; billplan's messages use them too).
_ANNOTATIONS = frozenset(
    {"description", "x-hint", "default", "enumDescriptions", "examples", "title", "$comment",
     "$defs", "deprecated", "readOnly", "writeOnly", "patternErrorMessage", "errorMessage"}
)  # fmt: skip
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    # The types a plan's numbers are read as, first: an ABC's isinstance check is slow.
    "number": lambda v: (
        type(v) in _PLAIN_NUMBERS or (isinstance(v, numbers.Number) and not isinstance(v, bool))
    ),
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
        self.refs: dict[str, Check | None] = {}  # None while the ref is being compiled

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
            self.refs[ref] = None
            target: Any = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise _Unsupported(f"$ref {ref!r}")
                target = target[part]
            self.refs[ref] = self.compile(target)
        compiled = self.refs[ref]
        if compiled is not None:
            return compiled  # called directly: a plan's every value passes through refs
        # A ref met while it is itself being compiled (recursion): looked up when it runs.
        refs = self.refs

        def recursive(v: Any) -> bool:
            check = refs[ref]
            assert check is not None  # compiled before any value is checked
            return check(v)

        return recursive

    def _type(self, value: Any, schema: dict[str, Any]) -> Check:
        names = value if isinstance(value, list) else [value]
        if any(name not in _TYPES for name in names):
            raise _Unsupported(f"type {value!r}")
        checks = [_TYPES[name] for name in names]
        if len(checks) == 1:
            return checks[0]
        return lambda v: any(check(v) for check in checks)

    def _properties(self, value: dict[str, Any], schema: dict[str, Any]) -> Check:
        props = {name: self.compile(sub) for name, sub in value.items()}
        extra: Check | None = None
        if "additionalProperties" in schema:
            extra = self.compile(schema["additionalProperties"])

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            # The keys written, not the keys the schema knows: a charge writes a few of the
            # dozens its schema lists.
            for name, item in v.items():
                sub = props.get(name, extra)
                if sub is not None and not sub(item):
                    return False
            return True

        return check

    def _additionalProperties(self, value: Any, schema: dict[str, Any]) -> Check:
        if "properties" in schema:
            return lambda v: True  # compiled with `properties`
        extra = self.compile(value)
        return lambda v: not isinstance(v, dict) or all(extra(item) for item in v.values())

    def _required(self, value: list[str], schema: dict[str, Any]) -> Check:
        names = frozenset(value)
        return lambda v: not isinstance(v, dict) or v.keys() >= names

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


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A predicate for a whole schema document; None when it uses a keyword not compiled here."""
    try:
        return _SchemaCompiler(schema).compile(schema, top=True)
    except _Unsupported:
        return None
