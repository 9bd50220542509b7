"""The table file: schema errors name entry and field, the SDK copy is in sync, the CLI works."""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from costobs.pricing import BUNDLED_TABLE as BUNDLED
from costobs.pricing import PricingError, load_price_table, table_from_data
from costobs.pricing import read_table_file as read_raw

ROOT = Path(__file__).resolve().parents[3]
YAML = ROOT / "pricing" / "prices.yaml"


@pytest.fixture(autouse=True)
def sdk() -> None:
    """Overrides the SDK suite's autouse shipper fixture: pricing is pure, needs no I/O."""


def minimal() -> dict[str, Any]:
    return {
        "version": "t",
        "providers": {"p": {}},
        "entries": [
            {
                "id": "p/ok",
                "provider": "p",
                "model": "ok",
                "source": "https://example.com/pricing",
                "prices": [{"from": "2025-01-01", "input": "1.00", "output": "2.00"}],
            },
            {
                "id": "p/m",
                "provider": "p",
                "model": "m",
                "source": "https://example.com/pricing",
                "prices": [{"from": "2025-01-01", "input": "1.00", "output": "2.00"}],
            },
        ],
    }


def test_bundled_json_equals_the_yaml() -> None:
    """Fails when prices.yaml was edited without `make sync-pricing`."""
    assert json.loads(BUNDLED.read_text()) == read_raw(YAML)
    schema = BUNDLED.parent / "prices.schema.json"
    assert schema.read_text() == (ROOT / "pricing" / "prices.schema.json").read_text()


def test_yaml_and_json_tables_agree() -> None:
    assert load_price_table(YAML).version == load_price_table().version
    assert load_price_table(YAML).entries == load_price_table().entries


def test_every_entry_names_its_source() -> None:
    for entry in read_raw(YAML)["entries"]:
        assert entry["source"].startswith("https://"), entry["id"]


@pytest.mark.parametrize(
    ("mutate", "entry", "field", "message"),
    [
        (
            lambda d: d["entries"][1]["prices"][0].update(input=2.5),
            "p/m",
            "prices[0].input",
            "quote it",
        ),
        (
            lambda d: d["entries"][1]["prices"][0].update(inptu="1"),
            "p/m",
            "prices[0].inptu",
            "unknown",
        ),
        (lambda d: d["entries"][1]["prices"][0].pop("from"), "p/m", "prices[0].from", "missing"),
        (
            lambda d: d["entries"][1]["prices"].append({"from": "2024-01-01", "input": "1"}),
            "p/m",
            "prices[1].from",
            "increasing",
        ),
        (lambda d: d["entries"][1].update(source="somewhere"), "p/m", "source", "URL"),
        (lambda d: d["entries"][1].update(id="q/m"), "q/m", "id", "start with the provider"),
        (lambda d: d["entries"][1].update(id="p/ok"), "p/ok", "id", "duplicate"),
        (
            lambda d: d["entries"][1]["prices"][0].update(images={"1024x1024": "0.04"}),
            "p/m",
            "prices[0].images",
            '"*"',
        ),
        (
            lambda d: d["entries"][1]["prices"][0].update(long_context={"above": "200k"}),
            "p/m",
            "prices[0].long_context.above",
            "positive integer",
        ),
        (
            lambda d: d["entries"][1].update(tiers={"batch": {}}),
            "p/m",
            "tiers.batch",
            "exactly one",
        ),
        (
            lambda d: d["entries"][1]["prices"][0].update(
                audio_per_minute="1", audio_per_second="1"
            ),
            "p/m",
            "prices[0]",
            "more than one",
        ),
    ],
)
def test_sdk_loader_names_entry_and_field(
    mutate: Any, entry: str, field: str, message: str
) -> None:
    data = minimal()
    mutate(data)
    with pytest.raises(PricingError) as info:
        table_from_data(data)
    assert info.value.entry == entry
    assert info.value.field == field
    assert message in str(info.value)
    assert f"entry {entry!r}, field {field!r}" in str(info.value)


def test_unquoted_version_and_unknown_delegate() -> None:
    data = minimal()
    data["version"] = 1.0
    with pytest.raises(PricingError, match="field 'version'"):
        table_from_data(data)
    data = minimal()
    data["providers"]["p"] = {"delegate": [{"to": "nowhere"}]}
    with pytest.raises(PricingError, match=r"providers.p.delegate\[0\].to"):
        table_from_data(data)


def test_loader_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text("{not json")
    with pytest.raises(PricingError, match="invalid JSON"):
        load_price_table(bad)
    with pytest.raises(PricingError, match="cannot read"):
        load_price_table(tmp_path / "missing.yaml")


# --- server-side CLI (jsonschema) ---------------------------------------------------------

cli = pytest.importorskip("costobs_server.cli_pricing")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="costobs")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_validate_repo_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["pricing", "validate", str(YAML)], capsys)
    assert code == 0
    assert "version 2026.11.0" in out


def test_cli_validate_names_entry_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = YAML.read_text().replace(
        "model: gpt-4.1-nano\n", "model: gpt-4.1-nano\n    colour: blue\n", 1
    )
    text = text.replace(
        '{from: 2025-08-07, input: "0.05", cached_input: "0.005"',
        '{from: 2025-08-07, input: 0.05, cached_input: "0.005"',
        1,
    )
    broken = tmp_path / "prices.yaml"
    broken.write_text(text)
    code, _, err = run(["pricing", "validate", str(broken)], capsys)
    assert code == 1
    assert "entry 'openai/gpt-4.1-nano'" in err and "'colour'" in err
    assert "entry 'openai/gpt-5-nano', field 'prices[0].input'" in err


def test_schema_agrees_with_loader_on_a_copy(tmp_path: Path) -> None:
    data = copy.deepcopy(read_raw(YAML))
    assert cli.schema_errors(data) == []
    data["entries"][3]["prices"][0]["output"] = "ten"
    errors = cli.schema_errors(data)
    assert (
        len(errors) == 1
        and f"entry {data['entries'][3]['id']!r}, field 'prices[0].output'" in errors[0]
    )


def test_cli_quote(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "pricing",
            "quote",
            "--provider",
            "anthropic",
            "--model",
            "claude-sonnet-4-5-20250929",
            "--usage",
            '{"input_tokens": 1000, "cache_write_1h_tokens": 1000, "output_tokens": 500}',
            "--at",
            "2026-11-01T00:00:00Z",
            "--file",
            str(YAML),
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert result["cost_usd"] == "0.0165"  # 0.003 + 0.006 + 0.0075
    assert result["entry"] == "anthropic/claude-sonnet-4-5"
    assert result["breakdown"] == {"input": "0.003", "cache_write_1h": "0.006", "output": "0.0075"}
    assert result["version"] == "2026.11.0"


def test_cli_quote_batch_and_decimal_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "pricing",
            "quote",
            "--provider",
            "openai",
            "--model",
            "gpt-4o-mini",
            "--usage",
            '{"input_tokens": 1000000}',
            "--batch",
        ],
        capsys,
    )
    assert code == 0 and json.loads(out)["cost_usd"] == "0.075"
    code, out, _ = run(
        [
            "pricing",
            "quote",
            "--provider",
            "openai",
            "--model",
            "whisper-1",
            "--usage",
            '{"audio_seconds": 30.5}',
        ],
        capsys,
    )
    assert code == 0 and json.loads(out)["cost_usd"] == "0.00305"  # 30.5 * 0.006 / 60


def test_cli_quote_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        [
            "pricing",
            "quote",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--usage",
            '{"prompt_tokens": 1}',
        ],
        capsys,
    )
    assert code == 1 and "prompt_tokens" in err
    code, _, err = run(
        ["pricing", "quote", "--provider", "openai", "--model", "gpt-4o", "--usage", "[1]"], capsys
    )
    assert code == 1


def test_cli_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "pricing",
            "explain",
            "--provider",
            "openrouter",
            "--model",
            "anthropic/claude-3.7-sonnet",
            "--at",
            "2026-01-01",
        ],
        capsys,
    )
    result = json.loads(out)
    assert code == 0
    assert result["entry"] == "anthropic/claude-3-7-sonnet"
    assert any("delegates" in step for step in result["steps"])
    code, out, _ = run(["pricing", "explain", "--provider", "openai", "--model", "nope"], capsys)
    assert code == 2 and json.loads(out)["matched"] is False


def test_sync_script_check_passes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_pricing.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
