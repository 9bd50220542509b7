"""Freeze what collection built before the first test runs.

Collecting the suite imports litellm, openai, anthropic, streamlit, pandas and the server: some
600,000 objects that live to the end. Every full garbage collection walked them all again —
about 350 ms each, and the SDK tests call ``gc.collect()`` on purpose (so that dropped wrappers
run their finalisers) a hundred times. ``gc.freeze()`` moves them to the permanent generation:
collections then walk only what tests create, which is all a test's ``gc.collect()`` is for.
"""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()  # what collection left as garbage goes now, not frozen with the rest
    gc.freeze()
