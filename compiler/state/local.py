"""Local state: a JSON file written atomically (temp file, fsync, rename) and a lock file
created exclusively, holding the lock's id, owner, pid and time.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from compiler import jsonio
from compiler.state import Entry, LockInfo, State, StateError, StateLocked


class LocalBackend:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.backup_path = path.with_name(path.name + ".backup")
        # apply writes state after every call: re-encode only the entries that changed.
        self._encoded: dict[str, tuple[Entry, str]] = {}

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> State:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"cannot read state {self.path}: {exc}") from exc
        try:
            return State.from_json(jsonio.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"state file {self.path} is damaged ({exc}); restore it from "
                f"{self.backup_path}, which holds the state as it was before the last run"
            ) from exc

    def write(self, state: State) -> None:
        state.lineage = state.lineage or str(uuid.uuid4())
        state.serial += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.path, self._render(state).encode("utf-8"))

    def _render(self, state: State) -> str:
        """One entry per line: readable, diffable, and cheap to rewrite after every call."""
        lines = []
        for address in sorted(state.entries):
            entry = state.entries[address]
            cached = self._encoded.get(address)
            if cached is None or cached[0] is not entry:
                cached = (entry, jsonio.dumps(entry.to_json()))
                self._encoded[address] = cached
            lines.append(cached[1])
        header = state.to_json()
        header.pop("entries")
        body = ",\n    ".join(lines)
        head = jsonio.dumps(header)[:-1]
        return f'{head}, "entries": [\n    {body}\n]}}\n' if lines else f'{head}, "entries": []}}\n'

    @contextlib.contextmanager
    def lock(self, operation: str, wait: float = 0.0) -> Iterator[LockInfo]:
        info = LockInfo(
            id=str(uuid.uuid4()),
            operation=operation,
            who=f"{_user()}@{socket.gethostname()}",
            pid=os.getpid(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            try:
                fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                holder = self.current_lock()
                if time.monotonic() >= deadline:
                    if holder is None:
                        continue  # released between our attempt and our read: try again
                    raise StateLocked(holder, str(self.path)) from None
                time.sleep(0.1)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(info), handle)
                handle.flush()
                os.fsync(handle.fileno())
            if self.path.exists():
                # The state as it was before this run: a way back that needs no tooling.
                try:
                    _atomic_write(self.backup_path, self.path.read_bytes())
                except OSError as exc:
                    raise StateError(
                        f"cannot back up the state to {self.backup_path}: {exc}"
                    ) from exc
            yield info
        finally:
            held = self.current_lock()
            if held is not None and held.id == info.id:
                self.lock_path.unlink(missing_ok=True)

    def current_lock(self) -> LockInfo | None:
        try:
            raw = json.loads(self.lock_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raw = None
        try:
            return LockInfo(**raw)
        except TypeError:
            # Half-written by a crashed run, or not ours: still a lock, described as best we can.
            return LockInfo(id="unknown", operation="?", who="?", pid=0, created="?")

    def force_unlock(self, lock_id: str) -> None:
        held = self.current_lock()
        if held is None:
            raise StateError(f"the state at {self.path} is not locked")
        if held.id != lock_id:
            raise StateError(
                f"the state at {self.path} is held by a different lock: {held.describe()}; "
                "nothing was removed"
            )
        self.lock_path.unlink(missing_ok=True)


def _atomic_write(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
