"""The golden pull-request comments as GitHub's renderer turns them into HTML: cmark-gfm (the
C library GitHub's markdown is built on, Debian package `cmark-gfm`) with the GFM extensions
GitHub enables (table, strikethrough, autolink, tagfilter) and raw HTML let through, as
GitHub lets it through its sanitizer. The tests assert the structure a reviewer sees: each
alert its own blockquote opening with its marker, the tables whole, the folded blocks, a run's
row that opens in its cell, dates that cannot wrap, the labels line hidden.

GitHub turns a blockquote opening with `[!WARNING]` into its alert after this stage, so here
the marker is the first line of the blockquote's paragraph. The look is judged by eye in
headless chromium (docs/ci.md says how); these tests hold the structure.

Skipped only on a developer's machine without cmark-gfm; in CI (CI=true), which installs it
(.ci/run), a missing cmark-gfm fails the tests instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from compiler.model.change import Change, Plan, Side
from compiler.render.plan import to_markdown

CMARK = shutil.which("cmark-gfm")
pytestmark = pytest.mark.skipif(
    CMARK is None and os.environ.get("CI") != "true", reason="cmark-gfm is not installed"
)
GOLDEN = Path(__file__).parent / "golden"
NB = "\u2011"
VOID = {"br", "hr", "img", "input"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def find_all(self, tag: str) -> list[Element]:
        found = []
        for child in self.children:
            if isinstance(child, Element):
                if child.tag == tag:
                    found.append(child)
                found += child.find_all(tag)
        return found

    @property
    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root")
        self.open = [self.root]
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def _render(markdown: str) -> tuple[Element, list[str]]:
    """The comment as GitHub's renderer gives it: the element tree and the HTML comments."""
    assert CMARK is not None, "cmark-gfm is not installed (apt-get install cmark-gfm)"
    extensions = ["-e", "table", "-e", "strikethrough", "-e", "autolink", "-e", "tagfilter"]
    done = subprocess.run(
        [CMARK, "--unsafe", *extensions],
        input=markdown,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    tree = _Tree()
    tree.feed(done.stdout)
    tree.close()
    assert tree.open == [tree.root], "an element is left open"
    return tree.root, tree.comments


def _golden(name: str) -> tuple[Element, list[str]]:
    return _render((GOLDEN / name).read_text(encoding="utf-8"))


def _rows(table: Element) -> list[list[Element]]:
    return [row.elements for row in table.find_all("tr")]


def _column(table: Element, header: str) -> list[str]:
    head, *body = _rows(table)
    index = [cell.text for cell in head].index(header)
    return [row[index].text for row in body]


def _alerts(root: Element) -> list[str]:
    """Each top-level blockquote's first line: an alert's marker."""
    return [
        quote.elements[0].text.split("\n")[0]
        for quote in root.elements
        if quote.tag == "blockquote"
    ]


def test_the_warning_is_a_blockquote_opening_with_the_alert_marker() -> None:
    root, _ = _golden("plan_markdown.md")

    first = root.elements[0]
    assert first.tag == "blockquote"
    paragraph = first.elements[0]
    assert paragraph.tag == "p"
    assert paragraph.text.startswith("[!WARNING]\n1 to delete, 1 locked")
    assert _alerts(root) == ["[!WARNING]"]


def test_a_caution_and_a_warning_render_as_two_alerts() -> None:
    side = Side(date(2026, 3, 1), Decimal(100), "USD")
    common = {"provider": "ruddr", "type": "ruddr_invoice_milestone", "project": "p",
              "project_id": "p", "remote_id": "r", "before": {}, "after": None,
              "before_side": side}  # fmt: skip
    refused = Change("p/milestones/kept", "no-op", reason="protected", **common)
    deleted = Change("p/milestones/old", "delete", **common)

    root, _ = _render(to_markdown(Plan(changes=[refused, deleted])))

    assert _alerts(root) == ["[!CAUTION]", "[!WARNING]"]


def test_every_table_row_has_as_many_cells_as_its_header() -> None:
    for name in ("plan_markdown.md", "plan_markdown_runs.md"):
        root, _ = _golden(name)
        tables = root.find_all("table")
        assert len(tables) == {"plan_markdown.md": 6, "plan_markdown_runs.md": 4}[name]
        for table in tables:
            assert len({len(row) for row in _rows(table)}) == 1, name


def test_the_projects_fold_and_those_with_a_delete_or_a_lock_are_open() -> None:
    root, _ = _golden("plan_markdown.md")

    blocks = {
        details.elements[0].text.split(":")[0]: "open" in details.attrs
        for details in root.elements
        if details.tag == "details"
    }
    assert blocks == {
        "Net change by month": False,
        "cloud-infra": True,
        "sunridge": True,
        "Unmanaged": False,
    }


def test_dates_in_every_table_are_written_so_they_cannot_wrap() -> None:
    for name in ("plan_markdown.md", "plan_markdown_runs.md"):
        root, _ = _golden(name)
        seen = 0
        for table in root.find_all("table"):
            headers = [cell.text for cell in _rows(table)[0]]
            for header in {"Date", "Month"} & set(headers):
                for cell in _column(table, header):
                    seen += 1
                    assert "-" not in cell, (name, cell)
                    assert cell in ("", "—", "on completion") or re.search(f"\\d{NB}\\d", cell)
        assert seen >= 6, name


def test_a_changed_date_field_shows_both_dates_unbreakable() -> None:
    root, _ = _golden("plan_markdown.md")

    deltas = [
        row[-1].text
        for table in root.find_all("table")
        for row in _rows(table)
        if len(row) == 6 and row[4].text == "date"
    ]
    assert deltas == [
        f"2026{NB}01{NB}01 → 2026{NB}04{NB}01",
        f"2026{NB}04{NB}01 → 2026{NB}04{NB}15",
    ]


def test_a_run_of_identical_changes_is_one_row_that_opens_in_its_cell() -> None:
    root, _ = _golden("plan_markdown_runs.md")

    changes = root.find_all("table")[-1]
    head, *rows = _rows(changes)
    assert [cell.text for cell in head][:2] == ["Action", "Address"]
    assert len(rows) == 2
    action, address, when, amount, name, delta = rows[0]
    assert action.text == "~ update ×\u00a012"
    (details,) = address.elements
    assert details.tag == "details"
    summary, *members = details.children
    assert isinstance(summary, Element) and summary.tag == "summary"
    assert summary.text == "12 × cloud-infra/recurring/retainer/…"
    listed = [m for m in members if isinstance(m, str)]
    assert listed[0] == f"2026-01 (2026{NB}01{NB}01)" and len(listed) == 12
    assert when.text == f"2026{NB}01{NB}01 … 2026{NB}12{NB}01"
    assert (amount.text, name.text, delta.text) == (
        "15,000.00 → 16,000.00 USD",
        "fee",
        "15,000.00 → 16,000.00",
    )


def test_a_create_shows_the_clients_text_under_its_address() -> None:
    root, _ = _golden("plan_markdown_runs.md")

    create = _rows(root.find_all("table")[-1])[2]
    assert create[0].text == "+ create"
    (sub,) = create[1].find_all("sub")
    assert sub.text == 'client sees: "Data migration workshop"'


def test_an_untouched_currency_is_a_line_not_a_table_row() -> None:
    root, _ = _golden("plan_markdown_runs.md")

    impact = root.find_all("table")[0]
    assert _column(impact, "Currency") == ["USD"]
    assert "No change in EUR (6,000.00 scheduled)." in [p.text for p in root.find_all("p")]


def test_the_labels_line_is_an_html_comment_github_does_not_show() -> None:
    root, comments = _golden("plan_markdown.md")

    assert comments[0] == " billplan-plan "
    assert comments[-1] == " billplan-labels: billplan:deletes billplan:locked "
    assert "billplan-labels" not in root.text
