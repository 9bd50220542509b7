-- Spend per UTC half-month (the 1st–15th and the 16th–end) of each customer and each user by
-- provider and model, replacing the monthly rollup of 0004. A breakdown reads the half-months
-- wholly or mostly inside its range from here, and from cost_dim_model_daily at most about
-- eight days at each end (added, or subtracted from a half read whole): a 90-day range
-- otherwise groups up to a month of daily rows (one per value, model and day) at each end.
-- Same insert cost as the monthly table it replaces: a flush spans seconds, so it lands in
-- one half-month as it did in one month.
--
-- As with 0002–0004: apply before the writer starts (`costobs up` and `costobs migrate` do),
-- or rows inserted between the view's creation and its backfill would be counted twice. The
-- backfill reads the daily rollup, which holds the same sums per day.
CREATE TABLE IF NOT EXISTS cost_dim_model_half
(
    org_id LowCardinality(String),
    dimension LowCardinality(String),
    half Date,
    value String,
    provider LowCardinality(String),
    model LowCardinality(String),
    requests UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYear(half)
ORDER BY (org_id, dimension, half, value, provider, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_dim_model_half_mv TO cost_dim_model_half AS
SELECT
    org_id,
    dv.1 AS dimension,
    if(toDayOfMonth(timestamp, 'UTC') <= 15,
       toStartOfMonth(timestamp, 'UTC'),
       toStartOfMonth(timestamp, 'UTC') + 15) AS half,
    dv.2 AS value,
    provider,
    model,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd
FROM events
ARRAY JOIN [('customer', customer_id), ('user', user_id)] AS dv
GROUP BY org_id, dimension, half, value, provider, model;

INSERT INTO cost_dim_model_half
SELECT
    org_id,
    dimension,
    if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15) AS half,
    value,
    provider,
    model,
    sum(requests),
    sum(input_tokens),
    sum(output_tokens),
    sum(cost_usd)
FROM cost_dim_model_daily
GROUP BY org_id, dimension, half, value, provider, model;

DROP VIEW IF EXISTS cost_dim_model_monthly_mv;

DROP TABLE IF EXISTS cost_dim_model_monthly;
