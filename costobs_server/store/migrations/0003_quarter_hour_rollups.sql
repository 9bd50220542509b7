-- Rollups that keep the read API off raw events (issue 5), each backfilled from the events
-- already stored. As with 0002: apply before the writer starts (`costobs up` and
-- `costobs migrate` do), or rows inserted between a view's creation and its backfill would be
-- counted twice.

-- Spend by UTC quarter hour, provider and model. A local midnight of a :30/:45 zone (India,
-- Nepal, Newfoundland, Chatham…) falls inside a UTC hour but on a quarter hour, so the hours
-- around local midnights and the range's partial hours are read from here instead of from raw
-- events (cost_model_hourly still answers every other hour).
CREATE TABLE IF NOT EXISTS cost_model_quarter
(
    org_id LowCardinality(String),
    quarter DateTime('UTC'),
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
PARTITION BY toYYYYMM(quarter)
ORDER BY (org_id, quarter, provider, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_model_quarter_mv TO cost_model_quarter AS
SELECT
    org_id,
    toStartOfFifteenMinutes(timestamp) AS quarter,
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
GROUP BY org_id, quarter, provider, model;

INSERT INTO cost_model_quarter
SELECT
    org_id,
    toStartOfFifteenMinutes(timestamp) AS quarter,
    provider,
    model,
    count(),
    countIf(status != 'ok'),
    countIf(unpriced),
    sum(input_tokens),
    sum(cached_input_tokens),
    sum(cache_write_5m_tokens + cache_write_1h_tokens + cache_write_30m_tokens
        + cache_write_12h_tokens),
    sum(output_tokens),
    sum(reasoning_tokens),
    sum(cost_usd),
    sum(ifNull(sdk_cost_usd, toDecimal128(0, 18)))
FROM events
GROUP BY org_id, quarter, provider, model;

-- Spend per UTC day of each customer and each user by provider and model: the two-level
-- breakdowns customer × model, user × provider, …. cost_attr_hourly (the only rollup holding
-- customer or user beside another dimension) is about one row per event; a customer or user
-- by model per day is a few rows per value.
CREATE TABLE IF NOT EXISTS cost_dim_model_daily
(
    org_id LowCardinality(String),
    dimension LowCardinality(String),
    day Date,
    value String,
    provider LowCardinality(String),
    model LowCardinality(String),
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, dimension, day, value, provider, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_dim_model_daily_mv TO cost_dim_model_daily AS
SELECT
    org_id,
    dv.1 AS dimension,
    toDate(timestamp) AS day,
    dv.2 AS value,
    provider,
    model,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
ARRAY JOIN [('customer', customer_id), ('user', user_id)] AS dv
GROUP BY org_id, dimension, day, value, provider, model;

INSERT INTO cost_dim_model_daily
SELECT
    org_id,
    dv.1 AS dimension,
    toDate(timestamp) AS day,
    dv.2 AS value,
    provider,
    model,
    count(),
    sum(input_tokens),
    sum(output_tokens),
    sum(cost_usd)
FROM events
ARRAY JOIN [('customer', customer_id), ('user', user_id)] AS dv
GROUP BY org_id, dimension, day, value, provider, model;
