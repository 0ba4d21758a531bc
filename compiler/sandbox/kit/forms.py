"""Reading vendor request bodies: the body as JSON (each vendor's wording for one that is not
JSON, not an object or empty is data, `BodyWording`), and `Form`, a body read field by field
whose problems are collected and then answered together in the vendor's error shape. Each
vendor's form adds the readers of its own fields; a reader states its checks as rows of (test,
message), so that wording stays data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from .errors import ApiError
from .wire import Json, loads


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


@dataclass(frozen=True)
class BodyWording:
    """How a vendor answers a body that is not the JSON object it wants. `empty` is the message
    for a body with nothing in it (None: the same as for one that is not JSON), unless an empty
    body reads as {} (`empty_is_object`); `refusal` makes the error from a message (a plain 400
    unless the vendor says otherwise)."""

    not_json: str
    not_object: str
    empty: str | None = None
    empty_is_object: bool = False
    refusal: Callable[[str], ApiError] = bad_request

    def json(self, raw: bytes) -> Json:
        if not raw.strip() and self.empty is not None:
            raise self.refusal(self.empty)
        try:
            return loads(raw)
        except ValueError:
            raise self.refusal(self.not_json) from None

    def object(self, raw: bytes, *, empty_is_object: bool | None = None) -> dict[str, Json]:
        """The body as a JSON object; an empty one is {} when `empty_is_object` (by default,
        when the vendor's wording says so)."""
        empty_reads_as_object = self.empty_is_object if empty_is_object is None else empty_is_object
        if empty_reads_as_object and not raw.strip():
            return {}
        body = self.json(raw)
        if not isinstance(body, dict):
            raise self.refusal(self.not_object)
        return body


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the field it is about (None: the request as a whole)
    and what is wrong, in the vendor's words."""

    field: str | None
    message: str

    def as_failure(self) -> dict[str, Json]:
        """The {field, message} pair Wethod and Coperniq list their problems as."""
        return {"field": self.field, "message": self.message}


# A check of a value: a test, and the message (with `{name}` and `{value}`) when it fails.
Check = tuple[Callable[[Json], bool], str]


@dataclass
class Form:
    """A request body read field by field. Problems are collected, then raised together by
    `check` as the vendor's error (`refusal`)."""

    body: Mapping[str, Json]
    problems: list[Problem] = field(default_factory=list, kw_only=True)
    # How the vendor answers a request body that is not the JSON object the form reads.
    wording: ClassVar[BodyWording]

    def refusal(self, problems: Sequence[Problem]) -> ApiError:
        raise NotImplementedError

    def problem(self, where: str | None, message: str) -> None:
        self.problems.append(Problem(where, message))

    def given(self, name: str) -> bool:
        return name in self.body

    def checked(self, name: str, value: Json, checks: Sequence[Check]) -> Json | None:
        """`value` when every check holds; else None, with the first failing check's message
        noted as a problem on `name`."""
        for test, message in checks:
            if not test(value):
                self.problem(name, message.format(name=name, value=value))
                return None
        return value

    def check(self) -> None:
        if self.problems:
            raise self.refusal(self.problems)
