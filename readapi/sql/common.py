"""What every query of the read API is built from: the grouping levels, the query type,
parameters with fresh names, and the SQL fragments the question modules share. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from costobs_server import vocabulary
from readapi.math.ranges import Span, Window

# --- what may be grouped by -------------------------------------------------------------

DIMENSIONS = vocabulary.LEVELS
"""Public dimension name → column (in events and the attribution rollups)."""

HIGH_CARDINALITY = frozenset(vocabulary.HIGH_CARDINALITY)
"""Dimensions the daily cross-dimension rollups leave out (they would be one row per event)."""
BY_MODEL = HIGH_CARDINALITY
"""Dimensions ``cost_dim_model_daily`` crosses with provider and model."""


@dataclass(frozen=True)
class Level:
    """One grouping level: a first-class dimension or a tag key."""

    kind: Literal["dimension", "tag"]
    name: str
    """Public dimension name, or the tag key."""

    @property
    def label(self) -> str:
        return f"tag:{self.name}" if self.kind == "tag" else self.name


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


ORG = "org_id = {org:String}"
DAYS = "day >= {d0:Date} AND day <= {d1:Date}"
INSTANTS = "timestamp >= {t0:DateTime64(3, 'UTC')} AND timestamp < {t1:DateTime64(3, 'UTC')}"
TS = "DateTime64(3, 'UTC')"


class Params(dict[str, Any]):
    """Parameters with fresh names for repeated values (spans)."""

    def add(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self)}"
        self[name] = value
        return name


def window_params(org: str, w: Window) -> Params:
    return Params(org=org, tz=w.timezone)


def in_spans(p: Params, spans: tuple[Span, ...]) -> str:
    """``timestamp`` within any of the spans (each an index-friendly range)."""
    parts = []
    for a, b in spans:
        na, nb = p.add("sa", a), p.add("sb", b)
        parts.append(f"(timestamp >= {{{na}:{TS}}} AND timestamp < {{{nb}:{TS}}})")
    return "(" + " OR ".join(parts) + ")"


def aliased(exprs: tuple[str, ...], prefix: str) -> str:
    return ", ".join(f"{e} AS {prefix}{i}" for i, e in enumerate(exprs))


def outer_sums(count: int, prefix: str) -> str:
    return ", ".join(f"sum({prefix}{i})" for i in range(count))


def union_all(parts: list[str]) -> str:
    return " UNION ALL ".join(parts)
