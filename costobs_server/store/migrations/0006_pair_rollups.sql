-- Spend per UTC day and per UTC half-month by pairs of a high-cardinality level with another:
-- customer or user × feature, team, service, environment, prompt, prompt version, status;
-- customer × user; a tag × customer or user; two tags. cost_attr_hourly answers these
-- two-level breakdowns too, but with thousands of users it is about a row per event, and a
-- 90-day range then groups millions.
--
-- These tables are not filled by materialized views: a view emitting ~16 pair rows per event
-- tripled the cost of every insert. The compactor (costobs_server/store/compaction.py) fills
-- them for closed UTC days in the background: it inserts, per day, the difference between the
-- pairs computed from events and what the table holds (so a day is recomputed exactly when
-- late events arrive), then records how many events the day's rows hold in cost_pair_done.
-- The read API uses a day (or half-month) only when that count equals cost_daily's count for
-- it, and reads other sources for the rest; nothing is backfilled here.
--
-- Metrics are signed: a recomputation's difference may be negative (a crash mid-insert), and
-- SummingMergeTree drops rows that sum to zero.
CREATE TABLE IF NOT EXISTS cost_pair_daily
(
    org_id LowCardinality(String),
    a LowCardinality(String),
    b LowCardinality(String),
    day Date,
    a_value String,
    b_value String,
    requests Int64,
    input_tokens Int64,
    output_tokens Int64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, a, b, day, a_value, b_value);

CREATE TABLE IF NOT EXISTS cost_pair_half
(
    org_id LowCardinality(String),
    a LowCardinality(String),
    b LowCardinality(String),
    half Date,
    a_value String,
    b_value String,
    requests Int64,
    input_tokens Int64,
    output_tokens Int64,
    cost_usd Decimal(38, 18)
)
ENGINE = SummingMergeTree
PARTITION BY toYear(half)
ORDER BY (org_id, a, b, half, a_value, b_value);

-- Per org, UTC day (grain 'day') or half-month (grain 'half', start = the 1st or the 16th):
-- the events the pair rows hold, or -1 when the pair kinds disagree. Newest row wins.
CREATE TABLE IF NOT EXISTS cost_pair_done
(
    org_id LowCardinality(String),
    grain LowCardinality(String),
    start Date,
    requests Int64,
    written_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (org_id, grain, start);
