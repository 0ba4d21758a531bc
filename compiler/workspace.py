"""A plan opened for planning or applying: its items, resources, providers and state backend.

This is where the stages meet: check (load, validate, expand), compile per provider, connect
to the vendors (or to the sandbox), refresh what they hold, and diff.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from compiler import moved
from compiler.diagnostics import Diagnostic, Mark
from compiler.diff import Plan, diff
from compiler.limits import Limits
from compiler.load import Document
from compiler.model import Item
from compiler.providers import PROVIDERS, ConfigurationError, Observed, Provider, Resource
from compiler.providers.base import RateLimiter
from compiler.state import Backend, State, StateError
from compiler.state.local import LocalBackend
from compiler.targets import TargetError, Targets
from compiler.validate import check

STATE_DIR = ".billplan"


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
        --target, only in the projects the targets name (fewer requests)."""
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
        observed: list[Observed] = []
        for name, ids in sorted(projects.items()):
            provider = self.providers.get(name)
            if provider is None:
                raise WorkspaceError(
                    f"the state holds objects of provider {name!r}, which the plan no longer "
                    "defines; put the provider back to let billplan delete them, or remove "
                    "them from state with `billplan state rm`"
                )
            observed.extend(provider.list(sorted(ids)))
        return observed + self.recheck_missing(state, observed)

    def recheck_missing(self, state: State, observed: list[Observed]) -> list[Observed]:
        """Managed objects a list did not return, read again by id before being believed gone."""
        seen = {(obs.type, obs.remote_id) for obs in observed}
        missing: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entry in state.entries.values():
            if entry.remote_id and (entry.type, entry.remote_id) not in seen:
                missing[(entry.provider, entry.type)].append(entry.remote_id)
        found: list[Observed] = []
        for (name, type_name), ids in sorted(missing.items()):
            provider = self.providers.get(name)
            if provider is not None:
                found.extend(provider.recheck(type_name, sorted(ids)))
        return found

    def plan(
        self, state: State, observed: Iterable[Observed], targets: Targets | None = None
    ) -> Plan:
        """The diff, after the plan's `moved:` renames; narrowed to the targets if any."""
        targets = targets or Targets()
        self.check_targets(state, targets)
        current, renames = self.moved_state(state)
        plan = diff(self.resources, current, observed, self.project_keys)
        plan = moved.annotate(plan, renames, self.document)
        plan.notes += [n for p in self.providers.values() if (n := p.budget_note()) is not None]
        return targets.narrow(plan)

    def budget_problems(self, plan: Plan) -> list[str]:
        """Providers whose request budget cannot cover this plan's writes."""
        writes: dict[str, int] = defaultdict(int)
        creates: dict[str, int] = defaultdict(int)
        for change in plan.changes:
            if change.action == "create":
                creates[change.provider] += 1
            elif change.action in ("update", "drift", "delete"):
                writes[change.provider] += 1
        problems = []
        for name, provider in sorted(self.providers.items()):
            batches = -(-creates[name] // max(1, provider.batch_size))
            problem = provider.check_budget(writes[name] + batches)
            if problem is not None:
                problems.append(problem)
        return problems


def state_backend(document: Document, *, sandbox: bool) -> Backend:
    """The plan's state backend; StateError for a `state:` block that cannot be used."""
    config = document.root.get("state") or {}
    if sandbox:
        # Sandbox ids must never mix with real ones, and exist only in this directory's
        # sandbox database: whatever the backend, the sandbox state is a file beside it.
        return LocalBackend(document.base_dir / STATE_DIR / "sandbox-state.json")
    backend = config.get("backend", "local")
    if backend == "postgres":
        from compiler.state.postgres import PostgresBackend

        return PostgresBackend.from_config(config)
    if backend != "local":
        raise StateError(f"state backend {backend!r} is not one billplan has (local, postgres)")
    path = Path(config.get("path") or Path(STATE_DIR) / "state.json")
    return LocalBackend(path if path.is_absolute() else document.base_dir / path)


def open_workspace(
    path: Path, as_of: date, *, sandbox: bool, limits: Limits | None = None
) -> Workspace:
    checked = check(path, as_of, limits)
    if checked.diagnostics or checked.document is None:
        raise WorkspaceError("the plan has errors", checked.diagnostics)
    document = checked.document
    backend = state_backend(document, sandbox=sandbox)
    sandbox_app = None
    notes: list[str] = []
    configs: dict[str, dict[str, Any]] = document.root.get("providers") or {}
    try:
        if sandbox:
            from compiler.sandbox import build_sandbox
            from compiler.sandbox.bootstrap import prepare

            (document.base_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
            sandbox_app = build_sandbox(document.base_dir / STATE_DIR / "sandbox.sqlite")
            projects = document.root.get("projects") or {}
            notes.extend(prepare(sandbox_app, checked.items, projects, configs))
        try:
            opened_state: State | None = backend.read()
        except StateError:
            opened_state = None  # reported, with its recovery, where state is read to plan
        owned = {e.provider for e in opened_state.entries.values()} if opened_state else set()
        providers = _connect(configs, checked.items, owned, sandbox_app)
    except (ConfigurationError, RuntimeError) as exc:  # RuntimeError: sandbox SeedError
        if sandbox_app is not None:
            sandbox_app.close()
        raise WorkspaceError(str(exc)) from None
    resources, problems = _compile(providers, checked.items)
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
    )


def _connect(
    configs: dict[str, dict[str, Any]],
    items: list[Item],
    owned: set[str],
    sandbox: Any,
) -> dict[str, Provider]:
    """A client per provider the plan uses, or state still holds objects of (`owned`)."""
    needed = {item.provider for item in items} | (owned & set(configs))
    providers: dict[str, Provider] = {}
    for name in sorted(needed):
        config = configs[name]
        vendor = config["type"]
        cls = PROVIDERS.get(vendor)
        if cls is None:
            supported = ", ".join(sorted(PROVIDERS))
            raise ConfigurationError(
                f"provider {name!r}: billplan cannot plan or apply {vendor} yet "
                f"(supported: {supported}); `validate` and `render` still work"
            )
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
            providers[name] = cls(
                name,
                config,
                transport=sandbox.transport,
                base_url=base_url(vendor),
                token=SANDBOX_TOKEN,
                sleep=_short_sleep,
                limiter=limiter,
            )
        else:
            providers[name] = cls(name, config)
    return providers


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
