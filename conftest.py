"""Test tiers for every test of the repository (tests/ and sdk/python/tests/): tests/tiers.py."""

pytest_plugins = ["tests.tiers"]
