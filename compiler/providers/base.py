"""The provider framework: what every vendor client shares.

A vendor subclass states its differences as data (base URL, auth, paths, page style, batch
size, which field locks an object) and overrides a method only where the vendor is truly odd.
The base does the HTTP, retries with backoff, pagination and error translation.

Retry rules, because no vendor offers idempotency keys: reads, updates and deletes are
retried on 429, 5xx and transport errors; a create is retried only on 429 (refused before
it ran). A create that fails any other way may have happened: OutcomeUnknown, and the next
plan recovers it by reading back, never by sending it again.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from compiler import jsonio
from compiler.model import Item


@dataclass(frozen=True)
class Resource:
    """What billplan wants to exist remotely: the exact create body, at an address."""

    address: str
    provider: str  # the plan's connection name
    type: str  # e.g. ruddr_invoice_milestone
    project: str  # the plan's project key
    project_id: str | int
    attributes: Mapping[str, Any]  # the wire body of the create request
    date: date | None
    amount: Decimal
    currency: str
    # Attributes that only mark the object as billplan's (Kantata's external reference): an
    # object made by hand lacks them but is otherwise the same thing, and can be adopted.
    tags: frozenset[str] = frozenset()
    # Attributes the vendor cannot change on an existing object (the project it is in): a
    # difference there is a replacement, not an update.
    fixed: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, item: Item, type_name: str, project_id: str | int, body: Mapping[str, Any], **more: Any
    ) -> Resource:
        """The resource one item compiles to (`more` overrides address, amount, tags)."""
        fields: dict[str, Any] = {
            "address": item.address,
            "provider": item.provider,
            "type": type_name,
            "project": item.project,
            "project_id": project_id,
            "attributes": body,
            "date": item.date,
            "amount": item.amount,
            "currency": item.currency,
        }
        return cls(**{**fields, **more})


@dataclass(frozen=True)
class Observed:
    """What the vendor holds, normalised into the same shape as Resource.attributes."""

    remote_id: str
    type: str
    project_id: str | int
    attributes: Mapping[str, Any]
    locked: bool
    date: date | None
    amount: Decimal
    # The address the object says it belongs to, for vendors that let billplan tag what it
    # creates (Kantata's external references): ownership that survives a lost response.
    owner: str | None = None
    # False where the vendor keeps no billing date (a Coperniq draft) and `date` is worked out
    # by the client; the diff then dates a managed object from what state remembers.
    dated_by_vendor: bool = True


class ProviderError(Exception):
    """A vendor refused or failed a call. The message is written for the person running it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class OutcomeUnknown(ProviderError):
    """A write whose result we could not see: it may or may not have happened."""


class ConfigurationError(Exception):
    """A provider cannot be used as configured (a missing token, say)."""


@dataclass(frozen=True)
class ResourceType:
    """One kind of remote object: where it lives and how it is listed."""

    name: str
    path: str  # collection path below the base URL


@dataclass
class CallLog:
    """Counts of the calls a provider made, for plan output and tests."""

    requests: int = 0
    by_method: dict[str, int] = field(default_factory=dict)

    def count(self, method: str) -> None:
        self.requests += 1
        self.by_method[method] = self.by_method.get(method, 0) + 1


class Provider:
    # -- vendor data: every subclass sets these ----------------------------------------------
    vendor: ClassVar[str]
    title: ClassVar[str]  # the vendor's name for messages: "Ruddr"
    default_base_url: ClassVar[str]
    default_token_env: ClassVar[str]
    types: ClassVar[Mapping[str, ResourceType]]
    fixed_fields: ClassVar[frozenset[str]] = frozenset()  # see Resource.fixed
    page_size: ClassVar[int] = 100
    batch_size: ClassVar[int] = 1  # objects per create request
    max_attempts: ClassVar[int] = 8
    backoff_base: ClassVar[float] = 0.25  # seconds; doubles per attempt, with jitter
    backoff_cap: ClassVar[float] = 8.0

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        transport: httpx.BaseTransport | None = None,
        base_url: str | None = None,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.config = config
        self.base_url = (base_url or config.get("base_url") or self.default_base_url).rstrip("/")
        token_env = config.get("token_env") or self.default_token_env
        self.token = token if token is not None else os.environ.get(token_env)
        if not self.token:
            raise ConfigurationError(
                f"provider {name!r} ({self.title}) needs an API token in ${token_env}; "
                "set it, or run with --sandbox to use the built-in emulators"
            )
        self.sleep = sleep
        self.calls = CallLog()
        self.client = httpx.Client(
            base_url=self.base_url,
            headers=self.headers(),
            transport=transport,
            timeout=timeout,
        )

    def close(self) -> None:
        self.client.close()

    # -- what a vendor must say -------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]:
        """Items to Resources; problems are (item, message) pairs for the plan's author."""
        raise NotImplementedError

    def list(self, project_ids: Sequence[str | int]) -> list[Observed]:
        """Everything of the types billplan manages in these projects, via list endpoints."""
        raise NotImplementedError

    def create(self, type_name: str, bodies: Sequence[Mapping[str, Any]]) -> list[Observed]:
        """Create up to batch_size objects in one request; results in the order sent."""
        raise NotImplementedError

    def update(self, type_name: str, remote_id: str, attributes: Mapping[str, Any]) -> Observed:
        raise NotImplementedError

    def delete(self, type_name: str, remote_id: str) -> None:
        try:
            self.request("DELETE", f"{self.types[type_name].path}/{remote_id}")
        except ProviderError as exc:
            if exc.status != 404:  # already gone is what was wanted
                raise

    def recheck(self, type_name: str, remote_ids: Sequence[str]) -> list[Observed]:
        """Read objects by id that a list did not return, before anyone concludes they are
        gone: offset and page-number lists skip a row when another is deleted mid-read, and
        a managed object wrongly thought deleted would be created twice. Rare by design."""
        found = []
        for remote_id in remote_ids:
            try:
                response = self.request("GET", f"{self.types[type_name].path}/{remote_id}")
            except ProviderError as exc:
                if exc.status == 404:
                    continue
                raise
            found.append(self.read_one(type_name, self.json(response)))
        return found

    def read_one(self, type_name: str, payload: Any) -> Observed:
        """The Observed for a single-object GET response."""
        raise NotImplementedError

    def on_response(self, response: httpx.Response) -> None:
        """Every response, before it is judged: a vendor reads its rate-limit headers here."""

    def budget_note(self) -> str | None:
        """A line for plan output when the vendor's request budget is running low."""
        return None

    def check_budget(self, writes: int) -> str | None:
        """Why an apply needing this many write requests cannot finish, or None."""
        return None

    def retryable(self, response: httpx.Response) -> bool:
        """Whether a 429 is worth waiting for (not, say, a budget exhausted for the day)."""
        return True

    def error_message(self, response: httpx.Response) -> str:
        """The vendor's own words for a failed call."""
        try:
            payload = self.json(response)
        except ProviderError:
            payload = None
        if not isinstance(payload, dict):
            return response.text[:300] or response.reason_phrase
        return self.describe_error(payload, response)

    def describe_error(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        """A JSON error body in words. The default reads the common shape
        `{"message": ..., "errors": [...]}`; a vendor with another shape overrides it."""
        message = str(payload.get("message") or response.reason_phrase)
        details = payload.get("errors") or []
        if isinstance(details, list) and details:
            # "... See errors for more details." + ": 'name' is required" reads as ".:"
            message = message.rstrip(".") + ": " + "; ".join(str(d) for d in details)
        return message

    def retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    # -- HTTP -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        retry_on_failure: bool = True,
        what: str = "",
    ) -> httpx.Response:
        """One logical call, retried by the rules in the module docstring."""
        content = None if body is None else jsonio.dumps(body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            attempt += 1
            self.calls.count(method)
            try:
                response = self.client.request(
                    method, path, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if retry_on_failure and attempt < self.max_attempts:
                    self._backoff(attempt, None)
                    continue
                raise (OutcomeUnknown if not retry_on_failure else ProviderError)(
                    f"{self.title} {method} {path}: no response ({type(exc).__name__}: {exc})"
                    + (
                        "; the write may have happened: the next plan will look for it"
                        if not retry_on_failure
                        else ""
                    )
                ) from exc
            self.on_response(response)
            status = response.status_code
            if status == 429 and attempt < self.max_attempts and self.retryable(response):
                self._backoff(attempt, self.retry_after(response))
                continue
            if status >= 500 and attempt < self.max_attempts and retry_on_failure:
                self._backoff(attempt, self.retry_after(response))
                continue
            if status >= 400:
                message = f"{self.title} {status}: {self.error_message(response)}"
                if what:
                    message = f"{what}: {message}"
                if status >= 500 and not retry_on_failure:
                    raise OutcomeUnknown(
                        message + "; the write may have happened: the next plan will look for it",
                        status=status,
                    )
                raise ProviderError(message, status=status)
            return response

    def _backoff(self, attempt: int, hint: float | None) -> None:
        if hint is not None:
            delay = hint
        else:
            ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
            delay = random.uniform(ceiling / 2, ceiling)
        self.sleep(delay)

    def json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return jsonio.loads(response.content)
        except ValueError as exc:
            raise ProviderError(
                f"{self.title} answered {response.request.method} {response.request.url.path} "
                f"with something that is not JSON: {response.text[:200]!r}"
            ) from exc

    def pages(self, fetch: Callable[[Any], tuple[list[Any], Any]]) -> Iterator[Any]:
        """Walk pages: fetch(cursor) returns (objects, next cursor or None)."""
        cursor: Any = None
        while True:
            objects, cursor = fetch(cursor)
            yield from objects
            if cursor is None:
                return
