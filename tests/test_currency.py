"""Display currencies: ISO 4217 codes, rates, exact day-by-day conversion, rate files (pure),
and their storage in the metadata DB (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from costobs_server.currency import (
    CurrencyError,
    RateBook,
    RateFileError,
    currency,
    display,
    parse_rate,
    parse_rates_csv,
)
from costobs_server.metadata import currency as stored
from costobs_server.metadata.db import MetadataDB, downgrade

NOV = [date(2026, 11, d) for d in range(1, 31)]


def test_codes_carry_their_minor_units() -> None:
    assert currency("eur").code == "EUR" and currency("EUR").minor_units == 2
    assert currency("JPY").minor_units == 0
    assert currency("KWD").minor_units == 3
    for bad in ("EUX", "XAU", "US", "", 978, None):
        with pytest.raises(CurrencyError, match=r"currency: .* is not an ISO 4217 currency code"):
            currency(bad)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0", "not a positive rate"),
        ("-0.5", "not a positive rate"),
        ("abc", "not a decimal number"),
        ("NaN", "not a positive rate"),
        ("Infinity", "not a positive rate"),
        ("0.1234567890123", "more than 12 decimal places"),
        ("1000000000", "too large"),
    ],
)
def test_bad_rates_are_refused_naming_the_field(text: str, problem: str) -> None:
    with pytest.raises(CurrencyError, match=f"rate: .*{problem}"):
        parse_rate(text)


def test_a_float_rate_is_refused() -> None:
    with pytest.raises(CurrencyError, match="decimal string"):
        parse_rate(0.92)


def test_a_day_converts_with_its_rate_or_the_latest_earlier_one() -> None:
    book = RateBook(currency("EUR"), {NOV[1]: D("0.92"), NOV[4]: D("0.9")})
    assert book.rate_for(NOV[0]) is None  # before the first rate: no conversion
    assert book.convert(D("10"), NOV[0]) is None
    on_day = book.rate_for(NOV[1])
    assert on_day is not None and (on_day.rate, on_day.fallback) == (D("0.92"), False)
    later = book.rate_for(NOV[3])
    assert later is not None
    assert (later.rate, later.rate_date, later.fallback) == (D("0.92"), NOV[1], True)
    assert book.convert(D("0.000000000000000001"), NOV[5]) == D("0.0000000000000000009")


def test_multi_day_figures_convert_day_by_day_exactly() -> None:
    book = RateBook(currency("EUR"), {NOV[1]: D("0.92"), NOV[4]: D("0.9")})
    per_day = {NOV[2]: D("10.005"), NOV[3]: D("1"), NOV[4]: D("3.333333333333333333")}
    # 10.005 × 0.92 + 1 × 0.92 + 3.333333333333333333 × 0.9, not (sum) × one rate
    assert book.convert_days(per_day) == D("10.1246") + D("2.9999999999999999997")
    assert book.convert_days(per_day) == D("13.1245999999999999997")
    assert book.convert_days({NOV[0]: D("1"), NOV[2]: D("1")}) is None  # a day without rate
    assert book.convert_days({NOV[0]: D("0"), NOV[2]: D("1")}) == D("0.92")  # nothing to convert


def test_segments_group_days_by_the_rate_they_use() -> None:
    book = RateBook(currency("EUR"), {NOV[1]: D("0.92"), NOV[4]: D("0.9")})
    segments = book.segments(NOV[0], NOV[6])
    assert [(s.first.day, s.last.day, s.rate, s.fallback) for s in segments] == [
        (1, 1, None, False),
        (2, 4, D("0.92"), True),
        (5, 7, D("0.9"), True),
    ]
    assert [s.fallback for s in book.segments(NOV[4], NOV[4])] == [False]
    usd = RateBook(currency("USD"))
    assert usd.identity and usd.convert(D("1.5"), NOV[0]) == D("1.5")
    assert [(s.rate, s.fallback) for s in usd.segments(NOV[0], NOV[9])] == [(D(1), False)]


def test_display_rounds_half_even_to_the_minor_units() -> None:
    assert display(D("1234.565"), currency("EUR")) == "1,234.56 EUR"
    assert display(D("1234.575"), currency("EUR")) == "1,234.58 EUR"
    assert display(D("2.5"), currency("JPY")) == "2 JPY"
    # below one minor unit (a cost per request): four significant digits, not zero
    assert display(D("0.0005"), currency("KWD")) == "0.0005000 KWD"
    assert display(D("0.003164"), currency("EUR")) == "0.003164 EUR"
    assert display(D("0.4"), currency("JPY")) == "0.4000 JPY"
    assert display(D("0"), currency("EUR")) == "0.00 EUR"


def test_a_rate_file_parses_every_line() -> None:
    lines = parse_rates_csv("date,currency,rate\n2026-11-02,EUR,0.92\n2026-11-02,gbp,0.79\n\n")
    assert [(x.line, x.day, x.currency, x.rate) for x in lines] == [
        (2, NOV[1], "EUR", D("0.92")),
        (3, NOV[1], "GBP", D("0.79")),
    ]


def test_a_bad_rate_file_names_every_bad_line() -> None:
    text = (
        "date,currency,rate\n"
        "2026-11-02,EUR,0.92\n"
        "2026-13-01,EUR,0.92\n"
        "2026-11-03,EUX,0.92\n"
        "2026-11-04,EUR,-1\n"
        "2026-11-05,EUR\n"
        "2026-11-02,EUR,0.93\n"
        "2026-11-06,USD,1\n"
        "1999-12-31,EUR,0.9\n"
    )
    with pytest.raises(RateFileError) as caught:
        parse_rates_csv(text)
    assert caught.value.problems == [
        "line 3: date: '2026-13-01' is not a date YYYY-MM-DD",
        "line 4: currency: 'EUX' is not an ISO 4217 currency code (e.g. EUR)",
        "line 5: rate: '-1' is not a positive rate",
        "line 6: 2 fields, expected 3 (date,currency,rate)",
        "line 7: EUR on 2026-11-02 is already on line 2",
        "line 8: currency: USD is the stored currency (its rate is always 1)",
        "line 9: date: 1999-12-31 is outside the supported range 2000-01-01..2099-12-31",
    ]
    with pytest.raises(RateFileError, match="line 1: the header must be date,currency,rate"):
        parse_rates_csv("day,code,rate\n2026-11-02,EUR,0.92\n")
    with pytest.raises(RateFileError, match="no rates"):
        parse_rates_csv("date,currency,rate\n")
    with pytest.raises(RateFileError, match=r"line 2: not CSV \(field larger than field limit"):
        parse_rates_csv("date,currency,rate\n2026-11-02,EUR," + "9" * 200_000 + "\n")
    # old Mac line ends are line ends
    assert len(parse_rates_csv("date,currency,rate\r2026-11-02,EUR,0.92\r")) == 1


# -- metadata DB -----------------------------------------------------------------------


@pytest.fixture
def db(metadata_url: str) -> MetadataDB:
    database = MetadataDB.connect(metadata_url)
    database.migrate()
    database.ensure_org("acme")
    yield database
    database.engine.dispose()


def test_migration_0004_is_reversible(db: MetadataDB) -> None:
    assert {"org_currency", "exchange_rates"} <= set(sa.inspect(db.engine).get_table_names())
    downgrade(db.engine, "0003")
    assert "exchange_rates" not in sa.inspect(db.engine).get_table_names()
    db.migrate()
    assert "exchange_rates" in sa.inspect(db.engine).get_table_names()


def test_display_currency_and_rates_round_trip(db: MetadataDB) -> None:
    assert stored.display_currency(db, "acme") == "USD"
    assert stored.set_display_currency(db, "acme", "eur") == "EUR"
    lines = parse_rates_csv(
        "date,currency,rate\n2026-11-02,EUR,0.920000000001\n2026-11-05,EUR,0.9\n"
        "2026-11-02,GBP,0.79\n"
    )
    assert stored.import_rates(db, "acme", lines) == 3
    book = stored.rate_book(db, "acme")
    assert book.currency.code == "EUR" and len(book) == 2  # GBP kept, not the display one
    assert book.convert(D("1"), NOV[3]) == D("0.920000000001")  # exact text, no float
    # a re-import replaces the day's rate
    stored.import_rates(db, "acme", parse_rates_csv("date,currency,rate\n2026-11-05,EUR,0.8\n"))
    assert stored.rate_book(db, "acme").convert(D("1"), NOV[9]) == D("0.8")
    assert stored.display_currency(db, "default-other") == "USD"


def test_a_fixed_rate_replaces_rates_from_its_day_on(db: MetadataDB) -> None:
    stored.set_display_currency(db, "acme", "EUR")
    stored.import_rates(
        db,
        "acme",
        parse_rates_csv("date,currency,rate\n2026-11-02,EUR,0.92\n2026-11-20,EUR,0.95\n"),
    )
    stored.set_fixed_rate(db, "acme", "EUR", "0.9", NOV[9])
    rates = [(r.day.day, r.rate, r.source) for r in stored.list_rates(db, "acme", "EUR")]
    assert rates == [(2, D("0.92"), "import"), (10, D("0.9"), "fixed")]
    with pytest.raises(CurrencyError, match="rate: '0' is not a positive rate"):
        stored.set_fixed_rate(db, "acme", "EUR", "0", NOV[0])
    with pytest.raises(CurrencyError, match="USD is the stored currency"):
        stored.set_fixed_rate(db, "acme", "USD", "1", NOV[0])
    with pytest.raises(CurrencyError, match="not an ISO 4217"):
        stored.set_display_currency(db, "acme", "EURO")
    with pytest.raises(CurrencyError, match="no org 'ghost'"):
        stored.set_display_currency(db, "ghost", "EUR")
    assert stored.display_currency(db, "acme") == "EUR"  # the refused change left it


def test_an_import_into_a_missing_org_stores_nothing(db: MetadataDB) -> None:
    lines = parse_rates_csv("date,currency,rate\n2026-11-02,EUR,0.92\n")
    with pytest.raises(CurrencyError, match="no org 'ghost'"):
        stored.import_rates(db, "ghost", lines)
    assert stored.list_rates(db, "ghost") == []


def test_model_drift_converts_rows_untracked_models_and_suggestions_day_by_day() -> None:
    from readapi._display_drift import model_drift_display
    from readapi.math import drift

    cells = {("openai", NOV[i], "gpt-4o"): drift.Cell(1, D("10"), D("11"), 1) for i in range(8)}
    cells[("openai", NOV[8], "gpt-4o")] = drift.Cell(1, D("10"))  # no bill: not pooled
    cells[("anthropic", NOV[1], "claude-opus-4-1")] = drift.Cell(0, D("0"), D("5"), 1)
    book = RateBook(currency("EUR"), {NOV[0]: D("0.9"), NOV[4]: D("0.92")})
    body = drift.explain("acme", cells)
    block = model_drift_display(book, NOV[0], NOV[8], body)
    # tracked: 4 × 10 × 0.9 + 5 × 10 × 0.92; billed: 4 × 11 × 0.9 + 4 × 11 × 0.92 + 5 × 0.9
    assert (block["tracked"], block["billed"], block["drift"]) == ("82", "84.58", "11.78")
    assert [(r["from"], r["to"], r["rate"], r["fallback"]) for r in block["rates"]] == [
        ("2026-11-01", "2026-11-04", "0.9", True), ("2026-11-05", "2026-11-09", "0.92", True),
    ]  # fmt: skip
    nov_9 = body["rows"][-1]
    assert nov_9["date"] == "2026-11-09" and nov_9["display"] == {
        "currency": "EUR", "rate": "0.92", "rate_date": "2026-11-05", "fallback": True,
        "tracked": "9.2", "billed": None, "drift": None,
    }  # fmt: skip
    assert body["untracked_models"] == [
        {"provider": "anthropic", "model": "claude-opus-4-1", "billed_usd": "5",
         "display_billed": "4.5"},
    ]  # fmt: skip
    (s,) = body["suggestions"]
    assert (s["days"], s["billed_usd"], s["tracked_usd"]) == (8, "88", "80")
    # the pooled days only: 4 × 11 × 0.9 + 4 × 11 × 0.92; 4 × 10 × 0.9 + 4 × 10 × 0.92
    assert (s["display_billed"], s["display_tracked"]) == ("80.08", "72.8")
    assert s["override"]["multiplier"] == "1.1000"  # a ratio: the same in every currency
    # a pooled day before the first rate: not converted, never guessed
    late = drift.explain("acme", cells)
    block = model_drift_display(RateBook(currency("EUR"), {NOV[1]: D("0.9")}), NOV[0], NOV[8], late)
    (s,) = late["suggestions"]
    assert (s["display_billed"], s["display_tracked"], block["tracked"]) == (None, None, None)
    assert late["untracked_models"][0]["display_billed"] == "4.5"  # its day has a rate
