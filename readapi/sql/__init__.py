"""Query building for the read API, one module per question. Pure: each function returns SQL
and its parameters.

* ``spend``      — per-day spend: totals, daily series, unpriced models, first-run activity
* ``breakdowns`` — breakdowns by dimension or tag, spend carrying a tag, tag keys
* ``pair_state`` — which days the pair rollups hold complete (the compactor's records)
* ``coverage``   — range totals: rollup pieces plus raw edges, signed (shared by the above)
* ``requests``   — raw requests: a filtered page, one request
* ``prompts``    — prompt keys and versions compared
* ``reconcile``  — tracked and billed per provider and UTC day
* ``common``     — levels, the query type, parameters, shared fragments

Values are never spliced into SQL: they travel as ClickHouse parameters (``{name:Type}``)
bound by the server. The only identifiers interpolated are column and table names taken from
the fixed tables below, never from a request.

How a range of local days is read, exactly, for any org time zone (``readapi.math.ranges.Window``):

* **Per-day figures** (totals, series, unpriced, forecast): ``cost_model_hourly`` for the whole
  UTC hours of the range, grouped by ``toDate(hour, tz)``; ``cost_model_quarter`` (15 minutes)
  for the hours that hold a local midnight in :30/:45 zones and the partial hours at the
  range's ends; raw events only for what lies off the quarter-hour grid (no zone today).
* **Range totals by dimension or tag** (breakdowns, tag keys, prompts): hourly rollups for
  every whole UTC hour of the range; daily rollups for whole UTC days (and a half-month one
  for whole UTC half-months), plus raw events for the partial days at the ends. Where every
  metric is a sum (breakdowns), a day or half-month mostly inside the range is read whole and
  the rest subtracted (``readapi.math.cover``): at most 12 raw hours and 8 daily days per end.

Which rollup answers a breakdown:

=============================================  =============================================
levels                                         rollup (+ raw events for the range's edges)
=============================================  =============================================
one dimension                                  cost_dim_daily (one row per dimension value)
two dimensions, neither customer nor user      cost_attr_daily
customer or user × provider or model          cost_dim_model_half for the UTC half-months
                                               wholly or mostly inside, cost_dim_model_daily
                                               for the other days (and those subtracted)
customer or user × another dimension,          cost_pair_half / cost_pair_daily for the UTC
tag × customer/user, tag × tag                 half-months and days the compactor has
                                               completed (``pair_done``), raw events for the
                                               other days (``readapi.math.cover.pair_cover``)
one tag                                        cost_tag_hourly
tag × dimension (not customer/user)            cost_tag_attr_daily
=============================================  =============================================

A tag rollup holds only events that carry the tag (a tag pair: both tags); the caller adds
the rest (``''``) from the totals, so every breakdown has the same meaning whichever table
answered.
Rollups are SummingMergeTree/AggregatingMergeTree: always ``sum()`` and ``GROUP BY``.
"""
