"""``make sync-pricing``: validate pricing/prices.yaml and copy it, as JSON, into every SDK.

Writes ``sdk/python/costobs/_data/prices.json`` (and the JSON Schema beside it), and
``sdk/typescript/src/prices.json`` / ``sdk/go/prices.json`` when those SDKs exist; the
shared provider-detection file ``sdk/providers.json`` goes beside each copy.
``--check`` writes nothing and fails when a copy is stale (for CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # costobs_server from this checkout
sys.path.insert(0, str(ROOT / "sdk" / "python"))

from costobs.pricing import PricingError  # noqa: E402

from costobs_server.cli_pricing import validate_file  # noqa: E402

SOURCE = ROOT / "pricing" / "prices.yaml"
SCHEMA = ROOT / "pricing" / "prices.schema.json"
PROVIDERS = ROOT / "sdk" / "providers.json"  # host → provider detection, shared by every SDK
PYTHON_DATA = ROOT / "sdk" / "python" / "costobs" / "_data"
OPTIONAL_TARGETS = (ROOT / "sdk" / "typescript" / "src", ROOT / "sdk" / "go")


def render(data: object) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def targets() -> list[tuple[Path, str]]:
    data, _ = validate_file(SOURCE)
    table = render(data)
    providers = render(json.loads(PROVIDERS.read_text(encoding="utf-8")))
    out = [
        (PYTHON_DATA / "prices.json", table),
        (PYTHON_DATA / "prices.schema.json", SCHEMA.read_text()),
        (PYTHON_DATA / "providers.json", providers),
    ]
    for d in OPTIONAL_TARGETS:
        if d.is_dir():
            out += [(d / "prices.json", table), (d / "providers.json", providers)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a copy is out of date")
    args = parser.parse_args(argv)
    try:
        planned = targets()
    except PricingError as exc:
        print(f"sync-pricing: {exc}", file=sys.stderr)
        return 1
    stale = []
    for path, text in planned:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "stale" if args.check else "wrote"
        print(f"sync-pricing: {verb} {path.relative_to(ROOT)}")
    if args.check and stale:
        print("sync-pricing: run `make sync-pricing` and commit the result", file=sys.stderr)
        return 1
    if not stale:
        print("sync-pricing: all copies up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
