"""openapi-core's validation errors in words: each becomes (field, message) pairs, the field a
JSON path into the body (`$.lineItems[0].unitCost`), a parameter (`query limit`, `header
Wethod-Company`) or `status`, the message what was wrong without a copy of the whole value. A
missing or unexpected field is named itself, one pair each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequestBodyError,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response.exceptions import (
    DataValidationError,
    HeaderValidationError,
    MissingData,
)

from .closed import unexpected_fields

Document = Mapping[str, Any]


def request_problems(
    error: Exception, content_type: str | None, document: Document
) -> Iterator[tuple[str, str]]:
    if isinstance(error, SecurityValidationError):
        yield "header Authorization", f"no credentials the contract accepts ({_cause(error)})"
    elif isinstance(error, ParameterValidationError):
        field = f"{error.location} {error.name}"
        schema_errors = list(getattr(error.__cause__, "schema_errors", ()))
        if schema_errors:
            for schema_error in schema_errors:
                yield field, _schema_message(schema_error)
        elif error.__cause__ is not None:
            yield field, f"{error} ({_cause(error)})"
        else:
            yield field, str(error)
    elif isinstance(error, MissingRequestBodyError):
        yield "$", "no body; the operation requires one"
    elif isinstance(error, RequestBodyValidationError):
        yield from _body_problems(error, content_type, document)
    else:
        yield "request", f"{type(error).__name__}: {error}"


def response_problems(
    error: Exception,
    operation: Mapping[str, Any],
    status: int | None,
    content_type: str | None,
    document: Document,
) -> Iterator[tuple[str, str]]:
    if isinstance(error, ResponseNotFound):
        declared = ", ".join(sorted(operation.get("responses", {})))
        yield "status", f"{status} is not a status this operation answers ({declared})"
    elif isinstance(error, MissingData):
        yield "$", "no body, where the contract describes one for this status"
    elif isinstance(error, DataValidationError):
        yield from _body_problems(error, content_type, document)
    elif isinstance(error, HeaderValidationError):
        yield f"header {error.name}", str(error)
    else:
        yield "response", f"{type(error).__name__}: {error}"


def _body_problems(
    error: Exception, content_type: str | None, document: Document
) -> Iterator[tuple[str, str]]:
    cause = error.__cause__
    if isinstance(cause, MediaTypeNotFound):
        given = ", ".join(cause.availableMimetypes)
        yield "header Content-Type", f"{content_type or 'none'}, where the contract gives {given}"
        return
    schema_errors = list(getattr(cause, "schema_errors", ()))
    if not schema_errors:
        yield "$", _cause(error) or str(error)
        return
    for schema_error in schema_errors:
        yield from _schema_problems(schema_error, document)


def _schema_problems(error: SchemaError, document: Document) -> Iterator[tuple[str, str]]:
    """One problem per missing or unexpected field, so that each names its own."""
    where = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                yield _json_path([*where, name]), "required, missing"
    elif _closed_object(error) and isinstance(error.instance, dict):
        assert isinstance(error.schema, dict)
        for name in unexpected_fields(error.instance, error.schema, dict(document)):
            yield _json_path([*where, name]), "not a field of this object in the contract"
    else:
        yield _json_path(where), _schema_message(error)


def _closed_object(error: SchemaError) -> bool:
    """An error from the keywords closed.py adds: a field the schema does not name."""
    closing = error.validator in ("additionalProperties", "unevaluatedProperties")
    return closing and error.validator_value is False


def _schema_message(error: SchemaError) -> str:
    """What was wrong, without jsonschema's copy of the whole offending value."""
    if error.validator == "type":
        return f"{_json_type(error.instance)}, where the contract says {_expected(error)}"
    if error.validator == "enum":
        return f"{_value(error.instance)} is not one of {_value(error.validator_value)}"
    if error.validator == "format":
        return f"{_value(error.instance)} is not a {error.validator_value}"
    if error.validator == "oneOf" and not error.context:
        shapes = ", ".join(str(part.get("title", part)) for part in error.validator_value)
        return f"matches more than one of the shapes of which it must match one ({shapes})"
    if error.context:
        # oneOf/anyOf: name the closest branch's complaint, not just "no branch matched".
        closest = best_match(error.context)
        if closest is not None:
            where = _json_path([*error.absolute_path, *closest.relative_path])
            closest_problem = _schema_message(closest)
            return f"matches none of the allowed shapes (closest: {where}: {closest_problem})"
    return _short(error.message)


def _expected(error: SchemaError) -> str:
    kinds = error.validator_value
    return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {_value(value)}"
    return "an array" if isinstance(value, list) else "an object"


def _value(value: Any) -> str:
    return _short(json.dumps(value, default=str), 60)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            text += f".{part}"
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _cause(error: BaseException) -> str:
    return "" if error.__cause__ is None else str(error.__cause__)
