"""``costobs currency``: the org's display currency and its exchange rates, in the metadata DB.

Like ``costobs keys``, it writes the metadata DB directly (``COSTOBS_METADATA_URL`` or the data
dir's SQLite), so it works with or without a running CostObs; a running read API and alertd
pick changes up within ``readapi._display.BOOK_TTL_S`` (5 s) and alertd's rule refresh.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costobs_server.errors import CostObsError

if TYPE_CHECKING:
    from costobs_server.metadata.db import MetadataDB


def _db(args: argparse.Namespace) -> MetadataDB:
    from costobs_server.serve import open_metadata
    from costobs_server.settings import load_settings

    return open_metadata(load_settings(data_dir=args.data_dir, port=args.port))


def _set(args: argparse.Namespace) -> int:
    from costobs_server.metadata import currency as stored

    code = stored.set_display_currency(_db(args), args.org, args.code)
    print(f"display currency of {args.org}: {code}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from costobs_server.currency import parse_rates_csv
    from costobs_server.metadata import currency as stored

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CostObsError(f"cannot read {path}: {exc}") from None
    lines = parse_rates_csv(text)  # the whole file is checked before anything is stored
    count = stored.import_rates(_db(args), args.org, lines)
    print(f"imported {count} rates into {args.org}")
    return 0


def _rate_set(args: argparse.Namespace) -> int:
    from costobs_server.bounds import FIRST_DAY
    from costobs_server.currency import parse_day
    from costobs_server.metadata import currency as stored

    first = parse_day(args.from_, "--from") if args.from_ else FIRST_DAY
    stored.set_fixed_rate(_db(args), args.org, args.code, args.rate, first)
    print(f"{args.code.upper()} = {args.rate} per USD from {first} on ({args.org})")
    return 0


def _show(args: argparse.Namespace) -> int:
    from costobs_server.metadata import currency as stored

    db = _db(args)
    code = stored.display_currency(db, args.org)
    rates = stored.list_rates(db, args.org)
    if args.json:
        out = {
            "org": args.org,
            "display_currency": code,
            "rates": [r.as_json() for r in rates],
        }
        print(json.dumps(out))
        return 0
    print(f"display currency of {args.org}: {code} (stored: USD)")
    for r in rates:
        print(f"{r.day}  {r.currency}  {r.rate} per USD  ({r.source})")
    if code != "USD" and not any(r.currency == code for r in rates):
        print(f"no {code} rate yet: figures stay in USD until one is set or imported")
    return 0


def register(sub: Any, with_common: Callable[[argparse.ArgumentParser], Any]) -> None:
    cur = sub.add_parser("currency", help="display currency and exchange rates (USD stays stored)")
    verbs = cur.add_subparsers(dest="currency_command", required=True)

    def verb(parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int]) -> Any:
        with_common(parser)
        parser.add_argument("--org", default="default")
        parser.set_defaults(func=func)
        return parser

    verb(verbs.add_parser("set", help="set the org's display currency (ISO 4217, e.g. EUR)"), _set)
    verbs.choices["set"].add_argument("code")
    show = verb(verbs.add_parser("show", help="display currency and every stored rate"), _show)
    show.add_argument("--json", action="store_true")
    rates = verbs.add_parser("rates", help="dated rates")
    rates_verbs = rates.add_subparsers(dest="rates_command", required=True)
    imp = verb(
        rates_verbs.add_parser(
            "import", help="CSV with header date,currency,rate (units per 1 USD); all or nothing"
        ),
        _import,
    )
    imp.add_argument("file")
    rate = verbs.add_parser("rate", help="one fixed rate")
    rate_verbs = rate.add_subparsers(dest="rate_command", required=True)
    fixed = verb(
        rate_verbs.add_parser(
            "set",
            help="CODE RATE [--from DATE]: from DATE on (default: always), replacing later rates",
        ),
        _rate_set,
    )
    fixed.add_argument("code")
    fixed.add_argument("rate", help="units of CODE per 1 USD, a decimal such as 0.92")
    fixed.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD (default 2000-01-01)")
