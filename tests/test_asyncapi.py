"""docs/asyncapi.yaml is what the brokers say today: regenerate with `make asyncapi`."""

from __future__ import annotations

from pathlib import Path

import yaml

from costobs_server.asyncapi import document

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"


def test_the_committed_asyncapi_document_is_current() -> None:
    assert COMMITTED.read_text() == document(), "stale: run `make asyncapi`"


def test_it_names_every_subject_with_its_payload() -> None:
    spec = yaml.safe_load(document())
    addresses = {c["address"] for c in spec["channels"].values()}
    assert addresses == {
        "costobs.events.{org_id}",
        "costobs.bills.{org_id}",
        "costobs.events.>",
        "costobs.bills.>",
        "costobs.dlq.events",
        "costobs.dlq.bills",
    }
    operations = {name: op["action"] for name, op in spec["operations"].items()}
    assert operations == {
        "ingest-events": "send",
        "ingest-bills": "send",
        "billsyncd-bills": "send",
        "writer": "receive",
        "bills-writer": "receive",
        "alertd": "receive",
        "dead-letters-events": "send",
        "dead-letters-bills": "send",
    }
    payloads = {
        name: m["payload"]["$ref"].rpartition("/")[2]
        for name, m in spec["components"]["messages"].items()
    }
    assert payloads["writer:SubscribeMessage"] == "EventsMessage"
    assert payloads["bills-writer:SubscribeMessage"] == "BillsMessage"
    events = spec["components"]["schemas"]["EventsMessage"]["properties"]["events"]
    assert events["items"]["$ref"].endswith("/Event")
    usage = spec["components"]["schemas"]["Usage"]["properties"]
    assert "cached_input_tokens" in usage  # the wire's own schema, not a copy
