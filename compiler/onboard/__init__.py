"""Onboarding: turning the billing schedules a vendor already holds into a plan.

found.py says what was read (one Found per vendor object, in the plan's terms); recognise.py
turns a project's Found objects into the charges a person would write.
"""
