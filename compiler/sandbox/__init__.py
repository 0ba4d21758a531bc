"""The sandbox: billplan's vendor emulators as one ASGI app, each vendor mounted under its own
prefix (`/ruddr/...`), with storage in memory or in a SQLite file (`.billplan/sandbox.sqlite`).
It owns the registry of emulators (EMULATORS) and finding the one for a vendor.

    sandbox = build_sandbox()
    client = httpx.Client(
        transport=sandbox.transport,
        base_url=base_url("ruddr"),
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
    )

Each emulator declares the vendor it emulates (its `vendor`, the plan's provider `type`); a
vendor with none is a NoEmulatorError that says what to do, wherever it is asked for. Each
emulator also has an admin surface at `/<vendor>/_sandbox/` (see base.py and the vendor's
module). Objects persist in the SQLite file; settings, armed faults and the request log belong
to the running process and start from the vendor's defaults. When
BILLPLAN_SANDBOX_EXCHANGE_LOG names a file, every vendor-API exchange is also appended to it as
a JSON line (exchanges.py), for the contract tests. Emulators share no code with billplan's
providers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .base import (
    ADMIN_PREFIX,
    SANDBOX_TOKEN,
    Clock,
    Emulator,
    JSONBody,
    PrefixMount,
    Store,
    WallClock,
    utc_now,
)
from .coperniq import CoperniqEmulator
from .exchanges import EXCHANGE_LOG_ENV, ExchangeLog
from .kantata import KantataEmulator
from .ruddr import RuddrEmulator
from .transport import InProcessTransport
from .wethod import WethodEmulator

__all__ = [
    "DEFAULT_ROOT",
    "EMULATORS",
    "EXCHANGE_LOG_ENV",
    "SANDBOX_TOKEN",
    "Emulator",
    "Emulators",
    "InProcessTransport",
    "NoEmulatorError",
    "Sandbox",
    "admin_root",
    "base_url",
    "build_sandbox",
    "emulator_for",
    "registered_emulators",
]

# One line per vendor: the emulator serves the provider type its `vendor` names, mounted at
# /<its name>.
EMULATORS: tuple[type[Emulator], ...] = (
    RuddrEmulator,
    WethodEmulator,
    KantataEmulator,
    CoperniqEmulator,
)

DEFAULT_ROOT = "http://sandbox.invalid"


class NoEmulatorError(RuntimeError):
    """A vendor the sandbox has no emulator for: the message names it, the emulators there
    are, and what to do."""

    def __init__(self, vendor: str, known: Iterable[str]) -> None:
        self.vendor = vendor
        super().__init__(
            f"the sandbox has no emulator for the provider type {vendor!r} (it emulates "
            f"{', '.join(known) or 'none'}): plan and apply the {vendor} connections against "
            f"{vendor} itself, without --sandbox or a sandbox URL, or add an emulator for "
            f"{vendor} in compiler/sandbox/ and list it in compiler.sandbox.EMULATORS"
        )


def registered_emulators() -> tuple[type[Emulator], ...]:
    """The emulators registered now. Modules outside this one ask here rather than import
    EMULATORS: an imported name keeps the tuple of the moment it was imported, and would miss
    an emulator registered later (a test's fifth vendor) or keep one a test took away."""
    return EMULATORS


def emulator_for(vendor: str) -> type[Emulator]:
    """The registered emulator of a vendor (the plan's provider type)."""
    for emulator in EMULATORS:
        if emulator.vendor == vendor:
            return emulator
    raise NoEmulatorError(vendor, (emulator.vendor for emulator in EMULATORS))


def base_url(vendor: str, root: str = DEFAULT_ROOT) -> str:
    """Where a vendor's API lives in a sandbox served at `root`, e.g.
    base_url("ruddr", root="http://127.0.0.1:8765") -> "http://127.0.0.1:8765/ruddr/api/workspace"."""
    emulator = emulator_for(vendor)
    return f"{root.rstrip('/')}/{emulator.name}{emulator.api_root}"


def admin_root(emulator: type[Emulator] | Emulator) -> str:
    """Where an emulator's admin surface lives below the sandbox's root, e.g. "/ruddr/_sandbox"."""
    return f"/{emulator.name}{ADMIN_PREFIX}"


class Emulators(dict[str, Emulator]):
    """A sandbox's running emulators, by the vendor each emulates. Asking for a vendor it has
    none for raises NoEmulatorError, never a bare KeyError."""

    def __missing__(self, vendor: str) -> Emulator:
        raise NoEmulatorError(vendor, self)


@dataclass(frozen=True)
class Sandbox:
    """The root ASGI app, its emulators by the vendor each emulates, the storage they share, and
    an in-process transport to the app that every client of this sandbox may share."""

    app: Starlette
    emulators: Emulators
    store: Store
    transport: InProcessTransport

    def close(self) -> None:
        self.transport.close()
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class SandboxDatabaseError(RuntimeError):
    """The sandbox's SQLite file is not a database billplan can use."""


def build_sandbox(
    path: Path | None = None,
    *,
    clock: Clock = time.monotonic,
    wall_clock: WallClock = utc_now,
) -> Sandbox:
    """Every emulator over one store: in memory when `path` is None, else a SQLite file that
    keeps its objects across runs. `clock` drives rate limits, `wall_clock` creation times."""
    store = None
    try:
        store = Store(path)
        emulators = Emulators(
            (emulator.vendor, emulator(store, clock=clock, wall_clock=wall_clock))
            for emulator in EMULATORS
        )
    except sqlite3.DatabaseError as exc:
        # A file a pull request can commit: its own error, never a traceback.
        if store is not None:
            store.close()
        raise SandboxDatabaseError(
            f"{path} is not a sandbox database billplan can open ({exc}); remove it, and the "
            "sandbox starts afresh"
        ) from None

    async def index(request: Request) -> Response:
        return JSONBody(
            {
                emulator.name: {
                    "api": f"/{emulator.name}{emulator.api_root}",
                    "admin": admin_root(emulator),
                }
                for emulator in emulators.values()
            }
        )

    mounts = [
        PrefixMount(
            f"/{emulator.name}", app=ExchangeLog(emulator, emulator.vendor, emulator.api_root)
        )
        for emulator in emulators.values()
    ]
    app = Starlette(routes=[Route("/", index), *mounts])
    return Sandbox(app=app, emulators=emulators, store=store, transport=InProcessTransport(app))
