"""Onboarding (`billplan import --generate`): turning what a vendor already holds into a plan.

`found` holds the values a provider reads a vendor's objects back into, in the plan's terms
(Found, FoundProject); each provider's `projects()` and `found()` produce them. Recognising
structure in them and writing the plan are the stages after.
"""
