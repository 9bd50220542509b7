"""Helpers shared by the pure usage extractors."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

_DECIMAL_FIELDS = frozenset({"audio_seconds"})
_TEXT_FIELDS = frozenset({"image_size", "image_quality"})


def g(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]`` (SDK models, extra fields and plain dicts alike)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        value = obj.get(name, default)
    elif getattr(type(obj), "__pydantic_fields__", None) is not None:
        # pydantic v2 model: declared fields are in __dict__, extra fields (a provider's own
        # additions such as xAI's cost ticks) in __pydantic_extra__; an absent name would
        # cost an exception inside pydantic's __getattr__.
        value = obj.__dict__.get(name)
        if value is None:
            extra = getattr(obj, "__pydantic_extra__", None)
            value = extra.get(name) if extra else None
    else:
        try:
            value = getattr(obj, name, default)
        except Exception:  # some SDK models raise on unknown attributes
            value = default
    return default if value is None else value


def n(obj: Any, name: str) -> int:
    """An integer count (0 when absent or malformed)."""
    value = g(obj, name, 0)
    if isinstance(value, bool):
        return 0
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def clean(usage: dict[str, Any]) -> dict[str, Any]:
    """Drop zero fields, clamp negatives, keep reasoning within output (wire invariant)."""
    out: dict[str, Any] = {}
    for key, value in usage.items():
        if key in _TEXT_FIELDS:
            if value:
                out[key] = str(value)[:32]
        elif key in _DECIMAL_FIELDS:
            number = dec(value)
            if number:
                out[key] = format(number.normalize(), "f")
        else:
            count = max(0, int(value or 0))
            if count:
                out[key] = count
    if out.get("reasoning_tokens", 0) > out.get("output_tokens", 0):
        out["reasoning_tokens"] = out.get("output_tokens", 0)
        if not out["reasoning_tokens"]:
            del out["reasoning_tokens"]
    return out
