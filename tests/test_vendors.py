"""Expansion knows the vendors from their provider classes, not from a list of its own.

A vendor is declared once, on its provider class (`compiler.providers.PROVIDERS`); what it can
bill there is what expansion allows a plan to ask of it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from compiler import vendors
from compiler.model import Item
from compiler.providers import PROVIDERS
from compiler.providers.declare import Capabilities
from compiler.providers.ruddr import Ruddr

ExpandPlan = Callable[..., list[Item]]

LAUNCH_ON_COMPLETION = """
    projects:
      acme:
        provider: ruddr
        project_id: 1
        milestones:
          launch: {description: Go-live, on_completion: {task: "88123"}, amount: 5000}
    """


def test_the_vendors_expansion_knows_are_the_registrys_in_its_order() -> None:
    assert vendors.names() == tuple(PROVIDERS)


def test_the_vendors_that_bill_on_completion_are_those_whose_class_declares_it() -> None:
    assert vendors.completion_billers() == tuple(
        vendor for vendor, cls in PROVIDERS.items() if cls.capabilities.bills_on_completion
    )
    assert vendors.completion_billers() == ("kantata",)


def test_a_vendor_that_declares_on_completion_billing_may_bill_a_milestone_on_a_task(
    expand_plan: ExpandPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Ruddr, "capabilities", Capabilities(bills_on_completion=True))
    (launch,) = expand_plan(LAUNCH_ON_COMPLETION)
    assert (launch.provider_type, launch.task, launch.date) == ("ruddr", "88123", None)


def test_on_completion_billing_at_a_vendor_without_it_names_the_vendors_that_have_it(
    plan_errors: Callable[..., list[str]],
) -> None:
    (error,) = plan_errors(LAUNCH_ON_COMPLETION)
    assert "needs a provider that bills when a task completes (kantata)" in error
