"""Prometheus metrics shared by every role in the process (``GET /metrics``)."""

from prometheus_client import Counter, Histogram

EVENTS_ACCEPTED = Counter("costobs_ingest_events_accepted_total", "Events accepted by ingest")
EVENTS_DUPLICATE = Counter(
    "costobs_ingest_events_duplicate_total", "Events in batches JetStream had already stored"
)
EVENTS_REJECTED = Counter("costobs_ingest_events_rejected_total", "Events rejected by validation")
BATCHES = Counter("costobs_ingest_batches_total", "Ingest requests by outcome", ["status"])
ACCEPT_LATENCY = Histogram(
    "costobs_ingest_accept_seconds",
    "Time from request to 202",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

WRITER_INSERTED = Counter("costobs_writer_events_inserted_total", "Events inserted into ClickHouse")
WRITER_DUPLICATES = Counter(
    "costobs_writer_events_duplicate_total", "Events skipped because already stored"
)
WRITER_DEAD_LETTERED = Counter(
    "costobs_writer_messages_dead_lettered_total", "Messages moved to the dead-letter subject"
)
WRITER_UNPRICED = Counter("costobs_writer_events_unpriced_total", "Events of unknown models")
WRITER_INSERT_ERRORS = Counter(
    "costobs_writer_insert_errors_total",
    "Failed ClickHouse calls of the writer, retried, by ClickHouse error (e.g. NOT_ENOUGH_SPACE)",
    ["error"],
)
WRITER_FLUSH_SECONDS = Histogram(
    "costobs_writer_flush_seconds", "Dedup + insert + ack time of one flush"
)

CHILD_RESTARTS = Counter(
    "costobs_child_restarts_total",
    "Child processes restarted after they died (transform_worker, nats_server)",
    ["child"],
)

REPLAY_READ = Counter("costobs_replay_events_read_total", "Events `costobs replay` read")
REPLAY_INSERTED = Counter(
    "costobs_replay_events_inserted_total", "Events `costobs replay` stored (missing before)"
)
REPLAY_ALREADY_STORED = Counter(
    "costobs_replay_events_already_stored_total", "Events `costobs replay` found stored already"
)
REPLAY_REJECTED = Counter(
    "costobs_replay_messages_rejected_total", "Messages `costobs replay` could not store"
)
DLQ_REDRIVEN = Counter(
    "costobs_dlq_messages_redriven_total", "Dead letters published to their source again"
)
DLQ_PURGED = Counter("costobs_dlq_messages_purged_total", "Dead letters deleted for good")

BILLS_DEAD_LETTERED = Counter(
    "costobs_bills_messages_dead_lettered_total",
    "Bills messages moved to the dead-letter subject (costobs.dlq.bills)",
)
