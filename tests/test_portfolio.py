"""The benchmark's synthetic portfolio (valid for every mix of providers, counted exactly), and
the fast paths the benchmark drove, each held to the slow reference it replaced."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import random
import sys
from collections import Counter
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta

from compiler.load import LoadError, load
from compiler.money import Rounding, exponent, format_amount, round_money
from compiler.providers import PROVIDERS
from compiler.render import items as render_items
from compiler.render.items import (
    ITEMS_FORMAT_VERSION,
    item_record,
    json_parts,
    to_json,
    totals,
)
from compiler.render.safe import json_visible
from compiler.render.terminal import print_json_parts
from compiler.schedule import add_months
from compiler.schema_check import fast_check, kind_validator, plan_validator
from compiler.validate import check

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from portfolio import AS_OF, VENDORS, write_portfolio

COMBINATIONS = [
    combo for size in range(1, len(VENDORS) + 1) for combo in itertools.combinations(VENDORS, size)
]


@pytest.mark.parametrize("providers", COMBINATIONS, ids=lambda c: "+".join(c))
def test_every_provider_mix_validates_and_counts_exactly(
    tmp_path: Path, providers: tuple[str, ...]
) -> None:
    projects = 2 * len(providers)
    count = write_portfolio(tmp_path, projects, providers=providers, seed=len(providers))
    checked = check(tmp_path, AS_OF)
    assert checked.ok, [str(d) for d in checked.diagnostics[:5]]
    assert count == len(checked.items)
    by_provider = Counter(item.provider for item in checked.items)
    assert set(by_provider) == set(providers)
    # Round-robin: each provider holds two projects of about 100 items each.
    assert all(120 < n < 300 for n in by_provider.values()), by_provider


def test_each_vendor_compiles_every_item(tmp_path: Path) -> None:
    write_portfolio(tmp_path, 12, seed=3)
    checked = check(tmp_path, AS_OF)
    assert checked.ok
    for vendor in VENDORS:
        items = [item for item in checked.items if item.provider_type == vendor]
        config = {"type": vendor, "company": "northwind-consulting"}
        provider = PROVIDERS[vendor](vendor, config, token="test-token")
        try:
            resources, problems = provider.compile(items)
        finally:
            provider.client.close()
        assert problems == [], problems[:3]
        assert resources


def test_every_kind_and_feature_appears(tmp_path: Path) -> None:
    write_portfolio(tmp_path, 8, seed=0)
    checked = check(tmp_path, AS_OF)
    assert checked.ok
    items = checked.items
    assert {i.kind for i in items} == {"recurring", "milestone", "product"}
    assert any(i.task is not None for i in items if i.provider_type == "kantata")
    assert any(i.percent is not None for i in items if i.provider_type == "coperniq")
    assert any(i.amount < 0 for i in items)
    assert {"JPY"} & {i.currency for i in items}
    assert all(i.description and "{" not in i.description for i in items)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    write_portfolio(tmp_path / "a", 5, seed=7)
    write_portfolio(tmp_path / "b", 5, seed=7)
    write_portfolio(tmp_path / "c", 5, seed=8)

    def files(d: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(d.iterdir())}

    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")


def test_the_portfolio_names_no_host_and_only_the_providers_it_uses(tmp_path: Path) -> None:
    write_portfolio(tmp_path, 2, providers=("ruddr", "wethod"))
    checked = check(tmp_path, AS_OF)
    assert checked.ok and checked.document is not None
    providers = checked.document.root["providers"]
    assert sorted(providers) == ["ruddr", "wethod"]
    assert not any("base_url" in connection for connection in providers.values())
    assert providers["wethod"]["company"]


@pytest.mark.parametrize(
    ("projects", "providers", "message"),
    [
        (0, ("ruddr",), "at least one project"),
        (1, ("ruddr", "freshbooks"), "providers must be among"),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, projects: int, providers: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_portfolio(tmp_path, projects, providers=providers)


def test_fast_json_rendering_is_byte_identical_to_the_standard_encoder(tmp_path: Path) -> None:
    write_portfolio(tmp_path, 8, seed=5)
    checked = check(tmp_path, AS_OF)
    assert checked.ok
    odd = [
        item._replace(description=text)
        for item, text in zip(
            checked.items,
            ['quote " and \\ backslash', "tab\tnew\nline", "Zürich – ünïcode ✓", "\x01 control"],
            strict=False,
        )
    ]
    for items in (checked.items, odd, []):
        document = {
            "format_version": ITEMS_FORMAT_VERSION,
            "as_of": AS_OF.isoformat(),
            "items": [item_record(item) for item in items],
            "totals": {
                project: {code: format_amount(amount, code) for code, amount in per.items()}
                for project, per in totals(items).items()
            },
        }
        expected = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        assert to_json(items, AS_OF) == expected


def test_render_json_is_written_in_parts_each_escaped_as_the_whole_would_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 100,000 items make 50 MB of JSON: written a run of records at a time, never joined
    # whole. Escaping each part alone must give the whole document's escaping: hidden
    # characters and `##[` at the very edges of the records where the runs meet.
    write_portfolio(tmp_path, 14, seed=5)
    checked = check(tmp_path, AS_OF)
    assert checked.ok and len(checked.items) > 1000
    edges = {0: "##[ start", 998: "end ##", 999: "[ and ##[", 1000: "##[\u202e", -1: "\x7f##["}
    items = list(checked.items)
    for at, text in edges.items():
        items[at] = items[at]._replace(description=text)
    sizes: list[int] = []

    class Out:
        def write(self, text: str) -> int:
            sizes.append(len(text))
            return len(text)

    with contextlib.redirect_stdout(Out()):  # type: ignore[type-var]
        print_json_parts(json_parts(items, AS_OF))
    print_json_parts(json_parts(items, AS_OF))
    written = capsys.readouterr().out
    assert written == json_visible(to_json(items, AS_OF))
    assert "#\\u0023[ start" in written and "\\u202e" in written and "\\u007f" in written
    assert json.loads(written)["items"][999]["description"] == "[ and ##["
    assert len(sizes) > 5 and max(sizes) < 0.7 * sum(sizes)  # no part is nearly all of it


def test_render_json_that_fails_to_be_made_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written in parts, but made whole first: a record that cannot be made halfway through
    # leaves no half document on stdout for a pipeline to take as the plan's items.
    write_portfolio(tmp_path, 14, seed=5)
    checked = check(tmp_path, AS_OF)
    made = render_items._ItemJson.__call__
    calls = itertools.count()

    def record(self: Any, item: Any) -> str:
        if next(calls) == 1500:
            raise RuntimeError("cannot be made")
        return made(self, item)

    monkeypatch.setattr(render_items._ItemJson, "__call__", record)
    with pytest.raises(RuntimeError):
        print_json_parts(json_parts(checked.items, AS_OF))
    assert capsys.readouterr().out == ""


# -- the fast paths that the benchmark drove agree with the slow, reference ones ------------

REPO = Path(__file__).resolve().parent.parent


def _plans() -> list[Path]:
    bad = sorted((REPO / "tests" / "bad_plans").glob("*.y*ml"))
    return [*bad, REPO / "plans" / "examples"]


def _verdicts(value: Any) -> tuple[bool | None, bool]:
    return fast_check()(value), plan_validator().is_valid(value)  # type: ignore[misc]


def test_the_compiled_schema_check_agrees_with_jsonschema_on_every_plan(tmp_path: Path) -> None:
    write_portfolio(tmp_path, 8, seed=1)
    checked = 0
    for plan in [*_plans(), tmp_path]:
        try:
            doc = load(plan)
        except LoadError:
            continue
        fast, reference = _verdicts(doc.root)
        assert fast == reference, plan
        for project in (doc.root.get("projects") or {}).values():
            if not isinstance(project, dict):
                continue
            for section, kind in (("recurring", "recurring"), ("milestones", "milestone"),
                                  ("products", "product")):  # fmt: skip
                for charge in (project.get(section) or {}).values():
                    verdict = fast_check(kind)(charge)  # type: ignore[misc]
                    assert verdict == kind_validator(kind).is_valid(charge), (plan, charge)
                    checked += 1
    assert checked > 100


MUTANTS: list[Any] = [
    None, True, False, 0, -1, 3, Decimal("1.5"), Decimal("-0.001"), 1.0, "", "x", "Bad Key",
    "2026-13-01", "2026-01-01", "12%", "month", "3 weeks", "in_arrears", "USD", "usd", [], [1],
    ["2026-01-01", "2026-01-01"], {}, {"by": "3%"}, {"task": 5}, {"unknown": 1},
]  # fmt: skip


def test_the_compiled_schema_check_agrees_with_jsonschema_on_mutated_plans(
    tmp_path: Path,
) -> None:
    write_portfolio(tmp_path, 4, seed=2)
    root = load(tmp_path).root
    rng = random.Random(11)
    disagreements = []
    valid = invalid = 0
    for _ in range(600):
        mutant = copy.deepcopy(root)
        parent: Any = mutant
        key: Any = None
        while True:  # walk down to a random value
            keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            if not keys:
                break
            key = rng.choice(keys)
            if not isinstance(parent[key], dict | list) or rng.random() < 0.25:
                break
            parent = parent[key]
        action = rng.random()
        if key is None:
            continue
        if action < 0.6:
            parent[key] = copy.deepcopy(rng.choice(MUTANTS))
        elif action < 0.8 and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[rng.choice(["ammount", "every", "Bad Key", "x-y", "use", key + "s"])] = 1
        fast, reference = _verdicts(mutant)
        valid += reference
        invalid += not reference
        if fast != reference:
            disagreements.append((key, parent.get(key) if isinstance(parent, dict) else None))
    assert disagreements == []
    assert valid > 20 and invalid > 200


@pytest.mark.parametrize("seed", range(3))
def test_month_arithmetic_matches_relativedelta(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        start = date(rng.randrange(1900, 2100), rng.randrange(1, 13), rng.randrange(1, 32 - 3))
        day = rng.choice((start.day, 29, 30, 31))
        with contextlib.suppress(ValueError):  # no 30 February
            start = start.replace(day=day)
        months = rng.randrange(-400, 400)
        assert add_months(start, months) == start + relativedelta(months=months)


@pytest.mark.parametrize(
    "value",
    [Fraction(5079375, 1000), Fraction(-15, 1000), Fraction(10005, 1000), Fraction(10015, 1000),
     Decimal("1.005"), Decimal("-2.5"), 7, -7, Fraction(1, 3), Fraction(-2, 3), Decimal("0")],
)  # fmt: skip
@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_integer_rounding_matches_decimal_rounding(
    value: Fraction | Decimal | int, currency: str, rounding: Rounding
) -> None:
    mode = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}[rounding]
    exact = Fraction(value)
    with localcontext() as ctx:
        ctx.prec = 60
        expected = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal(1).scaleb(-exponent(currency)), rounding=mode
        )
    rounded = round_money(value, currency, rounding)
    assert rounded == expected
    assert rounded.as_tuple().exponent == -exponent(currency)  # 1600.00, never 1.6E+3
