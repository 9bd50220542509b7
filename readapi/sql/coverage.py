"""Range totals: a rollup for what it holds whole (UTC hours, days, half-months) and raw
events for the rest, with signs where a piece overshoots the range (``readapi.math.cover``).
Pure: builds the inner SELECTs every range-total question sums."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from readapi.math.cover import DaySpan, cover
from readapi.math.ranges import Span, Window
from readapi.sql.common import ORG, Params, aliased, in_spans, union_all


@dataclass(frozen=True)
class Rollup:
    table: str
    keys: tuple[str, ...]
    where: str
    """Extra conditions (tag key, dimension), already parameterised."""
    by_hour: bool = False
    """The table is keyed by ``hour`` rather than ``day``."""
    halves: str | None = None
    """A twin of the (daily) table keyed by ``half`` (first day of a UTC half-month): it
    answers the half-months wholly or mostly inside the range, the daily table the days
    around them (``readapi.math.cover``)."""


def piece(
    table: str,
    keys: tuple[str, ...],
    metrics: tuple[str, ...],
    when: str,
    sign: int = 1,
    group: bool = False,
) -> str:
    """One inner SELECT ``(k0.., m0..)`` of the org's rows of ``table`` matching ``when``,
    negated when ``sign`` < 0, grouped by the keys when ``group``."""
    signed = metrics if sign > 0 else tuple(f"-{m}" for m in metrics)
    grouped = " GROUP BY " + ", ".join(f"k{i}" for i in range(len(keys))) if group else ""
    return (
        f"SELECT {aliased(keys, 'k')}, {aliased(signed, 'm')} FROM {table} "
        f"WHERE {ORG} AND {when}{grouped}"
    )


def days_in(p: Params, spans: Iterable[DaySpan]) -> str:
    """``day`` within any of the (inclusive) spans."""
    ors = []
    for x, y in spans:
        a, b = p.add("m", x), p.add("m", y)
        ors.append(f"(day >= {{{a}:Date}} AND day <= {{{b}:Date}})")
    return ors[0] if len(ors) == 1 else "(" + " OR ".join(ors) + ")"


def range_parts(
    w: Window,
    p: Params,
    rollup: Rollup | None,
    rollup_metrics: tuple[str, ...],
    raw_keys: tuple[str, ...],
    raw_where: str,
    raw_metrics: tuple[str, ...],
    raw_from: str = "events",
    subtract: bool = False,
) -> str:
    """Inner SELECTs yielding ``(k0.., m0..)`` over exactly the window: the rollup for what
    it holds whole and raw events for the rest (or raw events for all of it).

    ``subtract``: the metrics are per-row values, typed alike in both lists (Int64 or
    Decimal), that the caller sums: the parts yield rows, not groups (one aggregation instead
    of one per part and another over them), and a piece may overshoot the window and the
    overshoot come back negated (``readapi.math.cover``). The caller then drops groups whose
    request count (``m0``) nets to zero."""
    parts = []

    def add(
        table: str, keys: tuple[str, ...], metrics: tuple[str, ...], when: str, sign: int
    ) -> None:
        parts.append(piece(table, keys, metrics, when, sign, group=not subtract))

    def raw(spans: tuple[Span, ...], sign: int) -> None:
        if spans:
            add(raw_from, raw_keys, raw_metrics, in_spans(p, spans) + raw_where, sign)

    def days(spans: tuple[DaySpan, ...], sign: int) -> None:
        if spans and rollup is not None:
            add(rollup.table, rollup.keys, rollup_metrics, days_in(p, spans) + rollup.where, sign)

    if rollup is None:
        raw(((w.start_naive, w.end_naive),), 1)
    elif rollup.by_hour:
        # hourly rollup: every whole UTC hour from it, raw events only for partial hours
        if w.whole_hours is not None:
            a, b = p.add("m", w.whole_hours[0]), p.add("m", w.whole_hours[1])
            when = f"hour >= {{{a}:DateTime('UTC')}} AND hour < {{{b}:DateTime('UTC')}}"
            add(rollup.table, rollup.keys, rollup_metrics, when + rollup.where, 1)
        raw(w.hour_edges, 1)
    else:
        c = cover(w, halves=rollup.halves is not None, subtract=subtract)
        if c.halves is not None and rollup.halves is not None:
            a, b = p.add("hm", c.halves[0]), p.add("hm", c.halves[1])
            when = f"half >= {{{a}:Date}} AND half < {{{b}:Date}}"
            add(rollup.halves, rollup.keys, rollup_metrics, when + rollup.where, 1)
        days(c.days, 1)
        days(c.days_removed, -1)
        raw(c.raw, 1)
        raw(c.raw_removed, -1)
    return union_all(parts)
