-- Spend per UTC month of each customer and each user by provider and model: the same sums as
-- cost_dim_model_daily (0003), a month to a row. A 90-day customer/user × model breakdown
-- otherwise groups millions of daily rows (one per value, model and day); the read API takes
-- the whole UTC months of a range from here and only the days at its ends from the daily
-- table. As with 0002 and 0003: apply before the writer starts (`costobs up` and
-- `costobs migrate` do), or rows inserted between the view's creation and its backfill would
-- be counted twice.
CREATE TABLE IF NOT EXISTS cost_dim_model_monthly
(
    org_id LowCardinality(String),
    dimension LowCardinality(String),
    month Date,
    value String,
    provider LowCardinality(String),
    model LowCardinality(String),
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYear(month)
ORDER BY (org_id, dimension, month, value, provider, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_dim_model_monthly_mv TO cost_dim_model_monthly AS
SELECT
    org_id,
    dv.1 AS dimension,
    toStartOfMonth(timestamp, 'UTC') AS month,
    dv.2 AS value,
    provider,
    model,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
ARRAY JOIN [('customer', customer_id), ('user', user_id)] AS dv
GROUP BY org_id, dimension, month, value, provider, model;

INSERT INTO cost_dim_model_monthly
SELECT
    org_id,
    dv.1 AS dimension,
    toStartOfMonth(timestamp, 'UTC') AS month,
    dv.2 AS value,
    provider,
    model,
    count(),
    sum(input_tokens),
    sum(output_tokens),
    sum(cost_usd)
FROM events
ARRAY JOIN [('customer', customer_id), ('user', user_id)] AS dv
GROUP BY org_id, dimension, month, value, provider, model;
