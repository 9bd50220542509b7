-- One row per accepted event. Optional text is '' rather than NULL (cheaper to store and group).
-- ORDER BY starts with (org_id, timestamp, request_id): the writer's duplicate check looks
-- events up by exactly that key, and every read is scoped to one org and a time range.
CREATE TABLE IF NOT EXISTS events
(
    org_id LowCardinality(String),
    request_id String,
    timestamp DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    provider LowCardinality(String),
    model LowCardinality(String),
    operation LowCardinality(String),
    customer_id String,
    user_id String,
    trace_id String,
    feature LowCardinality(String),
    team LowCardinality(String),
    service LowCardinality(String),
    environment LowCardinality(String),
    prompt_key LowCardinality(String),
    prompt_version LowCardinality(String),
    tags Map(LowCardinality(String), String),
    input_tokens UInt64,
    cached_input_tokens UInt64,
    cache_write_5m_tokens UInt64,
    cache_write_1h_tokens UInt64,
    cache_write_30m_tokens UInt64,
    cache_write_12h_tokens UInt64,
    output_tokens UInt64,
    reasoning_tokens UInt64,
    audio_input_tokens UInt64,
    audio_output_tokens UInt64,
    image_input_tokens UInt64,
    image_output_tokens UInt64,
    images UInt64,
    image_size LowCardinality(String),
    image_quality LowCardinality(String),
    audio_seconds Decimal(38, 18),
    characters UInt64,
    web_search_requests UInt64,
    tool_requests UInt64,
    requests UInt64,
    service_tier LowCardinality(String),
    batch Bool,
    region LowCardinality(String),
    status LowCardinality(String),
    error_type LowCardinality(String),
    latency_ms UInt32,
    time_to_first_token_ms Nullable(UInt32),
    streaming Bool,
    cost_usd Decimal(38, 18),
    sdk_cost_usd Nullable(Decimal(38, 18)),
    provider_cost_usd Nullable(Decimal(38, 18)),
    unpriced Bool,
    price_entry LowCardinality(String),
    pricing_version LowCardinality(String),
    sdk_pricing_version LowCardinality(String),
    provider_request_id String,
    sdk_language LowCardinality(String),
    sdk_version LowCardinality(String),
    stream_seq UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (org_id, timestamp, request_id);

-- Spend by UTC day, provider and model: totals, series, top models, unpriced models.
CREATE TABLE IF NOT EXISTS cost_daily
(
    org_id LowCardinality(String),
    day Date,
    provider LowCardinality(String),
    model LowCardinality(String),
    requests UInt64,
    error_requests UInt64,
    unpriced_requests UInt64,
    input_tokens UInt64,
    cached_input_tokens UInt64,
    cache_write_tokens UInt64,
    output_tokens UInt64,
    reasoning_tokens UInt64,
    cost_usd Decimal(38, 18),
    sdk_cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, day, provider, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_daily_mv TO cost_daily AS
SELECT
    org_id,
    toDate(timestamp) AS day,
    provider,
    model,
    count() AS requests,
    countIf(status != 'ok') AS error_requests,
    countIf(unpriced) AS unpriced_requests,
    sum(input_tokens) AS input_tokens,
    sum(cached_input_tokens) AS cached_input_tokens,
    sum(cache_write_5m_tokens + cache_write_1h_tokens + cache_write_30m_tokens
        + cache_write_12h_tokens) AS cache_write_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    sum(ifNull(sdk_cost_usd, toDecimal128(0, 18))) AS sdk_cost_usd
FROM events
GROUP BY org_id, day, provider, model;

-- Attribution dimensions by UTC hour (hours also serve whole-hour org time zones).
CREATE TABLE IF NOT EXISTS cost_attr_hourly
(
    org_id LowCardinality(String),
    hour DateTime('UTC'),
    provider LowCardinality(String),
    model LowCardinality(String),
    customer_id String,
    user_id String,
    feature LowCardinality(String),
    team LowCardinality(String),
    service LowCardinality(String),
    environment LowCardinality(String),
    prompt_key LowCardinality(String),
    prompt_version LowCardinality(String),
    status LowCardinality(String),
    requests UInt64,
    input_tokens UInt64,
    cached_input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, hour, provider, model, feature, team, environment, service, customer_id,
          user_id, prompt_key, prompt_version, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_attr_hourly_mv TO cost_attr_hourly AS
SELECT
    org_id,
    toStartOfHour(timestamp) AS hour,
    provider, model, customer_id, user_id, feature, team, service, environment,
    prompt_key, prompt_version, status,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(cached_input_tokens) AS cached_input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
GROUP BY org_id, hour, provider, model, customer_id, user_id, feature, team, service,
         environment, prompt_key, prompt_version, status;

-- Free-form tags by UTC hour: one row per (tag key, tag value).
CREATE TABLE IF NOT EXISTS cost_tag_hourly
(
    org_id LowCardinality(String),
    hour DateTime('UTC'),
    tag_key LowCardinality(String),
    tag_value String,
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, tag_key, hour, tag_value);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_tag_hourly_mv TO cost_tag_hourly AS
SELECT
    org_id,
    toStartOfHour(timestamp) AS hour,
    tag.1 AS tag_key,
    tag.2 AS tag_value,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
ARRAY JOIN arrayZip(mapKeys(tags), mapValues(tags)) AS tag
GROUP BY org_id, hour, tag_key, tag_value;

-- Prompt versions by UTC day and model, with latency quantile states for p95.
CREATE TABLE IF NOT EXISTS prompt_version_daily
(
    org_id LowCardinality(String),
    day Date,
    prompt_key LowCardinality(String),
    prompt_version LowCardinality(String),
    model LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 18)),
    latency_state AggregateFunction(quantilesTDigest(0.5, 0.95), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, day, prompt_key, prompt_version, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS prompt_version_daily_mv TO prompt_version_daily AS
SELECT
    org_id,
    toDate(timestamp) AS day,
    prompt_key,
    prompt_version,
    model,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestState(0.5, 0.95)(latency_ms) AS latency_state
FROM events
WHERE prompt_key != '' OR prompt_version != ''
GROUP BY org_id, day, prompt_key, prompt_version, model;

-- Provider bills per day. An API sync and a manual import of the same provider-day are
-- different rows (source is in the key); a re-sync of the same rows replaces them.
CREATE TABLE IF NOT EXISTS billed_daily
(
    org_id LowCardinality(String),
    provider LowCardinality(String),
    date Date,
    billed_usd Decimal(38, 18),
    source LowCardinality(String) DEFAULT 'import',
    line_item String DEFAULT '',
    synced_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(synced_at)
PARTITION BY toYYYYMM(date)
ORDER BY (org_id, provider, date, source, line_item);
