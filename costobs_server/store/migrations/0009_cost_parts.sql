-- Each event's cost split by usage type, as the writer priced it (consumers/cost_parts.py):
-- the FOCUS export (readapi/_focus.py) needs one row per usage type whose costs add up to the
-- stored cost_usd exactly, whatever the price table or the org's overrides are by export time.
-- The parts always sum to cost_usd. Events stored before this migration have all parts 0; the
-- export shows their whole cost as an unsplit "other" row, so totals stay exact.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS cost_input_usd Decimal(38, 18) DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_cached_input_usd Decimal(38, 18) DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_cache_write_usd Decimal(38, 18) DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_output_usd Decimal(38, 18) DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_reasoning_usd Decimal(38, 18) DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_other_usd Decimal(38, 18) DEFAULT 0;
