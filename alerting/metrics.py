"""Prometheus metrics of alertd (served on ``GET /metrics`` with the process's other metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_SEEN = Counter("costobs_alertd_events_total", "Events alertd counted towards rules")
RULES = Gauge("costobs_alertd_rules", "Enabled alert rules held in memory")
FIRES = Counter("costobs_alertd_fires_total", "Alerts fired (claims won)", ["kind"])
CLAIMS_LOST = Counter(
    "costobs_alertd_claims_lost_total", "Fires another instance or an earlier run had claimed"
)
RECONCILES = Counter("costobs_alertd_reconciles_total", "Counter reconciliations with ClickHouse")
RECONCILE_SECONDS = Histogram("costobs_alertd_reconcile_seconds", "One rule's reconciliation")
DELIVERIES = Counter(
    "costobs_alertd_deliveries_total",
    "Delivery attempts by target kind and outcome",
    ["kind", "outcome"],
)
