"""The ingest edge: ``POST /v1/events`` → validate → JetStream → 202, plus the read API."""
