-- Rollups for the read API (issue 5).
--
-- Ranges are local days in the org's time zone. Per-day figures come from hourly rollups (a
-- UTC hour lies in one local day unless the zone has a :30/:45 offset; those few hours are read
-- raw). Range totals by dimension or tag come from daily rollups for the UTC days wholly inside
-- the range plus raw events for the partial days at its ends (see readapi/_sql.py).
-- Each table is backfilled from the events already stored; apply this migration before the
-- writer starts (as `costobs up` and `costobs migrate` do), or rows inserted between the view's
-- creation and the backfill would be counted twice.

-- Spend by UTC hour, provider and model: totals, series, provider/model splits, unpriced models.
CREATE TABLE IF NOT EXISTS cost_model_hourly
(
    org_id LowCardinality(String),
    hour DateTime('UTC'),
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
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, hour, provider, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_model_hourly_mv TO cost_model_hourly AS
SELECT
    org_id,
    toStartOfHour(timestamp) AS hour,
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
GROUP BY org_id, hour, provider, model;

INSERT INTO cost_model_hourly
SELECT
    org_id,
    toStartOfHour(timestamp) AS hour,
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
GROUP BY org_id, hour, provider, model;

-- Spend per UTC day for each first-class dimension, "long": one row per (dimension, value).
-- cost_attr_hourly crosses every dimension (customer × user × … per hour), which at millions of
-- events is nearly one row per event; one dimension at a time stays small.
CREATE TABLE IF NOT EXISTS cost_dim_daily
(
    org_id LowCardinality(String),
    dimension LowCardinality(String),
    day Date,
    value String,
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, dimension, day, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_dim_daily_mv TO cost_dim_daily AS
SELECT
    org_id,
    dv.1 AS dimension,
    toDate(timestamp) AS day,
    dv.2 AS value,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
ARRAY JOIN [
    ('provider', toString(provider)), ('model', toString(model)), ('customer', customer_id),
    ('user', user_id), ('feature', toString(feature)), ('team', toString(team)),
    ('service', toString(service)), ('environment', toString(environment)),
    ('prompt', toString(prompt_key)), ('prompt_version', toString(prompt_version)),
    ('status', toString(status))
] AS dv
GROUP BY org_id, dimension, day, value;

INSERT INTO cost_dim_daily
SELECT
    org_id,
    dv.1 AS dimension,
    toDate(timestamp) AS day,
    dv.2 AS value,
    count(),
    sum(input_tokens),
    sum(output_tokens),
    sum(cost_usd)
FROM events
ARRAY JOIN [
    ('provider', toString(provider)), ('model', toString(model)), ('customer', customer_id),
    ('user', user_id), ('feature', toString(feature)), ('team', toString(team)),
    ('service', toString(service)), ('environment', toString(environment)),
    ('prompt', toString(prompt_key)), ('prompt_version', toString(prompt_version)),
    ('status', toString(status))
] AS dv
GROUP BY org_id, dimension, day, value;

-- Spend per UTC day by the low-cardinality dimensions together (no customer or user): any two
-- of them as a two-level breakdown.
CREATE TABLE IF NOT EXISTS cost_attr_daily
(
    org_id LowCardinality(String),
    day Date,
    provider LowCardinality(String),
    model LowCardinality(String),
    feature LowCardinality(String),
    team LowCardinality(String),
    service LowCardinality(String),
    environment LowCardinality(String),
    prompt_key LowCardinality(String),
    prompt_version LowCardinality(String),
    status LowCardinality(String),
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, day, provider, model, feature, team, environment, service, prompt_key,
          prompt_version, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_attr_daily_mv TO cost_attr_daily AS
SELECT
    org_id, toDate(timestamp) AS day, provider, model, feature, team, service, environment,
    prompt_key, prompt_version, status,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
GROUP BY org_id, day, provider, model, feature, team, service, environment, prompt_key,
         prompt_version, status;

INSERT INTO cost_attr_daily
SELECT
    org_id, toDate(timestamp) AS day, provider, model, feature, team, service, environment,
    prompt_key, prompt_version, status,
    count(), sum(input_tokens), sum(output_tokens), sum(cost_usd)
FROM events
GROUP BY org_id, day, provider, model, feature, team, service, environment, prompt_key,
         prompt_version, status;

-- Tags by UTC day crossed with the low-cardinality dimensions: tag × model, team × tag, ….
CREATE TABLE IF NOT EXISTS cost_tag_attr_daily
(
    org_id LowCardinality(String),
    tag_key LowCardinality(String),
    day Date,
    tag_value String,
    provider LowCardinality(String),
    model LowCardinality(String),
    feature LowCardinality(String),
    team LowCardinality(String),
    service LowCardinality(String),
    environment LowCardinality(String),
    prompt_key LowCardinality(String),
    prompt_version LowCardinality(String),
    status LowCardinality(String),
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, tag_key, day, tag_value, provider, model, feature, team, environment, service,
          prompt_key, prompt_version, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_tag_attr_daily_mv TO cost_tag_attr_daily AS
SELECT
    org_id, tag.1 AS tag_key, toDate(timestamp) AS day, tag.2 AS tag_value,
    provider, model, feature, team, service, environment, prompt_key, prompt_version, status,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
ARRAY JOIN arrayZip(mapKeys(tags), mapValues(tags)) AS tag
GROUP BY org_id, tag_key, day, tag_value, provider, model, feature, team, service, environment,
         prompt_key, prompt_version, status;

INSERT INTO cost_tag_attr_daily
SELECT
    org_id, tag.1 AS tag_key, toDate(timestamp) AS day, tag.2 AS tag_value,
    provider, model, feature, team, service, environment, prompt_key, prompt_version, status,
    count(), sum(input_tokens), sum(output_tokens), sum(cost_usd)
FROM events
ARRAY JOIN arrayZip(mapKeys(tags), mapValues(tags)) AS tag
GROUP BY org_id, tag_key, day, tag_value, provider, model, feature, team, service, environment,
         prompt_key, prompt_version, status;

-- One request by id, and the requests search by trace id, without scanning the org's events.
ALTER TABLE events ADD INDEX IF NOT EXISTS idx_request_id request_id TYPE bloom_filter(0.01)
    GRANULARITY 1;

ALTER TABLE events ADD INDEX IF NOT EXISTS idx_trace_id trace_id TYPE bloom_filter(0.01)
    GRANULARITY 1;

ALTER TABLE events MATERIALIZE INDEX idx_request_id;

ALTER TABLE events MATERIALIZE INDEX idx_trace_id;
