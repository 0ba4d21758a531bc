"""A plan opened for planning or applying: its items, resources, providers and state backend.

This is where the stages meet: check (load, validate, expand), compile per provider, connect
to the vendors (or to the sandbox), refresh what they hold, and diff (or, for `plan
--refresh-only`, compare with what billplan last wrote: compiler.drift). A provider named with
`plan --no-refresh` is planned from state alone: it is never called, and what billplan last
wrote there stands in for what the vendor holds.

The connections are read at once, a thread each under its own rate limiter; `plan` starts
listing the projects state holds as soon as the plan is loaded, while it is expanded
(ReadAhead), so that a large no-op plan waits for the slowest vendor's rate limit, not for the
sum of them after its own work.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx

from compiler import adjust, drift, keep, moved, ownership, removed
from compiler.credentials import IN_PROCESS, Endpoint, EndpointError, Hosts
from compiler.diagnostics import Diagnostic, Mark
from compiler.diff import diff
from compiler.limits import Limits
from compiler.load import Document
from compiler.model import Item, Observed, Resource
from compiler.model.change import Mode, Plan, SandboxChoice
from compiler.policy import Judging, Policy
from compiler.policy import read as read_policy
from compiler.providers import (
    PROVIDERS,
    ConfigurationError,
    Provider,
    ProviderError,
)
from compiler.providers.base import SANDBOX_HINT, RateLimiter
from compiler.state import Backend, State, StateError
from compiler.state.local import LocalBackend
from compiler.state.location import local_state_path, state_dir
from compiler.targets import TargetError, Targets
from compiler.validate import check


@dataclass(frozen=True)
class Read:
    """What one connection holds, as refresh read it, and the projects (str of the vendor's
    id) whose reads that had to be complete never agreed."""

    observed: list[Observed]
    unproven: frozenset[str]


T = TypeVar("T")


def concurrently(calls: Mapping[str, Callable[[], T]]) -> dict[str, T | ProviderError]:
    """Each call's result (or the ProviderError it raised), the calls made at once, one thread
    each; any other exception is raised here, once all have finished. A single call is made in
    this thread."""
    results: dict[str, T | ProviderError] = {}
    if len(calls) <= 1:
        for name, call in calls.items():
            try:
                results[name] = call()
            except ProviderError as exc:
                results[name] = exc
        return results
    outcomes: dict[str, T | BaseException] = {}

    def run(name: str, call: Callable[[], T]) -> None:
        try:
            outcomes[name] = call()
        except BaseException as exc:  # handed to the caller's thread, raised there
            outcomes[name] = exc

    # Daemon threads: an interrupted run does not wait for the vendors before it exits.
    threads = [
        threading.Thread(target=run, args=(name, call), name=f"read {name}", daemon=True)
        for name, call in calls.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in calls:
        outcome = outcomes[name]
        if isinstance(outcome, BaseException) and not isinstance(outcome, ProviderError):
            raise outcome
        results[name] = outcome
    return results


class WorkspaceError(Exception):
    """The plan cannot be planned or applied; carries diagnostics when they have a place."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        self.diagnostics = diagnostics or []
        super().__init__(message)


@dataclass
class Workspace:
    path: Path
    document: Document
    items: list[Item]
    as_of: date
    backend: Backend
    providers: dict[str, Provider]
    resources: list[Resource]
    project_keys: dict[tuple[str, str], str]  # (provider, project id) -> plan's project key
    sandbox: Any = None  # compiler.sandbox.Sandbox when --sandbox
    notes: list[str] = field(default_factory=list)
    opened_state: State | None = None  # state as read when the workspace opened
    from_state: frozenset[str] = frozenset()  # providers planned from state (--no-refresh)
    endpoints: list[Endpoint] = field(default_factory=list)  # where each connection goes
    # (connection, str(project id)) whose read had to be complete (a create there is pending)
    # and was not proven so by the last refresh: diff creates nothing there on guesswork.
    unproven: frozenset[tuple[str, str]] = frozenset()
    # The sandbox chosen where billplan runs (--sandbox, --sandbox-url or their variables),
    # for the commands a plan prints: pasted, they must reach the same objects and state.
    sandbox_choice: SandboxChoice = field(default_factory=SandboxChoice)
    # The rules every plan made here is judged by (the plan's `policy:` and `--policy FILE`),
    # and the rule kinds this run allows breaking (`--allow-large-delete`).
    policy: Policy = field(default_factory=Policy)
    allowed: frozenset[str] = frozenset()
    # Each connection's list pages being read while the plan was expanded (ReadAhead).
    reading_ahead: dict[str, threading.Thread] = field(default_factory=dict)

    def state_to_plan(self) -> State:
        """State for a plan, which writes nothing: as read when the workspace opened (at
        10,000 entries a second read costs a noticeable part of a no-op plan). Whatever
        writes takes the lock and reads state again under it."""
        if self.opened_state is not None:
            return self.opened_state
        return self.backend.read()

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()
        if self.sandbox is not None:
            self.sandbox.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def moved_state(self, state: State) -> tuple[State, dict[str, str]]:
        """State with the plan's `moved:` renames made (in memory), and the renames."""
        try:
            renames = moved.renames(self.document, state)
        except moved.MoveConflict as exc:
            raise WorkspaceError("a move cannot be made", exc.diagnostics) from None
        return moved.renamed(state, renames), renames

    def check_targets(self, state: State, targets: Targets) -> None:
        if not targets:
            return
        addresses = {r.address for r in self.resources} | set(state.entries)
        addresses |= set(self.moved_state(state)[0].entries)
        try:
            targets.check(addresses)
        except TargetError as exc:
            raise WorkspaceError(str(exc)) from None

    def refresh(self, state: State, targets: Targets | None = None) -> list[Observed]:
        """What the vendors hold in every project the plan or the state touches; with
        --target, only in the projects the targets name (fewer requests). A project where a
        create is pending is read until two reads agree (`must_be_complete`); those that
        never agreed are kept in `unproven` for the diff."""
        self.unproven = frozenset()
        targets = targets or Targets()
        self.check_targets(state, targets)
        reach = targets.projects()
        if reach is not None:
            current = self.moved_state(state)[0]
            kept = {a: e for a, e in current.entries.items() if e.project in reach}
            state = State(lineage=state.lineage, serial=state.serial, entries=kept)
        projects: dict[str, set[str]] = defaultdict(set)
        for resource in self.resources:
            if reach is None or resource.project in reach:
                projects[resource.provider].add(str(resource.project_id))
        for entry in state.entries.values():
            projects[entry.provider].add(str(entry.project_id))
        held: dict[str, list[Observed]] = {}
        refused: list[tuple[str, ProviderError]] = []
        unproven: set[tuple[str, str]] = set()
        planned = self.planned()
        # Pages read ahead were read in the light of the state as opened, for all its projects:
        # they serve a refresh of that state only (apply reads state again under its lock).
        ahead = state is self.opened_state and reach is None
        reads: dict[str, Callable[[], Read]] = {}
        for name, ids in sorted(projects.items()):
            if name not in self.providers:
                raise WorkspaceError(
                    f"the state holds objects of provider {name!r}, which the plan no longer "
                    "defines; put the provider back to let billplan delete them, or remove "
                    "them from state with `billplan state rm`"
                )
            if name in self.from_state:
                held[name] = last_written(state, name)
                # Not read at all: a lost create's absence there proves nothing.
                unproven |= {(name, project) for project in must_be_complete(state, name)}
                continue
            reads[name] = functools.partial(
                self._read, name, sorted(ids), state, planned[name], ahead
            )
        # Each vendor is read in a thread of its own, under its own rate limit: the plan waits
        # for the slowest vendor, not for all of them in turn.
        for name, read in sorted(concurrently(reads).items()):
            if isinstance(read, ProviderError):
                # Read every connection before reporting any: a rejected token, a missing
                # permission or an unknown project is named with all the others at once,
                # not one per run.
                refused.append((name, read))
                continue
            held[name] = read.observed
            unproven |= {(name, project) for project in read.unproven}
        if len(refused) == 1:
            raise refused[0][1]
        if refused:
            raise WorkspaceError(
                _listed(
                    f"{len(refused)} connections refused what the plan needs; nothing was written:",
                    [f"{name}: {exc}" for name, exc in refused],
                )
            )
        self.unproven = frozenset(unproven)
        observed = [obs for name in sorted(held) for obs in held[name]]
        return observed + self.recheck_missing(state, observed, planned)

    def _read(
        self, name: str, ids: list[str], state: State, planned: list[Resource], ahead: bool
    ) -> Read:
        """What one connection holds in these projects; those where a create is pending are
        read until two reads agree (`must_be_complete`). `ahead`: the pages read ahead of the
        plan may serve this read."""
        provider = self.providers[name]
        reading = self.reading_ahead.pop(name, None)
        if reading is not None:
            reading.join()  # its pages are this read's first ones
        if not ahead:
            provider.forget_read_ahead()
        try:
            found = provider.list(ids, planned)
        finally:
            provider.forget_read_ahead()
        pending = must_be_complete(state, name)
        if not pending:
            return Read(found, frozenset())
        proof = provider.proven(sorted(pending), planned, found)
        found = [o for o in found if str(o.project_id) not in pending] + proof.observed
        return Read(found, proof.unproven)

    def recheck_missing(
        self,
        state: State,
        observed: list[Observed],
        planned: Mapping[str, list[Resource]] | None = None,
    ) -> list[Observed]:
        """Managed objects a list did not return, read again by id before being believed gone
        (`planned`: the plan's resources by connection, when the caller has them already)."""
        seen = {(obs.type, obs.remote_id) for obs in observed}
        missing: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entry in state.entries.values():
            if entry.remote_id and (entry.type, entry.remote_id) not in seen:
                missing[(entry.provider, entry.type)].append(entry.remote_id)
        found: list[Observed] = []
        planned = self.planned() if planned is None else planned
        for (name, type_name), ids in sorted(missing.items()):
            provider = self.providers.get(name)
            if provider is not None and name not in self.from_state:
                found.extend(provider.recheck(type_name, sorted(ids), planned[name]))
        return found

    def planned(self) -> dict[str, list[Resource]]:
        """The plan's resources by connection: what each provider reads its vendor in the
        light of (providers keep nothing from compile)."""
        by_provider: dict[str, list[Resource]] = defaultdict(list)
        for resource in self.resources:
            by_provider[resource.provider].append(resource)
        return by_provider

    def plan(
        self,
        state: State,
        observed: Iterable[Observed],
        targets: Targets | None = None,
        mode: Mode = "normal",
    ) -> Plan:
        """The diff, after the plan's `moved:` renames; narrowed to the targets if any. In
        refresh-only mode, what changed at the vendors against what state says billplan last
        wrote, at state's own addresses: the plan's wishes (and its renames) play no part."""
        targets = targets or Targets()
        self.check_targets(state, targets)
        if mode == "refresh-only":
            return drift.refresh_only(state, observed, targets)
        current, renames = self.moved_state(state)
        observed = list(observed)
        try:
            wanted, adjustments = adjust.lines(
                self.resources, current, observed, self.providers, self.as_of, self.from_state
            )
        except adjust.AdjustError as exc:
            mark = exc.charge.mark or Mark("?", 1, 1)
            raise WorkspaceError(
                "an adjusting line cannot be made", [Diagnostic(mark, exc.path, str(exc))]
            ) from None
        plan = diff(
            [*self.resources, *wanted],
            current,
            observed,
            self.project_keys,
            unproven=self.unproven,
            sandbox=self.sandbox_choice,
            released=removed.released(self.document),
        )
        plan = adjust.annotate(plan, adjustments)
        plan = moved.annotate(plan, renames, self.document)
        plan.endpoints = list(self.endpoints)
        plan.notes += removed.unmatched(self.document, current)
        plan.notes += keep.ignored_note(plan)
        plan.notes += ownership.notes(self.backend, current, plan, observed)
        plan.notes += [n for p in self.providers.values() if (n := p.budget_note()) is not None]
        plan.notes += [
            f"{name}: planned from billplan's state, without reading "
            f"{self.providers[name].title} (--no-refresh): objects changed, invoiced or made "
            "there since billplan's last apply are not shown; `apply` reads them and refuses "
            "a saved plan they would change"
            for name in sorted(self.from_state)
        ]
        return self.policy.judge(targets.narrow(plan), Judging(self.as_of, self.allowed))

    def budget_problems(self, plan: Plan) -> list[str]:
        """Providers whose request budget cannot cover this plan's writes."""
        writes: dict[str, int] = defaultdict(int)
        creates: dict[str, int] = defaultdict(int)
        for change in plan.changes:
            if change.action == "create":
                creates[change.provider] += 1
            elif change.action in ("update", "delete"):
                writes[change.provider] += 1
        problems = []
        for name, provider in sorted(self.providers.items()):
            batches = -(-creates[name] // max(1, provider.batch_size))
            problem = provider.check_budget(writes[name] + batches)
            if problem is not None:
                problems.append(problem)
        return problems


def state_backend(document: Document, *, sandbox: bool) -> Backend:
    """The plan's state backend; StateError for a `state:` block that cannot be used, and
    StateLocationError (located) for a local state file outside the plan's directory."""
    config = document.root.get("state") or {}
    if sandbox:
        # Sandbox ids must never mix with real ones, and exist only in this directory's
        # sandbox database: whatever the backend, the sandbox state is a file beside it.
        return LocalBackend(state_dir(document) / "sandbox-state.json")
    backend = config.get("backend", "local")
    if backend == "postgres":
        from compiler.state.postgres import PostgresBackend

        return PostgresBackend.from_config(config)
    if backend != "local":
        raise StateError(f"state backend {backend!r} is not one billplan has (local, postgres)")
    origin = f"{document.mark(('state', 'path'))}: $.state.path: " if config.get("path") else ""
    return LocalBackend(local_state_path(document), origin)


def _listed(heading: str, problems: list[str]) -> str:
    """Several connections' problems as one message: the heading, then one entry each, an
    entry's own lines indented under it."""
    entries = [f"  - {problem}".replace("\n", "\n    ") for problem in problems]
    return "\n".join([heading, *entries])


def open_workspace(
    path: Path,
    as_of: date,
    *,
    sandbox: bool,
    from_state: Collection[str] = (),
    hosts: Hosts | None = None,
    limits: Limits | None = None,
    policy: Policy | None = None,
    allowed: frozenset[str] = frozenset(),
    read_ahead: bool = False,
) -> Workspace:
    """The plan at path, ready to refresh and diff, connected to the in-process sandbox or to
    the hosts set outside the plan (`hosts`; by default from the environment). from_state:
    provider names or vendor types (`ruddr`) to plan from state alone, never calling them
    (`plan --no-refresh`). policy: rules set where billplan runs (`--policy FILE`), in force
    with the plan's own; allowed: the rule kinds this run may break (`--allow-large-delete`).
    read_ahead: read the projects state holds while the plan is expanded (ReadAhead; `plan`
    without --target asks for it). Never with the in-process sandbox: it is seeded from the
    expanded plan."""
    early = ReadAhead(from_state, hosts) if read_ahead and not sandbox else None
    try:
        return _opened(path, as_of, sandbox, from_state, hosts, limits, policy, allowed, early)
    except BaseException:
        if early is not None:
            early.close()
        raise


def _opened(
    path: Path,
    as_of: date,
    sandbox: bool,
    from_state: Collection[str],
    hosts: Hosts | None,
    limits: Limits | None,
    policy: Policy | None,
    allowed: frozenset[str],
    early: ReadAhead | None,
) -> Workspace:
    checked = check(path, as_of, limits, early.start if early is not None else None)
    if checked.diagnostics or checked.document is None:
        raise WorkspaceError("the plan has errors", checked.diagnostics)
    document = checked.document
    try:
        hosts = hosts or Hosts.configured(os.environ, PROVIDERS)
    except EndpointError as exc:
        raise WorkspaceError(str(exc)) from None
    if sandbox and hosts.sandbox is not None:
        raise WorkspaceError(
            f"--sandbox runs the emulators in this process, and {hosts.sandbox.source} points "
            "at a served sandbox: use one of them"
        )
    configs: dict[str, dict[str, Any]] = document.root.get("providers") or {}
    unread = _providers_named(configs, from_state)
    try:
        backend = state_backend(document, sandbox=sandbox)
    except StateError as exc:
        # A state database that cannot be reached is named with every connection that cannot
        # be used, in one run: not the database this run and the tokens the next.
        _refuse_with_connections(exc, configs, checked.items, unread, hosts)
        raise
    sandbox_app = None
    notes: list[str] = []
    try:
        if sandbox:
            from compiler.sandbox import build_sandbox
            from compiler.sandbox.bootstrap import prepare

            state_dir(document).mkdir(parents=True, exist_ok=True)
            sandbox_app = build_sandbox(state_dir(document) / "sandbox.sqlite")
            projects = document.root.get("projects") or {}
            notes.extend(prepare(sandbox_app, checked.items, projects, configs))
        opened_state = early.state if early is not None else None
        if opened_state is None:
            try:
                opened_state = backend.read()
            except StateError:
                opened_state = None  # reported, with its recovery, where state is read to plan
        owned = {e.provider for e in opened_state.entries.values()} if opened_state else set()
        connected = early.connected if early is not None else {}
        providers, endpoints = _connect(
            configs, checked.items, owned, sandbox_app, unread, hosts, connected
        )
    except (ConfigurationError, RuntimeError) as exc:  # RuntimeError: sandbox SeedError
        if sandbox_app is not None:
            sandbox_app.close()
        raise WorkspaceError(str(exc)) from None
    ownership.attach(providers, backend, opened_state)  # Kantata tags with the lineage
    resources, problems = _compile(providers, checked.items)
    # The plan's protect: and ignore:, carried by each resource to the diff.
    resources = keep.guarded(resources, keep.guards(document), providers)
    if problems:
        for provider in providers.values():
            provider.close()
        if sandbox_app is not None:
            sandbox_app.close()
        raise WorkspaceError("the plan cannot be compiled for its providers", problems)
    project_keys = {(item.provider, str(item.project_id)): item.project for item in checked.items}
    return Workspace(
        path=path,
        document=document,
        items=checked.items,
        as_of=as_of,
        backend=backend,
        providers=providers,
        resources=resources,
        project_keys=project_keys,
        sandbox=sandbox_app,
        notes=notes,
        opened_state=opened_state,
        from_state=frozenset(unread & set(providers)),
        endpoints=endpoints,
        sandbox_choice=SandboxChoice(
            in_process=sandbox, url=hosts.sandbox.url if hosts.sandbox else None
        ),
        policy=read_policy(document)[0].combined(policy or Policy()),
        allowed=allowed,
        reading_ahead=early.threads if early is not None else {},
    )


class ReadAhead:
    """The list pages of the projects state holds, read from the vendors while the plan is
    expanded: a no-op plan of a large portfolio waits mostly for the vendors' rate limits,
    so its reads start as soon as the plan's `providers:` and `state:` are known, a thread per
    connection, each paced by its own limiter. Refresh serves its first pages from them
    (Provider.read_ahead). Reading ahead only saves time: whatever stops it here (no state
    yet, a connection without its token) is met again, and reported, where the plan is
    opened the usual way."""

    def __init__(self, from_state: Collection[str], hosts: Hosts | None) -> None:
        self.from_state = from_state
        self.hosts = hosts
        self.state: State | None = None
        # Connections made early, handed to the workspace; with where their requests go.
        self.connected: dict[str, tuple[Provider, Endpoint | None]] = {}
        self.threads: dict[str, threading.Thread] = {}

    def start(self, document: Document) -> None:
        """Read state and start reading each connection's projects in it (validate.check
        calls this once the plan is loaded, before it is expanded)."""
        try:
            hosts = self.hosts or Hosts.configured(os.environ, PROVIDERS)
            self.state = state_backend(document, sandbox=False).read()
            configs: dict[str, dict[str, Any]] = document.root.get("providers") or {}
            unread = _providers_named(configs, self.from_state)
        except (EndpointError, StateError, WorkspaceError):
            return
        projects: dict[str, set[str]] = defaultdict(set)
        held: Counter[str] = Counter()
        for entry in self.state.entries.values():
            projects[entry.provider].add(str(entry.project_id))
            held[entry.provider] += 1
        for name in sorted(projects):
            if name not in configs or name in unread:
                continue
            try:
                self.connected[name] = _connect_one(name, configs[name], None, set(), hosts)
            except ConfigurationError:
                continue
        # The plan waits for the slowest vendor: its reads go first, before the threads of
        # the others take their turns at the interpreter.
        slowest = sorted(
            self.connected,
            key=lambda n: _paced_for(self.connected[n][0], held[n]),
            reverse=True,
        )
        for name in slowest:
            thread = threading.Thread(
                target=_read_ahead,
                args=(self.connected[name][0], projects[name]),
                name=f"read ahead {name}",
                daemon=True,  # an interrupted run does not wait for the vendor to exit
            )
            thread.start()
            self.threads[name] = thread

    def close(self) -> None:
        """The plan was not opened: its early connections are closed (a read under way ends
        with them)."""
        for provider, _ in self.connected.values():
            provider.close()


def _paced_for(provider: Provider, objects: int) -> tuple[float, float]:
    """About how long the vendor's rate limit stretches reading this many objects: the pages
    beyond the burst it lets through at once, at its rate; then, where bursts cover them all,
    the pages at its rate alone (0 without a limit)."""
    rate = provider.limiter.per_second
    if not rate:
        return (0.0, 0.0)
    pages = objects // max(1, provider.page_size) + 1
    return (max(0, pages - provider.limiter.burst) / rate, pages / rate)


def _read_ahead(provider: Provider, project_ids: Collection[str]) -> None:
    try:
        provider.read_ahead(project_ids)
    except (ProviderError, httpx.HTTPError, RuntimeError):
        # The read that needs these pages asks for them itself, and reports what stops it.
        # (RuntimeError: the client was closed under it, the plan not being opened.)
        provider.forget_read_ahead()


def _providers_named(configs: dict[str, dict[str, Any]], names: Collection[str]) -> set[str]:
    """The plan's provider names that names mean: a provider's own name or its vendor type."""
    chosen: set[str] = set()
    for wanted in names:
        matched = {n for n, c in configs.items() if wanted in (n, c.get("type"))}
        if not matched:
            known = ", ".join(f"{n} ({c.get('type')})" for n, c in sorted(configs.items()))
            raise WorkspaceError(
                f"--no-refresh {wanted}: the plan has no such provider; name one of its "
                f"providers or a vendor type: {known or 'none'}"
            )
        chosen |= matched
    return chosen


def must_be_complete(state: State, provider: str) -> set[str]:
    """The projects of a connection (str of the vendor's id) whose read must be complete: a
    create there is pending, and only a complete read may show it did not land."""
    return {
        str(entry.project_id)
        for entry in state.entries.values()
        if entry.provider == provider and entry.status == "pending" and entry.remote_id is None
    }


def last_written(state: State, provider: str) -> list[Observed]:
    """What billplan last wrote or adopted for a provider, standing in for what the vendor
    holds when it is not read. Whether an object was invoiced since is not known: none is
    shown as locked. A create whose outcome is unknown stays unknown (not shown)."""
    return [
        Observed(
            remote_id=entry.remote_id,
            type=entry.type,
            project_id=entry.project_id,
            attributes=entry.attributes,
            locked=False,
            date=entry.date,
            amount=entry.amount,
        )
        for entry in state.entries.values()
        if entry.provider == provider and entry.remote_id is not None
    ]


def _never_called(vendor: str) -> httpx.MockTransport:
    """The transport of a provider planned from state: any request is a bug, refused here
    rather than sent (with whatever token the environment holds)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise ProviderError(
            f"billplan tried to call {vendor} ({request.method} {request.url.path}) while "
            "planning it from state (--no-refresh); nothing was sent"
        )

    return httpx.MockTransport(refuse)


def _connect(
    configs: dict[str, dict[str, Any]],
    items: list[Item],
    owned: set[str],
    sandbox: Any,
    unread: set[str],
    hosts: Hosts,
    connected: Mapping[str, tuple[Provider, Endpoint | None]],
) -> tuple[dict[str, Provider], list[Endpoint]]:
    """A client per provider the plan uses, or state still holds objects of (`owned`), and
    where each one's requests go: never anywhere the plan chose (compiler.credentials). A
    provider planned from state (`unread`) gets one that can send nothing, needs no token,
    and contacts no host. Those `connected` already (ReadAhead) are kept."""
    needed = {item.provider for item in items} | (owned & set(configs))
    providers: dict[str, Provider] = {}
    endpoints: list[Endpoint] = []
    unusable: list[ConfigurationError] = []
    for name in sorted(needed):
        try:
            made = connected.get(name) or _connect_one(name, configs[name], sandbox, unread, hosts)
        except ConfigurationError as exc:
            # Every connection is tried before any is reported: each missing token is named
            # in one run, not one per run.
            unusable.append(exc)
            continue
        providers[name] = made[0]
        if made[1] is not None:
            endpoints.append(made[1])
    if unusable:
        for provider in providers.values():
            provider.close()
        raise ConfigurationError(unusable_message(unusable, "connections cannot be used"))
    return providers, endpoints


def unusable_message(
    problems: Sequence[Exception], what: str, done: str = "nothing was read or written"
) -> str:
    """Several settings' problems as one message (one alone as it is): a heading, one entry
    each, and the way out without an account (ConfigurationError.sandbox_hint) said once
    under them, not on every line."""
    if len(problems) == 1:
        return str(problems[0])
    said = [p.problem if isinstance(p, ConfigurationError) else str(p) for p in problems]
    hinted = any(isinstance(p, ConfigurationError) and p.sandbox_hint for p in problems)
    tail = [f"Or {SANDBOX_HINT}."] if hinted else []
    return "\n".join([_listed(f"{len(problems)} {what}; {done}:", said), *tail])


def unusable_connections(
    connections: Iterable[tuple[str, dict[str, Any]]],
    hosts: Hosts,
    unread: Collection[str] = frozenset(),
) -> list[ConfigurationError]:
    """Why each of these connections cannot be used (a missing token, a bad host), all of
    them: each client is made and closed again, nothing is sent."""
    unusable: list[ConfigurationError] = []
    for name, config in connections:
        try:
            provider, _ = _connect_one(name, config, None, set(unread), hosts)
        except ConfigurationError as exc:
            unusable.append(exc)
        except EndpointError as exc:
            unusable.append(ConfigurationError(str(exc)))
        else:
            provider.close()
    return unusable


def _refuse_with_connections(
    problem: StateError,
    configs: dict[str, dict[str, Any]],
    items: list[Item],
    unread: set[str],
    hosts: Hosts,
) -> None:
    """WorkspaceError naming the state's problem and the connections that cannot be used
    either, if any; returns when the state's problem is the only one."""
    used = sorted({item.provider for item in items})
    if unusable := unusable_connections(((n, configs[n]) for n in used), hosts, unread):
        message = unusable_message([problem, *unusable], "settings cannot be used")
        raise WorkspaceError(message) from None


def connection(
    name: str, config: dict[str, Any], sandbox: Any, hosts: Hosts
) -> tuple[Provider, Endpoint | None]:
    """One connection's client outside a plan's workspace (`billplan generate` reads with it
    before there is a plan): to the in-process sandbox, or where `hosts` send it."""
    return _connect_one(name, config, sandbox, set(), hosts)


def _connect_one(
    name: str, config: dict[str, Any], sandbox: Any, unread: set[str], hosts: Hosts
) -> tuple[Provider, Endpoint | None]:
    """One connection's client, and where its requests go (None: it sends none)."""
    vendor = config["type"]
    cls = PROVIDERS.get(vendor)
    if cls is None:
        supported = ", ".join(sorted(PROVIDERS))
        raise ConfigurationError(
            f"provider {name!r}: billplan cannot plan or apply {vendor} yet "
            f"(supported: {supported}); `validate` and `render` still work"
        )
    if name in unread:
        # It contacts no host, so none is listed.
        return cls(name, config, transport=_never_called(cls.title), token="-"), None
    if sandbox is not None:
        from compiler.sandbox import SANDBOX_TOKEN, base_url

        # The client paces at the limit the emulator enforces now (tests and benchmarks
        # change it), unless the plan sets its own `max_rps`.
        emulator = sandbox.emulators[vendor]
        limiter = None
        if config.get("max_rps") is None:
            limiter = RateLimiter(
                lambda e=emulator: _float_or_none(e.settings.rate_limit_per_second),
                cls.rate_burst,
            )
        endpoint = Endpoint(name, vendor, base_url(vendor), IN_PROCESS, None)
        provider = cls(
            name,
            config,
            transport=sandbox.transport,
            base_url=endpoint.base_url,
            token=SANDBOX_TOKEN,
            sleep=_short_sleep,
            limiter=limiter,
        )
        return provider, endpoint
    if hosts.sandbox is not None:
        from compiler.sandbox import SANDBOX_TOKEN, base_url

        # A served sandbox gets the sandbox's token: no real one can go there.
        url = base_url(vendor, hosts.sandbox.url)
        endpoint = Endpoint(name, vendor, url, hosts.sandbox.source, None)
        return cls(name, config, base_url=url, token=SANDBOX_TOKEN), endpoint
    token_env = cls.token_variable(config.get("token_env"))
    endpoint = hosts.endpoint(name, vendor, cls.default_base_url, token_env)
    return cls(name, config, base_url=endpoint.base_url), endpoint


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _short_sleep(seconds: float) -> None:
    # The in-process sandbox enforces the vendors' real rate limits, so wait as a client must;
    # but a local demo never waits longer than 2 s for one backoff.
    time.sleep(min(seconds, 2.0))


def _compile(
    providers: dict[str, Provider], items: list[Item]
) -> tuple[list[Resource], list[Diagnostic]]:
    by_provider: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_provider[item.provider].append(item)
    resources: list[Resource] = []
    problems: list[Diagnostic] = []
    for name, group in by_provider.items():
        provider = providers[name]
        compiled, issues = provider.compile(group)
        resources.extend(replace(r, fixed=provider.fixed_fields) for r in compiled)
        for item, message in issues:
            mark = item.mark or Mark("?", 1, 1)
            problems.append(Diagnostic(mark, item.address, message))
    return resources, problems
