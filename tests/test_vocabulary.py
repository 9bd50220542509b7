"""One vocabulary (``costobs_server.vocabulary``): what the wire, the store, the read API,
alerting and the dashboard share is defined there once; the SDK's own copies (it cannot import
the server) are pinned to it here. Pure: no service."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from costobs import _config as sdk_config
from costobs import _context as sdk_context

from alerting import rules
from costobs_server import vocabulary as v
from costobs_server import wire
from costobs_server.store import pairs
from costobs_server.store.columns import EVENT_COLUMNS
from dashboard import alerts_view, ui
from readapi.sql import common


def test_the_nine_dimensions_are_wire_fields_and_columns() -> None:
    assert len(v.DIMENSIONS) == 9
    event_fields = wire.Event.__annotations__
    for column in v.DIMENSION_COLUMNS:
        assert column in event_fields and column in EVENT_COLUMNS
    schema = wire.json_schema()["$defs"]["Event"]["properties"]
    assert all(schema[c]["maxLength"] == v.MAX_TEXT for c in v.DIMENSION_COLUMNS)


def test_levels_and_alert_dimensions_read_event_columns() -> None:
    for column in [*v.LEVELS.values(), *v.ALERT_DIMENSIONS.values()]:
        assert column in EVENT_COLUMNS
    assert common.DIMENSIONS is v.LEVELS and rules.DIMENSIONS is v.ALERT_DIMENSIONS
    # the pair rollups pair customer/user with every other level but provider and model
    assert set(pairs.HIGH) | set(pairs.ATTRIBUTES) | {"provider", "model"} == set(v.LEVELS)
    # the alert rule form offers every scope the API takes (a rule's scope survives an edit)
    assert set(alerts_view.SCOPE_FIELDS) == set(v.ALERT_DIMENSIONS)
    assert set(rules.Scope.model_fields) == set(v.ALERT_DIMENSIONS) | {"tags"}


def test_the_sdk_copies_match() -> None:
    assert sdk_context.FIELDS == v.DIMENSION_COLUMNS
    assert sdk_context.MAX_TAGS == v.MAX_TAGS
    assert sdk_context._MAX_TEXT == v.MAX_TEXT
    assert sdk_config.MAX_BATCH_EVENTS == v.MAX_BATCH_EVENTS
    assert sdk_config.MAX_BATCH_BYTES == v.MAX_BODY_BYTES


def test_tag_keys_one_rule_everywhere() -> None:
    tags = wire.json_schema()["$defs"]["Event"]["properties"]["tags"]
    assert tags["patternProperties"] == {
        f"^{v.TAG_KEY}$": {"maxLength": v.MAX_TEXT, "type": "string"}
    }
    assert tags["maxProperties"] == v.MAX_TAGS
    for good in ("pr", "_x", "a.b-c_9", "A" * 64):
        assert v.TAG_KEY_RE.match(good)
    for bad in ("", "9a", "a b", "é", "A" * 65, "-a"):
        assert not v.TAG_KEY_RE.match(bad)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "0"),
        (Decimal("0"), "0"),
        (Decimal("-0.000"), "0"),
        (Decimal("1.500"), "1.5"),
        (Decimal("1E+2"), "100"),
        (3, "3"),
        (Decimal("0.0000025"), "0.0000025"),
        # 38 digits, as the store's Decimal(38, 18) holds: normalize() would round to 28
        (
            Decimal("12345678901234567890.123456789012345678"),
            "12345678901234567890.123456789012345678",
        ),
        # beyond 18 places: half-even to 18
        (Decimal("0.0000000000000000015"), "0.000000000000000002"),
        (Decimal("0.0000000000000000025"), "0.000000000000000002"),
        (Decimal("-2.50"), "-2.5"),
    ],
)
def test_money_text(value: Decimal | int | None, text: str) -> None:
    assert v.money_text(value) == text


def test_money_on_screen_keeps_every_digit_and_never_uses_float() -> None:
    usd = v.usd
    assert usd("0") == "$0.00"
    assert usd("1234.5") == "$1,234.50"
    assert usd("0.0035") == "$0.0035"
    assert usd("123.456789") == "$123.456789"
    assert usd("100000000000000000.000000000001") == "$100,000,000,000,000,000.000000000001"
    assert usd("-2") == "-$2.00"
    assert usd("1E+3") == "$1,000.00"
    assert usd("2.500") == "$2.50"
    assert usd("-0.0000001") == "-$0.0000001"
    assert usd(Decimal("7.125")) == "$7.125"
    assert usd(None) == "—" and usd("n/a") == "n/a"
    # every dashboard page formats through the same function
    assert ui.money is usd and alerts_view.usd is usd


def test_the_typescript_and_go_copies_match() -> None:
    """The other SDKs' own copies, read from their sources (they validate against the published
    wire schema too; this names the constant that drifted)."""
    root = Path(__file__).resolve().parent.parent / "sdk"
    ts = (root / "typescript" / "src" / "context.ts").read_text(encoding="utf-8")
    block = re.search(r"export const FIELDS = \[(.*?)\] as const;", ts, re.DOTALL)
    assert block is not None
    assert tuple(re.findall(r'"(\w+)"', block[1])) == v.DIMENSION_COLUMNS
    assert f"export const MAX_TAGS = {v.MAX_TAGS};" in ts
    go = (root / "go" / "metadata.go").read_text(encoding="utf-8")
    assert re.search(rf"\bmaxTags\s*=\s*{v.MAX_TAGS}\b", go)
    assert re.search(rf"\bmaxText\s*=\s*{v.MAX_TEXT}\b", go)
    go_key = re.search(r"tagKeyRE = regexp\.MustCompile\(`(.*?)`\)", go)
    assert go_key is not None and go_key[1] == f"^{v.TAG_KEY}$"


def test_sortable_money_columns_show_every_digit() -> None:
    assert ui.money_places([]) == 2
    assert ui.money_places([Decimal("5"), Decimal("1.5")]) == 2
    assert ui.money_places([Decimal("0.0035"), Decimal("12.123456789"), Decimal("3.10")]) == 9
    assert ui.money_places([Decimal("1E+3"), Decimal("0.000000000000000001")]) == 18
