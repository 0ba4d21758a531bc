"""`billplan sandbox serve` on stdout: what seeding created, then where the served sandbox is
and how to point billplan and other clients at it (with the sandbox's token, never a real one);
and `sandbox seed-portfolio`: the demo projects it made, and the command that onboards them.
compiler.operations.sandbox_server opens, seeds and serves it; this module shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from compiler import credentials
from compiler.render.safe import visible


def print_seeded(notes: Iterable[str]) -> None:
    for note in notes:
        print(visible(note))


def print_portfolio(notes: Iterable[str], path: str) -> None:
    """What the demo portfolio made in a directory's sandbox, and what to run next."""
    notes = list(notes)
    print(f"Seeded the sandbox of {visible(path)} with a demo portfolio (the sandbox only):")
    for note in notes:
        print(f"  {visible(note)}")
    print(f"{len(notes)} projects, made by hand as a firm's PSA holds them. Onboard them:")
    print(f"  billplan generate {visible(path)} --all --sandbox")


def print_serving(root: str, db: Path, vendor_roots: Iterable[tuple[str, str]]) -> None:
    """The sandbox served at root, its data in db, and each vendor's API root under it."""
    from compiler.sandbox import SANDBOX_TOKEN

    print(f"billplan sandbox on {visible(root)} (data in {visible(db)})")
    print("Point billplan at it (every connection, with the sandbox's token, never a real one):")
    print(f"  export {credentials.SANDBOX_URL_ENV}={root}")
    print(f"  or: billplan plan PATH {credentials.SANDBOX_URL_FLAG} {root}")
    print(f"Each vendor's API, for other clients (token: {SANDBOX_TOKEN}):")
    for name, url in vendor_roots:
        print(f"  {name}: {url}")
