"""``costobs currency``: set, import (all or nothing, bad lines named), fixed rate, show; on the
data dir's SQLite metadata DB, as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costobs_server.cli import main


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main(["currency", *args, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def show(capsys: pytest.CaptureFixture[str], data: Path) -> dict[str, object]:
    code, out, _ = run(capsys, data, "show", "--json")
    assert code == 0
    loaded: dict[str, object] = json.loads(out)
    return loaded


def test_currency_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COSTOBS_METADATA_URL", raising=False)
    data = tmp_path / "data"
    assert run(capsys, data, "set", "eur")[:2] == (0, "display currency of default: EUR\n")
    good = tmp_path / "rates.csv"
    good.write_text("date,currency,rate\n2026-11-02,EUR,0.92\n2026-11-04,EUR,0.9\n")
    assert run(capsys, data, "rates", "import", str(good))[:2] == (
        0,
        "imported 2 rates into default\n",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("date,currency,rate\n2026-11-05,EUR,0.91\n2026-11-06,EUR,zero\n")
    code, _, err = run(capsys, data, "rates", "import", str(bad))
    assert code == 2
    assert err == (
        "costobs: rate file not imported (nothing stored):\n"
        "line 3: rate: 'zero' is not a decimal number\n"
    )
    code, out, _ = run(capsys, data, "rate", "set", "EUR", "0.95", "--from", "2026-11-04")
    assert (code, out) == (0, "EUR = 0.95 per USD from 2026-11-04 on (default)\n")
    assert show(capsys, data) == {
        "org": "default",
        "display_currency": "EUR",
        "rates": [
            {"currency": "EUR", "date": "2026-11-02", "rate": "0.92", "source": "import"},
            {"currency": "EUR", "date": "2026-11-04", "rate": "0.95", "source": "fixed"},
        ],
    }
    code, _, err = run(capsys, data, "rate", "set", "EUR", "0.9", "--from", "2026-11-31")
    assert (code, err) == (2, "costobs: --from: '2026-11-31' is not a date YYYY-MM-DD\n")
    code, _, err = run(capsys, data, "set", "EURO")
    assert (code, err) == (
        2,
        "costobs: currency: 'EURO' is not an ISO 4217 currency code (e.g. EUR)\n",
    )
    code, _, err = run(capsys, data, "rates", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and err.startswith("costobs: cannot read ")
    # a fixed rate without --from holds for every day
    run(capsys, data, "rate", "set", "EUR", "0.93")
    assert show(capsys, data)["rates"] == [
        {"currency": "EUR", "date": "2000-01-01", "rate": "0.93", "source": "fixed"}
    ]
    code, out, _ = run(capsys, data, "show")
    assert out == (
        "display currency of default: EUR (stored: USD)\n2000-01-01  EUR  0.93 per USD  (fixed)\n"
    )
