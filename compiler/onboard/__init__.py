"""Onboarding (`billplan generate`): turning what a vendor already holds into a plan.

found.py holds the values a provider reads a vendor's objects back into, in the plan's terms
(Found, FoundProject); each provider's `projects()` and `found()` produce them. recognise.py
turns a project's Found objects into the charges a person would write; write.py writes them as
YAML fragments. compiler.operations.onboarding runs them, and proves the result by a round trip.
"""
