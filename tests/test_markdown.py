"""The pull-request comment (`billplan plan --format markdown`): a golden comment for a real
plan that touches every action, markup that user text cannot break, the 65,000-character
limit on huge plans, and the copy appended to GITHUB_STEP_SUMMARY.

The golden plan is made the way a team meets it: applied to the in-process Ruddr and
Coperniq emulators, then invoiced, edited, deleted and added to behind billplan's back
(their admin surfaces), and the plan edited. Regenerate the golden file with
`BILLPLAN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_markdown.py` (the run then fails once,
so that a rewritten golden is always looked at), and read its diff before committing it.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
import support_coperniq as coperniq
from markdown_it import MarkdownIt
from support import (
    AS_OF,
    DESIGN,
    INVOICE_ITEM,
    KICKOFF,
    LICENSES,
    MILESTONE,
    PLAN,
    PRODUCT_ITEM,
    WITH_EXTRA,
    admin_of,
    remote_ids,
    sandboxed,
    variant,
    write_plan,
)

from compiler.apply import apply_plan
from compiler.model.change import Change, FieldChange, Plan, Side, Unmanaged, unlabel
from compiler.render.plan import MARKDOWN_LIMIT, MARKER, to_markdown
from compiler.workspace import open_workspace

GOLDEN = Path(__file__).parent / "golden" / "plan_markdown.md"
UPDATE_GOLDEN = "BILLPLAN_UPDATE_GOLDEN"

HEAD = f"""\
version: 1
providers:
  ruddr: {{type: ruddr}}
  coperniq: {{type: coperniq}}
defaults:
  currency: USD
  ruddr: {{invoice_item: {INVOICE_ITEM}}}
"""
SUNRIDGE = coperniq.with_percent().removeprefix("projects:\n")
BATTERIES_LINE = (
    "      batteries: {description: Battery storage units, quantity: 6, rate: 11500, "
    "date: 2026-07-01,\n"
    f"                  coperniq: {{catalog_item: {coperniq.BATTERY_ITEM}}}}}\n"
)
# A plan author's text that tries to end a table cell, inject HTML, open a code span, a
# link, emphasis and math.
HOSTILE = "Go-live | <img src=x onerror=alert(1)> `rm` [click](https://example.com) *now* $5"
PERMITS_LINE = (
    '      permits: {description: "Permits | <b>fees</b>", quantity: 2, rate: 350, '
    "date: 2026-05-04}\n"
)
HAND_MADE_ID = "00000000-0000-4000-8000-000000000001"  # the emulator's id is random: pinned


def _run(directory: Path, *, apply: bool = False, arrange=lambda ruddr, coperniq: None) -> Plan:
    """Plan (and apply) against the directory's sandbox, both emulators without rate limit."""
    with (
        open_workspace(directory, AS_OF, sandbox=True) as workspace,
        admin_of(workspace.sandbox) as ruddr,
        admin_of(workspace.sandbox, coperniq.Admin) as solar,
    ):
        ruddr.no_rate_limit()
        solar.no_rate_limit()
        arrange(ruddr, solar)
        with workspace.backend.lock("test"):
            state = workspace.backend.read()
            plan = workspace.plan(state, workspace.refresh(state))
            if apply:
                applied = apply_plan(plan, workspace.providers, workspace.backend, state)
                assert applied.ok, applied.failures
    return plan


def _every_action_plan(directory: Path) -> Plan:
    """Applied once; then behind billplan's back the kickoff is invoiced, the design edited,
    the licenses deleted, a twin of a new milestone and an unrelated object made by hand;
    then the plan raises the invoiced kickoff, shifts the retainer a month (a paired move),
    renames and moves the launch, drops the licenses and the batteries, adds permits and
    the extra workshop, and lowers the contract value Coperniq prices a percentage from."""
    write_plan(directory, PLAN + SUNRIDGE, head=HEAD)
    _run(directory, apply=True)
    ids = remote_ids(directory)

    def behind_the_back(ruddr, solar) -> None:
        ruddr.invoice(MILESTONE, ids[KICKOFF])
        ruddr.edit(MILESTONE, ids[DESIGN], fee=21000, name="Design (edited in Ruddr)")
        ruddr.delete(PRODUCT_ITEM, ids[LICENSES])
        ruddr.add(MILESTONE, date="2026-06-01", name="Extra workshop", fee=5000, typeId="custom")
        ruddr.add(MILESTONE, date="2026-08-01", name="Hand-made `x` | <script>", fee=700)

    cloud = variant(
        ("amount: 10000}", "amount: 12000}"),
        ("start: 2026-01-01", "start: 2026-02-01"),
        ("end: 2026-03-31", "end: 2026-04-30"),
        (
            "launch: {description: Go-live, date: 2026-04-01",
            f'launch: {{description: "{HOSTILE}", date: 2026-04-15',
        ),
        body=WITH_EXTRA,
    )
    cloud = cloud[: cloud.index("    products:")]
    sunridge = SUNRIDGE.replace("contract_value: 612000", "contract_value: 600000")
    sunridge = sunridge.replace(BATTERIES_LINE, PERMITS_LINE)
    write_plan(directory, cloud + sunridge, head=HEAD)
    plan = _run(directory, arrange=behind_the_back)
    (hand_made,) = plan.unmanaged
    plan.unmanaged[0] = replace(hand_made, remote_id=HAND_MADE_ID)
    return plan


@pytest.fixture(scope="module")
def every_action(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _every_action_plan(tmp_path_factory.mktemp("golden") / "billing")


def test_the_golden_plan_touches_every_action(every_action: Plan) -> None:
    actions = {c.label for c in every_action.changes}
    assert {"create", "update", "delete", "locked", "adopt", "drift", "forget"} <= actions
    assert any(c.moved_from for c in every_action.changes)
    assert any(c.action == "update" and c.fields and not c.moved_from for c in every_action.changes)
    assert len(every_action.unmanaged) == 1
    assert len(every_action.notes) == 1


def test_markdown_for_a_plan_touching_every_action_matches_the_golden_file(
    every_action: Plan,
) -> None:
    markdown = to_markdown(every_action)

    if os.environ.get(UPDATE_GOLDEN) == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(markdown, encoding="utf-8")
        pytest.fail(f"rewrote {GOLDEN}; read its diff, then run again without {UPDATE_GOLDEN}")
    assert GOLDEN.exists(), f"no golden file: run with {UPDATE_GOLDEN}=1 to write it"
    assert markdown == GOLDEN.read_text(encoding="utf-8")


def test_the_comment_opens_with_the_marker_the_warning_the_summary_and_the_impact(
    every_action: Plan,
) -> None:
    lines = to_markdown(every_action).splitlines()

    assert lines[0] == MARKER == "<!-- billplan-plan -->"
    assert lines[1:3] == [
        "> [!WARNING]",
        "> 1 to delete, 1 locked (invoiced: billplan will not change them), "
        "1 drifted (edited outside billplan: apply restores the planned values).",
    ]
    assert lines[4] == (
        "### billplan: Plan: 1 to create, 3 to update, 1 to delete, 1 to adopt, 1 to forget, "
        "1 locked."
    )
    assert lines[6:11] == [
        "**Billing impact**",
        "",
        "| Currency | Scheduled now | After apply | Change |",
        "|---|--:|--:|--:|",
        "| USD | 599,600.00 | 528,500.00 | -71,100.00 |",
    ]


def test_projects_with_a_delete_or_a_lock_are_open_and_their_rows_cannot_be_missed(
    every_action: Plan,
) -> None:
    markdown = to_markdown(every_action)

    assert "<details open><summary><b>cloud-infra</b>: 1 locked, 1 drifted, 2 to update, " in (
        markdown
    )
    assert "<details open><summary><b>sunridge</b>: 1 to delete, 1 to create</summary>" in markdown
    assert "| 🔒 **LOCKED** | cloud-infra/milestones/kickoff<br><sub>already invoiced" in markdown
    assert "| 🗑️ **DELETE** | sunridge/products/batteries<br><sub>" in markdown
    assert "| | | | | fee | 10,000.00 → 12,000.00 |" not in markdown  # on the object's row:
    assert "| 2026\u201101\u201115 | 10,000.00 USD | fee | 10,000.00 → 12,000.00 |" in markdown


# ---- markup that user text cannot break -------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


ALLOWED_TAGS = {
    "blockquote", "br", "code", "details", "em", "h3", "hr", "li", "p", "strong", "sub",
    "summary", "table", "tbody", "td", "th", "thead", "tr", "ul", "b",
}  # fmt: skip


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def _assert_inert(markdown: str) -> str:
    """The comment rendered as GitHub would: only billplan's own tags, every table row with
    as many cells as its header."""
    rendered = _html(markdown)
    parser = _Tags()
    parser.feed(rendered)
    assert parser.tags <= ALLOWED_TAGS, parser.tags - ALLOWED_TAGS
    for table in re.findall(r"<table>.*?</table>", rendered, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        widths = {len(re.findall(r"<t[hd][ >]", row)) for row in rows}
        assert len(widths) == 1, table
    return rendered


def test_text_from_the_plan_or_the_vendor_shows_as_itself_and_injects_nothing(
    every_action: Plan,
) -> None:
    rendered = _assert_inert(to_markdown(every_action))

    assert "<img" not in rendered and "<script" not in rendered and "<a " not in rendered
    assert "Go-live | &lt;img src=x onerror=alert(1)&gt; `rm` [click](https://example.com) " in (
        rendered
    )
    assert "*now* $5" in rendered
    assert "Hand-made `x` | &lt;script&gt;" in rendered


def _change(address: str, label: str = "update", **fields: object) -> Change:
    project = address.split("/")[0]
    side = Side(date(2026, 3, 1), Decimal("100.00"), "USD")
    action, reason = unlabel(label)
    return Change(
        address=address,
        action=action,
        reason=reason,
        provider="ruddr",
        type=MILESTONE,
        project=project,
        project_id="p",
        remote_id="r",
        before={},
        after={},
        before_side=side,
        after_side=side,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "text",
    [
        "a | b",
        "ends with a backslash \\",
        "a backslash before a pipe \\| here",
        "</td></tr></table><script>alert(1)</script>",
        "``double`` `single",
        "line one\nline two\r\nthree",
        "<details open><summary>x</summary>",
        "&lt;b&gt; an entity",
    ],
)
def test_a_hostile_value_keeps_the_table_whole(text: str) -> None:
    plan = Plan(
        changes=[
            _change(
                f"p<b>/milestones/{text}",
                detail=text,
                fields=(FieldChange("name", text, "x"), FieldChange(text, 1, 2)),
            )
        ],
        notes=[text],
    )

    rendered = _assert_inert(to_markdown(plan))

    assert "<script" not in rendered
    assert "<summary><b>p&lt;b&gt;</b>: 1 to update</summary>" in rendered


def test_nested_field_values_show_as_paths_not_as_json() -> None:
    before = {"lineItems": [{"amount": Decimal("100"), "description": "Panels"}]}
    after = {"lineItems": [{"amount": Decimal("120.50"), "description": "Panels"}, {"amount": 5}]}
    change = _change("p/milestones/m", fields=(FieldChange("lineItems", before["lineItems"],
                                                           after["lineItems"]),))  # fmt: skip

    markdown = to_markdown(Plan(changes=[change]))

    assert "| lineItems\\[0\\].amount | 100.00 → 120.50 |" in markdown
    assert "| | | | | lineItems\\[1\\].amount | (none) → 5 |" in markdown
    assert "description" not in markdown  # unchanged leaves are not shown


def test_a_very_long_value_is_cut_to_300_characters() -> None:
    change = _change("p/milestones/m", fields=(FieldChange("name", "a" * 5000, "b"),))

    markdown = to_markdown(Plan(changes=[change]))

    assert f'"{"a" * 299}…" → "b"' in markdown


def test_a_plan_without_changes_says_so() -> None:
    markdown = to_markdown(Plan(changes=[_change("p/milestones/m", label="no-op")]))

    assert markdown.splitlines()[:4] == [
        MARKER,
        "### billplan: Plan: 0 to create, 0 to update, 0 to delete, 0 locked.",
        "",
        "No changes. The vendors hold exactly what the plan says.",
    ]
    assert "<details" not in markdown and "Warning" not in markdown


# ---- the 65,000-character limit ---------------------------------------------------------


def _synthetic(project: str, n: int, *, action: str = "create", start: int = 0) -> list[Change]:
    """n changes in one project, each with a field change, a day apart."""
    out = []
    for i in range(start, start + n):
        day = date(2026, 1, 1) + timedelta(days=i)
        side = Side(day, Decimal(1000 + i), "USD")
        out.append(
            Change(
                address=f"{project}/recurring/support/{day.isoformat()}",
                action=unlabel(action)[0],
                reason=unlabel(action)[1],
                provider="ruddr",
                type=MILESTONE,
                project=project,
                project_id="p",
                remote_id=None if action == "create" else f"r{i}",
                before=None if action == "create" else {"fee": Decimal(900 + i)},
                after=None if action == "delete" else {"fee": Decimal(1000 + i)},
                fields=(FieldChange("fee", Decimal(900 + i), Decimal(1000 + i)),),
                detail="" if action == "create" else "a reason a reviewer reads",
                before_side=None if action == "create" else side,
                after_side=None if action == "delete" else side,
            )
        )
    return out


def _blocks(markdown: str) -> dict[str, str]:
    """Each project's <details> block by project name."""
    found = re.findall(r"<details(?: open)?><summary><b>(.*?)</b>.*?</details>", markdown, re.S)
    bodies = re.findall(r"(<details(?: open)?><summary><b>.*?</details>)", markdown, re.S)
    return dict(zip(found, bodies, strict=True))


def _objects_shown(block: str) -> int:
    return sum(1 for line in block.splitlines() if line.startswith("| ") and
               not line.startswith("| |") and not line.startswith("| Action"))  # fmt: skip


def _left_out_note(block: str) -> tuple[int, int] | None:
    found = re.search(r"_([\d,]+) of ([\d,]+) changes? .*?left out here", block)
    if found is None:
        return None
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


def _missing_total(markdown: str) -> int:
    found = re.search(r"under 65,000 characters: ([\d,]+) of ([\d,]+) changes[ ,]", markdown)
    assert found, markdown[-800:]
    return int(found.group(1).replace(",", ""))


def test_a_huge_plan_over_many_projects_is_trimmed_fairly_under_the_limit() -> None:
    sizes = {f"project-{n:02d}": 40 + 60 * n for n in range(40)}  # 40 to 2,380 changes
    sizes["tiny"] = 3
    changes = [c for project, n in sizes.items() for c in _synthetic(project, n)]
    changes += _synthetic("project-39", 4, action="locked", start=5000)  # the last ones by date
    plan = Plan(changes=changes)

    markdown = to_markdown(plan)

    assert len(markdown) <= MARKDOWN_LIMIT
    assert len(plan.changes) == 48_407
    assert markdown.startswith(f"{MARKER}\n> [!WARNING]\n> 4 locked")
    assert "### billplan: Plan: 48403 to create, 0 to update, 0 to delete, 4 locked." in markdown
    blocks = _blocks(markdown)
    assert set(blocks) == set(sizes)  # every project has its block
    assert _objects_shown(blocks["tiny"]) == 3 and _left_out_note(blocks["tiny"]) is None
    shown = {}
    for project, block in blocks.items():
        total = sizes[project] + (4 if project == "project-39" else 0)
        shown[project] = _objects_shown(block)
        note = _left_out_note(block)
        if shown[project] < total:
            assert note == (total - shown[project], total), project
        else:
            assert note is None
    trimmed = [n for p, n in shown.items() if p != "tiny"]
    assert max(trimmed) - min(trimmed) <= 1  # a fair share: the same rows for each
    assert "| 🔒 **LOCKED** | project-39/recurring/support/2039-" in blocks["project-39"]
    assert _missing_total(markdown) == len(plan.changes) - sum(shown.values())
    assert "Left out entirely" not in markdown
    assert "`billplan plan`" in markdown[-600:] and "plan artifact" in markdown[-600:]


def test_small_projects_are_shown_whole_and_the_largest_trimmed_first() -> None:
    sizes = {"big": 5000, "medium": 60, "small": 5}
    plan = Plan(changes=[c for p, n in sizes.items() for c in _synthetic(p, n)])

    markdown = to_markdown(plan)

    blocks = _blocks(markdown)
    assert len(markdown) <= MARKDOWN_LIMIT
    assert (_objects_shown(blocks["medium"]), _objects_shown(blocks["small"])) == (60, 5)
    big = _objects_shown(blocks["big"])
    assert 60 < big < 5000
    assert _left_out_note(blocks["big"]) == (5000 - big, 5000)
    assert _missing_total(markdown) == 5000 - big


def test_a_single_project_of_20000_changes_keeps_its_locks_and_deletes() -> None:
    changes = _synthetic("solo", 19_990)
    changes += _synthetic("solo", 5, action="locked", start=20_000)
    changes += _synthetic("solo", 5, action="delete", start=20_005)

    markdown = to_markdown(Plan(changes=changes))

    assert len(markdown) <= MARKDOWN_LIMIT
    (block,) = _blocks(markdown).values()
    shown = _objects_shown(block)
    assert 100 < shown < 20_000
    assert block.count("🔒 **LOCKED**") == 5 and block.count("🗑️ **DELETE**") == 5
    left = 20_000 - shown
    assert f"_{left:,} of 20,000 changes ({left:,} to create) left out here" in block
    assert _missing_total(markdown) == left


def test_projects_that_cannot_fit_even_empty_are_named_at_the_end() -> None:
    changes = [c for n in range(1500) for c in _synthetic(f"p{n:04d}", 2)]
    changes += _synthetic("p1499", 1, action="delete", start=10)  # the last, but alarming
    plan = Plan(changes=changes)

    markdown = to_markdown(plan)

    assert len(markdown) <= MARKDOWN_LIMIT
    blocks = _blocks(markdown)
    assert "p1499" in blocks and "p0000" in blocks
    dropped = 1500 - len(blocks)
    assert dropped > 0
    found = re.search(r"\*\*Left out entirely\*\* \(([\d,]+)\): (.*)\.\n", markdown)
    assert found and int(found.group(1).replace(",", "")) == dropped
    names = found.group(2)
    first = 1499 - dropped  # the plain projects last in name order went first
    assert names.startswith(f"p{first:04d} (2 changes), p{first + 1:04d} (2 changes), ")
    assert names.endswith(" more") and len(names) <= 2_000
    shown = sum(_objects_shown(b) for b in blocks.values())
    assert _missing_total(markdown) == len(plan.changes) - shown


def test_the_notes_and_unmanaged_objects_are_trimmed_too() -> None:
    notes = [f"note {n}: " + "x" * 200 for n in range(1000)]
    side = Side(date(2026, 1, 1), Decimal(5), "")
    unmanaged = [
        Unmanaged("ruddr", MILESTONE, "p", "p", f"id-{n}", {"name": "hand-made"}, False, side)
        for n in range(1000)
    ]

    markdown = to_markdown(Plan(notes=notes, unmanaged=unmanaged))

    assert len(markdown) <= MARKDOWN_LIMIT
    assert re.search(r"_[\d,]+ of 1,000 notes left out here", markdown)
    assert re.search(r"_[\d,]+ of 1,000 objects left out here", markdown)


# ---- the command line: markdown on stdout and in GITHUB_STEP_SUMMARY -------------------


def test_github_step_summary_gets_the_markdown_appended_whatever_the_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_plan(tmp_path / "billing")
    summary = tmp_path / "step-summary.md"
    summary.write_text("## an earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    as_json = sandboxed("plan", directory, "--format", "json")
    as_text = sandboxed("plan", directory)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    as_markdown = sandboxed("plan", directory, "--format", "markdown")

    assert as_json.code == as_text.code == as_markdown.code == 0
    assert as_json.out.startswith("{") and MARKER not in as_text.out
    comment = as_markdown.out
    assert comment.startswith(MARKER)
    assert summary.read_text(encoding="utf-8") == (
        "## an earlier step\n" + comment + "\n" + comment + "\n"
    )


def test_without_github_step_summary_no_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_plan(tmp_path / "billing")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)

    assert sandboxed("plan", directory, "--format", "markdown").code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing"]
