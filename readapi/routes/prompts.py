"""Prompt versions: which prompts exist, and versions × models compared."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from costobs_server.currency import RateBook
from readapi import _canonical, _display
from readapi._context import AUTH_RESPONSES, From, OrgScope, Reader, To, range_info
from readapi._models import PromptComparison, PromptKeys
from readapi._money import dec, money, ratio
from readapi.math import ranges
from readapi.sql import prompts as prompts_sql

router = APIRouter(tags=["prompts"], responses=AUTH_RESPONSES)


def _latency(value: float | None) -> float | None:
    if value is None or value != value:  # NaN: no rows
        return None
    return round(float(value), 1)


def prompt_row(version: str, model: str | None, values: tuple[Any, ...]) -> dict[str, Any]:
    requests, input_tokens, output_tokens, cost, quantiles = values
    requests = int(requests or 0)
    p50, p95 = (*quantiles, None, None)[:2] if quantiles else (None, None)
    return {
        "prompt_version": version,
        "model": model,
        "requests": requests,
        "cost_usd": money(cost),
        "cost_per_request_usd": ratio(cost, requests),
        "avg_input_tokens": ratio(input_tokens, requests),
        "avg_output_tokens": ratio(output_tokens, requests),
        "p50_latency_ms": _latency(p50),
        "p95_latency_ms": _latency(p95),
    }


@router.get("/v1/prompts", response_model=PromptKeys)
async def prompts(
    org: Reader, request: Request, from_: From = None, to: To = None
) -> dict[str, Any]:
    """Prompt keys with traffic in the range, most expensive first."""
    w = org.window(from_, to)
    rows = await org.rows(prompts_sql.prompt_keys(org.org_id, w))
    out = [
        {"prompt_key": k, "versions": int(v), "requests": int(n), "cost_usd": money(c)}
        for k, v, n, c in rows
    ]
    block = await _display.convert_listed(
        request, org, w, lambda x: prompts_sql.prompt_keys(org.org_id, x), out, "prompt_key"
    )
    return {"range": range_info(w), "prompts": out, "display": block}


@router.get("/v1/prompts/compare", response_model=PromptComparison)
async def compare(
    org: Reader,
    request: Request,
    prompt_key: Annotated[str, Query(max_length=256, description="'' for versions without a key")],
    from_: From = None,
    to: To = None,
    model_by: Annotated[
        Literal["model", "canonical_model"],
        Query(description="rows per model as sent, or per model across clouds and gateways"),
    ] = "model",
) -> dict[str, Any]:
    """Each version of one prompt, overall and per model: cost per request, average tokens and
    p50/p95 latency (t-digest estimates, merged from the rollup's quantile states)."""
    w = org.window(from_, to)
    per_version, per_model = await _compared(org, w, prompt_key, model_by)
    body = {
        "range": range_info(w),
        "prompt_key": prompt_key,
        "versions": [prompt_row(r[0], None, r[1:]) for r in per_version],
        "rows": [prompt_row(r[0], r[1], r[2:]) for r in per_model],
        "display": None,
    }
    book = await _display.rate_book(request, org)
    if book is not None:
        body["display"] = await _convert_compared(book, org, w, prompt_key, model_by, body)
    return body


async def _compared(
    org: OrgScope, w: ranges.Window, prompt_key: str, model_by: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(per version rows, per version × model rows) of one prompt."""
    per_version, per_model = await asyncio.gather(
        org.rows(prompts_sql.prompt_compare(org.org_id, w, prompt_key, by_model=False)),
        org.rows(prompts_sql.prompt_compare(org.org_id, w, prompt_key, by_model=True)),
    )
    if model_by == "canonical_model":
        # the prompt rollup keeps the model, not the provider: each model is named as a
        # call of it through a gateway would be (Bedrock/Vertex ids and prefixes included)
        canonical = _canonical.namer(org.services, org.org_id)
        models = sorted({str(r[1]) for r in per_model})
        names = [canonical(_canonical.BY_MODEL_ALONE, m) for m in models]
        query = prompts_sql.prompt_compare(org.org_id, w, prompt_key, True, (models, names))
        per_model = await org.rows(query)
    return per_version, per_model


async def _convert_compared(
    book: RateBook,
    org: OrgScope,
    w: ranges.Window,
    prompt_key: str,
    model_by: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Each version's and version × model's cost day by day in the display currency."""

    async def costs(x: ranges.Window) -> list[tuple[tuple[str, ...], Decimal]]:
        per_version, per_model = await _compared(org, x, prompt_key, model_by)
        out: list[tuple[tuple[str, ...], Decimal]] = [
            ((str(r[0]), ""), dec(r[4])) for r in per_version
        ]
        return out + [((str(r[0]), str(r[1])), dec(r[5])) for r in per_model]

    converted, block = await _display.converted_rows(book, org, w, costs)
    for row in body["versions"] + body["rows"]:
        value = converted.get((row["prompt_version"], row["model"] or ""))
        row["display_cost"] = _display.shown(value)
        row["display_cost_per_request"] = None if value is None else ratio(value, row["requests"])
    return block
