"""The plan's JSON Schema: where it ships, checking a plan (or one charge of a kind) against
it, and its errors in a plan author's words.

Unknown keys come with a suggestion, and the most relevant error per place. Where the schema
words a failure itself (`patternErrorMessage`, `errorMessage`: the texts yaml-language-server
shows in an editor), billplan says the same text, so the editor and `validate` never word one
mistake two ways. The verdict is fast for a valid plan (compiler.schema_compiler); only an
invalid one is walked by jsonschema for its messages.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.diagnostics import Diagnostic
from compiler.load import Document, PathKey
from compiler.model import Kind
from compiler.schema_compiler import Check, compile_schema

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
def plan_validator() -> Draft202012Validator:
    return _validator_class()(plan_schema())


@lru_cache(maxsize=1)
def _validator_class() -> type[Draft202012Validator]:
    """Draft 2020-12, except that a key refused by a `false` schema (`properties: {count:
    false}`, how the schema says "not with `end`") is reported at that key, worded by its
    schema's `errorMessage`; jsonschema's own error names neither the key nor a reason."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def properties(
        validator: Draft202012Validator, properties: Any, instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for name, subschema in properties.items():
            if name not in instance:
                continue
            if subschema is False:
                message = schema.get("errorMessage") or f"`{name}` is not allowed here"
                yield ValidationError(message, path=(name,), schema_path=(name,))
            else:
                yield from validator.descend(instance[name], subschema, path=name, schema_path=name)

    return validators.extend(Draft202012Validator, {"properties": properties})


def _kind_schema(kind: Kind) -> dict[str, Any]:
    schema = {**plan_schema(), "$ref": f"#/$defs/{_DEF_FOR_KIND[kind]}"}
    for key in ("properties", "required", "additionalProperties", "unevaluatedProperties"):
        schema.pop(key, None)
    return schema


@lru_cache(maxsize=4)
def kind_validator(kind: Kind) -> Draft202012Validator:
    return _validator_class()(_kind_schema(kind))


@lru_cache(maxsize=8)
def fast_check(kind: Kind | None = None) -> Check | None:
    """Whether a whole plan (or a charge of a kind) is schema-valid, fast; None if unknown."""
    return compile_schema(plan_schema() if kind is None else _kind_schema(kind))


# Errors about a key itself point at the key, not at its value.
_KEY_ERRORS = frozenset(
    {"additionalProperties", "unevaluatedProperties", "propertyNames", "required"}
)


def revalidate_charge(kind: Kind, merged: dict[str, Any]) -> list[tuple[PathKey, str]]:
    """Check a charge merged with its template against the schema for its kind."""
    fast = fast_check(kind)
    if fast is not None and fast(merged):
        return []
    out: list[tuple[PathKey, str]] = []
    for error in kind_validator(kind).iter_errors(merged):
        for rel, message in _describe(error):
            out.append((rel, message))
    return out


def schema_problems(doc: Document) -> Iterator[tuple[PathKey, Diagnostic]]:
    fast = fast_check()
    if fast is not None and fast(doc.root):
        return
    seen: set[tuple[PathKey, str]] = set()
    for error in plan_validator().iter_errors(doc.root):
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
    alike = {_rule_text(sub.schema) for sub in error.context}
    if error.validator in ("anyOf", "oneOf") and len(alike) == 1 and None not in alike:
        # Alternatives worded as one rule ("exactly one of `amount` or `amounts`"): that text,
        # not the nearest alternative's "`amount` is required".
        return [(tuple(error.absolute_path), _clause(alike.pop() or ""))]
    if error.context:
        error = best_match([error])
    path: PathKey = tuple(error.absolute_path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    expected = _expected(schema)
    if _about_key_name(error) and isinstance(error.instance, str):
        # Point at the key itself: $.projects.Cloud Infra, not $.projects.
        path = (*path, error.instance)
        wanted = (expected or "").removeprefix("expected ") or f"the form {error.validator_value}"
        return [(path, f"the name {error.instance!r} is not allowed: use {wanted}")]
    ruled = _rule_text(schema)
    if ruled and validator != "pattern":
        # A rule the schema words itself (end or count, one price per milestone, ...).
        return [(path, _clause(ruled))]
    if validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(_known_keys(schema))
        out = []
        held = error.instance if isinstance(error.instance, dict) else {}
        for key in _unexpected(error):
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, allowed, n=1)
            if str(key).isdigit() and held.get(key) is None:
                # `{amount: 1,000}`: inside braces a comma separates keys, so the amount is 1
                # and `000` a key of its own.
                message += (
                    "; inside {...} a comma separates keys, so a number written with a "
                    "thousands separator (1,000) is cut in two: write it without (1000)"
                )
            elif close:
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
        wanted = expected or f"expected the form {error.validator_value}"
        return [(path, f"{wanted}, got {_show(error.instance)}")]
    if validator == "propertyNames":
        return [((*path, str(error.instance)), _key_message(error))]
    if validator == "type":
        got = _type_name(error.instance)
        if not isinstance(error.instance, dict | list | type(None)):
            got += f" {_show(error.instance)}"
        if expected:
            return [(path, f"{expected}, got {got}")]
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
    expected = _expected(sub.schema) if isinstance(sub.schema, dict) else None
    return f"key {error.instance!r} is not allowed: {expected or sub.message}"


def _rule_text(schema: Any) -> str | None:
    """The schema's own wording of a rule it states (`errorMessage`), if any."""
    text = schema.get("errorMessage") if isinstance(schema, dict) else None
    return text if isinstance(text, str) and text else None


def _expected(schema: dict[str, Any]) -> str | None:
    """The form a value must take, as a clause: the schema's patternErrorMessage (what
    yaml-language-server shows, so both say one text), else its x-hint."""
    message = schema.get("patternErrorMessage")
    if isinstance(message, str) and message:
        return _clause(message)
    hint = schema.get("x-hint")
    return f"expected {hint}" if isinstance(hint, str) and hint else None


def _clause(sentence: str) -> str:
    """An editor's sentence as a clause of a billplan message: 'Expected a date.' ->
    'expected a date' (billplan's messages follow FILE:LINE:COL: $.path: in lower case)."""
    text = sentence.strip().removesuffix(".")
    return text[:1].lower() + text[1:]


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
