"""Reading price tables from disk: the bundled JSON by default, YAML on request."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._compile import compile_table
from ._errors import PricingError
from ._table import PriceTable

BUNDLED = Path(__file__).resolve().parent.parent / "_data" / "prices.json"


def normalise(raw: Any) -> Any:
    """YAML turns unquoted dates into date objects; the table (and its JSON copy) holds strings."""
    if isinstance(raw, dict):
        return {str(k): normalise(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [normalise(v) for v in raw]
    if isinstance(raw, datetime):
        return raw.isoformat().replace("+00:00", "Z")
    if isinstance(raw, date):
        return raw.isoformat()
    return raw


def read_table_file(path: str | os.PathLike[str]) -> Any:
    """Parse a .json or .yaml/.yml table file into plain data (dates as ISO strings)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingError(f"cannot read price table {str(path)!r}: {exc}") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # lazily: the SDK itself never needs pyyaml
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise PricingError(
                "reading a YAML price table needs pyyaml (pip install pyyaml)"
            ) from exc
        try:
            # libyaml's loader when pyyaml was built with it: ~10x faster on the full table.
            raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise PricingError(f"{path}: invalid YAML: {exc}") from exc
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PricingError(f"{path}: invalid JSON: {exc}") from exc
    return normalise(raw)


def table_from_data(raw: Any) -> PriceTable:
    """Compile an already-parsed table (a mapping in the prices.yaml shape)."""
    return PriceTable(compile_table(normalise(raw)))


@lru_cache(maxsize=1)
def _bundled() -> PriceTable:
    return PriceTable(compile_table(read_table_file(BUNDLED)))


def load_price_table(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """The bundled table (cached: one shared instance), or the table in ``path``."""
    if path is None:
        return _bundled()
    return PriceTable(compile_table(read_table_file(path)))
