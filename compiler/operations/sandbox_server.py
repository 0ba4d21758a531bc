"""The sandbox as a person runs it (`sandbox serve`, `sandbox invoice`, `sandbox
seed-portfolio`): its SQLite database opened, seeded with the projects a plan names, and served
over HTTP; an applied object invoiced in it, as a person at the vendor would, so that it
becomes locked; and a plan directory's sandbox filled with a demo firm's existing schedules.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from compiler.diagnostics import Diagnostic
from compiler.limits import Limits
from compiler.operations.state_edit import NotInState
from compiler.sandbox import Sandbox, base_url, build_sandbox, registered_emulators
from compiler.state import Backend, Entry
from compiler.validate import check


class SeedRefused(Exception):
    """The plan to seed the sandbox from is not valid: its located problems."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


def opened(db: Path) -> Sandbox:
    """Every emulator over the SQLite file db, made with its folder if it is new;
    SandboxDatabaseError for a file that is not a sandbox database."""
    db.parent.mkdir(parents=True, exist_ok=True)
    return build_sandbox(db)


def seeded(sandbox: Sandbox, plan: Path, as_of: date, limits: Limits) -> list[str]:
    """Create in the sandbox the projects (and what else the vendor needs first) that the plan
    at `plan` names, as --sandbox does; say what was created. SeedRefused for an invalid plan;
    SeedError or NoEmulatorError (RuntimeErrors) for one the sandbox cannot seed."""
    from compiler.sandbox.bootstrap import prepare

    checked = check(plan, as_of, limits)
    if checked.diagnostics or checked.document is None:
        raise SeedRefused(checked.diagnostics)
    root = checked.document.root
    return prepare(sandbox, checked.items, root.get("projects") or {}, root.get("providers") or {})


def seeded_portfolio(path: Path) -> list[str]:
    """Make the demo portfolio (compiler.sandbox.portfolio) in the sandbox of the plan
    directory at path, for each vendor its providers block connects to; say what was made.
    PortfolioRefused (a RuntimeError) when there is nothing to seed or it is seeded already."""
    from compiler.load import LoadError, load
    from compiler.sandbox.portfolio import VENDORS, PortfolioRefused, portfolio, seed
    from compiler.state.location import state_dir

    if not path.is_dir():
        raise PortfolioRefused(
            f"{path} is not a directory: seed the sandbox of a plan directory holding a "
            "providers block (plans/onboarding/providers.yaml is one)"
        )
    try:
        document = load(path)
    except LoadError as exc:
        raise SeedRefused(exc.diagnostics) from None
    connections = document.root.get("providers") or {}
    types = {str(c.get("type")) for c in connections.values() if isinstance(c, dict)}
    vendors = [vendor for vendor in VENDORS if vendor in types]
    if not vendors:
        raise PortfolioRefused(
            f"{path} connects to none of {', '.join(VENDORS)}: its providers block says which "
            "vendors' sandboxes to seed (plans/onboarding/providers.yaml connects to them)"
        )
    company = next(
        (str(c.get("company")) for c in connections.values()
         if isinstance(c, dict) and c.get("type") == "wethod" and c.get("company")),
        "sandbox",
    )  # fmt: skip
    state_dir(document).mkdir(parents=True, exist_ok=True)
    with build_sandbox(state_dir(document) / "sandbox.sqlite") as sandbox:
        return seed(sandbox, portfolio(vendors, company))


def root_url(host: str, port: int) -> str:
    """Where clients reach a sandbox served on host:port."""
    # Clients reach a server listening on every address through loopback.
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{reach if ':' not in reach else f'[{reach}]'}:{port}"


def vendor_roots(root: str) -> list[tuple[str, str]]:
    """Each emulator's name and where its vendor API lives in a sandbox served at root."""
    return [(e.vendor, base_url(e.vendor, root)) for e in registered_emulators()]


def serve(sandbox: Sandbox, host: str, port: int) -> None:
    """Serve the sandbox until the process is stopped; the database is closed after."""
    import uvicorn

    try:
        uvicorn.run(sandbox.app, host=host, port=port, log_level="warning")
    finally:
        sandbox.close()


def invoiced(backend: Backend, plan: Path, address: str) -> Entry:
    """Invoice the object the sandbox state holds for address; RuntimeError when the sandbox
    refuses (an object it cannot invoice)."""
    from compiler.sandbox.bootstrap import mark_invoiced

    entry = backend.read().entries.get(address)
    if entry is None or entry.remote_id is None:
        raise NotInState(f"{address} is not in the sandbox state; apply it first")
    mark_invoiced(plan, entry.type, entry.remote_id)
    return entry
