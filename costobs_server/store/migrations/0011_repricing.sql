-- Issue 14, re-pricing (`costobs reprice`, costobs_server/repricing/).
--
-- Each event keeps the cost it had at ingest and the table version that priced it, whatever
-- later re-pricing jobs do to cost_usd / pricing_version. A DEFAULT naming another column is
-- computed when a row is inserted (the writer omits these columns) and, for parts written
-- before this migration, when read: those rows still hold their ingest cost, because a
-- re-pricing job writes the re-priced row anew with both columns given explicitly.
-- repriced_by names the job that last re-priced the row ('' = as the writer priced it).
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS ingest_cost_usd Decimal(38, 18) DEFAULT cost_usd,
    ADD COLUMN IF NOT EXISTS ingest_pricing_version LowCardinality(String) DEFAULT pricing_version,
    ADD COLUMN IF NOT EXISTS repriced_by String DEFAULT '';

-- One row per job and org (a job over every org has one per org it touched), rewritten as the
-- job advances: the newest (updated_at) wins. Money is the job's events before and after.
CREATE TABLE IF NOT EXISTS reprice_jobs
(
    org_id LowCardinality(String),
    job_id String,
    started_at DateTime64(3, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    actor String,
    date_from Date,
    date_to Date,
    provider String,
    model String,
    pricing_version LowCardinality(String),
    state LowCardinality(String),
    days_total UInt32,
    days_done UInt32,
    events_checked UInt64,
    events_changed UInt64,
    old_cost_usd Decimal(38, 18),
    new_cost_usd Decimal(38, 18)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (org_id, job_id);

-- The journal of each org-day a job swaps: 'staged' holds the day's re-priced rows (the
-- JSONEachRow block inserted into events), then one row per step done. A day with 'staged'
-- and no 'done' was interrupted; the next job (or `costobs up`) completes it from the block.
CREATE TABLE IF NOT EXISTS reprice_days
(
    job_id String,
    org_id LowCardinality(String),
    day Date,
    step LowCardinality(String),
    block String,
    written_at DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (job_id, org_id, day, step);
