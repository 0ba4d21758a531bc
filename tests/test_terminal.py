"""A real terminal reads billplan's output: `billplan plan --sandbox` runs under tmux, and the
screen tmux holds afterwards (capture-pane) shows that a hostile description changed
nothing around it: no screen cleared, no line rewritten, no window title set.

Skipped only on a developer's machine without tmux; in CI (CI=true), which installs it
(.ci/run), a missing tmux fails the test instead.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import AS_OF_TEXT, sandboxed, variant, write_plan

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None and os.environ.get("CI") != "true", reason="tmux is not installed"
)

# Clear the screen and home the cursor, set the window title, then overwrite the line's
# start (CR) and reverse what follows (bidi override).
HOSTILE = "Kickoff\x1b[2J\x1b[H\x1b]0;owned\x07\rFORGED LINE\u202eevil"
DONE = "__billplan_done__"


class Terminal:
    """A tmux server of this test's own (its own socket), one window 300 x 50."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def run(self, *argv: str) -> list[str]:
        """Run argv in the window, wait for it to finish, and return the screen's lines."""
        # The terminal's own size, not one a test runner exported (pytest sets COLUMNS=80).
        words = ["env", "-u", "COLUMNS", "-u", "LINES", *argv]
        command = " ".join(shlex.quote(word) for word in words) + f"; echo {DONE}; sleep 60"
        self.tmux("new-session", "-d", "-s", "billplan", "-x", "300", "-y", "50", command)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = self.tmux("capture-pane", "-p", "-t", "billplan")
            if DONE in screen:
                return screen.splitlines()
            time.sleep(0.2)
        raise AssertionError(f"billplan did not finish under tmux:\n{screen}")

    def title(self) -> str:
        return self.tmux("display-message", "-p", "-t", "billplan", "#{pane_title}").strip()


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


def test_a_hostile_description_leaves_the_lines_around_it_intact(
    terminal: Terminal, tmp_path: Path
) -> None:
    planned = variant(("{description: Kickoff,", "{description: " + json.dumps(HOSTILE) + ","))
    directory = write_plan(tmp_path / "billing", planned)
    assert sandboxed("apply", directory).code == 0
    edited = json.dumps(HOSTILE + " v2")
    write_plan(directory, variant((json.dumps(HOSTILE), edited), body=planned))

    screen = terminal.run(
        sys.executable, "-m", "compiler", "plan", str(directory), "--sandbox", "--as-of", AS_OF_TEXT
    )

    shown = "Kickoff\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\rFORGED LINE\\u202eevil"
    assert screen[0].startswith("cloud-infra  (ruddr, ")  # nothing cleared the screen
    assert screen[1].strip() == (
        "~ update  cloud-infra/milestones/kickoff  2026-01-15  10,000.00 USD"
    )
    assert screen[2].strip() == f'name: "{shown}" -> "{shown} v2"'
    assert screen[3:5] == ["", "Billing impact"]
    assert any(line.startswith("Plan: 0 to create, 1 to update") for line in screen)
    assert not any(line.startswith("FORGED") for line in screen)
    assert terminal.title() != "owned"
