-- cost_attr_hourly crossed every attribution dimension per UTC hour: about a row per event,
-- written by every insert (a fifth of its cost, measured on 20k-event inserts). Since 0006 the
-- breakdowns it answered (customer or user × an attribute, customer × user) read the pair
-- rollups, and raw events for the days the compactor has not done yet (today, late events),
-- which is as many rows as this table held for them. So it goes.
DROP VIEW IF EXISTS cost_attr_hourly_mv;

DROP TABLE IF EXISTS cost_attr_hourly;
