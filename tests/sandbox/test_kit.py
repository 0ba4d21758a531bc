"""The shared emulator kit (compiler/sandbox/kit/): the pieces every vendor emulator is declared
over, and the rule that billplan's providers never use them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response

from compiler.sandbox.kit.errors import ApiError
from compiler.sandbox.kit.forms import BodyWording
from compiler.sandbox.kit.limits import RollingWindow
from compiler.sandbox.kit.routing import Collection
from compiler.sandbox.kit.store import Table

from .conftest import FakeClock

PROVIDERS = Path(__file__).resolve().parents[2] / "compiler" / "providers"


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            level = "." * node.level
            modules.add(f"{level}{node.module or ''}")
    return modules


@pytest.mark.parametrize("path", sorted(PROVIDERS.glob("*.py")), ids=lambda path: path.name)
def test_no_provider_imports_the_sandbox_or_its_kit(path: Path) -> None:
    reaching = {m for m in _imported_modules(path) if "sandbox" in m}
    assert not reaching, f"{path.name} imports {sorted(reaching)}"


def test_a_rolling_window_frees_a_place_exactly_its_span_after_the_request() -> None:
    clock = FakeClock()
    window = RollingWindow(clock, span=3600)
    assert window.admit("token", limit=2) is None
    clock.advance(600)
    assert window.admit("token", limit=2) is None
    assert window.admit("token", limit=2) == 3000  # the first request frees its place then
    clock.advance(3000)
    assert window.admit("token", limit=2) is None
    assert window.used("token") == 2


def test_a_refused_request_does_not_count_against_the_rolling_window() -> None:
    clock = FakeClock()
    window = RollingWindow(clock, span=60)
    window.spend("key")
    assert window.admit("key", limit=1) is not None
    assert window.used("key") == 1


def test_a_collection_declares_its_routes_with_the_vendors_action_spelling() -> None:
    async def endpoint(request: Request) -> Response:
        return Response(status_code=204)

    invoices = Collection(
        "/api/invoices",
        listing=endpoint,
        update=endpoint,
        actions={"send": endpoint},
        member="{id:int}",
        action_path="{member}:{action}",
    )
    assert [(method, path) for method, path, _ in invoices.rows()] == [
        ("GET", "/api/invoices"),
        ("PATCH", "/api/invoices/{id:int}"),
        ("POST", "/api/invoices/{id:int}:send"),
    ]


def test_a_body_wording_answers_an_empty_body_in_the_vendors_words() -> None:
    wording = BodyWording(not_json="not JSON", not_object="not an object", empty="empty")
    with pytest.raises(ApiError) as empty:
        wording.object(b"  ")
    with pytest.raises(ApiError) as listed:
        wording.object(b"[1]")
    assert (empty.value.status, empty.value.message) == (400, "empty")
    assert listed.value.message == "not an object"
    assert wording.object(b"", empty_is_object=True) == {}


def test_a_counted_table_keys_its_counter_by_its_own_name() -> None:
    # The counter's name is its row in the store's counter table: a SQLite sandbox made before
    # tables declared their ids keeps counting where it stopped.
    assert Table("wethod_invoices", counted=True).ids.name == "wethod_invoices"
