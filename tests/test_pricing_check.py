"""`costobs pricing check --against FILE`: our table against LiteLLM's and genai-prices' formats."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from costobs.pricing import load_price_table

from costobs_server import cli_pricing
from costobs_server.pricing_check import compare, from_genai_prices, read_other

TABLE = load_price_table(cli_pricing.default_table_path())
AT = datetime(2026, 11, 1, tzinfo=UTC)


def per_token(per_million: str) -> str:
    """A LiteLLM-style JSON number (USD per token, exponent notation as LiteLLM writes it)."""
    return f"{Decimal(per_million) / 1_000_000:E}"


def litellm_text(rows: dict[str, dict[str, str]]) -> str:
    """JSON text with the numbers written verbatim (json.dumps would quote Decimal)."""
    parts = []
    for key, row in rows.items():
        fields = ", ".join(
            f'"{k}": {v}' if k != "litellm_provider" and k != "mode" else f'"{k}": "{v}"'
            for k, v in row.items()
        )
        parts.append(f'"{key}": {{{fields}}}')
    return "{" + ", ".join(parts) + "}"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_litellm_file_made_from_our_own_rates_agrees_exactly(tmp_path: Path) -> None:
    """No false positives: every xai entry written out in LiteLLM's per-token exponent form
    (3e-07 and the like) reads back equal to the last digit."""
    rows: dict[str, dict[str, str]] = {}
    for entry in TABLE.entries:
        if not entry.startswith("xai/"):
            continue
        explained = TABLE.explain("xai", entry.split("/", 1)[1], AT)
        rates = explained["rates"]
        row = {"litellm_provider": "xai", "mode": "chat"}
        for ours, theirs in (
            ("input", "input_cost_per_token"),
            ("output", "output_cost_per_token"),
            ("cached_input", "cache_read_input_token_cost"),
        ):
            if ours in rates:
                row[theirs] = per_token(rates[ours])
        if len(row) > 2:  # an image-only model has no token rate to write
            rows[f"xai/{explained['entry_model']}"] = row
    path = write(tmp_path, "litellm.json", litellm_text(rows))
    fmt, others = read_other(path)
    report = compare(TABLE, others, fmt=fmt, at=AT)
    assert fmt == "litellm"
    assert report.compared == len(rows) > 3
    assert report.disagreements == [] and report.missing_ours == [] and report.older == []
    assert report.missing_theirs == ["xai/grok-2-image"]
    # Exit 0 only when nothing at all differs: with the image-only model there too.
    image = TABLE.explain("xai", "grok-2-image", AT)["entry_model"]
    rows[f"xai/{image}"] = {"litellm_provider": "xai", "input_cost_per_token": "0"}
    path = write(tmp_path, "litellm.json", litellm_text(rows))
    assert cli_pricing.main(["pricing", "check", "--against", str(path), "--at", "2026-11-01"]) == 0


def test_litellm_disagreements_missing_models_and_long_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = {
        "gpt-4o": {
            "litellm_provider": "openai",
            "input_cost_per_token": "2.5e-06",
            "output_cost_per_token": "1e-05",
            "cache_read_input_token_cost": "1.25e-06",
        },
        "claude-sonnet-4-5": {
            "litellm_provider": "anthropic",
            "input_cost_per_token": "3e-06",
            "output_cost_per_token": "1.6e-05",  # ours: 15 per 1M
            "cache_read_input_token_cost": "3e-07",
            "cache_creation_input_token_cost": "3.75e-06",
            "cache_creation_input_token_cost_above_1hr": "6e-06",
            "input_cost_per_token_above_200k_tokens": "6e-06",
            "output_cost_per_token_above_200k_tokens": "2.4e-05",  # ours: 22.5
        },
        "gemini/gemini-2.5-pro": {
            "litellm_provider": "gemini",
            "input_cost_per_token": "1.25e-06",
            "output_cost_per_token": "1e-05",
        },
        "acme-chat-9000": {
            "litellm_provider": "openai",
            "input_cost_per_token": "1e-06",
            "output_cost_per_token": "2e-06",
        },
    }
    path = write(tmp_path, "prices.json", litellm_text(rows))
    _, others = read_other(path)
    report = compare(TABLE, others, fmt="litellm", at=AT)
    diffs = {(d.entry, d.rate): (d.ours, d.theirs) for d in report.disagreements}
    assert diffs == {
        ("anthropic/claude-sonnet-4-5", "output"): ("15", "16"),
        ("anthropic/claude-sonnet-4-5", "long_context.output"): ("22.5", "24"),
    }
    assert report.compared == 3
    assert report.missing_ours == ["acme-chat-9000"]
    # Our entries of the providers the file covers, which it lacks:
    assert "anthropic/claude-opus-4-1" in report.missing_theirs
    assert "openai/gpt-4o-mini" in report.missing_theirs
    assert not any(e.startswith("xai/") for e in report.missing_theirs)
    assert report.older == []  # LiteLLM gives no dates

    code = cli_pricing.main(["pricing", "check", "--against", str(path), "--at", "2026-11-01"])
    out = capsys.readouterr().out
    assert code == 1
    assert "rate  anthropic/claude-sonnet-4-5 output: ours 15, theirs 16" in out
    assert "missing in ours  acme-chat-9000" in out


def test_genai_prices_dates_tiers_and_unverified_entries(tmp_path: Path) -> None:
    data = [
        {
            "id": "anthropic",
            "models": [
                {
                    "id": "claude-sonnet-4-5",
                    "match": {"starts_with": "claude-sonnet-4-5"},
                    "prices": {
                        "input_mtok": {"base": 3, "tiers": [{"start": 200000, "price": 6}]},
                        "output_mtok": {"base": 15, "tiers": [{"start": 200000, "price": 22.5}]},
                        "cache_read_mtok": 0.3,
                    },
                },
                {
                    "id": "claude-opus-4-7",
                    "match": {"equals": "claude-opus-4-7"},
                    "prices": [
                        {"prices": {"input_mtok": 5, "output_mtok": 25}},
                        # A price change the other table knows of and ours does not:
                        {
                            "constraint": {"start_date": "2026-10-01"},
                            "prices": {"input_mtok": 4, "output_mtok": 20},
                        },
                    ],
                },
            ],
        }
    ]
    path = write(tmp_path, "data.json", json.dumps(data))
    fmt, others = read_other(path)
    assert fmt == "genai-prices"
    report = compare(TABLE, others, fmt=fmt, at=AT)
    diffs = {(d.entry, d.rate): (d.ours, d.theirs) for d in report.disagreements}
    assert diffs == {
        ("anthropic/claude-opus-4-7", "input"): ("5", "4"),
        ("anthropic/claude-opus-4-7", "output"): ("25", "20"),
    }
    assert report.older == [("anthropic/claude-opus-4-7", "2026-06-01", "2026-10-01")]
    # The least certain entries are named as such wherever they show up.
    assert "anthropic/claude-opus-4-7" in report.unverified
    assert "anthropic/claude-sonnet-4-5" not in report.unverified


def test_genai_prices_before_a_dated_change_uses_the_older_price() -> None:
    data = [
        {
            "id": "openai",
            "models": [
                {
                    "id": "gpt-4o",
                    "prices": [
                        {"prices": {"input_mtok": Decimal("2.5"), "output_mtok": 10}},
                        {"constraint": {"start_date": "2027-01-01"}, "prices": {"input_mtok": 9}},
                    ],
                }
            ],
        }
    ]
    (model,) = from_genai_prices(data, today=date(2026, 11, 1))
    assert model.rates == {"input": Decimal("2.5"), "output": 10}
    assert model.newest == date(2027, 1, 1)


def test_explain_shows_unverified_entries(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_pricing.main(["pricing", "explain", "--provider", "openai", "--model", "gpt-5.5"]) == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert "without access to the provider's page" in shown["unverified"]
    assert (
        cli_pricing.main(["pricing", "explain", "--provider", "openai", "--model", "gpt-4o"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["unverified"] is None


def test_unreadable_or_unknown_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "x.json", '{"hello": [1, 2]}')
    assert cli_pricing.main(["pricing", "check", "--against", str(bad)]) == 2
    assert "neither a LiteLLM" in capsys.readouterr().err
    broken = write(tmp_path, "y.json", "{not json")
    assert cli_pricing.main(["pricing", "check", "--against", str(broken)]) == 2
    assert "cannot read a JSON table" in capsys.readouterr().err
