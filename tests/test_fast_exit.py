"""The `billplan` command ends its process at once after a large command (compiler.cli.run):
only once the command returned, its output flushed, and no thread is left working; its exit
code and output are main()'s."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "plans" / "examples"


def _billplan(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args], capture_output=True, cwd=cwd, check=False
    )


def test_render_writes_everything_main_does(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["render", str(EXAMPLES), "--as-of", "2026-01-01", "--format", "json"]
    assert cli.main(args) == 0
    in_process = capsys.readouterr().out.encode()
    ran = _billplan(*args)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == in_process


def test_exit_codes_are_main_s(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [\n")
    ran = _billplan("validate", str(bad))
    assert ran.returncode == cli.EXIT_ERROR
    assert b"bad.yaml:2:1" in ran.stderr
    assert _billplan("validate", str(EXAMPLES)).returncode == cli.EXIT_OK


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.fixture
def hard_exit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """os._exit recorded (and the run stopped there) instead of ending the test process."""
    codes: list[int] = []

    def exit_now(code: int) -> None:
        codes.append(code)
        raise _Exited(code)

    monkeypatch.setattr(cli.os, "_exit", exit_now)
    monkeypatch.setattr(cli, "_left_for_exit", None)
    return codes


def _command(
    code: int, *, leave: bool, thread: threading.Thread | None = None
) -> Callable[[], int]:
    def main() -> int:
        if leave:
            cli.leave_for_exit(object())
        if thread is not None:
            thread.start()
        return code

    return main


def test_a_command_that_left_something_ends_at_once(
    monkeypatch: pytest.MonkeyPatch, hard_exit: list[int]
) -> None:
    monkeypatch.setattr(cli, "main", _command(2, leave=True))
    with pytest.raises(_Exited):
        cli.run()
    assert hard_exit == [2]


def test_a_command_that_left_nothing_ends_the_usual_way(
    monkeypatch: pytest.MonkeyPatch, hard_exit: list[int]
) -> None:
    monkeypatch.setattr(cli, "main", _command(1, leave=False))
    with pytest.raises(SystemExit) as ended:
        cli.run()
    assert ended.value.code == 1
    assert hard_exit == []


def test_a_thread_still_working_is_waited_for(
    monkeypatch: pytest.MonkeyPatch, hard_exit: list[int]
) -> None:
    release = threading.Event()
    working = threading.Thread(target=release.wait, daemon=False)
    monkeypatch.setattr(cli, "main", _command(0, leave=True, thread=working))
    try:
        with pytest.raises(SystemExit) as ended:
            cli.run()
    finally:
        release.set()
        working.join()
    assert ended.value.code == 0
    assert hard_exit == []


def test_output_that_cannot_be_flushed_ends_the_usual_way(
    monkeypatch: pytest.MonkeyPatch, hard_exit: list[int]
) -> None:
    class Closed:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "main", _command(0, leave=True))
    monkeypatch.setattr(sys, "stdout", Closed())
    with pytest.raises(SystemExit):
        cli.run()
    assert hard_exit == []


def test_main_called_directly_keeps_nothing() -> None:
    assert cli._left_for_exit is None
    assert cli.main(["validate", str(EXAMPLES), "--as-of", "2026-01-01"]) == 0
    assert cli._left_for_exit is None
