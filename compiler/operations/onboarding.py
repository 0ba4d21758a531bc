"""Onboarding (`billplan generate`): what a vendor already holds, written as a plan and state.

Given a plan directory (whose `providers:` block names the connection) and vendor projects, it
reads every object of those projects with the same paged reads `plan` uses (it never writes to
the vendor), turns them into charges (compiler.onboard.recognise), and makes one fragment per
project and a state entry for every generated address, locked objects too.

Nothing is written until the generated plan is proven: the directory as it would be (its
fragments and the new ones, in a scratch copy) is checked, compiled and diffed against the
objects read and the state that would be written. Any generated address that would plan a
change fails the whole run, naming it and why. Existing files and state entries are never
replaced unless asked (`overwrite`); `dry_run` does everything but the writing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from compiler import credentials, ownership
from compiler.diff import diff
from compiler.load import PLAN_SUFFIXES, Document, LoadError, load
from compiler.model import Observed, Resource
from compiler.model.change import Change
from compiler.onboard import write
from compiler.onboard.found import Found, FoundProject
from compiler.onboard.recognise import Charge, Unexpressible, charges
from compiler.providers import PROVIDERS, ConfigurationError, Provider
from compiler.providers.base import Planned
from compiler.state import Backend, Entry, State
from compiler.validate import check, schema_text
from compiler.workspace import (
    WorkspaceError,
    connection,
    state_backend,
    unusable_connections,
    unusable_message,
)

MODELINE = "# yaml-language-server: $schema="
# Where the modeline points when no fragment of the directory has one: a copy of the schema
# written beside the fragments, so the editor finds it wherever the directory lives.
SCHEMA_FILE = "billing-plan.schema.json"


@dataclass(frozen=True)
class Request:
    """What to onboard: the plan directory, its connection, and which vendor projects."""

    path: Path
    # The providers block's name; None: the only one there is, or with every_project, each.
    connection: str | None
    projects: tuple[str, ...]  # vendor project ids; empty with every_project
    every_project: bool
    as_of: date
    sandbox: bool = False
    hosts: credentials.Hosts | None = None
    dry_run: bool = False
    overwrite: bool = False
    # The currency of a project whose vendor keeps none (Wethod); None: defaults.currency.
    currency: str | None = None
    lock_timeout: float = 0.0  # how long to wait for the state's lock


@dataclass(frozen=True)
class LeftOut:
    """An object no plan could reproduce, and why: it stays at the vendor, unmanaged."""

    observed: Observed
    reason: str


@dataclass(frozen=True)
class ProjectReport:
    """One onboarded project: what was read and what it became."""

    key: str
    file: Path
    found: FoundProject
    charges: tuple[Charge, ...]
    addresses: Mapping[str, Found]  # every generated address and the object it reproduces
    left_out: tuple[LeftOut, ...]  # objects billplan cannot express: left unmanaged

    def totals(self) -> dict[str, tuple[int, Decimal]]:
        """Per kind, how many objects and their total, in the project's currency."""
        totals: dict[str, tuple[int, Decimal]] = {}
        for obj in self.found.objects:
            count, total = totals.get(obj.kind, (0, Decimal(0)))
            totals[obj.kind] = (count + 1, total + obj.amount)
        return totals

    def recurring(self) -> tuple[int, int]:
        """How many recurring charges, and how many objects they reproduce."""
        runs = [c for c in self.charges if c.section == "recurring"]
        return len(runs), sum(len(c.covers) for c in runs)

    def single(self) -> list[str]:
        """The addresses of objects left as single items: a charge reproducing one object."""
        return sorted(a for c in self.charges if len(c.covers) == 1 for a in self._of(c))

    def locked(self) -> list[str]:
        return sorted(a for a, obj in self.addresses.items() if obj.locked)

    def _of(self, charge: Charge) -> list[str]:
        return [f"{self.key}/{suffix}" for suffix in charge.covers]


@dataclass(frozen=True)
class Onboarded:
    """The outcome: each project, the files and state entries written (or, in a dry run, that
    would be), and where state lives."""

    projects: tuple[ProjectReport, ...]
    files: Mapping[Path, str]  # path -> text
    entries: tuple[Entry, ...]
    state: str  # the state backend, described
    dry_run: bool
    replaced: tuple[str, ...] = ()  # files and addresses overwritten (with overwrite)
    # Connections `--all` read that show no project, each with why: nothing to onboard there.
    empty: tuple[str, ...] = ()
    # Projects `--all` passed over because the plan already has them (without overwrite).
    skipped: tuple[str, ...] = ()


class OnboardingRefused(Exception):
    """Onboarding cannot go ahead; nothing was written. details: one line per problem."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        self.details = list(details)
        super().__init__(message)


class NoProject(OnboardingRefused):
    """The connection shows no project: with --all over several, the others still onboard."""


@dataclass
class _Planned:
    """One project's fragment and entries, before the round trip proves them."""

    report: ProjectReport
    text: str
    entries: dict[str, Found] = field(default_factory=dict)


def onboard(request: Request) -> Onboarded:
    """Read, generate, prove by a round trip, then write (unless a dry run). A run that
    writes holds the state's lock from its first read of state to its write, as `import`
    does: no other run can take an address or an object in between."""
    document = _document(request.path)
    connections = _connections_of(document, request.connection, request.every_project)
    backend = state_backend(document, sandbox=request.sandbox)
    held = (
        contextlib.nullcontext()
        if request.dry_run
        else backend.lock("generate", request.lock_timeout)
    )
    with held:
        outcome = _made(request, document, connections, backend)
        if request.dry_run or not outcome.projects:
            return outcome
        current = backend.read()
        serial = current.serial
        for entry in outcome.entries:
            current.entries[entry.address] = entry
        with _fragments_in_place(outcome.files, lambda: backend.read().serial > serial):
            backend.write(current)
    return outcome


@contextlib.contextmanager
def _fragments_in_place(files: Mapping[Path, str], recorded: Callable[[], bool]) -> Iterator[None]:
    """The fragments written, for as long as the state's write that owns them takes: if it
    fails or is interrupted (a full disk, Ctrl-C), every fragment is taken back and each file
    it replaced put back, so that no fragment is left without its state entries. Each file is
    written beside its place first, then renamed into it: never half a file. recorded says
    whether the state was written after all (an interrupt just after its write): then the
    fragments stay, since state entries without their plan would plan deletes."""
    staged: dict[Path, Path] = {}
    spares: list[Path] = []
    kept: dict[Path, Path] = {}  # a file replaced -> where it waits until the state is written
    placed: list[Path] = []
    try:
        for path, text in files.items():
            staged[path] = _written_beside(path, text, "new")
        for path, new in staged.items():
            if path.exists():
                spares.append(_written_beside(path, "", "old"))
                os.replace(path, spares[-1])
                kept[path] = spares[-1]
            os.replace(new, path)
            placed.append(path)
        yield
    except BaseException:
        if not (placed and _quietly(recorded)):
            for path in reversed(placed):
                if path not in kept:
                    path.unlink(missing_ok=True)
            for path, old in kept.items():
                os.replace(old, path)
        raise
    finally:
        for leftover in (*staged.values(), *spares):
            leftover.unlink(missing_ok=True)


def _quietly(recorded: Callable[[], bool]) -> bool:
    try:
        return recorded()
    except Exception:  # the state cannot be read back: it was not written as asked
        return False


def _written_beside(path: Path, text: str, role: str) -> Path:
    """A hidden file in path's directory holding text (no plan file: it starts with a dot)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{role}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(name)


def _made(
    request: Request,
    document: Document,
    connections: Sequence[tuple[str, dict[str, Any]]],
    backend: Backend,
) -> Onboarded:
    """What onboarding would write, proven by the round trip; nothing written yet. Each
    connection is read and proven in turn; project keys are unique across all of them."""
    if not request.sandbox:
        _refuse_unusable(request, connections)
    state = backend.read()
    taken = set(document.root.get("projects") or {})
    planned: list[_Planned] = []
    entries: list[Entry] = []
    empty: list[str] = []
    skipped: list[str] = []
    for name, config in connections:
        try:
            made, proven = _made_at(request, document, name, config, backend, state, taken, skipped)
        except NoProject as exc:
            if len(connections) == 1:
                raise
            empty.append(f"{name}: {exc}; nothing to onboard there")
            continue
        planned += made
        entries += proven
    if len(empty) == len(connections):
        raise OnboardingRefused("no connection shows a project; nothing was written", empty)
    _refuse_objects_read_twice(entries)
    files = {p.report.file: p.text for p in planned}
    if planned and not _modeline_of(document):
        schema = request.path / SCHEMA_FILE
        if not schema.exists():
            files[schema] = schema_text()
    replaced = tuple(
        [str(path) for path in files if path.exists()]
        + sorted(e.address for e in entries if e.address in state.entries)
    )
    return Onboarded(
        tuple(p.report for p in planned),
        files,
        tuple(entries),
        backend.describe(),
        request.dry_run,
        replaced,
        tuple(empty),
        tuple(skipped),
    )


def _refuse_unusable(request: Request, connections: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Every connection that cannot be used (a missing token, say), named in one run before
    any is read: not the first one this run and the next one the next."""
    try:
        hosts = request.hosts or credentials.Hosts.configured(os.environ, PROVIDERS)
    except credentials.EndpointError as exc:
        raise WorkspaceError(str(exc)) from None
    if problems := unusable_connections(connections, hosts):
        message = unusable_message(problems, "connections cannot be used", "nothing was read")
        raise WorkspaceError(message)


def _refuse_objects_read_twice(entries: Sequence[Entry]) -> None:
    """One object, one address: two connections to one vendor account (a token per team)
    show the same projects, and onboarding both would give each object two owners."""
    first: dict[tuple[str, str | None], Entry] = {}
    twice: list[str] = []
    for entry in entries:
        seen = first.setdefault((entry.type, entry.remote_id), entry)
        if seen is not entry:
            twice.append(
                f"{entry.remote_id} would be both {seen.address} (connection {seen.provider}) "
                f"and {entry.address} (connection {entry.provider})"
            )
    if twice:
        raise OnboardingRefused(
            "two connections show the same objects; nothing was written. Onboard each "
            "project through one of them (--provider NAME, --project ID)",
            twice,
        )


def _made_at(
    request: Request,
    document: Document,
    name: str,
    config: dict[str, Any],
    backend: Backend,
    state: State,
    taken: set[str],
    skipped: list[str],
) -> tuple[list[_Planned], list[Entry]]:
    """One connection's fragments and state entries, proven by the round trip. With
    `--all` and no overwrite, the projects the plan already has are passed over, each
    named in skipped: running `--all` again onboards only the projects new since."""
    sandbox = _sandbox(document, name, config) if request.sandbox else None
    try:
        hosts = request.hosts or credentials.Hosts.configured(os.environ, PROVIDERS)
        provider, _ = connection(name, config, sandbox, hosts)
    except (ConfigurationError, credentials.EndpointError) as exc:
        if sandbox is not None:
            sandbox.close()
        raise WorkspaceError(str(exc)) from None
    try:
        ownership.attach({name: provider}, backend, state)  # Kantata tags with the lineage
        in_plan = {} if request.overwrite else _in_plan(document, name)
        projects = _read(
            provider, request, request.currency or _default_currency(document), in_plan, skipped
        )
        if not projects:
            return [], []
        planned = _generate(
            document,
            name,
            config,
            projects,
            state,
            request.overwrite,
            taken,
            kinds_kept=type(provider).reads_kinds_back,
        )
        return planned, _round_trip(request, provider, planned, projects)
    finally:
        provider.close()
        if sandbox is not None:
            sandbox.close()


def _document(path: Path) -> Document:
    """The plan directory as it is: only loaded, since a directory holding nothing but its
    `providers:` block is not a whole plan yet."""
    if not path.is_dir():
        raise OnboardingRefused(
            f"{path} is not a directory: onboarding writes one fragment per project into a "
            "plan directory; make one holding a providers block (see docs/onboarding.md)"
        )
    try:
        return load(path)
    except LoadError as exc:
        raise WorkspaceError("the plan directory has errors", exc.diagnostics) from None


def _connections_of(
    document: Document, wanted: str | None, every_project: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The connections to read: the one named; else the only one; else, for every project
    the tokens can see, each of them (a project id alone is one vendor's, so it needs one)."""
    configs: dict[str, Any] = document.root.get("providers") or {}
    known = ", ".join(f"{n} ({c.get('type')})" for n, c in sorted(configs.items())) or "none"
    if wanted is None and every_project and configs:
        return [(name, config) for name, config in configs.items() if isinstance(config, dict)]
    if wanted is None:
        if len(configs) != 1:
            raise OnboardingRefused(
                f"name the connection to read with --provider: the plan's providers are {known}"
            )
        wanted = next(iter(configs))
    config = configs.get(wanted)
    if not isinstance(config, dict):
        raise OnboardingRefused(f"--provider {wanted}: the plan has no such provider ({known})")
    return [(wanted, config)]


def _sandbox(document: Document, name: str, config: Mapping[str, Any]) -> Any:
    """The directory's own sandbox (`.billplan/sandbox.sqlite`), its connection prepared as
    `plan --sandbox` prepares it (a Wethod token in the connection's company)."""
    from compiler.sandbox import build_sandbox
    from compiler.sandbox.bootstrap import prepare
    from compiler.state.location import state_dir

    state_dir(document).mkdir(parents=True, exist_ok=True)
    sandbox = build_sandbox(state_dir(document) / "sandbox.sqlite")
    try:
        prepare(sandbox, [], {}, {name: config}, vendors=[str(config.get("type"))])
    except (KeyError, RuntimeError) as exc:  # no emulator, or a seed the sandbox refused
        sandbox.close()
        raise OnboardingRefused(f"the sandbox cannot serve provider {name!r}: {exc}") from None
    return sandbox


def _default_currency(document: Document) -> str | None:
    defaults = document.root.get("defaults") or {}
    currency = defaults.get("currency") if isinstance(defaults, Mapping) else None
    return currency if isinstance(currency, str) else None


def _read(
    provider: Provider,
    request: Request,
    default_currency: str | None,
    in_plan: Mapping[str, str],
    skipped: list[str],
) -> list[tuple[FoundProject, list[LeftOut]]]:
    """Each chosen project and what billplan cannot express there, read with the paged lists
    `plan` uses (never a write). A project's currency is the vendor's, or where the vendor
    keeps none (Wethod), the plan's `defaults.currency`. With every_project, a project in
    in_plan (vendor id -> the plan's key) is passed over and named in skipped."""
    visible = {str(pid): (pid, name, currency) for pid, name, currency in provider.projects()}
    if request.every_project:
        chosen = [p for p in sorted(visible) if p not in in_plan]
        skipped += [
            f"{provider.title} project {p}: already the plan's project {in_plan[p]}"
            for p in sorted(visible)
            if p in in_plan
        ]
        if visible and not chosen:
            return []
    else:
        unknown = [p for p in request.projects if p not in visible]
        if unknown:
            raise OnboardingRefused(
                f"{provider.title} shows no project {', '.join(unknown)} to this connection; "
                "nothing was written",
                [_listed(pid, name, currency) for pid, name, currency in visible.values()],
            )
        chosen = list(dict.fromkeys(request.projects))
    if not chosen:
        raise NoProject(f"{provider.title} shows this connection no project")
    unpriced = [p for p in chosen if not visible[p][2]]
    if unpriced and default_currency is None:
        raise OnboardingRefused(
            f"{provider.title} keeps no currency for project {', '.join(unpriced)}: say "
            "which it bills in with --currency, or `defaults: {currency: ...}` in the plan"
        )
    listed = provider.list([visible[p][0] for p in chosen])
    by_project: dict[str, list[Observed]] = defaultdict(list)
    for obs in listed:
        by_project[str(obs.project_id)].append(obs)
    read: list[tuple[FoundProject, list[LeftOut]]] = []
    for project in chosen:
        pid, name, currency = visible[project]
        currency = currency or str(default_currency)
        objects = sorted(by_project[project], key=lambda o: (o.date or date.max, o.remote_id))
        found, refused = provider.found_in(objects, currency)
        left_out = [LeftOut(obs, why) for obs, why in refused]
        read.append((FoundProject(pid, name, currency, tuple(found)), left_out))
    return read


def _listed(project_id: str | int, name: str, currency: str) -> str:
    """A visible project, as far as the vendor says it (Wethod gives no name nor currency)."""
    said = ", ".join(part for part in (name, currency) if part)
    return f"{project_id}: {said}" if said else str(project_id)


def _generate(
    document: Document,
    connection_name: str,
    config: Mapping[str, Any],
    projects: list[tuple[FoundProject, list[LeftOut]]],
    state: State,
    overwrite: bool,
    taken: set[str],
    *,
    kinds_kept: bool,
) -> list[_Planned]:
    """Each project's key, file, fragment and entries; refused, naming them, where a file or
    state entry exists and overwrite was not given. taken: the project keys in use, which
    the new ones join. kinds_kept: whether the vendor reads an object's kind back
    (Provider.reads_kinds_back)."""
    in_plan = _in_plan(document, connection_name)
    modeline = _modeline_of(document) or f"{MODELINE}{SCHEMA_FILE}"
    # A new project's file is one the directory does not have yet: a project named
    # `Providers` is written to providers-2.yaml, never over the connections' file.
    on_disk = {
        p.name[: -len(p.suffix)].lower()
        for p in document.base_dir.iterdir()
        if p.suffix.lower() in PLAN_SUFFIXES
    }
    clashes: list[str] = []
    planned: list[_Planned] = []
    for project, left_out in projects:
        key = in_plan.get(str(project.project_id))
        named = project.key()  # the key a grouped object's entry names, if any
        if key is None and named is not None and named not in taken | on_disk:
            key = named
        elif key is None:
            key = write.key_of(project.name, taken | on_disk, f"project-{project.project_id}")
        elif not overwrite:
            clashes.append(f"project {project.project_id} is already the plan's project {key}")
        taken.add(key)
        file = document.base_dir / f"{key}.yaml"
        if overwrite and (held := _held_besides(file, key)):
            # Only a fragment holding the project alone is replaced: what else it holds was
            # written by a person, and onboarding would lose it.
            clashes.append(
                f"{file} {held}: --overwrite replaces only a fragment holding the project "
                "alone; move the rest to another file first"
            )
        written_in = document.key_marks.get(("projects", key))
        if written_in is not None and Path(written_in.file).name != file.name:
            # Only a whole fragment is replaced: a project written among others stays theirs.
            clashes.append(
                f"project {key} is written in {written_in.file}, not {file.name}: remove it "
                "there first (--overwrite replaces only a fragment of its own)"
            )
        if file.exists() and not overwrite:
            clashes.append(f"{file} exists")
        project, left_out = _named(project, key, left_out)
        project, made, left_out = _recognised(project, left_out, kinds_kept=kinds_kept)
        addresses = {f"{key}/{suffix}": obj for c in made for suffix, obj in c.covers.items()}
        owners = {(e.type, e.remote_id): e.address for e in state.entries.values()}
        # Where state keeps each object: its item's address, or the one its items share.
        kept_at = {obj.entry or address: obj for address, obj in addresses.items()}
        for address, obj in sorted(kept_at.items()):
            if address in state.entries and not overwrite:
                clashes.append(f"state already has {address}")
            owner = owners.get((obj.type, obj.remote_id))
            if owner is not None and owner != address:
                # Never two addresses for one object, even with --overwrite: which one the
                # person meant is theirs to say (`billplan state rm`).
                clashes.append(f"{obj.remote_id} is already state's {owner}")
        block: dict[str, Any] = {"provider": connection_name, "project_id": project.project_id}
        if project.name:  # Wethod's projects have none to read
            block["name"] = project.name
        block["currency"] = project.currency
        if project.contract_value() is not None:  # what its `percent` milestones are of
            block["contract_value"] = project.contract_value()
        comment = [
            f"Generated by `billplan generate` from {config.get('type')} project "
            f"{project.project_id} ({len(project.objects)} objects).",
        ]
        if left_out:
            comment.append("Left out, unmanaged (no plan billplan writes can make them):")
            comment += [f"  {o.observed.remote_id}: {o.reason}" for o in left_out]
        text = write.fragment(
            modeline, key, block, [(c.section, c.key, c.body) for c in made], comment
        )
        report = ProjectReport(key, file, project, tuple(made), addresses, tuple(left_out))
        planned.append(_Planned(report, text, dict(addresses)))
    if clashes:
        raise OnboardingRefused(
            "onboarding would replace what exists; nothing was written. Pass --overwrite to "
            "replace it, or remove it first",
            clashes,
        )
    return planned


def _recognised(
    project: FoundProject, left_out: list[LeftOut], *, kinds_kept: bool
) -> tuple[FoundProject, list[Charge], list[LeftOut]]:
    """The project's charges; an object recognise finds no charge for is left out with its
    reason, and the rest are recognised again without it."""
    objects = list(project.objects)
    left_out = list(left_out)
    while True:
        try:
            made = charges(objects, currency=project.currency, kinds_kept=kinds_kept)
        except Unexpressible as exc:
            # An object is read back whole or not at all: every item of a grouped invoice.
            objects = [o for o in objects if o.observed is not exc.found.observed]
            left_out.append(LeftOut(exc.found.observed, str(exc).split(": ", 1)[-1]))
            continue
        return replace(project, objects=tuple(objects)), made, left_out


def _held_besides(file: Path, key: str) -> str | None:
    """What file holds besides project `key`, said as a clause; None when nothing (or when
    there is no such file)."""
    if not file.exists() and not file.is_symlink():
        return None
    if file.is_symlink() or not file.is_file():
        return "is not a regular file"
    try:
        content = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "cannot be read as YAML"
    if not isinstance(content, Mapping):
        return "holds no plan fragment"
    others = [str(k) for k in content if k not in ("version", "projects")]
    projects = content.get("projects")
    if isinstance(projects, Mapping):
        others += [f"project {k}" for k in projects if k != key]
    return f"also holds {', '.join(others)}" if others else None


def _in_plan(document: Document, connection_name: str) -> dict[str, str]:
    """The vendor project ids the plan already has at this connection, to their keys (the
    first key, should two name one project)."""
    existing: Mapping[str, Any] = document.root.get("projects") or {}
    keys: dict[str, str] = {}
    for key, block in existing.items():
        if isinstance(block, Mapping) and block.get("provider") == connection_name:
            keys.setdefault(str(block.get("project_id")), key)
    return keys


def _named(
    project: FoundProject, key: str, left_out: list[LeftOut]
) -> tuple[FoundProject, list[LeftOut]]:
    """The project without the objects whose entries name another project key than `key`
    (a grouped Coperniq invoice's description names the plan's project): only a plan with
    that key makes them, and the key is another project's, or the plan's project has its own."""
    named = project.key()
    if named is None or named == key:
        return project, left_out
    why = (
        f"its invoice is billed for project {named}, and the plan's project is {key} "
        f"({named} is another project's key, or the plan already names this one)"
    )
    away = [o for o in project.objects if o.entry]
    seen = {id(o.observed): o.observed for o in away}
    kept = tuple(o for o in project.objects if not o.entry)
    return replace(project, objects=kept), [
        *left_out,
        *(LeftOut(obs, why) for obs in seen.values()),
    ]


def _modeline_of(document: Document) -> str | None:
    """The modeline the directory's fragments already carry (their editor setup), if any."""
    for file in document.files:
        first = file.read_text(encoding="utf-8").split("\n", 1)[0]
        if first.startswith(MODELINE):
            return first
    return None


def _round_trip(
    request: Request,
    provider: Provider,
    planned: list[_Planned],
    projects: list[tuple[FoundProject, list[LeftOut]]],
) -> list[Entry]:
    """The state entries, once the directory as it would be plans no change at any generated
    address against what was read; OnboardingRefused naming each address that would change."""
    replaced = {p.report.file.name for p in planned}
    with tempfile.TemporaryDirectory(prefix="billplan-generate-") as scratch:
        root = Path(scratch)
        for file in sorted(request.path.iterdir()):
            if file.suffix in PLAN_SUFFIXES and file.is_file() and file.name not in replaced:
                shutil.copyfile(file, root / file.name)
        for p in planned:
            (root / p.report.file.name).write_text(p.text, encoding="utf-8")
        checked = check(root, request.as_of)
    if checked.diagnostics:
        # Shown at the files they will have; a problem in a fragment of the directory's own
        # is the directory's, one in a generated fragment is billplan's.
        generated = {p.report.file.name for p in planned}
        ours = any(Path(d.mark.file).name in generated for d in checked.diagnostics)
        whose = (
            "the generated plan does not validate; nothing was written (this is a bug in "
            "billplan generate: please report it with these lines)"
            if ours
            else "the plan directory has errors; nothing was written. Fix them, then generate"
        )
        raise OnboardingRefused(
            whose, [str(d).replace(scratch, str(request.path)) for d in checked.diagnostics]
        )
    keys = {p.report.key for p in planned}
    items = [i for i in checked.items if i.project in keys]
    resources, problems = provider.compile(items)
    resources = [r for r in resources if r.provider == provider.name]
    if problems:
        raise OnboardingRefused(
            "the generated plan cannot be compiled; nothing was written",
            [f"{item.address}: {message}" for item, message in problems],
        )
    wanted: dict[str, Found] = {a: obj for p in planned for a, obj in p.entries.items()}
    entries, shared = _entries(resources, wanted)
    observed = _in_plan_terms(provider, resources, projects)
    project_keys = {(provider.name, str(p.report.found.project_id)): p.report.key for p in planned}
    state = State(entries={e.address: e for e in entries})
    made = diff(resources, state, observed, project_keys)
    changed = [c for c in made.changes if _changes(c)]
    tags = {r.address: r.tags for r in resources}
    billed = {item.address for r in resources for item in r.items}
    missing = sorted(set(wanted) - billed)
    extra = sorted(r.address for r in resources if not _billed_for(r, wanted))
    if changed or missing or extra or shared:
        raise OnboardingRefused(
            "the generated plan would not reproduce what the vendor holds; nothing was written",
            [_why(c, tags.get(c.address, frozenset())) for c in changed]
            + [f"{a}: generated for an object, but the plan has no such address" for a in missing]
            + [f"{a}: the plan bills it, but no object was read for it" for a in extra]
            + [f"{a}: the plan makes one object of several read" for a in shared],
        )
    return entries


def _billed_for(resource: Resource, wanted: Mapping[str, Found]) -> list[Found]:
    """The objects read for the items of a resource (one, or a grouped invoice's lines)."""
    return [wanted[item.address] for item in resource.items if item.address in wanted]


def _entries(
    resources: Sequence[Resource], wanted: Mapping[str, Found]
) -> tuple[list[Entry], list[str]]:
    """The state entry of each resource, as apply records the object it creates there (at
    the resource's address, with its billing date and amount: for a grouped invoice, the
    invoice's); and the addresses whose items were read from more than one object."""
    entries = []
    shared = []
    for resource in resources:
        objects = {id(obj.observed): obj.observed for obj in _billed_for(resource, wanted)}
        if len(objects) > 1:
            shared.append(resource.address)
        if len(objects) != 1:
            continue
        (obs,) = objects.values()
        entries.append(
            Entry.at(
                resource,
                obs.remote_id,
                obs.attributes,
                currency=resource.currency,
                date=resource.date,
                amount=resource.amount,
            )
        )
    return entries, shared


def _in_plan_terms(
    provider: Provider,
    resources: Sequence[Resource],
    projects: list[tuple[FoundProject, list[LeftOut]]],
) -> list[Observed]:
    """What was read, as `plan` reads it in the light of the plan (money in minor units is
    worth what the plan's currency makes it)."""
    light = Planned.of(resources)
    observed = [obj.observed for project, _ in projects for obj in project.objects]
    observed += [o.observed for _, left_out in projects for o in left_out]
    # A grouped invoice is read once, whatever number of items it became.
    once = {id(obs): obs for obs in observed}
    return [provider.in_plan_terms(obs, light) for obs in once.values()]


def _changes(change: Change) -> bool:
    """Whether the round trip shows this address changing: anything but an untouched object
    (a locked one too, if the plan differs from it)."""
    return change.action != "no-op" or bool(change.fields)


def _why(change: Change, tags: frozenset[str]) -> str:
    if change.fields and all(f.field in tags for f in change.fields):
        # Kantata: a tag missing is no change for an object state owns (compiler.diff), so
        # this one carries billplan's tag for another address, and only a write could change
        # it; onboarding never writes to the vendor.
        names = ", ".join(sorted({f.field for f in change.fields}))
        return (
            f"{change.address}: would {change.label} only billplan's own tag ({names}), which "
            "names another address (billplan made it for another plan or state); onboarding "
            "never writes to the vendor, so it cannot change it. Remove the tag in the vendor, "
            "or onboard the object into the plan that made it"
        )
    fields = "; ".join(f"{f.field}: {f.before!r} -> {f.after!r}" for f in change.fields)
    detail = change.detail or change.reason or ""
    return f"{change.address}: would {change.label} ({detail}){': ' + fields if fields else ''}"
