"""Breakdown rows for the events a tag rollup leaves out, by inclusion–exclusion. Pure.

A tag rollup holds only the events that carry its tag (a tag pair: both tags), so a breakdown
by a tag is first answered for the tagged events alone; the rest are derived here from sums the
other rollups hold, and shown as ``''`` ("not set") rows:

* one tag ``t``: ``untagged = totals − tagged``.
* tag ``t`` × a dimension ``d``: per value ``v`` of ``d``, ``untagged(v) = all(v) − tagged(v)``.
* two tags ``s``, ``t``: per value ``x`` of ``s``, ``(x, '') = s(x) − Σ_y both(x, y)``; per
  value ``y`` of ``t``, ``('', y) = t(y) − Σ_x both(x, y)``; and
  ``('', '') = totals − Σ s − Σ t + Σ both`` (the events carrying both were subtracted twice).

Rows whose request count nets to zero or less are dropped: they hold no event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from readapi._money import dec

Metrics = dict[str, Any]
"""``requests``, ``input_tokens``, ``output_tokens`` (ints) and ``cost`` (Decimal)."""
Rows = list[tuple[list[str], Metrics]]
"""Breakdown rows: the level values, then the row's metrics."""


def metrics(values: Iterable[Any]) -> Metrics:
    """A store row's ``requests, input_tokens, output_tokens, cost`` (None is 0)."""
    requests, input_tokens, output_tokens, cost = values
    return {
        "requests": int(requests or 0),
        "input_tokens": int(input_tokens or 0),
        "output_tokens": int(output_tokens or 0),
        "cost": dec(cost),
    }


def _minus(a: Metrics, b: Metrics, sign: int = -1) -> Metrics:
    return {k: a[k] + sign * b[k] for k in a}


def untagged(totals: Metrics, tagged: tuple[Any, ...]) -> Rows:
    """One tag level: the events without the tag, as the row ``['']``. ``tagged``: the one
    store row of the events carrying it."""
    rest = _minus(totals, metrics(tagged))
    return [([""], rest)] if rest["requests"] > 0 else []


def untagged_by_value(
    tagged: list[tuple[Any, ...]], every: list[tuple[Any, ...]], tag_first: bool
) -> Rows:
    """A tag level and a dimension: per value of the dimension, the events without the tag.
    ``tagged`` and ``every``: store rows ``(value, *metrics)`` of the events carrying the tag
    and of all events; ``tag_first``: the tag is the first level (its '' goes first)."""
    tagged_by = {str(r[0]): metrics(r[1:]) for r in tagged}
    out: Rows = []
    for r in every:
        value, whole = str(r[0]), metrics(r[1:])
        carried = tagged_by.get(value)
        rest = _minus(whole, carried) if carried else whole
        if rest["requests"] > 0:
            out.append((["", value] if tag_first else [value, ""], rest))
    return out


def without_a_tag(
    both: Rows,
    first: list[tuple[Any, ...]],
    second: list[tuple[Any, ...]],
    totals: Metrics,
) -> Rows:
    """Two tags: the events missing one or both, as '' rows, from the events carrying both
    (``both``, rows keyed ``[x, y]``), each tag's own store rows ``(value, *metrics)`` (the
    events carrying that tag) and the totals."""
    zero = {k: 0 for k in totals}
    only_first = {str(r[0]): metrics(r[1:]) for r in first}
    only_second = {str(r[0]): metrics(r[1:]) for r in second}
    neither = dict(totals)
    for m in only_first.values():
        neither = _minus(neither, m)
    for m in only_second.values():
        neither = _minus(neither, m)
    for (x, y), m in both:
        only_first[x] = _minus(only_first.get(x, zero), m)
        only_second[y] = _minus(only_second.get(y, zero), m)
        neither = _minus(neither, m, +1)
    out: Rows = [([x, ""], m) for x, m in only_first.items()]
    out += [(["", y], m) for y, m in only_second.items()]
    out.append((["", ""], neither))
    return [(keys, m) for keys, m in out if m["requests"] > 0]
