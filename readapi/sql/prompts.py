"""Prompts: keys with their versions, and versions compared (by model, with latency
quantiles). Pure: each function returns a query."""

from __future__ import annotations

from readapi.math.ranges import Window
from readapi.sql.common import Params, Query, window_params
from readapi.sql.coverage import Rollup, range_parts

_PROMPT_ROLLUP_METRICS = (
    "sum(requests)",
    "sum(input_tokens)",
    "sum(output_tokens)",
    "sum(cost_usd)",
    "quantilesTDigestMergeState(0.5, 0.95)(latency_state)",
)
_PROMPT_EVENT_METRICS = (
    "count()",
    "sum(input_tokens)",
    "sum(output_tokens)",
    "sum(cost_usd)",
    "quantilesTDigestState(0.5, 0.95)(latency_ms)",
)


def _prompt_parts(w: Window, p: Params, keys: tuple[str, ...], where: str) -> str:
    return range_parts(
        w,
        p,
        Rollup("prompt_version_daily", keys, where),
        _PROMPT_ROLLUP_METRICS,
        keys,
        where + " AND (prompt_key != '' OR prompt_version != '')",
        _PROMPT_EVENT_METRICS,
    )


def prompt_keys(org: str, w: Window) -> Query:
    """Rows ``(prompt key, versions, requests, cost)``."""
    p = window_params(org, w)
    inner = _prompt_parts(w, p, ("prompt_key", "prompt_version"), "")
    return Query(
        f"SELECT k0, uniqExact(k1), sum(m0), sum(m3) AS cost FROM ({inner}) "
        "GROUP BY k0 ORDER BY cost DESC, k0",
        p,
    )


def prompt_compare(
    org: str,
    w: Window,
    prompt_key: str,
    by_model: bool,
    rename: tuple[list[str], list[str]] | None = None,
) -> Query:
    """Rows ``(version, [model,] requests, input, output, cost, [p50, p95])``; ``rename``
    (models, names) maps models to other names first (the canonical model), their quantile
    states merged like days are."""
    p = window_params(org, w)
    name = p.add("pk", prompt_key)
    keys = ("prompt_version", "model") if by_model else ("prompt_version",)
    inner = _prompt_parts(w, p, keys, f" AND prompt_key = {{{name}:String}}")
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    select = names
    if by_model and rename is not None:
        old, new = p.add("rf", rename[0]), p.add("rt", rename[1])
        select = f"k0, transform(k1, {{{old}:Array(String)}}, {{{new}:Array(String)}}, k1) AS c1"
        names = "k0, c1"
    return Query(
        f"SELECT {select}, sum(m0), sum(m1), sum(m2), sum(m3), "
        f"quantilesTDigestMerge(0.5, 0.95)(m4) FROM ({inner}) GROUP BY {names} ORDER BY {names}",
        p,
    )
