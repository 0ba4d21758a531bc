"""Reliability tests: state backends, locking and races, secrets, hostile input.

A package so that its conftest.py is `reliability.conftest`, not a second top-level `conftest`
that would hide tests/conftest.py from the modules importing it.
"""
