"""The provider framework: what every vendor client shares.

A vendor subclass states its differences as data (base URL, auth, paths, page style, how a
listing narrows to projects, batch size, the lock rule, the money unit, the fixed fields: see
compiler/providers/traits.py) and overrides a method only where the vendor is truly odd. The
base does the HTTP, retries with backoff, pagination, reading by id, creates and updates, and
error translation.

A provider keeps nothing between stages: what `list` and `recheck` need to read the vendor in
the plan's terms comes in the planned resources they are given, and what a write needs beyond
the body in the change's `private` (Resource.private, Observed.private), so that a saved plan
applies with a provider that never compiled it.

Retry rules, because no vendor offers idempotency keys: reads, updates and deletes are
retried on 429, 5xx, timeouts and connection errors, with capped exponential backoff and
jitter, or after the vendor's Retry-After. A create is retried only when it certainly did not
run: a 429 (refused before it ran) or a connection that was never made. A create that fails
any other way may have happened: OutcomeUnknown, and the next plan recovers it by reading
back, never by sending it again.

Onboarding reads the other way: `projects` lists every project the token can see (where the
vendor lists them: `project_list`), and `found` reads one listed object back in the plan's
terms (a Found: what an Item would say), or refuses it with a reason (`refusal`) when no plan
could make the same object. A vendor says how in `read_back`, the reverse of `compile_one`.

A list that must be complete (a project where a create is pending, whose object may be the
one row a page boundary skipped) is read again until two reads in a row agree (`proven`).

Every request first waits for the provider's rate limiter, a token bucket set to the vendor's
documented (or assumed) limit and burst, so that a large apply stays under it instead of
leaning on 429s (a vendor with only an hourly budget spreads it: Wethod); a 429 spends what is
left of the burst. A plan may lower or raise the rate
per connection (`max_rps`) and set the timeout (`timeout`).

`plan` may read a connection's list pages ahead, while the plan is still being expanded
(`read_ahead`): each page is kept until the list that asks for it, and served once.
"""

from __future__ import annotations

import email.utils
import functools
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from compiler import __version__, jsonio
from compiler.credentials import (
    EndpointError,
    base_url_env,
    base_url_problem,
    checked_url,
    token_env_problem,
)
from compiler.model import Item, Kind, Observed, Resource
from compiler.money import decimals, exponent
from compiler.onboard.found import Found
from compiler.providers.declare import Capabilities, Connection, PlanOptions
from compiler.providers.traits import (
    Listing,
    LockRule,
    MinorUnits,
    MoneyUnit,
    PageStyle,
    ProjectList,
    ProjectScope,
)
from compiler.providers.values import integer_id


class _ImportedOnUse:
    """A module imported the first time one of its names is read. The registry's vendor
    names and capabilities are read by `validate`, which sends no request: httpx and what it
    pulls in (about 60 ms) wait for the first client made."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = __import__(self.name)
        globals()[self.name] = module  # later reads go straight to the module
        return getattr(module, attribute)


if TYPE_CHECKING:
    import httpx
else:
    httpx = _ImportedOnUse("httpx")

# Every request says which client sent it: vendors ask for it when they trace a problem, and
# the contract tests check the requests that carry it against the vendor's published spec.
USER_AGENT = f"billplan/{__version__}"


def verifying_context() -> ssl.SSLContext:
    """The TLS context every client verifies the vendors' certificates with: httpx's own for
    `verify=True` (its CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR), made once per bundle.
    Loading the bundle takes tens of milliseconds, and `plan` makes a client per connection
    before its first request."""
    return _verifying_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _verifying_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=True)


class ProviderError(Exception):
    """A vendor refused or failed a call. The message is written for the person running it."""

    def __init__(
        self, message: str, *, status: int | None = None, refused: frozenset[int] = frozenset()
    ) -> None:
        self.status = status
        # A refused batch create: the positions (in the request) of the items the vendor named
        # as the reason. Empty when it named none, or for any other call.
        self.refused = refused
        super().__init__(message)


class OutcomeUnknown(ProviderError):
    """A write whose result we could not see: it may or may not have happened."""


# What --sandbox offers someone with no vendor account, said wherever a token is missing.
SANDBOX_HINT = "run with --sandbox to use the built-in emulators"


class ConfigurationError(Exception):
    """A provider cannot be used as configured (a missing token, say). problem: what is
    wrong, said alone; sandbox_hint: whether trying the sandbox instead is a way out, which
    the message then adds (and a list of several problems says once, under them)."""

    def __init__(self, problem: str, *, sandbox_hint: bool = False) -> None:
        self.problem = problem
        self.sandbox_hint = sandbox_hint
        super().__init__(f"{problem}, or {SANDBOX_HINT}" if sandbox_hint else problem)


@dataclass(frozen=True)
class Planned:
    """What the plan wants at one connection, by project (str of the vendor's id): the light
    `list` and `recheck` read the vendor in, and what a vendor checks the plan against."""

    projects: Mapping[str, tuple[Resource, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> Planned:
        projects: dict[str, list[Resource]] = {}
        for resource in resources:
            projects.setdefault(str(resource.project_id), []).append(resource)
        return cls({key: tuple(group) for key, group in projects.items()})

    def currency(self, project_id: str | int) -> str | None:
        """The currency the plan bills a project in (its last resource's)."""
        planned = self.projects.get(str(project_id))
        return planned[-1].currency if planned else None


# How many times a read that must be complete is made at most before it is left unproven:
# the first, and two more to find two in a row that agree.
COMPLETE_READS = 3


@dataclass(frozen=True)
class Proof:
    """Projects read until two reads in a row agreed: the objects of each as last read, and
    the projects (str of the vendor's id) whose reads never agreed."""

    observed: list[Observed]
    unproven: frozenset[str]


def _by_project(
    observed: Iterable[Observed], project_ids: Iterable[str | int]
) -> dict[str, list[Observed]]:
    """The objects of each of these projects (str of the vendor's id), none where it has none."""
    found: dict[str, list[Observed]] = {str(project): [] for project in project_ids}
    for obs in observed:
        if str(obs.project_id) in found:
            found[str(obs.project_id)].append(obs)
    return found


def _ids(observed: Iterable[Observed]) -> set[tuple[str, str]]:
    return {(obs.type, obs.remote_id) for obs in observed}


NO_PRIVATE: Mapping[str, Any] = {}
# Request bodies (or their private parts), one an object.
Bodies = Sequence[Mapping[str, Any]]


class RateLimiter:
    """A token bucket on the client side: at most `per_second` requests a second on average,
    at most `burst` at once. `wait()` reserves the next free slot and sleeps until it, so one
    injected clock and sleep make it exact and instant in tests.

    It paces slightly under the limit it is given (HEADROOM), because the vendor counts
    arrivals, not departures: two requests sent 1/R apart may arrive closer together.

    `per_second` may be a function, read before every request, for a limit that can change
    while billplan runs (the in-process sandbox's, which tests and benchmarks set); a function
    that answers None means no limit."""

    HEADROOM = 0.97

    def __init__(
        self,
        per_second: float | Callable[[], float | None],
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        fixed = None if callable(per_second) else per_second
        if (fixed is not None and fixed <= 0) or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self._rate: Callable[[], float | None] = (
            per_second if callable(per_second) else (lambda: fixed)
        )
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        # The earliest time the bucket is full again; starts full.
        self._full_at = float("-inf")
        self.waited = 0.0  # total seconds spent waiting, for tests and benchmarks

    @property
    def per_second(self) -> float | None:
        return self._rate()

    def drain(self) -> None:
        """The vendor refused a request for its rate (429): its bucket holds less than ours
        thinks (another process, an earlier run), so spend what burst we have left and pace
        from here at the rate alone, instead of sending the rest of the burst into 429s."""
        rate = self._rate()
        if rate is None or rate <= 0:
            return
        interval = 1 / (rate * self.HEADROOM)
        with self._lock:
            self._full_at = max(self._full_at, self.clock() + (self.burst - 1) * interval)

    def wait(self) -> None:
        rate = self._rate()
        if rate is None or rate <= 0:
            return
        interval = 1 / (rate * self.HEADROOM)
        with self._lock:
            now = self.clock()
            full_at = max(self._full_at, now)
            # The slot this request takes: `burst` slots before the bucket is full again.
            start = full_at - (self.burst - 1) * interval
            delay = max(0.0, start - now)
            self._full_at = full_at + interval
            self.waited += delay
        if delay > 0:
            self.sleep(delay)


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
    # What a plan may write for this vendor and what it can bill (compiler.providers.declare);
    # the plan schema's vendor sections and expansion's checks are derived from them.
    plan_options: ClassVar[PlanOptions] = PlanOptions()
    capabilities: ClassVar[Capabilities] = Capabilities()
    connection: ClassVar[Connection]
    default_base_url: ClassVar[str]
    default_token_env: ClassVar[str]
    types: ClassVar[Mapping[str, str]]  # each kind of object -> its collection's path
    # Fields the vendor cannot change on an existing object (Resource.fixed): a difference
    # there is a replacement, and update() never sends them.
    fixed_fields: ClassVar[frozenset[str]] = frozenset()
    paging: ClassVar[PageStyle]
    scope: ClassVar[ProjectScope]  # how a listing narrows to the plan's projects
    # Where the projects the token can see are listed, for onboarding; None where the vendor
    # publishes no such list (the vendor then overrides `projects`).
    project_list: ClassVar[ProjectList | None] = None
    list_params: ClassVar[Mapping[str, Any]] = {}  # sent with every list request
    lock: ClassVar[LockRule]
    money: ClassVar[MoneyUnit]  # its unit, and the field of an object that holds its amount
    # The attributes an Observed takes its project and its date from.
    project_field: ClassVar[str]
    date_field: ClassVar[str]
    # The attributes that hold an object's text, which the plan may `ignore:` as its
    # description (compiler.keep); its date is date_field.
    text_fields: ClassVar[frozenset[str]] = frozenset({"description"})
    update_method: ClassVar[str] = "PATCH"
    write_params: ClassVar[Mapping[str, Any]] = {}  # sent with every create and update
    # What the vendor's project is called in messages ("Wethod project"), and whether its ids
    # are integers (else kept as given): compile's first check of an item.
    project_noun: ClassVar[str]
    integer_projects: ClassVar[bool] = True
    # Why an item without a date cannot be compiled; None where the vendor takes one.
    undated: ClassVar[str | None] = None
    # Whether compile writes an item's kind into the object (Ruddr's milestone types), so
    # that reading it back must keep it. Where it does not, onboarding reads a run of
    # same-amount objects as one recurring charge, whatever kind each was read as.
    reads_kinds_back: ClassVar[bool] = True
    page_size: ClassVar[int] = 100
    batch_size: ClassVar[int] = 1  # objects per create request
    max_attempts: ClassVar[int] = 8
    backoff_base: ClassVar[float] = 0.25  # seconds; doubles per attempt, with jitter
    backoff_cap: ClassVar[float] = 8.0
    retry_after_cap: ClassVar[float] = 60.0  # the longest Retry-After honoured as given
    # The vendor's request rate (documented, or assumed where VENDORS.md says so) and how many
    # requests the client sends at once before pacing; `max_rps` in the plan overrides it.
    rate_limit: ClassVar[float]
    rate_burst: ClassVar[int] = 1
    # The default pace in words for the `max_rps` docs, where it is not `rate_limit` a second.
    rate_words: ClassVar[str | None] = None
    default_timeout: ClassVar[float] = 30.0  # seconds; `timeout` in the plan overrides it

    def plan_fields(self) -> dict[str, str]:
        """Each attribute a plan's `ignore:` may name, with the plan's name for it."""
        names = dict.fromkeys(sorted(self.text_fields), "description")
        names[self.date_field] = "date"
        return names

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        transport: httpx.BaseTransport | None = None,
        base_url: str | None = None,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.config = config
        # Where the token goes and which one it is are never the plan's to choose: `validate`
        # refuses such a plan, and so does the client (docs/ci.md, compiler.credentials).
        if "base_url" in config:
            raise ConfigurationError(f"provider {name!r}: {base_url_problem(self.vendor)}")
        self.token_env = self.token_variable(config.get("token_env"))
        url = base_url or self.default_base_url
        if transport is None:  # a real network client, not the in-process sandbox
            try:
                url = checked_url(url, f"provider {name!r} ({self.title})")
            except EndpointError as exc:
                raise ConfigurationError(str(exc)) from None
        self.base_url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get(self.token_env)
        # Where the token came from, for the message when the vendor does not accept it.
        self.token_origin = (
            f"the token in ${self.token_env}" if token is None else "the sandbox's token"
        )
        if not self.token:
            raise ConfigurationError(
                f"provider {name!r} ({self.title}) needs an API token in ${self.token_env}; set it",
                sandbox_hint=True,
            )
        self.sleep = sleep
        self.calls = CallLog()
        # List pages read ahead of the plan (`read_ahead`), each kept until `list` asks for it
        # once, and the projects they cover.
        self._kept: dict[PageKey, Any] = {}
        self._kept_lock = threading.Lock()
        self.read_ahead_of: frozenset[str] = frozenset()
        self.timeout = _positive(
            name, "timeout", config.get("timeout"), timeout, self.default_timeout
        )
        rate = _positive(name, "max_rps", config.get("max_rps"), None, self.rate_limit)
        # A plan that lowers the rate (other tools share the account) is not sent more than a
        # second's worth at once either; the vendor's burst is the most in any case.
        burst = self.rate_burst if "max_rps" not in config else min(self.rate_burst, int(rate))
        self.limiter = limiter or RateLimiter(rate, max(1, burst))
        # TLS certificates are always verified: no plan setting turns that off.
        self.client = httpx.Client(
            base_url=self.base_url,
            # Set here, not in headers(): a vendor that replaces the auth headers keeps it.
            headers={"User-Agent": USER_AGENT, **self.headers()},
            transport=transport,
            timeout=self.timeout,
            verify=verifying_context(),
        )

    @classmethod
    def token_variable(cls, named: Any = None) -> str:
        """The variable a connection's token comes from: the vendor's own, or one of its
        family a plan names (RUDDR_API_TOKEN_EU); ConfigurationError for any other."""
        if named is None:
            return cls.default_token_env
        problem = token_env_problem(cls.title, cls.default_token_env, named)
        if problem is not None:
            raise ConfigurationError(f"`token_env` {problem}")
        return str(named)

    def close(self) -> None:
        self.client.close()

    # -- what a vendor must say -------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]:
        """Items to Resources; problems are (item, message) pairs for the plan's author. Each
        admitted item becomes one object (`compile_one`); a vendor that puts several items on
        one object (Coperniq's invoices) overrides this."""
        resources: list[Resource] = []
        problems: list[tuple[Item, str]] = []
        for item, project in self.admitted(items, problems):
            made = self.compile_one(item, project)
            if isinstance(made, str):
                problems.append((item, made))
            else:
                resources.append(made)
        return resources, problems

    def compile_one(self, item: Item, project: str | int) -> Resource | str:
        """The Resource one admitted item compiles to, with `project` its project id as the
        vendor takes it; or why the vendor would refuse it, for the plan's author."""
        raise NotImplementedError

    def admitted(
        self, items: Iterable[Item], problems: list[tuple[Item, str]]
    ) -> Iterator[tuple[Item, str | int]]:
        """The items compile can go on with, each with its project id as the vendor takes it;
        a problem for each other one: a project id not of the vendor's kind, or no date where
        the vendor needs one."""
        for item in items:
            project: str | int | None = item.project_id
            if self.integer_projects:
                project = integer_id(item.project_id)
            if project is None:
                problems.append(
                    (
                        item,
                        f"{self.project_noun} ids are integers; got {item.project_id!r}",
                    )
                )
            elif item.date is None and self.undated is not None:
                problems.append((item, self.undated))
            else:
                yield item, project

    def list(
        self, project_ids: Sequence[str | int], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        """Everything of the types billplan manages in these projects, via list endpoints,
        read in the light of what the plan wants there (`planned`, this connection's
        resources). A vendor that checks the plan against what it holds does so here."""
        return self.listed(project_ids, planned)

    def listed(
        self, project_ids: Sequence[str | int], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        """What `list` reads, from the list endpoints alone: one request a page."""
        wanted = Planned.of(planned)
        found: list[Observed] = []
        for listing in self._listings([str(p) for p in project_ids]):
            found += [
                self.in_plan_terms(self.observe(listing.type, obj), wanted)
                for obj in self.walk(listing, wanted)
            ]
        return found

    def _listings(self, projects: Sequence[str]) -> list[Listing]:
        """The list requests that read these projects. Where projects were read ahead and the
        plan adds more, the ones read ahead keep their own requests (whose pages are kept) and
        the rest get theirs: a vendor that lists all projects in one query (Wethod, Kantata)
        would otherwise ask again for everything."""
        ahead = self.read_ahead_of
        groups = [list(projects)]
        if ahead and ahead < set(projects):
            groups = [sorted(ahead), [p for p in projects if p not in ahead]]
        return [
            listing
            for group in groups
            for listing in self.scope.listings(self.types, group, self.list_params)
        ]

    def read_ahead(self, project_ids: Iterable[str | int]) -> None:
        """Read the list pages of these projects now and keep each for the `list` that asks
        for it, once: `plan` starts the projects billplan's state holds while the plan is
        still being expanded, so that the vendor's rate limit is waited out meanwhile. The
        pages are those `list` would ask for itself (sorted projects, the same parameters);
        a read that must be complete (`proven`) always asks the vendor again."""
        projects = sorted({str(p) for p in project_ids})
        rows = functools.partial(self.rows, planned=Planned())
        for listing in self.scope.listings(self.types, projects, self.list_params):
            for _ in self.pages(listing.path, listing.params, self.paging, rows, keep=True):
                pass
        self.read_ahead_of = frozenset(projects)

    def forget_read_ahead(self) -> None:
        """Drop the pages read ahead that no `list` asked for: they are never served later."""
        with self._kept_lock:
            self._kept.clear()
        self.read_ahead_of = frozenset()

    def proven(
        self,
        project_ids: Sequence[str | int],
        planned: Sequence[Resource],
        first: Sequence[Observed],
        reads: int = COMPLETE_READS,
    ) -> Proof:
        """These projects read again until two reads in a row hold the same ids, `first`
        being the first read, at most `reads` reads in all. A paged list is not a snapshot:
        a row deleted on an earlier page while it is read pushes a later one off its page,
        and a row made meanwhile may or may not show. Only a read that a second one confirms
        may be taken as complete; a project never confirmed is `unproven`."""
        last = _by_project(first, project_ids)
        settled: dict[str, list[Observed]] = {}
        for _ in range(reads - 1):
            unsettled = sorted(set(last) - set(settled))
            if not unsettled:
                break
            again = _by_project(self.listed(unsettled, planned), unsettled)
            for project in unsettled:
                if _ids(again[project]) == _ids(last[project]):
                    settled[project] = again[project]
                last[project] = again[project]
        observed = [obs for project in sorted(last) for obs in settled.get(project, last[project])]
        return Proof(observed, frozenset(last) - set(settled))

    def walk(self, listing: Listing, planned: Planned) -> Iterator[Any]:
        """The objects of one listing, page by page in the vendor's page style."""
        rows = functools.partial(self.rows, planned=planned)
        return self.pages(listing.path, listing.params, self.paging, rows)

    def pages(
        self,
        path: str,
        params: Mapping[str, Any],
        paging: PageStyle,
        rows_of: Callable[[Any, str], list[Any]],
        *,
        keep: bool = False,
    ) -> Iterator[Any]:
        """The rows of a paged GET, page by page in `paging`'s style, each page's rows taken
        out of it by `rows_of(page, path)`. A page read ahead is served from where it was
        kept (once); `keep` reads each page and keeps it (`read_ahead`)."""
        at: Any = None
        while True:
            asked = {**params, **paging.ask(at, self.page_size)}
            page = self._page(path, asked, keep)
            rows = rows_of(page, path)
            yield from rows
            at = paging.following(at, page, rows, self.page_size)
            if at is None:
                return

    def _page(self, path: str, params: Mapping[str, Any], keep: bool) -> Any:
        key = _page_key(path, params)
        if not keep:
            with self._kept_lock:
                kept = self._kept.pop(key, _NOT_KEPT)
            if kept is not _NOT_KEPT:
                return kept
        page = self.json(self.request("GET", path, params=params))
        if keep:
            with self._kept_lock:
                self._kept[key] = page
        return page

    # -- onboarding: reading what the vendor holds in the plan's terms ------------------------

    def projects(self) -> list[tuple[str | int, str, str]]:
        """Every project the token can see: (id as the plan writes it, name, currency; "" where
        the vendor keeps none), read page by page from `project_list`."""
        listing = self.project_list
        if listing is None:
            raise ProviderError(
                f"{self.title} publishes no list of projects billplan can read: name the "
                "projects to read by their ids"
            )
        found: list[tuple[str | int, str, str]] = []
        for row in self.pages(listing.path, listing.params, listing.paging, self.project_rows):
            raw = row.get(listing.id)
            project = integer_id(raw) if self.integer_projects else str(raw)
            if project is None:
                continue  # not an id a plan could name
            currency = row.get(listing.currency) if listing.currency else None
            found.append((project, str(row.get(listing.name) or ""), str(currency or "")))
        return found

    def project_rows(self, page: Any, path: str) -> list[Any]:
        """The projects of one page of `project_list`; a vendor with an envelope of its own
        overrides it."""
        assert self.project_list is not None
        return self.page_rows(page, path, self.project_list.paging.rows)

    def found(self, observed: Observed, currency: str) -> Found | None:
        """One listed object in the plan's terms, in `currency` (the project's); None when no
        plan billplan can write would make the same object (`refusal` says why)."""
        read = self._read_back(observed, currency)
        return read if isinstance(read, Found) else None

    def refusal(self, observed: Observed, currency: str) -> str | None:
        """Why `found` gives None for this object, for the onboarding report; None when it
        reads."""
        read = self._read_back(observed, currency)
        return read if isinstance(read, str) else None

    def found_in(
        self, observed: Sequence[Observed], currency: str
    ) -> tuple[list[Found], list[tuple[Observed, str]]]:
        """One project's objects in the plan's terms, in `currency`, and those no plan makes
        with why. Each object alone (`found`) unless a vendor reads some only together: one
        Coperniq invoice grouped by date is several items, and its terms date the record's
        other invoices."""
        found: list[Found] = []
        refused: list[tuple[Observed, str]] = []
        for obs in observed:
            read = self._read_back(obs, currency)
            if isinstance(read, Found):
                found.append(read)
            else:
                refused.append((obs, read))
        return found, refused

    def _read_back(self, observed: Observed, currency: str) -> Found | str:
        read = self.read_back(observed, currency)
        if isinstance(read, Found) and decimals(read.amount.normalize()) > exponent(currency):
            # A plan's amounts are rounded to the currency: it could never bill this one.
            return (
                f"an amount of {read.amount} has more decimals than {currency} has "
                f"({exponent(currency)}): no plan in {currency} can bill it"
            )
        return read

    def read_back(self, observed: Observed, currency: str) -> Found | str:
        """The reverse of compile_one: what an Item would say to compile to this object's
        attributes, or why none could. A vendor that says nothing reads nothing back."""
        return f"billplan cannot read {self.title} objects back into a plan yet"

    def found_as(
        self,
        observed: Observed,
        currency: str,
        kind: Kind,
        description: str,
        **more: Any,
    ) -> Found:
        """The Found of `observed` as a `kind` with this description: dated, priced and locked
        as it was read (its amount in the money unit's reading for `currency`), no quantity,
        rate, task or options unless `more` says."""
        amount = observed.amount
        if isinstance(self.money, MinorUnits):
            amount = self.money.read(observed.attributes.get(self.money.field), currency)
        fields: dict[str, Any] = {
            "remote_id": observed.remote_id,
            "type": observed.type,
            "kind": kind,
            "date": observed.date,
            "task": None,
            "description": description,
            "amount": amount,
            "quantity": None,
            "rate": None,
            "currency": currency,
            "options": {},
            "locked": observed.locked,
            "observed": observed,
        }
        return Found(**{**fields, **more})

    def rows(self, page: Any, path: str, planned: Planned) -> list[Any]:
        """The objects of one list page; a vendor with an envelope of its own overrides it."""
        return self.page_rows(page, path, self.paging.rows)

    def page_rows(self, page: Any, path: str, key: str | None) -> list[Any]:
        """The objects of a page under `key`, or the page itself when it is a bare array."""
        rows = page if key is None else page.get(key) if isinstance(page, dict) else None
        if not isinstance(rows, list):
            where = f"{{{key}, ...}}" if key else "an array"
            raise ProviderError(
                f"{self.title} answered GET {path} with something that is not a page of "
                f"objects ({where}): {str(page)[:200]}"
            )
        return rows

    def observe(self, type_name: str, obj: Mapping[str, Any]) -> Observed:
        """One object as the vendor sends it, in the shape of Resource.attributes."""
        raise NotImplementedError

    def observed(
        self, type_name: str, obj: Mapping[str, Any], attributes: Mapping[str, Any], **more: Any
    ) -> Observed:
        """The Observed of `obj` with these attributes: in the project and on the date they
        name (project_field, date_field), locked by the vendor's lock rule, its amount read in
        the vendor's money unit (in `currency`, given in `more` where the unit needs one).
        `more` sets anything else (owner, dated_by_vendor, private) or overrides."""
        when = attributes.get(self.date_field)
        currency = more.pop("currency", "")
        fields: dict[str, Any] = {
            "remote_id": str(obj["id"]),
            "type": type_name,
            "project_id": attributes[self.project_field],
            "attributes": attributes,
            "locked": self.lock.holds(obj),
            "date": date.fromisoformat(when) if when else None,
            "amount": self.money.read(obj.get(self.money.field), currency),
        }
        return Observed(**{**fields, **more})

    def in_plan_terms(self, observed: Observed, planned: Planned) -> Observed:
        """An object read in the plan's terms: money in minor units is worth what the plan's
        currency for the project makes it. A vendor whose dates depend on the plan adds to it."""
        currency = planned.currency(observed.project_id)
        if not isinstance(self.money, MinorUnits) or currency is None:
            return observed
        amount = self.money.read(observed.attributes.get(self.money.field), currency)
        return replace(observed, amount=amount)

    def create(self, type_name: str, bodies: Bodies, private: Bodies = ()) -> list[Observed]:
        """Create up to batch_size objects in one request; results in the order sent.
        `private`, one a body where given: what the provider said it needs for the write."""
        (body,) = bodies  # one object a request, unless a vendor batches
        wire = self.create_body(type_name, body, private[0] if private else NO_PRIVATE)
        response = self.request(
            "POST",
            self.types[type_name],
            params=self.write_params or None,
            body=wire,
            retry_on_failure=False,
        )
        return [self.read_one(type_name, self.json(response))]

    def create_body(
        self, type_name: str, body: Mapping[str, Any], private: Mapping[str, Any]
    ) -> Any:
        """The request body of a create; a vendor whose wire differs from the compared
        attributes overrides it."""
        return dict(body)

    def update(
        self,
        type_name: str,
        remote_id: str,
        attributes: Mapping[str, Any],
        private: Mapping[str, Any] = NO_PRIVATE,
    ) -> Observed:
        """Bring one object to `attributes`; the fixed fields are never sent."""
        changes = {k: v for k, v in attributes.items() if k not in self.fixed_fields}
        response = self.request(
            self.update_method,
            f"{self.types[type_name]}/{remote_id}",
            params=self.write_params or None,
            body=self.update_body(type_name, changes, private),
        )
        return self.read_one(type_name, self.json(response))

    def update_body(
        self, type_name: str, changes: Mapping[str, Any], private: Mapping[str, Any]
    ) -> Any:
        """The request body of an update, from the attributes but the fixed fields."""
        return dict(changes)

    def delete(self, type_name: str, remote_id: str) -> None:
        try:
            self.request("DELETE", f"{self.types[type_name]}/{remote_id}")
        except ProviderError as exc:
            if exc.status != 404:  # already gone is what was wanted
                raise

    def recheck(
        self, type_name: str, remote_ids: Sequence[str], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        """Read objects by id that a list did not return, before anyone concludes they are
        gone: offset and page-number lists skip a row when another is deleted mid-read, and
        a managed object wrongly thought deleted would be created twice. Rare by design."""
        wanted = Planned.of(planned)
        found = []
        for remote_id in remote_ids:
            payload = self.read_or_none(f"{self.types[type_name]}/{remote_id}")
            if payload is not None:
                found.append(self.in_plan_terms(self.read_one(type_name, payload), wanted))
        return found

    def read_or_none(self, path: str) -> Any:
        """One object by path, or None when the vendor has no such object (404)."""
        try:
            return self.json(self.request("GET", path))
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise

    def read_one(self, type_name: str, payload: Any) -> Observed:
        """The Observed for a single-object response (a read by id, a create, an update)."""
        return self.observe(type_name, payload)

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
        """The wait a response asks for, in seconds (a number or an HTTP date), or None."""
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())

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
        if not _below(path):
            # Only a path below the connection's base URL: a value from a plan (a project id)
            # or a vendor (an object id) in a path must never make it an address of its own,
            # nor climb out of the base path to another service of the same host (a gateway
            # that fronts several), nor add a query: the token would follow.
            raise ProviderError(
                f"{self.title}: refused to send a request to {path[:80]!r}, which is not a "
                f"path below {self.base_url}"
            )
        content = None if body is None else jsonio.dumps(body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            attempt += 1
            self.limiter.wait()
            self.calls.count(method)
            try:
                response = self.client.request(
                    method, path, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if _untrusted(exc):
                    # Not a passing failure: retrying cannot make a certificate trusted.
                    raise ProviderError(
                        f"{self.title} at {self.base_url}: the server's TLS certificate could "
                        f"not be verified ({_untrusted(exc)}). billplan always verifies "
                        "certificates; fix the server's certificate or the host set for it "
                        f"({base_url_env(self.vendor)} or --endpoint), or trust its CA through "
                        "SSL_CERT_FILE"
                    ) from None
                # A connection never made carried no request: safe to send again, even a create.
                unsent = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                if (retry_on_failure or unsent) and attempt < self.max_attempts:
                    self._backoff(attempt, None)
                    continue
                unknown = not retry_on_failure and not unsent
                raise (OutcomeUnknown if unknown else ProviderError)(
                    f"{what + ': ' if what else ''}{self.title} {method} {path}: no response "
                    f"after {attempt} attempt(s) ({_transport_problem(exc, self.timeout)})"
                    + (
                        "; the write may have happened: the next plan will look for it"
                        if unknown
                        else ""
                    )
                ) from None
            self.on_response(response)
            status = response.status_code
            if status == 429:
                self.limiter.drain()
            if status == 429 and attempt < self.max_attempts and self.retryable(response):
                self._backoff(attempt, self.retry_after(response))
                continue
            if status >= 500 and attempt < self.max_attempts and retry_on_failure:
                self._backoff(attempt, self.retry_after(response))
                continue
            if status >= 400:
                message = f"{self.title} {status}: {self.error_message(response)}"
                if status == 401:
                    message += (
                        f" ({self.title} did not accept {self.token_origin} of connection "
                        f"{self.name!r}: it may be mistyped, rotated or revoked; "
                        "set a current one)"
                    )
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
            # As the vendor asks, within reason: a wait of an hour is not a retry any more.
            delay = min(hint, self.retry_after_cap)
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


# A list request as sent: its path and its query, each value as it goes on the wire.
PageKey = tuple[str, tuple[tuple[str, str], ...]]
_NOT_KEPT = object()


def _page_key(path: str, params: Mapping[str, Any]) -> PageKey:
    return path, tuple(sorted((name, str(value)) for name, value in params.items()))


def _below(path: str) -> bool:
    """Whether `path` (joined to the base URL) stays below it: it starts with one `/`, has no
    `.` or `..` segment (as typed or percent-encoded, which some servers decode), and no
    query, fragment or backslash (which some servers read as `/`)."""
    if not path.startswith("/") or path.startswith("//") or any(c in path for c in "?#\\"):
        return False
    return not any(
        segment.lower().replace("%2e", ".") in (".", "..") for segment in path.split("/")
    )


def _positive(name: str, key: str, configured: Any, given: float | None, default: float) -> float:
    """A positive number (seconds, requests a second) from the plan's provider config, else
    from the caller, else the vendor's default."""
    if configured is None:
        return default if given is None else given
    if isinstance(configured, bool) or not isinstance(configured, int | float | Decimal):
        raise ConfigurationError(f"provider {name!r}: `{key}` must be a number, got {configured!r}")
    if configured <= 0:
        raise ConfigurationError(f"provider {name!r}: `{key}` must be more than 0")
    return float(configured)


def _transport_problem(exc: httpx.TransportError, timeout: float) -> str:
    """A transport failure in words, without anything the request carried (headers)."""
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"timed out after {timeout:g} s ({type(exc).__name__}); raise `timeout` if the "
            "vendor is just slow"
        )
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _untrusted(exc: BaseException) -> str | None:
    """The certificate problem behind a transport error, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None
