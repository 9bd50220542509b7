"""Plugins for every test of the repository (tests/ and sdk/python/tests/): the test tiers
(tests/tiers.py) and the garbage-collector freeze after collection (tests/gc_freeze.py)."""

pytest_plugins = ["tests.tiers", "tests.gc_freeze"]
