"""`billplan apply` in a real terminal (tmux), as a new user meets it (issue 19): the question
that approves it, under the plan's summary said once, and Ctrl-C pressed while it writes:
it says how many changes were applied, that state holds them, and what to run next.

Ctrl-C is sent by tmux to the terminal, so it reaches billplan as a real SIGINT in the middle
of a vendor call: the emulator, served over loopback, answers every create slowly (a delay
fault), so the keys land between two writes' lines.

Skipped only on a developer's machine without tmux; in CI (CI=true), which installs it
(.ci/run), a missing tmux fails the test instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import AS_OF_TEXT, TOKEN_ENV, Remote, remote, state_json, write_plan

from compiler.credentials import base_url_env
from compiler.sandbox import SANDBOX_TOKEN, base_url

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None and os.environ.get("CI") != "true", reason="tmux is not installed"
)
DONE = "__billplan_exit__"


class Terminal:
    """A tmux server of this test's own (its own socket): one window, 200 x 80, running one
    command; the test reads its screen and types into it."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        assert TMUX is not None, "tmux is not installed (.ci/run installs it)"
        done = subprocess.run(
            [TMUX, "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Run argv in the window; its exit code is printed after it as `DONE <code>`."""
        assigned = [f"{name}={value}" for name, value in (env or {}).items()]
        words = ["env", "-u", "COLUMNS", "-u", "LINES", *assigned, *argv]
        # The shell survives the Ctrl-C meant for billplan (a trap that runs a command leaves
        # billplan's own SIGINT handling as it is), to print the exit code and keep the pane.
        command = (
            "trap : INT; "
            + " ".join(shlex.quote(word) for word in words)
            + f"; echo {DONE} $?; sleep 120"
        )
        self.tmux("new-session", "-d", "-s", "billplan", "-x", "200", "-y", "80", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "billplan", "-S", "-200")

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        """The screen once pattern (a regular expression) is on it."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.search(pattern, screen, re.MULTILINE):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never showed under tmux:\n{screen}")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "billplan", *keys)

    def exit_code(self) -> int:
        # Not at a line's start: the terminal echoes a Ctrl-C as `^C` where the cursor is.
        screen = self.wait_for(rf"{DONE} \d+$")
        return int(re.search(rf"{DONE} (\d+)$", screen, re.MULTILINE)[1])  # type: ignore[index]


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    # A short directory: a unix socket's path is limited to about 100 characters.
    directory = Path(tempfile.mkdtemp(prefix="billplan-tmux-"))
    terminal = Terminal(directory / "socket")
    try:
        yield terminal
    finally:
        subprocess.run(
            [str(TMUX), "-S", str(terminal.socket), "kill-server"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


def billplan_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "compiler", *(str(a) for a in args)]


def test_the_question_follows_the_plan_and_its_summary_said_once(
    terminal: Terminal, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing")
    terminal.start(billplan_argv("apply", directory, "--sandbox", "--as-of", AS_OF_TEXT))

    screen = terminal.wait_for(r"Apply these changes\? Only 'yes' will be accepted:")
    summaries = [line for line in screen.splitlines() if line.startswith("Plan: ")]
    assert summaries == ["Plan: 7 to create, 0 to update, 0 to delete, 0 locked."]
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[-2].startswith("Plan: 7 to create")
    assert lines[-1].startswith("Apply these changes?")

    terminal.send("no", "Enter")
    assert terminal.exit_code() == 1
    assert "Apply cancelled; nothing was changed." in terminal.screen()


def _slow_apply(terminal: Terminal, ruddr: Remote, directory: Path, delay_ms: int) -> None:
    """Start `billplan apply` in the terminal against the served emulator, which answers
    every create after delay_ms, and wait for its first object's line."""
    for path in ("/project-invoice-milestones", "/project-product-items"):
        ruddr.admin.fault("POST", path, times=10, delay_ms=delay_ms)
    env = {TOKEN_ENV: SANDBOX_TOKEN, base_url_env("ruddr"): base_url("ruddr", ruddr.root)}
    terminal.start(billplan_argv("apply", directory, "--as-of", AS_OF_TEXT, "--auto-approve"), env)
    terminal.wait_for(r"^\[1/7 0:01\] \S+: created \(id \S+\)$")


def test_ctrl_c_during_apply_says_what_was_applied_that_state_is_saved_and_what_next(
    terminal: Terminal, tmp_path: Path
) -> None:
    with remote() as ruddr:
        directory = write_plan(tmp_path / "billing", head=ruddr.head)
        _slow_apply(terminal, ruddr, directory, delay_ms=1000)

        terminal.send("C-c")
        code = terminal.exit_code()
        screen = terminal.screen()

        assert code == 130
        assert "Traceback" not in screen
        shown = " ".join(screen.split())
        assert "Ctrl-C: stopping once the write in progress is done, with state saved" in shown
        applied = re.search(r"Apply interrupted: (\d) of 7 changes applied \((\d) created\)", shown)
        assert applied is not None, screen
        assert applied[1] == applied[2] and int(applied[1]) >= 2  # the write under way finished
        assert "state is saved with every one of them" in shown
        assert f"Next: `billplan plan {directory}` shows what is left" in shown
        assert f"`billplan apply {directory}` to apply the rest" in shown
        # State holds every create the screen reported, and nothing half done.
        entries = state_json(directory, sandbox=False)["entries"]
        assert len(entries) == int(applied[1])
        for entry in entries:
            assert entry["status"] == "managed"
            assert f"{entry['address']}: created (id {entry['remote_id']})" in screen
        # The lock was let go and nothing is lost: the next apply makes the rest.
        ruddr.admin._call("DELETE", "/faults")  # the emulator answers at once again
        finished = ruddr.billplan("apply", directory)
        assert finished.code == 0, finished.text
        assert f"Apply complete: {7 - int(applied[1])} created." in finished.out


def test_a_second_ctrl_c_stops_at_once_and_the_create_sent_is_recorded_as_sent(
    terminal: Terminal, tmp_path: Path
) -> None:
    with remote() as ruddr:
        directory = write_plan(tmp_path / "billing", head=ruddr.head)
        _slow_apply(terminal, ruddr, directory, delay_ms=1500)

        terminal.send("C-c")
        terminal.wait_for("Ctrl-C again stops at once")
        terminal.send("C-c")
        code = terminal.exit_code()
        screen = terminal.screen()

        assert code == 130
        assert "Traceback" not in screen
        shown = " ".join(screen.split())
        assert "Apply interrupted: 1 of 7 changes applied (1 created)" in shown
        assert "1 create was sent when it stopped, with no answer yet, and recorded as sent" in (
            shown
        )
        statuses = sorted(e["status"] for e in state_json(directory, sandbox=False)["entries"])
        assert statuses == ["managed", "pending"]
