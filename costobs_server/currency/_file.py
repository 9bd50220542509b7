"""Rate files: CSV with the header ``date,currency,rate``, one rate per line. Pure, no I/O.

The whole file is checked before anything is stored: every problem is reported with its line
number and field, and a file with any problem imports nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from costobs_server.currency._rates import (
    STORED,
    CurrencyError,
    currency,
    parse_day,
    parse_rate,
)

COLUMNS = ("date", "currency", "rate")
MAX_PROBLEMS = 20
MAX_LINES = 1_000_000


@dataclass(frozen=True)
class RateLine:
    line: int
    day: date
    currency: str
    rate: Decimal


class RateFileError(CurrencyError):
    """A rate file with problems; ``problems`` lists them (line N: field: what)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = (
            "" if len(problems) <= MAX_PROBLEMS else f"\n… and {len(problems) - MAX_PROBLEMS} more"
        )
        super().__init__(
            "rate file not imported (nothing stored):\n" + "\n".join(problems[:MAX_PROBLEMS]) + more
        )


def parse_rates_csv(text: str) -> list[RateLine]:
    """Every line of the file as a rate, or ``RateFileError`` listing every bad line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _parse(reader)
    except csv.Error as exc:  # a NUL byte, a stray quote at the end: not CSV at all
        raise RateFileError([f"line {reader.line_num}: not CSV ({exc})"]) from None


def _parse(reader: Any) -> list[RateLine]:
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != list(COLUMNS):
        got = ",".join(header or [])[:80]
        raise RateFileError([f"line 1: the header must be {','.join(COLUMNS)} (got {got!r})"])
    problems: list[str] = []
    lines: list[RateLine] = []
    seen: dict[tuple[date, str], int] = {}
    for cells in reader:
        n = reader.line_num
        if n > MAX_LINES:
            problems.append(f"line {n}: more than {MAX_LINES} lines; split the file")
            break
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(COLUMNS):
            problems.append(f"line {n}: {len(cells)} fields, expected 3 ({','.join(COLUMNS)})")
            continue
        try:
            day = parse_day(cells[0], "date")
            code = currency(cells[1], "currency").code
            if code == STORED:
                raise CurrencyError("currency: USD is the stored currency (its rate is always 1)")
            rate = parse_rate(cells[2], "rate")
        except CurrencyError as exc:
            problems.append(f"line {n}: {exc}")
            continue
        earlier = seen.get((day, code))
        if earlier is not None:
            problems.append(f"line {n}: {code} on {day} is already on line {earlier}")
            continue
        seen[(day, code)] = n
        lines.append(RateLine(n, day, code, rate))
    if problems:
        raise RateFileError(problems)
    if not lines:
        raise RateFileError(["the file has a header but no rates"])
    return lines
