-- Issue 16. The model across clouds and spellings (`claude-sonnet-4-5` for Anthropic, Bedrock
-- profiles and Vertex `@` versions: the price table's canonical model of the entry matched,
-- else the model as sent), and the gateway a call went through. The writer fills them from the
-- price table as it re-prices (PriceTable.quote_call); rows written before keep '' and are
-- read with `model` in their place (readapi: canonical_model falls back to model).
-- Numbered 0010 to stay clear of 0008/0009 written in parallel.
ALTER TABLE events ADD COLUMN IF NOT EXISTS canonical_model LowCardinality(String) DEFAULT '';

ALTER TABLE events ADD COLUMN IF NOT EXISTS gateway LowCardinality(String) DEFAULT '';

ALTER TABLE events ADD COLUMN IF NOT EXISTS gateway_host LowCardinality(String) DEFAULT '';
