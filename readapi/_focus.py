"""FOCUS 1.2 rows: the SQL that makes them, and their CSV / Parquet encodings. Pure (no I/O).

FOCUS (FinOps Open Cost and Usage Specification) 1.2 is the newest version whose text we could
confirm (tag v1.2 of github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec). One row per org-local
day × provider × model × service tier × attribution (team, customer, feature, environment,
service, tags) × usage type: ``input`` (uncached), ``cached_input``, ``cache_write``, ``output``
(non-reasoning), ``reasoning``, ``other`` (audio, image, characters, per-request fees; counted
in requests). Each row's cost is the sum of the events' stored cost parts for that usage type
(``consumers/cost_parts.py``), so the rows of a group add up to the events' ``cost_usd`` to
the last digit. Events stored before the parts existed (migration 0009) have their whole
cost in ``other``.

ClickHouse groups the events and makes the rows (``ROWS_SQL``), and writes them as CSV or Arrow
itself: a large export is formatting-bound, and its C++ formats the decimals and instants
exactly (decimals without trailing zeros, instants as ISO 8601 UTC) at many times Python's pace.

Costs: BilledCost = EffectiveCost = ContractedCost = ListCost = the stored cost, which already
reflects the org's price overrides (negotiated discounts); the undiscounted list price of each
event is not kept, so ListCost cannot show the discount. Nothing is amortised or committed.
"""

from __future__ import annotations

import io
from typing import Any, Final

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

# provider → (ProviderName = PublisherName = InvoiceIssuerName, ServiceName)
VENDORS: Final = {
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


def _strings(values: Any) -> str:
    return (
        "["
        + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
        + "]"
    )


_KEYS = _strings(VENDORS)
_VENDOR = f"transform(provider, {_KEYS}, {_strings(v[0] for v in VENDORS.values())}, provider)"
_SERVICE = f"transform(provider, {_KEYS}, {_strings(v[1] for v in VENDORS.values())}, provider)"

ROWS_SQL: Final = f"""
SELECT
    kind.4 AS BilledCost,
    {{org:String}} AS BillingAccountId,
    {{org:String}} AS BillingAccountName,
    'USD' AS BillingCurrency,
    toDateTime(addMonths(toStartOfMonth(day), 1), {{tz:String}}) AS BillingPeriodEnd,
    toDateTime(toStartOfMonth(day), {{tz:String}}) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    CAST(NULL AS Nullable(String)) AS ChargeClass,
    concat(model, ' ', replaceAll(kind.1, '_', ' '), ' ', lower(kind.3), ' (', tier, ')')
        AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    toDateTime(day + 1, {{tz:String}}) AS ChargePeriodEnd,
    toDateTime(day, {{tz:String}}) AS ChargePeriodStart,
    kind.2 AS ConsumedQuantity,
    kind.3 AS ConsumedUnit,
    kind.4 AS ContractedCost,
    kind.4 AS EffectiveCost,
    {_VENDOR} AS InvoiceIssuerName,
    kind.4 AS ListCost,
    kind.2 AS PricingQuantity,
    kind.3 AS PricingUnit,
    {_VENDOR} AS ProviderName,
    {_VENDOR} AS PublisherName,
    'AI and Machine Learning' AS ServiceCategory,
    {_SERVICE} AS ServiceName,
    'Generative AI' AS ServiceSubcategory,
    concat(provider, '/', model, '/', kind.1) AS SkuId,
    concat(provider, '/', model, '/', kind.1, '/', tier) AS SkuPriceId,
    toJSONString(mapConcat(
        mapFilter((k, v) -> v != '', map('team', team, 'customer', customer_id,
            'feature', feature, 'environment', environment, 'service', service)),
        mapSort(mapApply((k, v) -> (concat('tags/', k), v), tags)))) AS Tags,
    kind.1 AS x_UsageType,
    tier AS x_ServiceTier,
    requests AS x_Requests
FROM (
    SELECT toDate(timestamp, {{tz:String}}) AS day, provider, model,
        if(batch, 'batch', if(service_tier = '', 'standard', service_tier)) AS tier,
        toString(team) AS team, customer_id, toString(feature) AS feature,
        toString(environment) AS environment, toString(service) AS service,
        CAST(tags, 'Map(String, String)') AS tags,
        count() AS requests,
        sum(cost_input_usd) AS c_input, sum(cost_cached_input_usd) AS c_cached,
        sum(cost_cache_write_usd) AS c_write, sum(cost_output_usd) AS c_output,
        sum(cost_reasoning_usd) AS c_reasoning,
        sum(cost_usd) AS c_total,
        [
            ('input', sum(input_tokens), 'Tokens', c_input),
            ('cached_input', sum(cached_input_tokens), 'Tokens', c_cached),
            ('cache_write', sum(cache_write_5m_tokens + cache_write_1h_tokens
                + cache_write_30m_tokens + cache_write_12h_tokens), 'Tokens', c_write),
            ('output', toUInt64(sum(output_tokens) - sum(reasoning_tokens)), 'Tokens', c_output),
            ('reasoning', sum(reasoning_tokens), 'Tokens', c_reasoning),
            -- audio, image, characters, fees (cost_other_usd), and the whole cost of events
            -- stored before migration 0009 (no parts): what the other parts leave of the total,
            -- so the rows always add up to cost_usd
            ('other', count(), 'Requests',
                c_total - c_input - c_cached - c_write - c_output - c_reasoning)
        ] AS kinds
    FROM events
    WHERE org_id = {{org:String}}
      AND timestamp >= {{start:DateTime64(3, 'UTC')}} AND timestamp < {{end:DateTime64(3, 'UTC')}}
    GROUP BY day, provider, model, tier, team, customer_id, feature, environment, service, tags
    -- sorting the groups (ARRAY JOIN keeps their order) costs a fifth of sorting the rows
    ORDER BY provider, model, tier, team, customer_id, feature, environment, service, tags
)
ARRAY JOIN kinds AS kind
WHERE if(kind.1 = 'other', kind.4 != 0, kind.2 != 0 OR kind.4 != 0)
"""
"""One org-local day's rows ({org}, {tz}, and the day's UTC {start} and {end})."""

DISPLAY_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("x_DisplayCurrency", "String"),
    ("x_DisplayCost", "Decimal"),
    ("x_ExchangeRate", "Decimal"),
    ("x_ExchangeRateDate", "String"),
    ("x_ExchangeRateFallback", "Boolean"),
)
"""Added when the org shows another currency than USD. BillingCurrency stays USD and every
FOCUS cost column stays the stored USD figure; ``x_DisplayCost`` = BilledCost (= EffectiveCost
= ListCost = ContractedCost) × ``x_ExchangeRate``, exact, with the rate of the row's day (or the
latest earlier one: ``x_ExchangeRateFallback``). Not FOCUS's ``PricingCurrency*`` columns:
those name the currency a provider *priced* in, and every provider here prices in USD. Null
on days before the first rate."""

_DISPLAY_SELECT = """    requests AS x_Requests,
    {cur:String} AS x_DisplayCurrency,
    CAST(toDecimal256(kind.4, 18) * toDecimal256OrNull({rate:String}, 12)
        AS Nullable(Decimal256(30))) AS x_DisplayCost,
    toDecimal256OrNull({rate:String}, 12) AS x_ExchangeRate,
    nullIf({rate_date:String}, '') AS x_ExchangeRateDate,
    if({rate:String} = '', NULL, {fallback:Bool}) AS x_ExchangeRateFallback
FROM ("""
_ROWS_END = "    requests AS x_Requests\nFROM ("
assert ROWS_SQL.count(_ROWS_END) == 1
DISPLAY_ROWS_SQL: Final = ROWS_SQL.replace(_ROWS_END, _DISPLAY_SELECT)
"""``ROWS_SQL`` with the display columns ({cur}, and the day's {rate}, {rate_date},
{fallback}; rate '' = none)."""

SETTINGS: Final = {
    "date_time_output_format": "iso",  # 2026-11-20T00:00:00Z (UTC)
    "format_csv_null_representation": "",
    "output_format_json_escape_forward_slashes": 0,
    "output_format_decimal_trailing_zeros": 0,
}


# -- encodings ---------------------------------------------------------------------------


def columns(display: bool) -> tuple[tuple[str, str], ...]:
    return COLUMNS + DISPLAY_COLUMNS if display else COLUMNS


class CsvEncoder:
    """CSV with a header row; ClickHouse writes the rows (strings quoted, null empty)."""

    media_type = "text/csv"
    clickhouse_format = "CSV"

    def __init__(self, display: bool = False) -> None:
        self._started = False
        self._names = [name for name, _ in columns(display)]

    def encode(self, chunk: bytes) -> bytes:
        if not self._started:
            self._started = True
            return (",".join(self._names) + "\n").encode() + chunk
        return chunk

    def finish(self) -> bytes:
        return b"" if self._started else self.encode(b"")


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
    """Parquet (pyarrow) from ClickHouse's Arrow output, one row group per day; Decimal columns
    are decimal128(38, 18), instants timestamp[ms, UTC] (Parquet has no seconds unit); the
    display cost decimal256(76, 30) (18 places of USD × 12 of the rate, exactly)."""

    media_type = "application/vnd.apache.parquet"
    clickhouse_format = "Arrow"

    def __init__(self, display: bool = False) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        kinds = {
            "Decimal": pa.decimal128(38, 18),
            "String": pa.string(),
            "JSON": pa.string(),
            "Date/Time": pa.timestamp("ms", tz="UTC"),
            "Boolean": pa.bool_(),
        }
        exact = {"x_DisplayCost": pa.decimal256(76, 30), "x_ExchangeRate": pa.decimal128(38, 12)}
        self.schema = pa.schema(
            [pa.field(name, exact.get(name) or kinds[kind]) for name, kind in columns(display)]
        )
        self._sink = _Sink()
        self._writer = pq.ParquetWriter(self._sink, self.schema)

    def encode(self, chunk: bytes) -> bytes:
        pa = self._pa
        if not chunk:
            return b""
        table = pa.ipc.open_file(pa.BufferReader(chunk)).read_all()
        if not table.num_rows:
            return b""
        columns = []
        for field in self.schema:
            column = table.column(field.name)
            if pa.types.is_timestamp(field.type) and pa.types.is_integer(column.type):
                # ClickHouse sends DateTime as seconds since the epoch
                column = column.cast(pa.int64()).cast(pa.timestamp("s", tz="UTC"))
            columns.append(column.cast(field.type))
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        return self._sink.take()

    def finish(self) -> bytes:
        self._writer.close()
        return self._sink.take()


def encoder(fmt: str, display: bool = False) -> CsvEncoder | ParquetEncoder:
    return ParquetEncoder(display) if fmt == "parquet" else CsvEncoder(display)
