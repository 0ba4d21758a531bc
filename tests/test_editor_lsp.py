"""The editor, for real: yaml-language-server (npm) over LSP stdio, with billplan's schema.

A plan author sees these messages while typing, before `billplan validate` runs. Each bad plan
of tests/bad_plans/ is opened in the server and its diagnostics (line and message) are pinned;
where the editor's message is one the schema words (patternErrorMessage, errorMessage), billplan
says the same words on the same line. One completion and one hover show that the schema's
examples and descriptions reach the editor.

The server is installed by `.ci/run` (`npm ci --prefix .ci`, pinned in .ci/package.json). On a
developer's machine without it these tests skip and say how to install it; in CI (CI=true)
they fail instead.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

import pytest

from compiler.schema_check import plan_schema
from compiler.validate import check

ROOT = Path(__file__).resolve().parents[1]
BAD_PLANS_DIR = ROOT / "tests" / "bad_plans"
SCHEMA_PATH = ROOT / "schemas" / "billing-plan.schema.json"
SERVER = ROOT / ".ci" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
NODE = shutil.which("node")
WAIT = 30.0  # seconds for one answer; the server answers in milliseconds once started

pytestmark = pytest.mark.skipif(
    (NODE is None or not SERVER.is_file()) and os.environ.get("CI") != "true",
    reason="yaml-language-server is not installed: run `npm ci --prefix .ci`",
)


class LanguageServer:
    """A minimal LSP client: JSON-RPC with Content-Length framing over the server's stdio."""

    def __init__(self, settings: dict[str, Any]) -> None:
        if NODE is None or not SERVER.is_file():
            pytest.fail("yaml-language-server is not installed: `.ci/run` runs npm ci --prefix .ci")
        self.settings = settings
        self.process = subprocess.Popen(
            [NODE, str(SERVER), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self.next_id = 0
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = 0
            while line := stream.readline():
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if not line:
                return
            self.inbox.put(json.loads(stream.read(length)))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        ask = self.next_id
        self._send({"id": ask, "method": method, "params": params})
        while True:
            message = self._next()
            if message.get("id") == ask and "method" not in message:
                return message.get("result")

    def _next(self) -> dict[str, Any]:
        try:
            message = self.inbox.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"yaml-language-server said nothing for {WAIT:.0f} s")
        method = message.get("method")
        if method == "textDocument/publishDiagnostics":
            self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
        elif method is not None and "id" in message:  # the server asks: answer every request
            result: Any = None
            if method == "workspace/configuration":
                items = message["params"]["items"]
                result = [self.settings.get(item.get("section", "")) for item in items]
            self._send({"id": message["id"], "result": result})
        return message

    def open(self, path: Path, text: str | None = None) -> list[dict[str, Any]]:
        """Open a document and return the diagnostics the server publishes for it."""
        uri = path.resolve().as_uri()
        self.diagnostics.pop(uri, None)
        body = path.read_text(encoding="utf-8") if text is None else text
        document = {"uri": uri, "languageId": "yaml", "version": 1, "text": body}
        self.notify("textDocument/didOpen", {"textDocument": document})
        while uri not in self.diagnostics:
            self._next()
        return self.diagnostics[uri]

    def close(self) -> None:
        try:
            self.request("shutdown", {})
            self.notify("exit", {})
            self.process.wait(timeout=5)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def editor() -> Iterator[LanguageServer]:
    # As a user's editor would be set up: the schema for every YAML file, no schema store.
    yaml = {
        "validate": True,
        "hover": True,
        "completion": True,
        "schemaStore": {"enable": False},
        "schemas": {SCHEMA_PATH.as_uri(): "*.yaml"},
    }
    server = LanguageServer({"yaml": yaml})
    capabilities = {"workspace": {"configuration": True}, "textDocument": {"hover": {}}}
    server.request(
        "initialize",
        {"processId": os.getpid(), "rootUri": ROOT.as_uri(), "capabilities": capabilities},
    )
    server.notify("initialized", {})
    server.notify("workspace/didChangeConfiguration", {"settings": {"yaml": yaml}})
    yield server
    server.close()


def said(diagnostics: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(line, message) of each diagnostic, lines counted from 1 as billplan counts them."""
    return sorted((d["range"]["start"]["line"] + 1, d["message"]) for d in diagnostics)


AMOUNT = (
    "Expected an amount such as 15000, 1234.50 or -250 (no currency symbol, no separators such "
    "as 1,000 or 1_000)."
)
NO_PRICE = (
    "A milestone needs exactly one of `amount`, `quantity` with `rate`, `percent` or `split` "
    "(found none)."
)
# What the editor shows for each bad plan the schema can see (the rest of the corpus is about
# meaning the schema cannot state: dates, names, sums; those files show nothing).
EDITOR: dict[str, list[tuple[int, str]]] = {
    "amount_and_amounts.yaml": [
        (17, "A recurring charge needs exactly one of `amount` or `amounts` (both given); keep "
             "`amount` for one price or `amounts` for price steps."),
    ],
    "amount_is_text.yaml": [(11, AMOUNT)],
    "amount_with_currency_symbol.yaml": [(11, AMOUNT)],
    "bad_every.yaml": [
        (11, "Expected a period such as month, 3 months, quarter, year, week or 2 weeks."),
    ],
    "bad_project_key.yaml": [
        (10, "Expected a lowercase name such as cloud-infra (a-z, 0-9, - and _, not starting "
             "with - or _)."),
    ],
    "count_zero.yaml": [(11, "Value is below the minimum of 1.")],
    "end_and_count.yaml": [(11, "Give either `end` or `count`, not both.")],
    "escalate_without_percent_sign.yaml": [(17, 'Incorrect type. Expected "string".')],
    "lowercase_currency.yaml": [
        (10, "Expected a three-letter currency code such as USD, EUR or JPY."),
    ],
    "milestone_without_price.yaml": [(11, NO_PRICE)],
    "missing_project_id.yaml": [(7, 'Missing property "project_id".')],
    "policy_limits.yaml": [
        (8, "Expected a three-letter currency code such as USD, EUR or JPY."),
        (8, "Value is below the minimum of 0."),
        (9, 'Value is not accepted. Valid values: "refuse", "allow".'),
    ],
    "several_errors.yaml": [
        (12, AMOUNT),
        (13, 'Missing property "description".'),
        (13, "Property descripton is not allowed."),
    ],
    "thousands_separator_in_amount.yaml": [(11, AMOUNT)],
    "unknown_key_typo.yaml": [(11, NO_PRICE), (11, "Property ammount is not allowed.")],
    "unknown_provider_type.yaml": [
        (4, 'Value is not accepted. Valid values: "ruddr", "kantata", "wethod", "coperniq".'),
    ],
    "unknown_top_level_key.yaml": [(6, "Property project is not allowed.")],
    "version_2.yaml": [(2, "Value must be 1.")],
    "zero_weight.yaml": [(16, "Value is below the exclusive minimum of 0.")],
}  # fmt: skip
# Files whose YAML the editor's parser reads differently from billplan's (syntax errors,
# tags, aliases): pinned only as "the editor complains", since billplan stops at the syntax.
SYNTAX = {
    "billion_laughs.yaml", "duplicate_key.yaml", "project_is_a_list.yaml", "python_object.yaml",
    "python_object_tag.yaml", "top_level_list.yaml", "yaml_bad_indentation.yaml",
    "yaml_tab_indentation.yaml", "yaml_unclosed_brace.yaml", "yaml_undefined_alias.yaml",
    "yaml_unquoted_colon.yaml",
}  # fmt: skip
BAD_FILES = sorted(p.name for p in BAD_PLANS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", BAD_FILES)
def test_each_bad_plan_shows_its_diagnostics_in_the_editor(
    editor: LanguageServer, name: str
) -> None:
    shown = said(editor.open(BAD_PLANS_DIR / name))
    if name in SYNTAX:
        assert shown, f"{name}: the editor shows nothing"
    else:
        assert shown == sorted(EDITOR.get(name, []))


def schema_words() -> set[str]:
    """Every message the schema words itself: patternErrorMessage and errorMessage texts."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("patternErrorMessage", "errorMessage") and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan_schema())
    return found


@pytest.mark.parametrize("name", sorted(set(EDITOR)))
def test_billplan_says_the_editors_words_on_the_same_line(
    editor: LanguageServer, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BAD_PLANS_DIR)
    ours = [(line, text) for line, text in said(editor.open(BAD_PLANS_DIR / name))]
    ours = [(line, text) for line, text in ours if text in schema_words()]
    billplan = [(d.mark.line, d.message) for d in check(Path(name), date(2026, 1, 1)).diagnostics]
    for line, text in ours:
        clause = text.removesuffix(".")
        clause = (clause[:1].lower() + clause[1:]).removeprefix("expected ")  # names say "use"
        assert any(at == line and clause in message for at, message in billplan), (
            f"{name}:{line}: the editor says {text!r}; billplan says {billplan}"
        )


def test_every_texts_worded_by_the_schema_appear_in_the_editor_corpus() -> None:
    # The table above exercises the pattern and rule texts most plans meet.
    shown = {text for lines in EDITOR.values() for _, text in lines}
    assert len(shown & schema_words()) >= 7


@pytest.mark.parametrize(
    ("written", "flagged"),
    [("10_000", True), ("1e4", False), ("0x2710", False), ("10000", False), ("'1e4'", True)],
)
def test_the_editor_and_billplan_agree_on_how_a_number_is_written(
    editor: LanguageServer, tmp_path: Path, written: str, flagged: bool
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nproviders:\n  ruddr: {type: ruddr}\ndefaults: {currency: USD}\n"
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n    milestones:\n"
        f"      kickoff: {{description: Kickoff, date: 2026-01-15, amount: {written}}}\n",
        encoding="utf-8",
    )
    assert said(editor.open(plan)) == ([(10, AMOUNT)] if flagged else [])
    billplan = [(d.mark.line, d.message) for d in check(plan, date(2026, 1, 1)).diagnostics]
    assert [line for line, _ in billplan] == ([10] if flagged else [])


def test_the_editor_offers_billing_periods_after_every(
    editor: LanguageServer, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    text = (
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n    recurring:\n"
        "      support:\n        every: \n"
    )
    editor.open(plan, text)
    answer = editor.request(
        "textDocument/completion",
        {"textDocument": {"uri": plan.as_uri()}, "position": {"line": 6, "character": 15}},
    )
    items = answer["items"] if isinstance(answer, dict) else answer
    labels = {item["label"] for item in items}
    assert {"month", "quarter", "year", "2 weeks"} <= labels


def test_the_editor_shows_a_keys_description_on_hover(
    editor: LanguageServer, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    text = (
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n    milestones:\n"
        "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}\n"
    )
    editor.open(plan, text)
    column = text.splitlines()[5].index("amount") + 2
    answer = editor.request(
        "textDocument/hover",
        {"textDocument": {"uri": plan.as_uri()}, "position": {"line": 5, "character": column}},
    )
    contents = answer["contents"]
    shown = contents["value"] if isinstance(contents, dict) else str(contents)
    assert "Fixed amount, e.g. 10000" in shown
