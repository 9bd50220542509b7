"""``costobs pricing validate|explain|quote|check``: the price table from the command line.

The main CLI wires this in with ``cli_pricing.register(subparsers)``; every subcommand sets
``func`` (``args.func(args) -> int`` is the exit code). It also runs on its own:
``python -m costobs_server.cli_pricing quote --provider openai --model gpt-4o --usage '{…}'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The pricing engine is imported inside the commands that use it: `costobs --help` and
# every other command start without it (bench/cli_start.py measures this).
if TYPE_CHECKING:
    from costobs.pricing import PriceTable

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO_TABLE = REPO_ROOT / "pricing" / "prices.yaml"
REPO_SCHEMA = REPO_ROOT / "pricing" / "prices.schema.json"


def _bundled() -> Path:
    from costobs.pricing import BUNDLED_TABLE

    return BUNDLED_TABLE


def default_table_path() -> Path:
    """The repository's YAML when running from a checkout, else the SDK's bundled JSON."""
    return REPO_TABLE if REPO_TABLE.is_file() else _bundled()


def pricing_table_path() -> Path:
    """The table explain/quote/check read by default: the bundled JSON the writer prices with,
    unless the repository's YAML was edited after it (before `make sync-pricing`). The JSON
    parses in a tenth of the YAML's time; both are the same table once synced."""
    bundled = _bundled()
    if REPO_TABLE.is_file() and (
        not bundled.is_file() or REPO_TABLE.stat().st_mtime > bundled.stat().st_mtime
    ):
        return REPO_TABLE
    return bundled


def _schema() -> dict[str, Any]:
    path = REPO_SCHEMA if REPO_SCHEMA.is_file() else _bundled().parent / "prices.schema.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _where(data: Any, path: list[str | int]) -> tuple[str | None, str]:
    """Turn a JSON path into (entry id, field path inside it) for error messages."""
    if len(path) >= 2 and path[0] == "entries" and isinstance(path[1], int):
        entries = data.get("entries") if isinstance(data, dict) else None
        entry: str | None = f"entries[{path[1]}]"
        if isinstance(entries, list) and path[1] < len(entries):
            item = entries[path[1]]
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                entry = item["id"]
        rest = path[2:]
    else:
        entry, rest = None, path
    field = ""
    for part in rest:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return entry, field or "(top level)"


def schema_errors(data: Any) -> list[str]:
    """Every JSON Schema violation, each naming the entry id and the field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    messages = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        entry, field = _where(data, list(error.absolute_path))
        where = f"entry {entry!r}, field {field!r}" if entry else f"field {field!r}"
        messages.append(f"{where}: {error.message}")
    return messages


def validate_file(path: str | Path) -> tuple[Any, PriceTable]:
    """Schema-check and compile a table file; raise ``PricingError`` listing every problem."""
    from costobs.pricing import PricingError, read_table_file, table_from_data

    data = read_table_file(path)
    problems = schema_errors(data)
    if problems:
        raise PricingError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return data, table_from_data(data)


def _parse_at(text: str | None) -> datetime | None:
    from costobs.pricing import PricingError

    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PricingError(f"--at: not an ISO timestamp: {text!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _table(args: argparse.Namespace) -> PriceTable:
    from costobs.pricing import load_price_table

    path = getattr(args, "file", None)
    return load_price_table(path) if path else load_price_table(pricing_table_path())


def _print(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def cmd_validate(args: argparse.Namespace) -> int:
    from costobs.pricing import PricingError

    path = Path(args.file) if args.file else default_table_path()
    try:
        _, table = validate_file(path)
    except PricingError as exc:
        print(f"invalid price table: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: ok — version {table.version}, {len(table.entries)} entries")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from costobs.pricing import PricingError

    try:
        table = _table(args)
        result = table.explain(
            args.provider,
            args.model,
            _parse_at(args.at),
            service_tier=args.service_tier,
            batch=args.batch,
            region=args.region,
        )
    except PricingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print(result)
    return 0 if result["matched"] else 2


def cmd_quote(args: argparse.Namespace) -> int:
    from costobs.pricing import PricingError

    try:
        usage = json.loads(args.usage, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        print(f"error: --usage is not JSON: {exc}", file=sys.stderr)
        return 1
    if not isinstance(usage, dict):
        print("error: --usage must be a JSON object of usage fields", file=sys.stderr)
        return 1
    try:
        table = _table(args)
        quote = table.quote(
            provider=args.provider,
            model=args.model,
            usage=usage,
            at=_parse_at(args.at),
            service_tier=args.service_tier,
            batch=args.batch,
            region=args.region,
        )
    except PricingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print(quote.to_dict())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from costobs.pricing import PricingError

    from costobs_server.pricing_check import compare, read_other, render

    try:
        table = _table(args)
        fmt, others = read_other(args.against, args.format)
        report = compare(table, others, fmt=fmt, at=_parse_at(args.at))
    except PricingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _print(report.to_dict())
    else:
        print(render(report))
    return 0 if report.clean else 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``pricing validate|explain|quote`` to a parent CLI's subparsers."""
    pricing = subparsers.add_parser("pricing", help="validate, explain and quote the price table")
    sub = pricing.add_subparsers(dest="pricing_command", metavar="{validate,explain,quote,check}")
    sub.required = True

    validate = sub.add_parser("validate", help="check a price table against its JSON Schema")
    validate.add_argument(
        "file", nargs="?", help="YAML or JSON table (default: pricing/prices.yaml)"
    )
    validate.set_defaults(func=cmd_validate)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--provider", required=True)
        p.add_argument("--model", required=True)
        p.add_argument("--at", help="ISO timestamp the rates must be in force at (default: now)")
        p.add_argument("--service-tier", dest="service_tier", help="batch, flex, priority, …")
        p.add_argument(
            "--batch", action="store_true", help="a Batch API call (50%% on most providers)"
        )
        p.add_argument(
            "--region", help="region key: Bedrock/Vertex region, Azure 'global'/'datazone'…"
        )
        p.add_argument(
            "--file", help="price table to use (default: the table the writer prices with)"
        )

    explain = sub.add_parser("explain", help="which entry a model matches, and why, and its rates")
    common(explain)
    explain.set_defaults(func=cmd_explain)

    quote = sub.add_parser("quote", help="price one call: exact cost, entry and breakdown as JSON")
    common(quote)
    quote.add_argument("--usage", required=True, help="JSON object in the wire's usage field names")
    quote.set_defaults(func=cmd_quote)

    check = sub.add_parser(
        "check",
        help="compare the table with another one (LiteLLM or genai-prices JSON), offline",
        description="Lists every rate that disagrees, every model missing on either side and "
        "every entry older than the other table's newest date for it. Exit 0 when they agree, "
        "1 when there are findings, 2 when a file cannot be read.",
    )
    check.add_argument(
        "--against",
        required=True,
        help="LiteLLM model_prices_and_context_window.json or genai-prices data.json",
    )
    check.add_argument("--format", choices=["auto", "litellm", "genai-prices"], default="auto")
    check.add_argument("--at", help="compare the rates in force at this ISO time (default: now)")
    check.add_argument("--file", help="our price table (default: the table the writer prices with)")
    check.add_argument("--json", action="store_true", help="the findings as JSON")
    check.set_defaults(func=cmd_check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="costobs")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
