"""Response shapes of the read API, for the OpenAPI document and response validation.

Money is a decimal string (``Money``), exact to the stored 18 places; ratios such as cost per
request are rounded to 12 places; percentages are decimal strings with two places.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from readapi._display_models import (
    BreakdownDisplay,
    DayDisplay,
    ForecastDisplay,
    ModelDriftDisplay,
    RangeDisplay,
    RatesUsed,
    ReconcileDisplay,
    RowDisplay,
)

Money = Annotated[str, Field(description="USD as a decimal string, e.g. '12.0034'")]
Pct = Annotated[str | None, Field(description="percent, two places; null when undefined")]
Day = Annotated[str, Field(description="YYYY-MM-DD")]


class RangeInfo(BaseModel):
    from_: Day = Field(alias="from")
    to: Day
    timezone: str
    source: Literal["day", "hour", "raw"] = Field(
        description="day: UTC-aligned, rollups only; hour: whole-hour zone, rollups plus raw "
        "events for partial UTC days; raw: :30/:45 zone, plus quarter-hour rollups around local "
        "midnights"
    )


class Spend(BaseModel):
    requests: int
    error_requests: int
    unpriced_requests: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int = Field(description="input + cached input + cache writes + output")
    cost_usd: Money
    cost_per_request_usd: Money | None


class Changes(BaseModel):
    cost_usd: Pct
    requests: Pct
    total_tokens: Pct
    cost_per_request_usd: Pct


class Comparison(BaseModel):
    range: RangeInfo
    totals: Spend
    display: RangeDisplay | None = Field(
        default=None, description="the total cost in the org's display currency (null: USD)"
    )
    change_pct: Changes = Field(description="change of `totals` relative to this one")


class Period(BaseModel):
    range: RangeInfo
    totals: Spend
    display: RangeDisplay | None = Field(
        default=None, description="the total cost in the org's display currency (null: USD)"
    )


class MonthOverMonth(BaseModel):
    current: Period = Field(description="month to date, as of `to`")
    previous: Period = Field(description="the previous month's 1st through the same day")
    change_pct: Changes = Field(description="current relative to previous")


class FailedSpend(BaseModel):
    requests: int
    cost_usd: Money
    share_pct: Pct = Field(description="of the range's spend")
    by_status: dict[str, Money] = Field(description="error, timeout, cancelled → cost")


class Summary(BaseModel):
    range: RangeInfo
    totals: Spend
    failed: FailedSpend = Field(
        description="calls that failed, timed out or were cancelled, with the usage known"
    )
    previous_period: Comparison = Field(description="the same number of days just before")
    month_over_month: MonthOverMonth
    display: RangeDisplay | None = Field(
        default=None, description="the total cost in the org's display currency (null: USD)"
    )


class SeriesPoint(BaseModel):
    date: Day
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Money
    groups: dict[str, Money] = Field(
        default_factory=dict, description="cost per group value when group_by is set"
    )
    display: DayDisplay | None = Field(
        default=None, description="the day's cost in the org's display currency (null: USD)"
    )
    display_groups: dict[str, str | None] | None = Field(
        default=None, description="`groups` in the display currency, with the day's rate"
    )


class Series(BaseModel):
    range: RangeInfo
    group_by: str | None
    groups: list[str] = Field(description="group values, most expensive first")
    points: list[SeriesPoint] = Field(description="one per day of the range, zero-filled")
    display: RangeDisplay | None = Field(
        default=None, description="the total cost in the org's display currency (null: USD)"
    )


class BreakdownRow(BaseModel):
    keys: list[str] = Field(description="one value per level; '' = not set / tag absent")
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Money
    cost_per_request_usd: Money | None
    share_pct: Pct
    display_cost: str | None = Field(
        default=None,
        description="in the display currency, converted day by day (see `display.rates`); "
        "null when the display currency is USD or part of it falls on days without a rate",
    )


class BreakdownTotals(BaseModel):
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Money


class Breakdown(BaseModel):
    range: RangeInfo
    levels: list[str]
    rows: list[BreakdownRow]
    truncated: bool = Field(description="more rows exist than `limit`")
    status: str | None = Field(
        default=None, description="the status filter applied (failed = error/timeout/cancelled)"
    )
    totals: BreakdownTotals = Field(
        description="the whole range, every event (of that status when filtered)"
    )
    display: BreakdownDisplay | None = Field(
        default=None, description="the total in the display currency (null: USD)"
    )


class TagKey(BaseModel):
    key: str
    values: int
    requests: int
    cost_usd: Money
    display_cost: str | None = Field(
        default=None,
        description="in the display currency, day by day (null: USD, or a day without rate)",
    )


class TagKeys(BaseModel):
    range: RangeInfo
    tags: list[TagKey]
    display: RatesUsed | None = None


class UnpricedModel(BaseModel):
    provider: str
    model: str
    requests: int
    first_seen: str
    last_seen: str


class Unpriced(BaseModel):
    range: RangeInfo
    models: list[UnpricedModel]


class RequestItem(BaseModel):
    request_id: str
    timestamp: str
    provider: str
    model: str
    operation: str
    feature: str
    customer_id: str
    user_id: str
    trace_id: str
    team: str
    service: str
    environment: str
    prompt_key: str
    prompt_version: str
    tags: dict[str, str]
    status: str
    error_type: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    latency_ms: int
    cost_usd: Money
    unpriced: bool
    display: DayDisplay | None = Field(
        default=None,
        description="cost in the display currency at the rate of the request's local day "
        "(null: USD)",
    )


class RequestPage(BaseModel):
    range: RangeInfo
    items: list[RequestItem]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class PromptKey(BaseModel):
    prompt_key: str
    versions: int
    requests: int
    cost_usd: Money
    display_cost: str | None = Field(
        default=None,
        description="in the display currency, day by day (null: USD, or a day without rate)",
    )


class PromptKeys(BaseModel):
    range: RangeInfo
    prompts: list[PromptKey]
    display: RatesUsed | None = None


class PromptRow(BaseModel):
    prompt_version: str
    model: str | None = Field(description="null on a version's all-models row")
    requests: int
    cost_usd: Money
    cost_per_request_usd: Money | None
    avg_input_tokens: str | None
    avg_output_tokens: str | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    display_cost: str | None = Field(
        default=None,
        description="in the display currency, day by day (null: USD, or a day without rate)",
    )
    display_cost_per_request: str | None = Field(
        default=None, description="display_cost / requests, 12 places"
    )


class PromptComparison(BaseModel):
    range: RangeInfo
    prompt_key: str
    versions: list[PromptRow] = Field(description="one row per version, all models")
    rows: list[PromptRow] = Field(description="one row per version × model")
    display: RatesUsed | None = None


class ForecastPoint(BaseModel):
    date: Day
    cost_usd: Money


class ForecastModel(BaseModel):
    name: Literal["seasonal", "linear"]
    r2: str
    adjusted_r2: str
    mae_usd: Money
    next_30_days_usd: Money
    month_end_usd: Money
    budget_run_out_date: Day | None
    daily: list[ForecastPoint]


class Forecast(BaseModel):
    as_of: Day
    timezone: str
    history: list[ForecastPoint]
    month_to_date_usd: Money
    monthly_budget_usd: Money | None
    models: list[ForecastModel]
    recommended: str | None
    month_end_usd: Money | None = Field(description="the recommended model's estimate")
    next_30_days_usd: Money | None
    budget_run_out_date: Day | None = Field(
        description="recommended model: the first day this month's spend exceeds the budget; "
        "null when no budget or not within this month"
    )
    display: ForecastDisplay | None = Field(
        default=None, description="the figures in the org's display currency (null: USD)"
    )


class ReconcileRow(BaseModel):
    provider: str
    date: Day
    tracked_usd: Money
    tracked_requests: int
    billed_usd: Money | None
    billed_source: str | None
    ignored_sources: list[str]
    drift_usd: Money | None
    drift_pct: Pct
    untracked_usd: Money
    display: RowDisplay | None = Field(
        default=None, description="in the display currency at the day's rate (null: USD)"
    )


class ReconcileSummary(BaseModel):
    tracked_usd: Money
    billed_usd: Money
    tracked_on_billed_days_usd: Money
    drift_usd: Money
    drift_pct: Pct
    untracked_usd: Money


class ProviderReconcile(ReconcileSummary):
    provider: str


class Reconcile(BaseModel):
    from_: Day = Field(alias="from")
    to: Day
    timezone: Literal["UTC"] = "UTC"
    billed_data: bool = Field(description="false: no bills in the range")
    rows: list[ReconcileRow]
    providers: list[ProviderReconcile]
    totals: ReconcileSummary
    display: ReconcileDisplay | None = Field(
        default=None, description="the totals in the display currency (null: USD)"
    )


class ModelDriftRow(BaseModel):
    provider: str
    date: Day
    model: str | None = Field(description="canonical model; null = costs billed for no model")
    tracked_usd: Money
    tracked_requests: int
    billed_usd: Money | None = Field(description="null: the bill names no line item for it")
    drift_usd: Money | None
    drift_pct: Pct
    display: RowDisplay | None = Field(
        default=None, description="in the display currency at the UTC day's rate (null: USD)"
    )


class UntrackedModel(BaseModel):
    provider: str
    model: str
    billed_usd: Money
    display_billed: str | None = Field(
        default=None,
        description="in the display currency, each day at its rate (see `display.rates`); "
        "null: USD, or a day without any rate",
    )


class OverrideSuggestion(BaseModel):
    provider: str
    model: str
    days: int
    billed_usd: Money
    tracked_usd: Money
    ratio: str = Field(description="pooled billed / tracked over those days")
    override: dict[str, str] = Field(description="the discount override that closes the drift")
    command: str = Field(description="the same, as one CLI line")
    display_billed: str | None = Field(
        default=None, description="billed_usd in the display currency, day by day (null: USD)"
    )
    display_tracked: str | None = Field(
        default=None, description="tracked_usd in the display currency, day by day (null: USD)"
    )


class ModelDrift(BaseModel):
    from_: Day = Field(alias="from")
    to: Day
    timezone: Literal["UTC"] = "UTC"
    rows: list[ModelDriftRow]
    untracked_models: list[UntrackedModel]
    suggestions: list[OverrideSuggestion]
    display: ModelDriftDisplay | None = Field(
        default=None, description="the rows' totals in the display currency (null: USD)"
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    revoked_at: str | None
    active: bool


class ApiKeys(BaseModel):
    keys: list[ApiKeyOut]


class NewApiKey(ApiKeyOut):
    secret: str = Field(description="shown once; only its hash is stored")


class Credential(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]


class OrgInfo(BaseModel):
    id: str
    name: str
    timezone: str
    today: Day = Field(description="today in the org's time zone")
    has_events: bool
    first_event_date: Day | None = Field(description="UTC day")
    last_event_date: Day | None = Field(description="UTC day")
    price_table_version: str
    price_table_entries: int
    credential: Credential = Field(description="the key that made this request")


class RequestDetail(RequestItem):
    """Every stored field of one request (there is no prompt or response content to show)."""

    received_at: str
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_write_30m_tokens: int
    cache_write_12h_tokens: int
    audio_input_tokens: int
    audio_output_tokens: int
    image_input_tokens: int
    image_output_tokens: int
    images: int
    image_size: str
    image_quality: str
    audio_seconds: str
    characters: int
    web_search_requests: int
    tool_requests: int
    requests: int
    service_tier: str
    batch: bool
    region: str
    time_to_first_token_ms: int | None
    streaming: bool
    sdk_cost_usd: Money | None = Field(description="the SDK's local estimate")
    provider_cost_usd: Money | None = Field(description="cost the provider reported, if any")
    price_entry: str
    pricing_version: str
    sdk_pricing_version: str
    provider_request_id: str
    sdk_language: str
    sdk_version: str
    stream_seq: int
    ingest_cost_usd: Money = Field(
        description="cost_usd as the writer priced it at ingest (cost_usd differs once a "
        "re-pricing job changed it)"
    )
    ingest_pricing_version: str = Field(description="the price table version at ingest")
    repriced_by: str = Field(description="the re-pricing job that last priced it; '' = none")
