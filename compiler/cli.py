"""The `billplan` command line: argument parsing, and for each command one operation called,
one view picked and an exit code returned. What a command does lives in its operation
(compiler/operations/: planning, applying, editing state, checking a saved plan, serving the
sandbox) and in the stages the workspace runs; what it shows, in its view (compiler/render/:
plan_view, apply_view, sandbox_view, and terminal for the consoles and messages of all).

Exit codes: 0 success, 1 error (a bad plan, a failed call), and with `plan
--detailed-exitcode`, 2 when there are changes. A failing guardrail has its own code, with or
without --detailed-exitcode, from `plan` and from an `apply` that refuses the plan:
3 (EXIT_PROTECTED) when the plan would delete a protected object (`protect: true`), else
4 (EXIT_POLICY) when it breaks a policy rule (compiler.policy).
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

# Only what building the parser needs: `billplan --help` imports nothing it does not print.
from compiler import __version__, credentials
from compiler.limits import DEFAULT_MAX_ITEMS, MAX_ITEMS_ENV, LimitError, Limits

if TYPE_CHECKING:
    from compiler.apply import Applied
    from compiler.diagnostics import Diagnostic
    from compiler.model.change import Mode
    from compiler.policy import Policy, PolicyBreached
    from compiler.render.apply_view import TerminalApply
    from compiler.state import Backend
    from compiler.targets import Targets
    from compiler.workspace import Workspace

# Each command imports what it needs when it runs: the stages and views (YAML, Jinja, rich)
# for the commands that read plans, and for those that talk to vendors httpx, deepdiff and
# the providers besides. `validate` and `render` run in CI on every push and start fast.

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
# The plan would delete a protected object (`protect: true`): `plan` fails, `apply` refuses.
EXIT_PROTECTED = 3
EXIT_POLICY = 4  # the plan breaks a policy rule: never applied, never exit 0
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a process SIGINT stopped

# What the last command built (a large plan's document and items), left for the process's end
# when it runs as the `billplan` command (`run`), which exits without freeing it object by
# object; None when main() is called otherwise (tests, embedding), where it is freed as usual.
_left_for_exit: list[object] | None = None


def leave_for_exit(*built: object) -> None:
    """Hand what a command built to the process's end (see `run`), in place of what the
    command before it handed over."""
    if _left_for_exit is not None:
        _left_for_exit[:] = built


def _as_of(text: str | None) -> date:
    from compiler.render.safe import visible

    value = text or os.environ.get("BILLPLAN_AS_OF")
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SystemExit(
            f"billplan: error: as-of date {visible(repr(value))} is not a date like 2026-01-31"
        ) from None


def _limits(args: argparse.Namespace) -> Limits:
    try:
        return Limits.given(getattr(args, "max_items", None))
    except LimitError as exc:
        raise SystemExit(f"billplan: error: {exc}") from None


def cmd_validate(args: argparse.Namespace) -> int:
    from compiler.policy import PolicyFileError, read_file
    from compiler.render import terminal
    from compiler.render.safe import visible
    from compiler.validate import check

    as_of = _as_of(args.as_of)
    limits = _limits(args)
    failed = False
    if args.policy is not None:
        try:
            rules = read_file(Path(args.policy)).rules
        except PolicyFileError as exc:
            terminal.report(exc.diagnostics)
            failed = True
        else:
            print(f"{visible(args.policy)}: valid policy ({terminal.count(len(rules), 'rule')})")
    for target in args.paths:
        if _saved_plan_given(target, "validate") is not None:
            failed = True
            continue
        if os.environ.get("PRE_COMMIT") == "1" and not Path(target).exists():
            # The hook's default directory (.pre-commit-hooks.yaml), or one the config named.
            _fail(
                f"{visible(target)}: no such plan directory here. The billplan-validate hook "
                "checks plans/ unless told otherwise: name your plan directories under it in "
                ".pre-commit-config.yaml, `args: [DIR]` (e.g. args: [billing/])"
            )
            failed = True
            continue
        checked = check(Path(target), as_of, limits)
        leave_for_exit(checked)
        if checked.diagnostics:
            terminal.report(_fragment_problem(Path(target), as_of, limits) or checked.diagnostics)
            failed = True
            continue
        projects = len({item.project for item in checked.items})
        print(
            f"{visible(target)}: valid ({terminal.count(projects, 'project')}, "
            f"{terminal.count(len(checked.items), 'item')} as of {as_of})"
        )
    return EXIT_ERROR if failed else EXIT_OK


def _saved_plan_given(path: str, command: str) -> int | None:
    """EXIT_ERROR, said, when a command that reads YAML plans is given a saved plan (`plan -o
    FILE`): what to run instead. None for anything else."""
    target = Path(path)
    if not target.is_file():
        return None
    from compiler import planfile

    if not planfile.is_saved_plan(target):
        return None
    from compiler.render.safe import visible

    shown = visible(path)
    return _fail(
        f"{shown} is a saved plan (made by `billplan plan -o {shown}`), not a plan: "
        f"`billplan {command}` reads a plan directory or YAML file. To apply it, run "
        f"`billplan apply {shown} PATH` (PATH: the plan directory it was made from); to "
        f"print it again, `billplan show {shown}`"
    )


def _fragment_problem(target: Path, as_of: date, limits: Limits) -> list[Diagnostic] | None:
    """The one problem to report, instead of the sections it lacks, when target is a file of
    a plan directory that holds the rest (`providers`, `version`, ...): the plan is the
    directory, and validating it is what to do. None when target is not such a fragment."""
    from compiler.diagnostics import Diagnostic, Mark
    from compiler.load import LoadError, load, plan_files
    from compiler.render import terminal
    from compiler.state.location import plan_file_problems
    from compiler.validate import REQUIRED_SECTIONS, check

    directory = target.parent
    if not target.is_file() or len(plan_files(directory)) < 2:
        return None
    if plan_file_problems(target) or plan_file_problems(directory):
        # A file leading out of the directory is never read, not even to say this: its own
        # error (check) says why.
        return None
    try:
        alone = load(target).root
    except LoadError:
        return None  # the file cannot be read at all: its own errors say why
    lacking = [key for key in REQUIRED_SECTIONS if key not in alone]
    if not lacking:
        return None  # complete on its own
    whole = check(directory, as_of, limits)
    if whole.document is None or any(key not in whole.document.root for key in lacking):
        return None  # the directory cannot be read, or lacks them too: not a fragment
    others = whole.diagnostics
    state = "valid" if not others else terminal.count(len(others), "error")
    sections = ", ".join(f"`{key}`" for key in lacking)
    where = Mark(str(target), 1, 1)
    return [
        Diagnostic(
            where,
            "$",
            f"this file is one fragment of the plan in {directory}/ (its *.yaml files make "
            f"one plan; {sections} {'comes' if len(lacking) == 1 else 'come'} from the "
            f"others): validate the directory instead, `billplan validate {directory}` (as a "
            f"whole, the plan is {state})",
        )
    ]


def cmd_render(args: argparse.Namespace) -> int:
    from compiler.render import items as render_items
    from compiler.render import terminal
    from compiler.validate import check

    if (refused := _saved_plan_given(args.path, "render")) is not None:
        return refused
    as_of = _as_of(args.as_of)
    # JSON records are made as the plan is checked: where it is checked in two processes,
    # each makes its own items'.
    record = render_items.json_record() if args.format == "json" else None
    checked = check(Path(args.path), as_of, _limits(args), record=record)
    leave_for_exit(checked)
    if checked.diagnostics:
        terminal.report(checked.diagnostics)
        return EXIT_ERROR
    items = checked.items
    if args.format == "json":
        terminal.print_json_parts(render_items.json_parts(items, as_of, checked.records))
        return EXIT_OK
    terminal.print_in(
        args.format,
        {"csv": lambda: render_items.to_csv(items)},
        lambda console: render_items.print_table(items, console),
    )
    return EXIT_OK


def cmd_forecast(args: argparse.Namespace) -> int:
    from compiler import forecast
    from compiler.render import terminal
    from compiler.validate import check

    if (refused := _saved_plan_given(args.path, "forecast")) is not None:
        return refused
    as_of = _as_of(args.as_of)
    try:
        start = None if args.start is None else forecast.parse_month(args.start, "--from")
        end = None if args.end is None else forecast.parse_month(args.end, "--to")
        checked = check(Path(args.path), as_of, _limits(args))
        if checked.diagnostics:
            terminal.report(checked.diagnostics)
            return EXIT_ERROR
        result = forecast.forecast(checked.items, as_of, start, end)
    except forecast.MonthError as exc:
        return _fail(str(exc))
    terminal.print_in(
        args.format,
        {"json": lambda: forecast.to_json(result), "csv": lambda: forecast.to_csv(result)},
        lambda console: forecast.print_table(result, console),
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from compiler.validate import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "sandbox", False)) or os.environ.get("BILLPLAN_SANDBOX") == "1"


def _open(
    args: argparse.Namespace, path: str | Path | None = None, *, read_ahead: bool = False
) -> Workspace:
    from compiler.providers import PROVIDERS
    from compiler.render import terminal
    from compiler.workspace import WorkspaceError, open_workspace

    try:
        hosts = credentials.Hosts.configured(
            os.environ,
            PROVIDERS,
            getattr(args, "endpoint", None) or (),
            getattr(args, "sandbox_url", None),
        )
    except credentials.EndpointError as exc:
        raise WorkspaceError(str(exc)) from None
    workspace = open_workspace(
        Path(path or args.path),
        _as_of(args.as_of),
        sandbox=_sandbox(args),
        from_state=getattr(args, "no_refresh", None) or (),
        hosts=hosts,
        limits=_limits(args),
        policy=_policy_file(args),
        allowed=_allowed(args),
        read_ahead=read_ahead,
    )
    # The plan, its items and state live until this process ends: the cycle collector's full
    # passes need not walk their millions of objects again each time refresh and the diff
    # allocate enough to trigger one.
    gc.freeze()
    for note in workspace.notes:
        terminal.note(note)
    return workspace


def _policy_file(args: argparse.Namespace) -> Policy | None:
    """The rules of `--policy FILE`, set where billplan runs; WorkspaceError (located) when
    the file cannot be used."""
    from compiler.policy import PolicyFileError, read_file
    from compiler.workspace import WorkspaceError

    if getattr(args, "policy", None) is None:
        return None
    try:
        return read_file(Path(args.policy))
    except PolicyFileError as exc:
        raise WorkspaceError("the policy file has errors", exc.diagnostics) from None


def _allowed(args: argparse.Namespace) -> frozenset[str]:
    """The policy rule kinds this run may break, by their flags (a rule kind names its own)."""
    from compiler.policy import ALLOW_LARGE_DELETE, RULE_KINDS

    given = {ALLOW_LARGE_DELETE} if getattr(args, "allow_large_delete", False) else set()
    return frozenset(kind.key for kind in RULE_KINDS.values() if kind.allowed_by in given)


def _fail(message: str) -> int:
    from compiler.render import terminal

    terminal.error(message)
    return EXIT_ERROR


def _planning_errors() -> tuple[type[Exception], ...]:
    """What stops a command that plans: a bad plan, state, a vendor, or a --target."""
    from compiler.providers import ProviderError
    from compiler.state import StateError
    from compiler.targets import TargetError
    from compiler.workspace import WorkspaceError

    return (WorkspaceError, StateError, ProviderError, TargetError)


def _plan_file_error() -> type[Exception]:
    """A saved plan that cannot be written or read (imported only when one is raised)."""
    from compiler.planfile import PlanFileError

    return PlanFileError


def _errors_of(exc: Exception) -> int:
    """Report a failure that stopped a command, with every located problem it carries."""
    from compiler.render import terminal
    from compiler.state.location import StateLocationError
    from compiler.workspace import WorkspaceError

    if isinstance(exc, WorkspaceError | StateLocationError) and exc.diagnostics:
        terminal.report(exc.diagnostics)
        return EXIT_ERROR
    return _fail(str(exc))


def _targets(args: argparse.Namespace) -> Targets:
    from compiler.targets import Targets

    return Targets.of(getattr(args, "target", None), getattr(args, "exclude", None))


def cmd_plan(args: argparse.Namespace) -> int:
    if (refused := _saved_plan_given(args.path, "plan")) is not None:
        return refused
    mode: Mode = "refresh-only" if args.refresh_only else "normal"
    if mode == "refresh-only" and args.out:
        return _fail("--refresh-only reports drift and saves no plan; drop -o/--out")
    if mode == "refresh-only" and args.no_refresh:
        return _fail("--refresh-only reads the vendors to find drift; drop --no-refresh")
    try:
        targets = _targets(args)
        # A plan reads the vendors while it expands, unless --target narrows what it reads.
        with _open(args, read_ahead=not targets) as workspace:
            # What only shows and saves the plan is imported once the vendors are being read
            # (50 modules, 30-40 ms here): the slowest vendor's first request goes out sooner.
            from compiler.operations import planning
            from compiler.render.plan_view import TerminalPlan

            view = TerminalPlan(args.format, args.show_unchanged, args.out)
            save_to = Path(args.out) if args.out else None
            plan = planning.plan(workspace, targets, mode, view, save_to=save_to)
            leave_for_exit(workspace, plan)
    except _planning_errors() as exc:
        return _errors_of(exc)
    except _plan_file_error() as exc:
        return _fail(str(exc))
    # With --refresh-only, every change is a no-op: what counts is drift. An unconfirmed lost
    # create writes nothing, but waits for a person: it counts, so a check never passes it by;
    # a refresh-only plan does not look for its object (plan.pending), but counts it alike, as
    # a normal plan always has something to say about it (unconfirmed, adopt, create, forget).
    if mode == "refresh-only":
        from compiler.render import drift

        changed = drift.found(plan) or bool(plan.pending)
    elif plan.refused:
        from compiler.operations.applying import refusal
        from compiler.render import terminal

        terminal.error(refusal(plan))
        return EXIT_PROTECTED
    else:
        changed = plan.has_changes or bool(plan.unsettled)
    if plan.breaches:
        # A failing guardrail is never exit 0, with or without --detailed-exitcode.
        return EXIT_POLICY
    return EXIT_CHANGES if args.detailed_exitcode and changed else EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from compiler import planfile
    from compiler.operations import applying

    target = Path(args.path)
    if planfile.is_saved_plan(target):
        if args.target or args.exclude:
            return _fail(
                f"{target} is a saved plan: it applies exactly what was saved, with the "
                "--target/--exclude it was planned with; drop them here"
            )
        return _apply_saved(args, target)
    if args.plan_dir is not None:
        return _fail(
            f"{target} is not a saved plan: `billplan apply PATH` takes one plan directory, "
            "and `billplan apply FILE PATH` a saved plan and the directory to check it against"
        )
    try:
        targets = _targets(args)
    except _planning_errors() as exc:
        return _errors_of(exc)
    return _applied(
        args, None, lambda ws, view: applying.apply_dir(ws, targets, args.lock_timeout, view)
    )


def _apply_saved(args: argparse.Namespace, path: Path) -> int:
    """Apply a saved plan: plan again from the plan directory given (the merged main, in CI)
    and the vendors now, at the saved as-of date and targets; apply that plan only if it makes
    the same changes as the saved one. The file is the record of what was reviewed, not an
    authority: where to apply, and from which plan, comes from the command line."""
    from compiler.operations import applying
    from compiler.operations.saved_plan import SavedPlanRefused, opened
    from compiler.policy import PolicyBreached

    try:
        saved = opened(path, plan_dir=args.plan_dir, sandbox=_sandbox(args), as_of=args.as_of)
    except SavedPlanRefused as exc:
        return _fail(str(exc))
    except PolicyBreached as exc:
        return _breached(exc)
    args.as_of = saved.as_of.isoformat()
    plan_dir = Path(args.plan_dir)
    return _applied(
        args,
        plan_dir,
        lambda ws, view: applying.apply_saved(ws, saved, path, plan_dir, args.lock_timeout, view),
    )


def _applied(
    args: argparse.Namespace,
    path: Path | None,
    apply: Callable[[Workspace, TerminalApply], Applied | None],
) -> int:
    """Run an apply on the workspace at path (or the command's PATH), shown in the terminal."""
    from compiler.operations.applying import (
        Interrupted,
        NotApproved,
        OverBudget,
        ProtectedDelete,
    )
    from compiler.operations.saved_plan import SavedPlanRefused
    from compiler.policy import PolicyBreached
    from compiler.render import apply_view as view
    from compiler.render import terminal

    try:
        with _open(args, path) as workspace:
            applied = apply(workspace, view.TerminalApply(args.auto_approve))
    except OverBudget as exc:
        return _fail(str(exc))
    except ProtectedDelete as exc:
        terminal.error(str(exc))
        return EXIT_PROTECTED
    except NotApproved:
        view.cancelled()
        return EXIT_ERROR
    except Interrupted as exc:
        saved = None if path is None else args.path  # `apply FILE PATH`: FILE was reviewed
        view.interrupted(exc, str(path or args.path), saved, _rerun_options(args, path is None))
        return EXIT_INTERRUPTED
    except SavedPlanRefused as exc:
        terminal.details(exc.details)
        return _fail(str(exc))
    except PolicyBreached as exc:
        return _breached(exc)
    except _planning_errors() as exc:
        return _errors_of(exc)
    if applied is None:
        return EXIT_OK
    view.print_applied(applied)
    return EXIT_OK if applied.ok else EXIT_ERROR


def _rerun_options(args: argparse.Namespace, with_targets: bool) -> tuple[str, ...]:
    """The options of this apply that the commands it suggests next need to plan the same
    objects at the same vendors: without --sandbox, `billplan plan PATH` would go to the real
    vendors; without --target, `billplan apply PATH` would apply the whole plan. A saved plan
    keeps its own targets (and refuses --target), so they are left out for it."""
    options: list[str] = ["--sandbox"] if getattr(args, "sandbox", False) else []
    for flag, values in (
        ("--sandbox-url", [args.sandbox_url] if args.sandbox_url else []),
        ("--endpoint", args.endpoint or []),
        ("--policy", [args.policy] if args.policy else []),
        ("--target", (args.target or []) if with_targets else []),
        ("--exclude", (args.exclude or []) if with_targets else []),
    ):
        options += [f"{flag} {shlex.quote(value)}" for value in values]
    return tuple(options)


def _breached(exc: PolicyBreached) -> int:
    """A plan refused for the policy rules it breaks: each rule, then what to do."""
    from compiler.render import terminal

    terminal.details(exc.lines)
    terminal.error(str(exc))
    return EXIT_POLICY


def cmd_show(args: argparse.Namespace) -> int:
    """A saved plan printed again, as `plan` printed it, from the file alone: no vendor is
    contacted and no credential read."""
    from compiler import planfile
    from compiler.render import terminal
    from compiler.render.plan_view import TerminalPlan

    path = Path(args.file)
    try:
        saved = planfile.load(path)
        text = path.read_text(encoding="utf-8")
    except planfile.PlanFileError as exc:
        return _fail(
            f"{exc}. `billplan show` prints a plan saved by `billplan plan -o FILE`; "
            "to see what a plan directory would change, run `billplan plan PATH`"
        )
    view = TerminalPlan(args.format, args.show_unchanged)
    if args.format == "text":
        where = " against the sandbox" if saved.sandbox else ""
        terminal.note(
            f"{path}: the plan of {saved.plan_path} as of {saved.as_of}{where}, as saved; "
            f"`billplan apply {path} PATH` applies it only if PATH still gives it"
        )
    view.warn(saved.plan)
    view.show(saved.plan, text)
    return EXIT_OK


def _backend_only(args: argparse.Namespace) -> Backend:
    """The plan's state backend, for commands that need no provider (state, force-unlock)."""
    from compiler.operations import state_edit
    from compiler.render import terminal

    try:
        return state_edit.open_backend(Path(args.path), sandbox=_sandbox(args))
    except state_edit.BackendUnopened as exc:
        terminal.report(exc.diagnostics)
        raise SystemExit(EXIT_ERROR) from None


def cmd_state_list(args: argparse.Namespace) -> int:
    from compiler.operations import state_edit
    from compiler.render.safe import visible
    from compiler.state import StateError

    try:
        entries = state_edit.entries(_backend_only(args))
    except StateError as exc:
        return _fail(str(exc))
    for entry in entries:
        remote = entry.remote_id or "(pending: create sent, response lost)"
        print("\t".join(visible(text) for text in (entry.address, entry.type, remote)))
    return EXIT_OK


def cmd_state_show(args: argparse.Namespace) -> int:
    from compiler import jsonio
    from compiler.operations import state_edit
    from compiler.render import terminal
    from compiler.state import StateError

    try:
        entry = state_edit.entry(_backend_only(args), args.address)
    except StateError as exc:
        return _fail(str(exc))
    terminal.print_json(jsonio.dumps(entry.to_json(), indent=2) + "\n")
    return EXIT_OK


def cmd_state_rm(args: argparse.Namespace) -> int:
    from compiler.operations import state_edit
    from compiler.state import StateError

    try:
        state_edit.forget(_backend_only(args), args.addresses, args.lock_timeout)
    except StateError as exc:
        return _fail(str(exc))
    print(f"Removed {len(args.addresses)} address(es) from state; the remote objects stay "
          "as they are and are now unmanaged.")  # fmt: skip
    return EXIT_OK


def cmd_state_reject(args: argparse.Namespace) -> int:
    from compiler.operations import state_edit
    from compiler.render.safe import visible
    from compiler.state import StateError

    try:
        recorded = state_edit.reject(
            _backend_only(args), args.address, args.remote_id, args.lock_timeout
        )
    except StateError as exc:
        return _fail(str(exc))
    address, remote_id = visible(args.address), visible(args.remote_id)
    already = "" if recorded else " (it was already)"
    # Only state is read here: whether the vendor holds remote_id at all is not known.
    print(f"Recorded that {remote_id} is not {address}{already}; nothing at the vendor was "
          "changed. Plans no longer offer it for this item, and create the item again once "
          "nothing else looks like it and the project is read completely. If it was the "
          "wrong id, `billplan import ADDRESS REMOTE_ID PATH` still settles the item.")  # fmt: skip
    return EXIT_OK


def cmd_force_unlock(args: argparse.Namespace) -> int:
    from compiler.render.safe import visible
    from compiler.state import StateError

    try:
        _backend_only(args).force_unlock(args.lock_id)
    except StateError as exc:
        return _fail(str(exc))
    print(f"Removed lock {visible(args.lock_id)}.")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from compiler.importer import adopt
    from compiler.render.safe import visible

    try:
        with _open(args) as workspace, workspace.backend.lock("import", args.lock_timeout):
            message = adopt(workspace, args.address, args.remote_id)
    except _planning_errors() as exc:
        return _errors_of(exc)
    print(visible(message))
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from compiler.operations import onboarding
    from compiler.providers import PROVIDERS
    from compiler.render import onboarding_view, terminal
    from compiler.render.safe import visible

    if bool(args.all) == bool(args.project):
        return _fail("name the vendor projects to onboard (--project ID, repeatable) or --all")
    if args.currency is not None and not (len(args.currency) == 3 and args.currency.isupper()):
        return _fail(f"--currency {visible(args.currency)}: give an ISO 4217 code, like EUR")
    try:
        hosts = credentials.Hosts.configured(
            os.environ, PROVIDERS, args.endpoint or (), args.sandbox_url
        )
        request = onboarding.Request(
            path=Path(args.path),
            connection=args.provider,
            projects=tuple(args.project or ()),
            every_project=args.all,
            as_of=_as_of(args.as_of),
            sandbox=_sandbox(args),
            hosts=hosts,
            dry_run=args.dry_run,
            overwrite=args.overwrite,
            currency=args.currency,
            lock_timeout=args.lock_timeout,
        )
        outcome = onboarding.onboard(request)
    except onboarding.OnboardingRefused as exc:
        terminal.details(exc.details)
        return _fail(str(exc))
    except (credentials.EndpointError, *_planning_errors()) as exc:
        return _errors_of(exc)
    onboarding_view.print_onboarded(outcome)
    return EXIT_OK


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from compiler.operations import sandbox_server
    from compiler.render import sandbox_view, terminal
    from compiler.sandbox import SandboxDatabaseError

    db = Path(args.db)
    try:
        sandbox = sandbox_server.opened(db)
    except SandboxDatabaseError as exc:
        return _fail(str(exc))
    if args.seed:
        try:
            notes = sandbox_server.seeded(sandbox, Path(args.seed), _as_of(None), _limits(args))
        except sandbox_server.SeedRefused as exc:
            sandbox.close()
            terminal.report(exc.diagnostics)
            return EXIT_ERROR
        except RuntimeError as exc:  # SeedError, NoEmulatorError: the plan cannot be seeded
            sandbox.close()
            return _fail(str(exc))
        sandbox_view.print_seeded(notes)
    root = sandbox_server.root_url(args.host, args.port)
    sandbox_view.print_serving(root, db, sandbox_server.vendor_roots(root))
    sandbox_server.serve(sandbox, args.host, args.port)
    return EXIT_OK


def cmd_sandbox_seed_portfolio(args: argparse.Namespace) -> int:
    from compiler.operations import sandbox_server
    from compiler.render import sandbox_view, terminal
    from compiler.state.location import StateLocationError

    try:
        notes = sandbox_server.seeded_portfolio(Path(args.path))
    except sandbox_server.SeedRefused as exc:
        terminal.report(exc.diagnostics)
        return EXIT_ERROR
    except (RuntimeError, StateLocationError) as exc:  # PortfolioRefused, a bad database
        return _fail(str(exc))
    sandbox_view.print_portfolio(notes, args.path)
    return EXIT_OK


def cmd_sandbox_invoice(args: argparse.Namespace) -> int:
    from compiler.operations.sandbox_server import invoiced
    from compiler.render.safe import visible
    from compiler.state import StateError

    args.sandbox = True
    try:
        entry = invoiced(_backend_only(args), Path(args.path), args.address)
    except (StateError, RuntimeError) as exc:  # RuntimeError: the sandbox refused
        return _fail(str(exc))
    print(f"Marked {visible(args.address)} ({visible(entry.remote_id)}) invoiced in the sandbox.")
    return EXIT_OK


def _add_hosts(command: argparse.ArgumentParser) -> None:
    """Where requests go, set by whoever runs billplan: never by the plan (docs/ci.md)."""
    command.add_argument(
        credentials.ENDPOINT_FLAG,
        action="append",
        metavar="VENDOR=URL",
        help="send this vendor's requests (and token) to URL instead of its own host: https, "
        "or http to this machine (repeatable; default: BILLPLAN_<VENDOR>_BASE_URL)",
    )
    command.add_argument(
        credentials.SANDBOX_URL_FLAG,
        metavar="URL",
        help="use the sandbox `billplan sandbox serve` runs at URL for every connection, with "
        f"the sandbox's token (default: {credentials.SANDBOX_URL_ENV})",
    )


def _add_policy(command: argparse.ArgumentParser, *, allow: bool = True) -> None:
    """The policy set where billplan runs, and the flag that allows a large delete."""
    command.add_argument(
        "--policy",
        metavar="FILE",
        help="also judge the plan by the rules in FILE (a YAML file holding `policy:`); where "
        "it and the plan's own `policy:` set one rule, the stricter limit holds",
    )
    if allow:
        command.add_argument(
            "--allow-large-delete",
            action="store_true",
            help="allow deleting objects above the policy's `large_delete` limit, for this "
            "run only (a saved plan never carries it: apply needs it again)",
        )


def _add_targets(command: argparse.ArgumentParser) -> None:
    for flag, what in (("--target", "only addresses under"), ("--exclude", "no address under")):
        command.add_argument(
            flag,
            action="append",
            metavar="ADDRESS_PREFIX",
            help=f"a partial plan: {what} this prefix, on whole segments (repeatable)",
        )


class _Help(argparse.HelpFormatter):
    """argparse's help, with an epilog's indented lines (examples) kept as written, and lines
    broken only at spaces: an address (cloud-infra/recurring/...) or a flag (--refresh-only)
    broken at its hyphen reads as two words, and is copied as two."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        for line in text.splitlines():
            if line.startswith(" "):
                lines.append(indent + line)
            elif line:
                lines.append(
                    textwrap.fill(
                        " ".join(line.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
            else:
                lines.append("")
        return "\n".join(lines)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _examples(*lines: str) -> str:
    """An epilog of examples, one command a line."""
    return (
        "example"
        + ("s" if len(lines) > 1 else "")
        + ":\n"
        + "\n".join(f"  {line}" for line in lines)
    )


# The view for people is `text` on every command; `table`, the name render and forecast
# once used, means the same.
_FOR_PEOPLE = "text"
_FORMAT_ALIASES = {"table": _FOR_PEOPLE}


def _format_name(given: str) -> str:
    return _FORMAT_ALIASES.get(given, given)


def _add_format(command: argparse.ArgumentParser, others: dict[str, str]) -> None:
    """--format: `text` for people (the default) or a form for machines or pages."""
    names = [_FOR_PEOPLE, *others]
    described = "; ".join(f"{name}: {what}" for name, what in others.items())
    command.add_argument(
        "--format",
        type=_format_name,
        choices=names,
        default=_FOR_PEOPLE,
        metavar="{" + ",".join(names) + "}",
        help=f"how to print it. text (default; `table` is the same): for people, in the "
        f"terminal; {described}",
    )


_PLAN_FORMATS = {
    "markdown": "the pull-request comment",
    "json": "the saved plan's JSON, for programs",
}
ADDRESS_HELP = (
    "an object's address in the plan: PROJECT/KIND/CHARGE, then a period or part where the "
    "charge has them (e.g. cloud-infra/milestones/kickoff, "
    "cloud-infra/recurring/retainer/2026-01); `billplan plan` and `billplan state list PATH` "
    "show them"
)
REMOTE_ID_HELP = (
    "the vendor's own id for the object (a Ruddr UUID, a Kantata or Wethod number), as the "
    "vendor's UI or API shows it; `billplan plan` lists the unmanaged objects it finds with "
    "theirs"
)
LOCK_ID_HELP = (
    "the id of the lock to remove, as the error that reported it says "
    "(`... remove it with: billplan force-unlock LOCK_ID PATH`)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="billplan",
        description="Billing plans as code: validate YAML billing plans, expand them into "
        "dated billing items, and plan and apply them to your PSA tool.",
        epilog=_examples(
            "billplan validate plans/", "billplan plan plans/ --sandbox", "billplan COMMAND --help"
        ),
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"billplan {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    as_of_help = "date to expand open-ended charges from (default: BILLPLAN_AS_OF or today)"

    def add_limits(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--max-items",
            metavar="N",
            help=f"most billing items the plan may expand to (default: {MAX_ITEMS_ENV} or "
            f"{DEFAULT_MAX_ITEMS:,}); the plan itself cannot raise it",
        )

    validate = commands.add_parser(
        "validate",
        help="check plans: YAML syntax, schema and meaning; exit 1 on any error",
        description="Check each plan: YAML syntax, the JSON Schema and what the plan means "
        "(dates, shares, names that exist), all problems at once, each as FILE:LINE:COL. "
        "A plan directory's *.yaml files are one plan: validate the directory, not one of "
        "its files. No vendor is contacted.",
        epilog=_examples(
            "billplan validate plans/",
            "billplan validate plans/acme plans/globex",
            "billplan validate plans/ --policy finance-policy.yaml",
        ),
        formatter_class=_Help,
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="plan directory or file")
    validate.add_argument("--as-of", metavar="DATE", help=as_of_help)
    add_limits(validate)
    _add_policy(validate, allow=False)
    validate.set_defaults(run=cmd_validate)

    render = commands.add_parser(
        "render",
        help="show the dated billing items a plan expands to",
        description="Expand a plan into its dated billing items (one per invoice line: "
        "address, date, amount, description) as of a date, and print them. No vendor is "
        "contacted.",
        epilog=_examples(
            "billplan render plans/", "billplan render plans/ --format csv > items.csv"
        ),
        formatter_class=_Help,
    )
    render.add_argument("path", metavar="PATH", help="plan directory or file")
    _add_format(render, {"json": "every item, for programs", "csv": "one row per item"})
    render.add_argument("--as-of", metavar="DATE", help=as_of_help)
    add_limits(render)
    render.set_defaults(run=cmd_render)

    cash = commands.add_parser(
        "forecast",
        help="scheduled billing per month, project and currency (no network)",
        description="Add up what a plan bills per month, project and currency (items "
        "billed on completion apart), from the plan alone: no vendor is contacted.",
        epilog=_examples(
            "billplan forecast plans/ --from 2026-01 --to 2026-12",
            "billplan forecast plans/ --format csv",
        ),
        formatter_class=_Help,
    )
    cash.add_argument("path", metavar="PATH", help="plan directory or file")
    _add_format(cash, {"csv": "one row per month, project and currency", "json": "for programs"})
    cash.add_argument("--as-of", metavar="DATE", help=as_of_help)
    add_limits(cash)
    cash.add_argument("--from", dest="start", metavar="YYYY-MM", help="first month shown")
    cash.add_argument("--to", dest="end", metavar="YYYY-MM", help="last month shown")
    cash.set_defaults(run=cmd_forecast)

    schema = commands.add_parser(
        "schema",
        help="print the plan's JSON Schema",
        description="Print the JSON Schema plans are checked against, for an editor "
        "(yaml-language-server) or check-jsonschema.",
        epilog=_examples("billplan schema > billing-plan.schema.json"),
        formatter_class=_Help,
    )
    schema.set_defaults(run=cmd_schema)

    sandbox_help = "use the built-in vendor emulators instead of the real APIs (no account)"
    lock_help = "seconds to wait for another run's state lock (default: 0, fail at once)"

    plan = commands.add_parser(
        "plan",
        help="show what apply would change at the vendors, without changing anything",
        description="Read what the vendors hold for the plan's projects and show what `apply` "
        "would create, update and delete, with the billing impact; nothing is changed. "
        "-o FILE saves the plan for review and `billplan apply FILE PATH`.",
        epilog=_examples(
            "billplan plan plans/ --sandbox",
            "billplan plan plans/ -o plan.json",
            "billplan plan plans/ --format markdown > comment.md",
            "billplan plan plans/ --detailed-exitcode --refresh-only",
        ),
        formatter_class=_Help,
    )
    plan.add_argument("path", metavar="PATH", help="plan directory or file")
    plan.add_argument("--sandbox", action="store_true", help=sandbox_help)
    plan.add_argument("--as-of", metavar="DATE", help=as_of_help)
    add_limits(plan)
    plan.add_argument("-o", "--out", metavar="FILE", help="save the plan for `apply FILE`")
    _add_format(plan, _PLAN_FORMATS)
    plan.add_argument("--show-unchanged", action="store_true", help="list no-op objects too")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 1 on error, 2 when there are changes or a "
        "lost create waits for a person to confirm or reject (with --refresh-only: 2 when "
        "there is drift or a create's outcome is unknown). With or without this flag, a plan "
        "that would delete a protected object (protect: true) exits 3, and one that breaks a "
        f"policy rule exits {EXIT_POLICY}",
    )
    plan.add_argument(
        "--refresh-only",
        action="store_true",
        help="report managed objects changed or deleted outside billplan; change nothing",
    )
    plan.add_argument(
        "--no-refresh",
        action="append",
        metavar="PROVIDER",
        help="plan this provider (its name in the plan, or a vendor type such as ruddr) from "
        "billplan's state without calling the vendor: for a CI job that must hold no key "
        "that can write (repeatable)",
    )
    _add_hosts(plan)
    _add_targets(plan)
    _add_policy(plan)
    plan.set_defaults(run=cmd_plan)

    show = commands.add_parser(
        "show",
        help="print a saved plan (plan -o FILE) again, in any format, without contacting "
        "the vendors",
        description="Print a plan saved by `billplan plan -o FILE` again, as `plan` printed "
        "it, from the file alone: no vendor is contacted and no credential read.",
        epilog=_examples("billplan show plan.json", "billplan show plan.json --format markdown"),
        formatter_class=_Help,
    )
    show.add_argument("file", metavar="FILE", help="a saved plan")
    _add_format(show, _PLAN_FORMATS)
    show.add_argument("--show-unchanged", action="store_true", help="list no-op objects too")
    show.set_defaults(run=cmd_show)

    apply = commands.add_parser(
        "apply",
        help="make the vendors match the plan (PATH), or apply a reviewed saved plan (FILE PATH)",
        description="`apply PATH` plans and applies. `apply FILE PATH` applies a saved plan "
        "(`plan -o FILE`) only as far as PATH still gives it: it plans PATH again, with the "
        "vendors as they are now and the saved as-of date and targets, and applies that plan "
        "if it makes exactly the saved changes; otherwise it lists the differences and writes "
        "nothing. The saved plan is a record of what was reviewed, not an authority: what is "
        "applied always comes from PATH (in CI, the merged main).",
        epilog=_examples(
            "billplan apply plans/ --sandbox", "billplan apply plan.json plans/ --auto-approve"
        ),
        formatter_class=_Help,
    )
    apply.add_argument("path", metavar="PATH|FILE", help="plan directory/file, or a saved plan")
    apply.add_argument(
        "plan_dir",
        nargs="?",
        metavar="PATH",
        help="after a saved plan FILE: the plan directory/file to check it against and apply",
    )
    apply.add_argument("--sandbox", action="store_true", help=sandbox_help)
    apply.add_argument("--as-of", metavar="DATE", help=as_of_help)
    add_limits(apply)
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                       help=lock_help)  # fmt: skip
    _add_hosts(apply)
    _add_targets(apply)
    _add_policy(apply)
    apply.set_defaults(run=cmd_apply)

    state = commands.add_parser(
        "state",
        help="inspect or edit what billplan remembers",
        description="What billplan remembers of the objects it made: each address, the "
        "vendor's id for it and what it held when last written.",
        epilog=_examples("billplan state list plans/"),
        formatter_class=_Help,
    )
    state_commands = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    state_list = state_commands.add_parser(
        "list",
        help="every address and its remote id",
        description="Every address in state, with its object type and the vendor's id "
        "(REMOTE_ID), one a line, tab-separated.",
        epilog=_examples("billplan state list plans/"),
        formatter_class=_Help,
    )
    state_show = state_commands.add_parser(
        "show",
        help="one address in full",
        description="One address's entry in state, as JSON: the vendor's id, the values "
        "last written, its lineage and protection.",
        epilog=_examples("billplan state show cloud-infra/milestones/kickoff plans/"),
        formatter_class=_Help,
    )
    state_show.add_argument("address", metavar="ADDRESS", help=ADDRESS_HELP)
    state_rm = state_commands.add_parser(
        "rm",
        help="forget addresses (the remote objects stay, unmanaged)",
        description="Remove addresses from state: billplan forgets the objects, which stay "
        "at the vendor as they are, unmanaged. To stop managing a charge for good, list it "
        "under `removed:` in the plan instead.",
        epilog=_examples("billplan state rm cloud-infra/milestones/kickoff plans/"),
        formatter_class=_Help,
    )
    state_rm.add_argument("addresses", nargs="+", metavar="ADDRESS", help=ADDRESS_HELP)
    state_rm.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                          help=lock_help)  # fmt: skip
    state_reject = state_commands.add_parser(
        "reject",
        help="say a remote object is not what a lost create made (the plan stops offering it)",
        description="A create whose answer was lost leaves its address waiting: the plan shows "
        "an object the vendor holds that looks like it as `unconfirmed`, and creates nothing. "
        "If that object is the item, confirm it with `billplan import ADDRESS REMOTE_ID PATH`; "
        "if it is not (someone made it by hand), reject it here. The rejection is kept with "
        "the address in state; the object itself is not touched and stays unmanaged.",
        epilog=_examples(
            "billplan state reject cloud-infra/milestones/kickoff "
            "3f2e8a61-0000-4000-8000-000000000001 plans/"
        ),
        formatter_class=_Help,
    )
    state_reject.add_argument("address", metavar="ADDRESS", help=ADDRESS_HELP)
    state_reject.add_argument("remote_id", metavar="REMOTE_ID", help=REMOTE_ID_HELP)
    state_reject.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                              help=lock_help)  # fmt: skip
    for sub in (state_list, state_show, state_rm, state_reject):
        sub.add_argument("path", metavar="PATH", help="plan directory or file")
        sub.add_argument("--sandbox", action="store_true", help="the sandbox's state")
    state_list.set_defaults(run=cmd_state_list)
    state_show.set_defaults(run=cmd_state_show)
    state_rm.set_defaults(run=cmd_state_rm)
    state_reject.set_defaults(run=cmd_state_reject)

    unlock = commands.add_parser(
        "force-unlock",
        help="remove a state lock left by a run that died",
        description="Remove the state lock a run took and never released (it was killed, or "
        "its machine died). Only when that run is gone: two runs writing at once can lose "
        "what either did.",
        epilog=_examples("billplan force-unlock 6f1c2e0a plans/"),
        formatter_class=_Help,
    )
    unlock.add_argument("lock_id", metavar="LOCK_ID", help=LOCK_ID_HELP)
    unlock.add_argument("path", metavar="PATH", help="plan directory or file")
    unlock.add_argument("--sandbox", action="store_true", help="the sandbox's state")
    unlock.set_defaults(run=cmd_force_unlock)

    importer = commands.add_parser(
        "import",
        help="adopt an existing remote object as an address of the plan",
        description="Record that the vendor's object REMOTE_ID is the plan's ADDRESS: billplan "
        "manages it from now on (the next plan updates it to what the plan says) instead of "
        "creating a second one. Also confirms a lost create's look-alike.",
        epilog=_examples(
            "billplan import cloud-infra/milestones/kickoff "
            "3f2e8a61-0000-4000-8000-000000000001 plans/"
        ),
        formatter_class=_Help,
    )
    importer.add_argument("address", metavar="ADDRESS", help=ADDRESS_HELP)
    importer.add_argument("remote_id", metavar="REMOTE_ID", help=REMOTE_ID_HELP)
    importer.add_argument("path", metavar="PATH", help="plan directory or file")
    importer.add_argument("--sandbox", action="store_true", help=sandbox_help)
    importer.add_argument("--as-of", metavar="DATE", help=as_of_help)
    add_limits(importer)
    importer.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                          help=lock_help)  # fmt: skip
    _add_hosts(importer)
    importer.set_defaults(run=cmd_import)

    generate = commands.add_parser(
        "generate",
        help="write plan fragments and state for what a vendor already holds (onboarding)",
        description="Read every milestone, product item and invoice of the vendor projects "
        "named (never writing to the vendor), and write one plan fragment per project into "
        "PATH, with a state entry for every generated address (invoiced ones too, locked). "
        "Nothing is written unless `billplan plan` on the result would show no changes.",
        epilog=_examples("billplan generate plans/acme --provider ruddr --all --dry-run")
        + "\n\nMore: docs/onboarding.md.",
        formatter_class=_Help,
    )
    generate.add_argument(
        "path", metavar="PATH", help="plan directory: its providers block gives the connection"
    )
    generate.add_argument(
        "--provider",
        metavar="NAME",
        help="the connection to read (default: the only one; with --all, each of PATH's)",
    )
    generate.add_argument("--project", action="append", metavar="ID",
                          help="a vendor project id to onboard (repeatable)")  # fmt: skip
    generate.add_argument("--all", action="store_true", help="every project the token can see")
    generate.add_argument("--dry-run", action="store_true",
                          help="show what would be written, and write nothing")  # fmt: skip
    generate.add_argument("--overwrite", action="store_true",
                          help="replace existing fragments and state entries it names")  # fmt: skip
    generate.add_argument("--currency", metavar="CODE",
                          help="the currency of projects whose vendor keeps none (Wethod); "
                          "default: the plan's defaults.currency")  # fmt: skip
    generate.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                          help=lock_help)  # fmt: skip
    generate.add_argument("--sandbox", action="store_true", help=sandbox_help)
    generate.add_argument("--as-of", metavar="DATE", help=as_of_help)
    _add_hosts(generate)
    generate.set_defaults(run=cmd_generate)

    sandbox = commands.add_parser(
        "sandbox",
        help="the built-in vendor emulators",
        description="The built-in emulators of the vendors' APIs, for trying billplan without "
        "an account: `--sandbox` runs them in process; `sandbox serve` over HTTP.",
        epilog=_examples("billplan sandbox serve --seed plans/"),
        formatter_class=_Help,
    )
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True,
                                              metavar="ACTION")  # fmt: skip
    serve = sandbox_commands.add_parser(
        "serve",
        help="run the emulators as an HTTP server",
        description="Serve the vendor emulators over HTTP (loopback by default), their state "
        "in a SQLite file; point billplan at them with --sandbox-url URL or "
        "BILLPLAN_SANDBOX_URL, as the server prints.",
        epilog="Each vendor has an admin surface under /<vendor>/_sandbox/ on the same server: "
        "seed projects, invoice objects, edit them behind billplan's back, and inject faults "
        '(POST /<vendor>/_sandbox/faults: errors, latency, a lost response; README.md, "The '
        'sandbox").\n\n'
        "environment: BILLPLAN_SANDBOX_EXCHANGE_LOG=FILE appends each vendor-API "
        "exchange (request and response, credentials redacted) to FILE as one JSON line; "
        "billplan's contract tests read it.\n\n"
        + _examples("billplan sandbox serve --seed plans/ --port 8765"),
        formatter_class=_Help,
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    serve.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    serve.add_argument(
        "--db",
        default=".billplan/sandbox.sqlite",
        help="SQLite file holding the emulators' data, kept between runs "
        "(default: .billplan/sandbox.sqlite)",
    )
    serve.add_argument(
        "--seed",
        metavar="PATH",
        help="first create the projects this plan names, as --sandbox does",
    )
    serve.set_defaults(run=cmd_sandbox_serve)
    invoice = sandbox_commands.add_parser(
        "invoice",
        help="mark an applied object invoiced in the sandbox (it becomes locked)",
        description="Mark the object at ADDRESS invoiced in PATH's sandbox, as a person "
        "invoicing it in the vendor's UI would: billplan then shows it locked and never "
        "changes it. Only the sandbox is touched.",
        epilog=_examples("billplan sandbox invoice cloud-infra/milestones/kickoff plans/"),
        formatter_class=_Help,
    )
    invoice.add_argument("address", metavar="ADDRESS", help=ADDRESS_HELP)
    invoice.add_argument("path", metavar="PATH", help="plan directory or file")
    invoice.set_defaults(run=cmd_sandbox_invoice)
    portfolio = sandbox_commands.add_parser(
        "seed-portfolio",
        help="fill a plan directory's sandbox with a demo firm's existing schedules",
        description="Make a demo portfolio of existing billing schedules (retainers with a "
        "stub month, quarterly licences, escalations, percentage milestones, product lines, "
        "invoiced and hand-edited items) in the sandbox of PATH (PATH/.billplan/"
        "sandbox.sqlite), through the emulators' admin surfaces, as people would make them "
        "in each vendor's UI: for every vendor PATH's providers block connects to. Only the "
        "sandbox is touched, never a vendor. Then onboard it with `billplan generate PATH "
        "--all --sandbox`.",
        epilog=_examples("billplan sandbox seed-portfolio plans/onboarding")
        + '\n\nMore: README.md, "Onboard what a vendor already holds".',
        formatter_class=_Help,
    )
    portfolio.add_argument("path", metavar="PATH", help="plan directory with a providers block")
    portfolio.set_defaults(run=cmd_sandbox_seed_portfolio)
    return parser


def run() -> None:
    """The `billplan` command (and `python -m compiler`): main(), then the process ends.

    After a large plan, freeing what the command built object by object costs a tenth of a
    second or more, for nothing: the process is about to end. Once the command has returned
    and stdout and stderr are flushed, and no thread but daemon ones (the vendors' readers)
    is left, the process ends at once (os._exit), as mypy's --fast-exit does: billplan's
    commands close and sync every file they write before they return. Otherwise (a flush
    that fails, a thread still working) it ends the usual way.
    """
    import threading

    global _left_for_exit
    _left_for_exit = []
    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if _left_for_exit and not any(not thread.daemon for thread in others):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # the usual exit reports it as Python does
        else:
            os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("billplan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a disk or file problem no command anticipated: say it plainly
        from compiler.render.safe import visible

        print(f"billplan: error: {visible(exc)}", file=sys.stderr)
        return EXIT_ERROR
