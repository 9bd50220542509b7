"""``costobs reprice``: stored events priced again with the current price table and each
org's overrides, and every rollup brought to the new figures (issue 14).

- ``plan``: pure — a stored row → the row the writer would store today, and the tallies.
- ``swap``: one org-day swapped in ClickHouse as a journal of idempotent steps; ``recover``
  completes a day an interrupted job left.
- ``jobs``: the record of each job (ClickHouse ``reprice_jobs``), listed by the read API.
- ``run``: one job over a range of UTC days; dry run or apply.
"""

from costobs_server.repricing.run import RepriceError, Request, Summary, recover, reprice

__all__ = ["RepriceError", "Request", "Summary", "recover", "reprice"]
