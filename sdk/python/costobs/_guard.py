"""Never-raise guard: an SDK error is logged and counted, and never reaches the caller.

Tests install ``configure(on_internal_error=...)`` to re-raise what was swallowed, so SDK
bugs still fail tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from costobs import _config
from costobs._stats import COUNTERS

logger = logging.getLogger("costobs")

_T = TypeVar("_T")
_logged: set[str] = set()


def report(exc: BaseException) -> None:
    """Count and log an SDK-internal error, then hand it to the debug hook if any."""
    COUNTERS.add("internal_errors")
    key = f"{type(exc).__name__}:{exc}"[:200]
    if key not in _logged and len(_logged) < 100:
        _logged.add(key)
        logger.warning("costobs: internal error (the provider call is unaffected)", exc_info=exc)
    hook = _config.current().on_internal_error
    if hook is not None:
        hook(exc)


def safe(fn: Callable[..., _T], *args: Any) -> _T | None:
    """Run ``fn``; on any exception report it and return None."""
    try:
        return fn(*args)
    except Exception as exc:
        report(exc)
        return None
