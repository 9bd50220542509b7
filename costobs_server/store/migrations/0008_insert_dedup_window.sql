-- Every flush of the writer is one insert into events with an insert_deduplication_token, and
-- the materialized views carry it to each rollup (deduplicate_blocks_in_dependent_materialized_
-- views). A retried flush (the same rows, the same token) is then checked by events and by each
-- rollup on its own: whatever a failure left unwritten is written, nothing twice. A plain
-- MergeTree keeps no such log unless non_replicated_deduplication_window says how many recent
-- insert blocks to remember; 1000 is hours of flushes, far more than a retry or a restart needs.
-- Inserts that must never be taken for repeats (costobs verify --repair) turn deduplication off.
ALTER TABLE events MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_tag_hourly MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE prompt_version_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_model_hourly MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_dim_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_attr_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_tag_attr_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_model_quarter MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_dim_model_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE cost_dim_model_half MODIFY SETTING non_replicated_deduplication_window = 1000;
