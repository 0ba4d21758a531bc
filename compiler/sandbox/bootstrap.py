"""First use of the sandbox for a plan: create, through each emulator's admin surface, what the
plan refers to and the sandbox lacks (projects, workspaces, stories, records, Ruddr invoice
items, Coperniq catalog items, the Wethod company), and lock an object as a person would. It
only orchestrates: what to create and how to lock is each emulator's `Bootstrap` (seeding.py),
declared at the end of its module.

The vendor paths still reject unknown projects, as the real services do; this is what lets
`billplan plan --sandbox` work on any plan, with no account anywhere. Every object created
is reported, so the output never hides it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from compiler.model import Item

from . import (
    DEFAULT_ROOT,
    SANDBOX_TOKEN,
    Emulator,
    Sandbox,
    admin_root,
    build_sandbox,
    registered_emulators,
)
from .seeding import Bootstrap, Lock, SeedError, Seeding

__all__ = ["SeedError", "bootstrap_of", "mark_invoiced", "prepare"]


def bootstrap_of(emulator: type[Emulator] | Emulator) -> Bootstrap:
    """What an emulator declares for the bootstrap; one that declares nothing has nothing to
    seed and nothing a person can lock."""
    return emulator.bootstrap or Bootstrap(title=emulator.vendor)


def prepare(
    sandbox: Sandbox,
    items: Iterable[Item],
    projects: Mapping[str, Mapping[str, Any]],
    providers: Mapping[str, Mapping[str, Any]],
    vendors: Iterable[str] = (),
) -> list[str]:
    """Make sure everything the items refer to exists in the sandbox; say what was created.
    vendors: also prepare these vendors' connections with no items (`generate` reads before
    there is a plan: a Wethod token then still belongs to the connection's company).
    A vendor the sandbox has no emulator for is a NoEmulatorError, before anything is made."""
    by_vendor: dict[str, list[Item]] = defaultdict(list)
    for vendor in vendors:
        by_vendor[vendor] = []
    for item in items:
        by_vendor[item.provider_type].append(item)
    emulators = {vendor: sandbox.emulators[vendor] for vendor in sorted(by_vendor)}
    notes: list[str] = []
    with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client:
        for vendor, emulator in emulators.items():
            bootstrap = bootstrap_of(emulator)
            seeding = Seeding(
                client=client,
                vendor=vendor,
                title=bootstrap.title,
                admin=admin_root(emulator),
                token=SANDBOX_TOKEN,
                items=by_vendor[vendor],
                projects=projects,
                providers=providers,
            )
            for step in bootstrap.seeds:
                notes.extend(step(seeding))
    return notes


def _lock_for(type_name: str) -> tuple[type[Emulator], Lock]:
    emulators = registered_emulators()
    for emulator in emulators:
        lock = bootstrap_of(emulator).locks.get(type_name)
        if lock is not None:
            return emulator, lock
    lockable = sorted(name for e in emulators for name in bootstrap_of(e).locks)
    raise SeedError(
        f"the sandbox cannot invoice a {type_name}; it invoices: {', '.join(lockable) or 'none'}"
    )


def mark_invoiced(plan_path: Path, type_name: str, remote_id: str) -> None:
    """Invoice (or send) an object in the embedded sandbox of a plan, as a person would."""
    emulator, lock = _lock_for(type_name)
    base = plan_path if plan_path.is_dir() else plan_path.parent
    with (
        build_sandbox(base / ".billplan" / "sandbox.sqlite") as sandbox,
        httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client,
    ):
        path = f"{admin_root(emulator)}/{lock.path.format(id=remote_id)}"
        response = client.post(path, json=lock.body)
        if response.status_code >= 400:
            raise SeedError(f"the sandbox refused to invoice {remote_id}: {response.text}")
