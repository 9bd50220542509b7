"""FOCUS 1.2 rows from grouped spend, and their CSV / Parquet encodings. Pure (no I/O).

FOCUS (FinOps Open Cost and Usage Specification) 1.2 is the newest version whose text we could
confirm (tag v1.2 of github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec). One row per org-local
day × provider × model × service tier × attribution (team, customer, feature, environment,
service, tags) × usage type: ``input`` (uncached), ``cached_input``, ``cache_write``, ``output``
(non-reasoning), ``reasoning``, ``other`` (audio, image, characters, per-request fees; counted
in requests). Each row's cost is the sum of the events' stored cost parts for that usage type
(``consumers/cost_parts.py``), so the rows of a group add up to the events' ``cost_usd`` to
the last digit. Events stored before the parts existed (migration 0009) have their whole
cost in ``other``.

Costs: BilledCost = EffectiveCost = ContractedCost = ListCost = the stored cost, which already
reflects the org's price overrides (negotiated discounts); the undiscounted list price of each
event is not kept, so ListCost cannot show the discount. Nothing is amortised or committed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson

from readapi._time import local_midnight

VERSION: Final = "1.2"

COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("BilledCost", "Decimal"),
    ("BillingAccountId", "String"),
    ("BillingAccountName", "String"),
    ("BillingCurrency", "String"),
    ("BillingPeriodEnd", "Date/Time"),
    ("BillingPeriodStart", "Date/Time"),
    ("ChargeCategory", "String"),
    ("ChargeClass", "String"),
    ("ChargeDescription", "String"),
    ("ChargeFrequency", "String"),
    ("ChargePeriodEnd", "Date/Time"),
    ("ChargePeriodStart", "Date/Time"),
    ("ConsumedQuantity", "Decimal"),
    ("ConsumedUnit", "String"),
    ("ContractedCost", "Decimal"),
    ("EffectiveCost", "Decimal"),
    ("InvoiceIssuerName", "String"),
    ("ListCost", "Decimal"),
    ("PricingQuantity", "Decimal"),
    ("PricingUnit", "String"),
    ("ProviderName", "String"),
    ("PublisherName", "String"),
    ("ServiceCategory", "String"),
    ("ServiceName", "String"),
    ("ServiceSubcategory", "String"),
    ("SkuId", "String"),
    ("SkuPriceId", "String"),
    ("Tags", "JSON"),
    ("x_UsageType", "String"),
    ("x_ServiceTier", "String"),
    ("x_Requests", "Decimal"),
)
"""(column, FOCUS data type) in output order; ``x_`` columns are CostObs's own (the spec's
prefix for custom columns)."""

NAMES: Final = tuple(name for name, _ in COLUMNS)

# provider → (ProviderName = InvoiceIssuerName, ServiceName)
_VENDORS: Final = {
    "openai": ("OpenAI", "OpenAI API"),
    "anthropic": ("Anthropic", "Claude API"),
    "gemini": ("Google", "Gemini API"),
    "vertex": ("Google Cloud", "Vertex AI"),
    "bedrock": ("Amazon Web Services", "Amazon Bedrock"),
    "azure": ("Microsoft", "Azure OpenAI"),
    "xai": ("xAI", "xAI API"),
    "mistral": ("Mistral AI", "Mistral API"),
    "deepseek": ("DeepSeek", "DeepSeek API"),
    "groq": ("Groq", "GroqCloud"),
    "together": ("Together AI", "Together API"),
    "fireworks": ("Fireworks AI", "Fireworks API"),
    "openrouter": ("OpenRouter", "OpenRouter API"),
}

FIELDS_AS_TAGS: Final = ("team", "customer", "feature", "environment", "service")
"""First-class attribution in Tags under these keys; free-form tags under ``tags/<key>`` (FOCUS
asks every user-defined tag scheme but one to carry a prefix)."""


@dataclass(frozen=True)
class Group:
    """One grouped row of events (``readapi._export`` reads these from ClickHouse)."""

    day: date
    provider: str
    model: str
    service_tier: str
    batch: bool
    team: str
    customer: str
    feature: str
    environment: str
    service: str
    tags: Mapping[str, str]
    requests: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_input: Decimal
    cost_cached_input: Decimal
    cost_cache_write: Decimal
    cost_output: Decimal
    cost_reasoning: Decimal
    cost_other: Decimal
    cost_total: Decimal


def _month(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _tags(group: Group) -> str:
    tags: dict[str, str] = {}
    for key, value in zip(
        FIELDS_AS_TAGS,
        (group.team, group.customer, group.feature, group.environment, group.service),
        strict=True,
    ):
        if value:
            tags[key] = value
    for key, value in sorted(group.tags.items()):
        tags[f"tags/{key}"] = value
    return orjson.dumps(tags).decode()


def rows(group: Group, org_id: str, tz: ZoneInfo) -> Iterator[dict[str, Any]]:
    """The group's FOCUS rows, one per usage type with a quantity or a cost."""
    start = local_midnight(group.day, tz)
    end = local_midnight(group.day + timedelta(days=1), tz)
    month_start, month_end = _month(group.day)
    vendor, service_name = _VENDORS.get(group.provider, (group.provider, group.provider))
    tier = group.service_tier or "standard"
    if group.batch:
        tier = "batch"
    unsplit = group.cost_total - (
        group.cost_input
        + group.cost_cached_input
        + group.cost_cache_write
        + group.cost_output
        + group.cost_reasoning
        + group.cost_other
    )
    kinds: tuple[tuple[str, int, str, Decimal], ...] = (
        ("input", group.input_tokens, "Tokens", group.cost_input),
        ("cached_input", group.cached_input_tokens, "Tokens", group.cost_cached_input),
        ("cache_write", group.cache_write_tokens, "Tokens", group.cost_cache_write),
        ("output", group.output_tokens - group.reasoning_tokens, "Tokens", group.cost_output),
        ("reasoning", group.reasoning_tokens, "Tokens", group.cost_reasoning),
        ("other", group.requests, "Requests", group.cost_other + unsplit),
    )
    common = {
        "BillingAccountId": org_id,
        "BillingAccountName": org_id,
        "BillingCurrency": "USD",
        "BillingPeriodEnd": local_midnight(month_end, tz),
        "BillingPeriodStart": local_midnight(month_start, tz),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": end,
        "ChargePeriodStart": start,
        "InvoiceIssuerName": vendor,
        "ProviderName": vendor,
        "PublisherName": vendor,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": service_name,
        "ServiceSubcategory": "Generative AI",
        "Tags": _tags(group),
        "x_ServiceTier": tier,
        "x_Requests": Decimal(group.requests),
    }
    for kind, quantity, unit, cost in kinds:
        if kind == "other" and not cost:
            continue
        if not quantity and not cost:
            continue
        sku = f"{group.provider}/{group.model}/{kind}"
        amount = Decimal(quantity)
        yield {
            **common,
            "BilledCost": cost,
            "ContractedCost": cost,
            "EffectiveCost": cost,
            "ListCost": cost,
            "ChargeDescription": f"{group.model} {kind.replace('_', ' ')} {unit.lower()} ({tier})",
            "ConsumedQuantity": amount,
            "ConsumedUnit": unit,
            "PricingQuantity": amount,
            "PricingUnit": unit,
            "SkuId": sku,
            "SkuPriceId": f"{sku}/{tier}",
            "x_UsageType": kind,
        }


# -- encodings ---------------------------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


_INSTANTS: dict[datetime, str] = {}


def _instant_text(value: datetime) -> str:
    text = _INSTANTS.get(value)
    if text is None:
        if len(_INSTANTS) > 10_000:
            _INSTANTS.clear()
        text = _INSTANTS[value] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def csv_fields(row: Mapping[str, Any]) -> list[str]:
    """A row's CSV fields in column order: Decimal as plain digits, instants as ISO 8601 UTC,
    null as empty. The hot loop of a large export, so it reuses what repeats: a row's four
    cost columns and its two quantities are the same objects, a day's instants recur."""
    out: list[str] = []
    last: Decimal | None = None
    last_text = ""
    for name in NAMES:
        value = row[name]
        kind = type(value)
        if kind is str:
            out.append(value)
        elif kind is Decimal:
            if value is not last:
                last, last_text = value, _decimal_text(value)
            out.append(last_text)
        elif value is None:
            out.append("")
        else:
            out.append(_instant_text(value))
    return out


class CsvEncoder:
    """CSV with a header row; ``encode`` a chunk of rows at a time."""

    media_type = "text/csv"

    def __init__(self) -> None:
        self._started = False

    def encode(self, chunk: Sequence[Mapping[str, Any]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if not self._started:
            writer.writerow(NAMES)
            self._started = True
        writer.writerows(csv_fields(row) for row in chunk)
        return out.getvalue().encode()

    def finish(self) -> bytes:
        return b"" if self._started else self.encode([])


class _Sink(io.RawIOBase):
    """A write-only file whose bytes are taken out after each row group."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


class ParquetEncoder:
    """Parquet (pyarrow), one row group per chunk; Decimal columns are decimal128(38, 18)."""

    media_type = "application/vnd.apache.parquet"

    def __init__(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        kinds = {
            "Decimal": pa.decimal128(38, 18),
            "String": pa.string(),
            "JSON": pa.string(),
            "Date/Time": pa.timestamp("ms", tz="UTC"),
        }
        self.schema = pa.schema([pa.field(name, kinds[kind]) for name, kind in COLUMNS])
        self._sink = _Sink()
        self._writer = pq.ParquetWriter(self._sink, self.schema)

    def encode(self, chunk: Sequence[Mapping[str, Any]]) -> bytes:
        if chunk:
            columns = {name: [row[name] for row in chunk] for name in NAMES}
            self._writer.write_table(self._pa.table(columns, schema=self.schema))
        return self._sink.take()

    def finish(self) -> bytes:
        self._writer.close()
        return self._sink.take()


def encoder(fmt: str) -> CsvEncoder | ParquetEncoder:
    return ParquetEncoder() if fmt == "parquet" else CsvEncoder()
