"""``costobs pricing check --against FILE``: our price table against another one, offline.

Two other formats are read, each mapped onto our rate keys (USD per 1M tokens):
- LiteLLM's ``model_prices_and_context_window.json`` (one object per model, USD per token,
  ``litellm_provider``; long context as ``*_above_<N>k_tokens``). It has no dates.
- pydantic's genai-prices ``data.json`` (a list of providers with ``models``, USD per 1M
  tokens as ``*_mtok``, dated prices as ``constraint.start_date``, tiers as ``base``/``tiers``).

Numbers are read as ``Decimal`` straight from the JSON text, so ``2.5e-06`` per token is
exactly 2.5 per 1M: a difference reported here is a real difference, never a float artefact.
Comparison is pure (data in, findings out); reading the file is the only I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from costobs.pricing import PriceTable, PricingError

from costobs_server.vocabulary import money_text

MILLION = Decimal(1_000_000)

# LiteLLM per-token field → our rate key.
LITELLM_RATES = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cached_input",
    "cache_creation_input_token_cost": "cache_write_5m",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "output_cost_per_reasoning_token": "reasoning",
    "input_cost_per_audio_token": "audio_input",
    "output_cost_per_audio_token": "audio_output",
}
# genai-prices ``*_mtok`` field → our rate key.
GENAI_PRICES_RATES = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cached_input",
    "cache_write_mtok": "cache_write_5m",
    "input_audio_mtok": "audio_input",
    "output_audio_mtok": "audio_output",
}
# Provider names of the other tables that our table's provider aliases do not already know.
PROVIDER_NAMES = {
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "bedrock_converse": "bedrock",
    "text-completion-openai": "openai",
    "x_ai": "xai",
    "google": "gemini",
    "aws": "bedrock",
}


@dataclass(frozen=True, slots=True)
class OtherModel:
    """One model of the other table, in our vocabulary."""

    key: str  # how the other table names it, for messages
    provider: str
    model: str
    rates: Mapping[str, Decimal]
    long_context: tuple[int, Mapping[str, Decimal]] | None = None
    newest: date | None = None  # the newest date the other table gives a price from


@dataclass(frozen=True, slots=True)
class RateDiff:
    entry: str
    other: str
    rate: str
    ours: str
    theirs: str


@dataclass
class Report:
    fmt: str
    compared: int = 0
    disagreements: list[RateDiff] = field(default_factory=list)
    missing_ours: list[str] = field(default_factory=list)  # in theirs, no entry of ours
    missing_theirs: list[str] = field(default_factory=list)  # our entries they lack
    older: list[tuple[str, str, str]] = field(default_factory=list)  # entry, ours, theirs
    unverified: dict[str, str] = field(default_factory=dict)  # entry → why, among those met

    @property
    def clean(self) -> bool:
        return not (self.disagreements or self.missing_ours or self.missing_theirs or self.older)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.fmt,
            "compared": self.compared,
            "disagreements": [_diff(d) for d in self.disagreements],
            "missing_in_ours": self.missing_ours,
            "missing_in_theirs": self.missing_theirs,
            "older_than_source": [
                {"entry": e, "ours_from": o, "theirs_from": t} for e, o, t in self.older
            ],
            "unverified": self.unverified,
        }


def _diff(d: RateDiff) -> dict[str, str]:
    return {"entry": d.entry, "other": d.other, "rate": d.rate, "ours": d.ours, "theirs": d.theirs}


# -- reading ------------------------------------------------------------------------


def read_other(path: str | Path, fmt: str = "auto") -> tuple[str, list[OtherModel]]:
    """Parse the other table; ``fmt`` is ``litellm``, ``genai-prices`` or ``auto``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, ValueError) as exc:
        raise PricingError(f"--against {str(path)!r}: cannot read a JSON table: {exc}") from exc
    if fmt == "auto":
        fmt = detect(raw)
    if fmt == "litellm":
        return fmt, list(from_litellm(raw))
    if fmt == "genai-prices":
        return fmt, list(from_genai_prices(raw))
    raise PricingError(f"--format: unknown table format {fmt!r} (litellm, genai-prices)")


def detect(raw: Any) -> str:
    if isinstance(raw, dict) and any(
        isinstance(v, dict) and ("litellm_provider" in v or "input_cost_per_token" in v)
        for v in raw.values()
    ):
        return "litellm"
    if isinstance(raw, list) and all(isinstance(p, dict) and "models" in p for p in raw):
        return "genai-prices"
    raise PricingError(
        "--against: neither a LiteLLM model_prices_and_context_window.json nor a genai-prices "
        "data.json (pass --format to say which)"
    )


def normalise_provider(name: str) -> str:
    """Another tool's provider name in our vocabulary (our table's aliases do the rest)."""
    name = name.strip().lower()
    if name.startswith("vertex_ai"):  # vertex_ai-language-models, vertex_ai-anthropic_models…
        return "vertex"
    return PROVIDER_NAMES.get(name, name)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def from_litellm(raw: Mapping[str, Any]) -> Iterable[OtherModel]:
    for key, row in raw.items():
        if key == "sample_spec" or not isinstance(row, dict):
            continue
        provider = normalise_provider(str(row.get("litellm_provider") or key.split("/", 1)[0]))
        model = key
        first, _, rest = key.partition("/")
        if rest and (normalise_provider(first) == provider or first.lower() == provider):
            model = rest  # "gemini/gemini-2.5-pro" → "gemini-2.5-pro"
        rates = {
            ours: n * MILLION
            for field_name, ours in LITELLM_RATES.items()
            if (n := _number(row.get(field_name))) is not None
        }
        long_context = None
        for field_name, value in row.items():
            prefix, sep, tail = field_name.partition("_above_")
            if not sep or not tail.endswith("k_tokens") or prefix not in LITELLM_RATES:
                continue
            threshold, n = tail.removesuffix("k_tokens"), _number(value)
            if not threshold.isdigit() or n is None:
                continue
            above = int(threshold) * 1000
            if long_context is None or long_context[0] == above:
                lc_rates = dict(long_context[1]) if long_context else {}
                lc_rates[LITELLM_RATES[prefix]] = n * MILLION
                long_context = (above, lc_rates)
        if rates:
            yield OtherModel(key, provider, model, rates, long_context)


def _genai_price(prices: Any, today: date) -> tuple[Mapping[str, Any], date | None]:
    """The price set in force today, and the newest start date given."""
    if isinstance(prices, dict):
        return prices, None
    current: Mapping[str, Any] = {}
    current_start: date | None = None
    newest: date | None = None
    for item in prices if isinstance(prices, list) else []:
        constraint = item.get("constraint") or {}
        start_text = constraint.get("start_date")
        if constraint and not start_text:
            continue  # time-of-day prices (off-peak) are not compared
        start = date.fromisoformat(start_text) if start_text else None
        if start is not None:
            newest = max(newest or start, start)
        if start is None and current_start is None and not current:
            current = item.get("prices") or {}
        elif (
            start is not None
            and start <= today
            and (current_start is None or start > current_start)
        ):
            current, current_start = item.get("prices") or {}, start
    return current, newest


def from_genai_prices(raw: list[Any], today: date | None = None) -> Iterable[OtherModel]:
    today = today or date.today()
    for provider_row in raw:
        provider = normalise_provider(str(provider_row.get("id", "")))
        for model_row in provider_row.get("models") or []:
            prices, newest = _genai_price(model_row.get("prices"), today)
            rates: dict[str, Decimal] = {}
            long_context: tuple[int, dict[str, Decimal]] | None = None
            for field_name, ours in GENAI_PRICES_RATES.items():
                value = prices.get(field_name)
                if isinstance(value, dict):  # tiered: {"base": …, "tiers": [{"start", "price"}]}
                    base, tiers = _number(value.get("base")), value.get("tiers") or []
                    if base is not None:
                        rates[ours] = base
                    if tiers and (n := _number(tiers[0].get("price"))) is not None:
                        above = int(tiers[0].get("start", 0))
                        if long_context is None or long_context[0] == above:
                            lc = long_context[1] if long_context else {}
                            lc[ours] = n
                            long_context = (above, lc)
                elif (n := _number(value)) is not None:
                    rates[ours] = n
            if rates:
                key = f"{provider_row.get('id')}/{model_row.get('id')}"
                yield OtherModel(
                    key, provider, str(model_row.get("id")), rates, long_context, newest
                )


# -- comparing ----------------------------------------------------------------------


def compare(
    table: PriceTable, others: Iterable[OtherModel], *, fmt: str, at: datetime | None = None
) -> Report:
    """Every rate that disagrees, every model missing on either side, every entry older than
    the other table's newest date for it."""
    report = Report(fmt)
    seen_entries: set[str] = set()
    providers_seen: set[str] = set()
    for other in others:
        try:
            explained = table.explain(other.provider, other.model, at)
        except PricingError:
            explained = {"matched": False}
        if not explained.get("matched"):
            report.missing_ours.append(other.key)
            continue
        entry = str(explained["entry"])
        seen_entries.add(entry)
        providers_seen.add(str(explained["entry_provider"]))
        report.compared += 1
        if explained.get("unverified"):
            report.unverified[entry] = str(explained["unverified"])
        ours = {k: Decimal(v) for k, v in explained["rates"].items() if isinstance(v, str)}
        for rate, theirs in sorted(other.rates.items()):
            if rate in ours and ours[rate] != theirs:
                report.disagreements.append(
                    RateDiff(entry, other.key, rate, money_text(ours[rate]), money_text(theirs))
                )
        our_lc = explained.get("long_context")
        if other.long_context is not None and our_lc:
            above, their_lc = other.long_context
            if int(our_lc["above_prompt_tokens"]) != above:
                report.disagreements.append(
                    RateDiff(
                        entry,
                        other.key,
                        "long_context.above",
                        str(our_lc["above_prompt_tokens"]),
                        str(above),
                    )
                )
            for rate, theirs in sorted(their_lc.items()):
                mine = our_lc["rates"].get(rate)
                if mine is not None and Decimal(mine) != theirs:
                    report.disagreements.append(
                        RateDiff(
                            entry,
                            other.key,
                            f"long_context.{rate}",
                            money_text(Decimal(mine)),
                            money_text(theirs),
                        )
                    )
        history = explained.get("price_history") or []
        if other.newest is not None and history:
            newest_ours = date.fromisoformat(str(history[-1]))
            if newest_ours < other.newest:
                report.older.append((entry, newest_ours.isoformat(), other.newest.isoformat()))
    for entry_id in table.entries:
        provider = entry_id.split("/", 1)[0]
        if provider in providers_seen and entry_id not in seen_entries:
            report.missing_theirs.append(entry_id)
    report.missing_ours.sort()
    report.disagreements.sort(key=lambda d: (d.entry, d.rate, d.other))
    return report


def render(report: Report) -> str:
    """The report as text, one finding a line."""
    lines = [
        f"compared {report.compared} models with a {report.fmt} table: "
        f"{len(report.disagreements)} rates disagree, {len(report.missing_ours)} models missing "
        f"in ours, {len(report.missing_theirs)} entries missing in theirs, "
        f"{len(report.older)} entries older than the other table's newest date"
    ]
    for d in report.disagreements:
        mark = "  (unverified entry)" if d.entry in report.unverified else ""
        lines.append(
            f"rate  {d.entry} {d.rate}: ours {d.ours}, theirs {d.theirs} ({d.other}){mark}"
        )
    lines += [f"missing in ours  {key}" for key in report.missing_ours]
    lines += [f"missing in theirs  {entry}" for entry in report.missing_theirs]
    lines += [
        f"older  {entry}: ours from {ours}, theirs from {theirs}"
        for entry, ours, theirs in report.older
    ]
    lines += [f"unverified  {entry}: {why}" for entry, why in sorted(report.unverified.items())]
    return "\n".join(lines)
