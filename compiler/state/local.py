"""Local state: a JSON file written atomically (temp file, fsync, rename), its ledger, and a
lock file holding the lock's id, owner, pid and time.

While a run holds the lock, a write appends what it changed to the ledger (compiler.state.
ledger) and fsyncs it, and writes nothing else: its cost follows the change, not the state.
The file is written whole when the run lets go of the lock (or reads the state again). A run
that dies in between leaves the file behind its ledger, which every read replays.

The lock file exists while a run holds the lock, and that run also holds an exclusive
`flock` on it. The kernel drops the flock when the process ends, however it ends, so a lock
file nobody holds a flock on was left by a run that died: the next run removes it (with a
warning naming it) instead of waiting for it forever. See docs/state.md.

Reading writes nothing (`plan` and `state list` only read). Only a run that takes the lock
(apply, import, state rm) keeps a copy of a damaged state beside it. A path that is not a
billplan state file at all (a directory, a FIFO, another tool's JSON, any other file) is
refused before anything is opened for writing: no lock file, no backup, no copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from compiler import jsonio
from compiler.render.safe import visible
from compiler.state import Entry, LockInfo, State, StateError, StateLocked, ledger

log = logging.getLogger("billplan.state")


class LocalBackend:
    def __init__(self, path: Path, origin: str = "") -> None:
        self.path = path
        self.origin = origin  # where the plan names the path, "FILE:LINE:COL: $.state.path: "
        self.lock_path = path.with_name(path.name + ".lock")
        self.backup_path = path.with_name(path.name + ".backup")
        self.ledger_path = path.with_name(path.name + ".ledger")
        # Entries the last read took back from the ledger (the state was behind it).
        self.taken_back: list[Entry] = []
        # The entries as the ledger holds them, as last read or recorded, and the lineage and
        # serial of that write: a write records what differs from them, and the state file is
        # written from them.
        self._written: dict[str, Entry] = {}
        self._recorded: tuple[str, int] = ("", 0)
        # The state file is written whole only when the run holding the lock lets go of it;
        # until then each write appends to the ledger alone, and the file is behind it.
        self._locked = False
        self._behind = False
        # Each entry's JSON as last written: only new entries are encoded again.
        self._encoded: dict[str, tuple[Entry, str]] = {}
        # The file as this backend last read or wrote it (every write is a new file, by
        # rename): a write finding another file there would lose someone else's write.
        self._seen: tuple[int, int] | _Unread | None = _UNREAD

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> State:
        if self._behind:
            self._catch_up()  # this run's own writes: the file holds them before it is read
        found = self._content()
        if found is None:
            self._seen = None
            self._remember(State())
            return State()
        content, seen = found
        state = self._parse(content, keep_copy=False)
        self._seen = seen
        records = ledger.behind(state, self._ledger())
        self.taken_back = ledger.replay(state, records)
        # Behind its ledger (a run died before writing the file, or it was restored from a
        # backup): the run holding the lock writes it up to date when it lets go.
        self._behind = bool(records) and self._locked
        self._remember(state)
        return state

    def _remember(self, state: State) -> None:
        self._written = dict(state.entries)
        self._recorded = (state.lineage, state.serial)
        state.settle()

    def _ledger(self) -> bytes:
        """The ledger's bytes; nothing if there is none, or if it is not a regular file (a
        committed symlink is never followed)."""
        try:
            fd = os.open(self.ledger_path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError:
            return b""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b""
            with os.fdopen(os.dup(fd), "rb") as handle:
                return handle.read()
        finally:
            os.close(fd)

    def _append_ledger(self, records: list[ledger.Record]) -> None:
        """Append records to the ledger and make them durable, before the state write they
        describe: a restored backup, or a state write that never happened, is replayed."""
        if not records:
            return
        created = not self.ledger_path.exists()
        try:
            fd = os.open(
                self.ledger_path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
        except OSError as exc:
            raise StateError(
                f"cannot write the state's ledger {self.ledger_path}: {exc}; nothing was written"
            ) from exc
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise StateError(f"{self.ledger_path} is not a file; nothing was written")
            content = ledger.encode(
                records, [None if r.entry is None else self._encode(r.entry) for r in records]
            )
            if status.st_size and os.pread(fd, 1, status.st_size - 1) != b"\n":
                # A line cut short by a run that died while appending it: end it, so that it
                # is skipped alone and this write's first record keeps a line of its own.
                content = b"\n" + content
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_directory(self.ledger_path.parent)

    def _content(self) -> tuple[bytes, tuple[int, int]] | None:
        """The state file's bytes and identity, or None if there is none. Anything but a
        regular file is refused unread: a FIFO or a device would never end."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state {self.path}: {exc}") from exc
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise self._not_state(
                    f"it is {_KINDS.get(stat.S_IFMT(status.st_mode), 'not a file')}"
                )
            with os.fdopen(os.dup(fd), "rb") as handle:
                return handle.read(), _identity(status)
        except OSError as exc:
            raise StateError(f"cannot read state {self.path}: {exc}") from exc
        finally:
            os.close(fd)

    def _refuse_other_files(self) -> None:
        """Before anything is written or removed beside the path: it holds billplan's state
        (perhaps damaged), or nothing."""
        found = self._content()
        if found is not None and (reason := _not_state_reason(found[0])) is not None:
            raise self._not_state(reason)

    def _not_state(self, reason: str) -> StateError:
        return StateError(
            f"{self.origin}{self.path} is not a billplan state file: {reason}. billplan "
            "reads, locks and writes nothing there; point state.path at a .json file of its "
            "own (the default is .billplan/state.json)"
        )

    def _parse(self, content: bytes, *, keep_copy: bool) -> State:
        try:
            text = content.decode("utf-8")
            raw = jsonio.loads(text)
        except UnicodeDecodeError as exc:
            problem = f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        except json.JSONDecodeError as exc:
            # billplan's state always ends with its closing brace; a file that does not,
            # and does not parse, was cut short (a full disk, a copy interrupted).
            truncated = not text.rstrip().endswith("}")
            problem = "it ends early, as if truncated" if truncated else "it is not valid JSON"
            # Some of json's messages end in "at" already ("Unterminated string starting at").
            where = f"line {exc.lineno} column {exc.colno}"
            problem += f" ({exc.msg.removesuffix(' at')} at {where})"
        except ValueError as exc:  # a number JSON allows but Decimal does not, and the like
            problem = f"it is not valid JSON ({exc})"
        else:
            try:
                return State.from_json(raw)
            except StateError as exc:
                problem = str(exc)
        reason = _not_state_reason(content)
        if reason is not None:
            raise self._not_state(reason)
        if problem.startswith("state format_version"):
            raise StateError(f"state file {self.path}: {problem}")
        raise StateError(self._damaged(content, problem, keep_copy=keep_copy))

    def _damaged(self, content: bytes, problem: str, *, keep_copy: bool) -> str:
        """The message for a damaged state file; with keep_copy (a run holding the lock, about
        to be told how to restore), after keeping a copy of it aside."""
        kept = _keep_copy(self.path, content) if keep_copy else None
        lines = [f"state file {self.path} is damaged: {problem}."]
        if kept:
            lines.append(f"Nothing was written; a copy of the damaged file is kept as {kept}.")
        elif keep_copy:
            lines.append("Nothing was written; the damaged file is left as it is.")
        else:
            lines.append(
                "Nothing was written (this command only reads); the damaged file is left as "
                "it is: copy it aside before restoring."
            )
        if self.backup_path.is_file():
            restore = shlex.join(["cp", str(self.backup_path), str(self.path)])
            lines.append(
                f"{self.backup_path} holds the state as it was before the last run that "
                f"locked it; restore it from there with:\n  {restore}\nthen run `billplan "
                f"plan`: {self._promise()}"
            )
        else:
            lines.append(
                f"There is no backup ({self.backup_path} does not exist): repair the file by "
                "hand, or move it away and run `billplan plan`: objects that match the plan "
                "exactly are adopted, not created again (docs/state.md)."
            )
        return "\n".join(lines)

    def _promise(self) -> str:
        """What restoring the backup gets back, and what it cannot."""
        if self._ledger():
            return (
                f"{self.ledger_path} records every object billplan created, changed or let go "
                "of, so the plan takes back what the backup does not hold, as billplan's own "
                "(to update or delete as the plan says). Only what no ledger recorded (a "
                "billplan without one made it, or the ledger was removed) is found by content "
                "alone: adopted if it matches the plan exactly, otherwise shown as unmanaged."
            )
        return (
            f"there is no ledger ({self.ledger_path}), so what the last run created is found "
            "by content alone: adopted if it matches the plan exactly; an object the plan has "
            "changed since is shown as unmanaged, not adopted: import it with `billplan import "
            "ADDRESS REMOTE_ID` before applying, or it is created twice."
        )

    def write(self, state: State) -> None:
        """Record what changed in state since the last read or write: appended to the ledger
        and made durable before this returns. The state file itself is written whole now, or,
        while this backend holds the lock, once when it lets go of it: a write under the lock
        costs what it changed, however large the state (a crash in between loses nothing, as
        the next read replays the ledger)."""
        if self._seen is not _UNREAD:
            try:
                now: tuple[int, int] | None = _identity(self.path.stat())
            except FileNotFoundError:
                now = None
            if now != self._seen:
                raise StateError(
                    f"state file {self.path} was "
                    + ("deleted" if now is None else "replaced by another run or by hand")
                    + f" since this run read it (at serial {state.serial}); nothing was "
                    "written. Run `billplan plan` again."
                )
        if not state.lineage:
            state.lineage = self.first_lineage()
            state.serial = max(state.serial, ledger.last_serial(self._ledger(), state.lineage))
        # The file's lineage, which the next read replays the ledger by; a state that is not
        # the one last read or written (another lineage) is written whole.
        same = state.lineage == self._recorded[0] and state.serial == self._recorded[1]
        state.serial += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        touched = state.touched() if same else None
        records = ledger.changed(self._written, state.entries, state.lineage, state.serial, touched)
        self._append_ledger(records)
        self._recorded = (state.lineage, state.serial)
        if self._locked and same and isinstance(self._seen, tuple):
            for record in records:
                if record.entry is None:
                    self._written.pop(record.address, None)
                else:
                    self._written[record.address] = record.entry
            self._behind = True
        else:
            self._written = dict(state.entries)
            self._write_file()
        state.settle()

    def _write_file(self) -> None:
        """The state file, whole, as the ledger holds it: atomically (temp file, fsync,
        rename)."""
        _atomic_write(self.path, self._render().encode("utf-8"))
        self._seen = _identity(self.path.stat())
        self._behind = False

    def _catch_up(self, failing: bool = False) -> None:
        """Write the state file up to the ledger. When the run is failing anyway, a file that
        cannot be written is only a warning: the ledger holds every change, and the next read
        replays it."""
        try:
            self._write_file()
        except (OSError, StateError) as exc:
            if failing:
                log.warning(
                    "billplan: could not write the state file %s (%s); every change is "
                    "recorded in %s, and the next run takes it up",
                    visible(self.path),
                    visible(str(exc)),
                    visible(self.ledger_path),
                )
                return
            raise StateError(
                f"cannot write the state file {self.path}: {exc}. Every change this run made "
                f"is recorded in {self.ledger_path}: the next billplan run reads it from there "
                "and writes the file (free some space, or fix the permissions, first)"
            ) from exc

    def first_lineage(self) -> str:
        return ledger.first_lineage(f"local:{self.path.resolve()}")

    def others_holding(self, remote_ids: Sequence[str]) -> list[tuple[str, str, str, str]]:
        """The other billplan state files in this one's directory that record any of
        remote_ids; a file that is not a state, a damaged one or a symlink is passed over."""
        wanted, found = set(remote_ids), []
        if self.path.name == _SANDBOX_STATE:
            return []  # the sandbox's ids are its own: no other state can hold them
        try:
            neighbours = sorted(self.path.parent.glob("*.json"))
        except OSError:
            return []
        for path in neighbours:
            if path.name in (self.path.name, _SANDBOX_STATE) or path.is_symlink():
                continue
            if not path.is_file():
                continue
            try:
                other = LocalBackend(path).read()
            except StateError:
                continue
            found += [
                (str(path), e.address, e.type, e.remote_id)
                for e in other.entries.values()
                if e.remote_id in wanted
            ]
        return found

    def _render(self) -> str:
        """One entry per line: readable and diffable."""
        lines = [self._encode(self._written[address]) for address in sorted(self._written)]
        for address in self._encoded.keys() - self._written.keys():
            del self._encoded[address]
        lineage, serial = self._recorded
        head = jsonio.dumps(State(lineage=lineage, serial=serial).header())[:-1]
        body = ",\n    ".join(lines)
        return f'{head}, "entries": [\n    {body}\n]}}\n' if lines else f'{head}, "entries": []}}\n'

    def _encode(self, entry: Entry) -> str:
        """The entry's JSON, made once for its ledger record and the state file."""
        cached = self._encoded.get(entry.address)
        if cached is None or cached[0] is not entry:
            cached = (entry, jsonio.dumps(entry.to_json()))
            self._encoded[entry.address] = cached
        return cached[1]

    @contextlib.contextmanager
    def lock(self, operation: str, wait: float = 0.0) -> Iterator[LockInfo]:
        self._refuse_other_files()
        info = LockInfo.taken_now(operation)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The lock file is written and flocked under a temporary name, then linked to the
        # lock's name: no run ever sees it half-written or not yet flocked.
        held, staged = self._prepared(info)
        try:
            deadline = time.monotonic() + wait
            while not _link(staged, self.lock_path):
                if self._remove_if_abandoned():
                    continue
                if time.monotonic() >= deadline:
                    holder = self.current_lock()
                    if holder is None:
                        continue  # released between our attempt and our read: try again
                    raise StateLocked(holder, str(self.path), self._hint(holder))
                time.sleep(0.1)
        except BaseException:
            os.close(held)
            raise
        finally:
            staged.unlink(missing_ok=True)
        try:
            found = self._content()
            if found is not None:
                # The state as it was before this run: a way back that needs no tooling. A
                # damaged file is never copied over the backup, the one good copy left.
                content = found[0]
                self._parse(content, keep_copy=True)
                try:
                    _atomic_write(self.backup_path, content)
                except OSError as exc:
                    raise StateError(
                        f"cannot back up the state to {self.backup_path}: {exc}"
                    ) from exc
            self._locked = True
            try:
                yield info
            except BaseException:
                self._locked = False
                if self._behind:
                    self._catch_up(failing=True)
                raise
            self._locked = False
            if self._behind:
                self._catch_up()
        finally:
            self._locked = False
            if _same_file(held, self.lock_path):
                self.lock_path.unlink(missing_ok=True)
            os.close(held)  # and with it the flock

    def _prepared(self, info: LockInfo) -> tuple[int, Path]:
        """A temporary file next to the lock file, holding info, flocked by this process."""
        fd, tmp = tempfile.mkstemp(prefix=f".{self.lock_path.name}.", dir=self.path.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, json.dumps(asdict(info)).encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        return fd, Path(tmp)

    def _remove_if_abandoned(self) -> bool:
        """Remove a lock file whose run died (no process holds its flock); True if removed."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a live run holds it
            # We hold its flock: no other run can judge it at the same time, and a run that
            # released it normally has already removed the name (then it is not this file).
            if not _same_file(fd, self.lock_path):
                return True
            holder = self.current_lock()
            self.lock_path.unlink()
        finally:
            os.close(fd)
        described = holder.describe() if holder else "a lock file of unknown content"
        log.warning(  # the lock file's text is anyone's: shown escaped, as every message is
            "billplan: removed %s, left by a run that is no longer running, from %s",
            visible(described),
            visible(self.lock_path),
        )
        return True

    def _hint(self, holder: LockInfo) -> str:
        return (
            f"A run that dies releases its lock by itself; if {holder.who} (pid {holder.pid}) "
            "is stuck, stop that process. If the lock file is on a file system without "
            f"flock and its run is gone, remove it with: billplan force-unlock {holder.id} PATH"
        )

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
        self._refuse_other_files()
        held = self.current_lock()
        if held is None:
            raise StateError(f"the state at {self.path} is not locked")
        if held.id != lock_id:
            raise StateError(
                f"the state at {self.path} is held by a different lock: {held.describe()}; "
                "nothing was removed"
            )
        self.lock_path.unlink(missing_ok=True)


# The sandbox's state (compiler.workspace.state_backend): its ids mean nothing elsewhere.
_SANDBOX_STATE = "sandbox-state.json"

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
# How every state billplan writes begins; a file that begins so is its state, perhaps damaged.
_STATE_START = re.compile(rb'\s*\{\s*"format_version"\s*:')
_OWN_START = b'{"format_version":'


def _not_state_reason(content: bytes) -> str | None:
    """Why content is not billplan's state at all, or None if it is (perhaps damaged: cut
    short, hand-edited, an entry missing a field). Only then may billplan lock, back up,
    copy or write it."""
    stripped = content.lstrip()
    if _STATE_START.match(content) or _OWN_START.startswith(stripped[: len(_OWN_START)]):
        return None  # billplan's own, or cut short before its first key ended (even to nothing)
    try:
        raw = json.loads(content)
    except ValueError:  # not JSON, or not UTF-8
        return "it is not JSON"
    if not isinstance(raw, dict):
        return "it is not a JSON object"
    if "format_version" not in raw:
        return "it has no format_version"
    return None


class _Unread:
    """No read or write yet: nothing to compare a write with."""


_UNREAD = _Unread()


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_dev, stat.st_ino)


def _link(source: Path, name: Path) -> bool:
    """Give source the name too, unless something has it already."""
    try:
        os.link(source, name)
    except FileExistsError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _keep_copy(path: Path, content: bytes) -> Path | None:
    """A copy of a damaged state file beside it (never over another copy); None if the
    copy cannot be written."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        suffix = f".damaged-{stamp}" + (f"-{attempt}" if attempt else "")
        copy = path.with_name(path.name + suffix)
        if copy.exists():
            if copy.read_bytes() == content:
                return copy
            continue
        try:
            _atomic_write(copy, content)
        except OSError:
            return None
        return copy
    return None


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
    _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
