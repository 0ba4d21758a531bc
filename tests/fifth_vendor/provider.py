"""The Ledgerly provider: every item (a recurring occurrence, a milestone, a product) becomes
one billing line on its project. Everything that makes Ledgerly Ledgerly is class data the base
reads; the only code is compile_one() and observe(), the two shapes of a line.

Ledgerly is made up, for the test suite only: it shows how little a fifth vendor needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from compiler.model import Item, Observed, Resource
from compiler.providers import Provider
from compiler.providers.declare import Capabilities, Connection, PlanOptions
from compiler.providers.traits import MinorUnits, PageNumber, PerProject, Status

LINE = "ledgerly_line"
# The attributes billplan compares: the create body, and what it reads back.
FIELDS = ("project_id", "date", "description", "amount_cents", "currency", "ledger_code")


class Ledgerly(Provider):
    vendor = "ledgerly"
    title = "Ledgerly"
    plan_options = PlanOptions(
        keys={
            "ledger_code": {
                "description": "The Ledgerly ledger code to book lines to, e.g. 4000.",
                "type": "string",
                "minLength": 1,
            }
        }
    )
    capabilities = Capabilities()  # dated lines only: no on-completion billing, no grouping
    connection = Connection(summary="Ledgerly (billing lines).")
    default_base_url = "https://api.ledgerly.example/v1"
    default_token_env = "LEDGERLY_API_TOKEN"
    rate_limit = 10
    types: ClassVar[Mapping[str, str]] = {LINE: "/lines"}
    fixed_fields = frozenset({"project_id"})  # a line cannot move: a move is a replacement
    paging = PageNumber(number="page", size="per_page", rows="data", more="has_more")
    scope = PerProject(param="project_id")
    lock = Status("status", default="open", locked=frozenset({"invoiced"}))
    money = MinorUnits("amount_cents")
    project_field, date_field = "project_id", "date"
    project_noun = "Ledgerly project"
    undated = "a Ledgerly line needs a date"

    def compile_one(self, item: Item, project: str | int) -> Resource:
        assert item.date is not None  # admitted: Ledgerly needs one
        body: dict[str, Any] = {
            "project_id": project,
            "date": item.date.isoformat(),
            "description": item.description,
            "amount_cents": self.money.wire(item.amount, item.currency),
            "currency": item.currency,
            "ledger_code": item.options.get("ledger_code"),
        }
        return Resource.of(item, LINE, project, body)

    def observe(self, type_name: str, obj: Mapping[str, Any]) -> Observed:
        attributes = {name: obj.get(name) for name in FIELDS}
        return self.observed(type_name, obj, attributes, currency=obj.get("currency") or "")
