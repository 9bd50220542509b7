"""The seams between packages, pinned: the server uses the SDK through its public names only,
shared HTTP parts (auth, health, the API client) live in ``costobs_server`` where every role can
import them, and no package borrows another role's private modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import costobs.pricing

ROOT = Path(__file__).resolve().parent.parent
SERVER_PACKAGES = ("alerting", "billing", "consumers", "costobs_server", "dashboard", "ingest")
SERVER_PACKAGES += ("readapi", "scripts", "bench")


def _imports(package: str) -> Iterator[tuple[Path, str]]:
    """(file, imported module) for every import in ``package``, relative ones resolved."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module
                for alias in node.names:
                    yield path, f"{node.module}.{alias.name}"


def _private(module: str) -> bool:
    return any(part.startswith("_") and part != "__future__" for part in module.split("."))


def test_the_server_uses_only_public_sdk_names() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for package in SERVER_PACKAGES
        for path, module in _imports(package)
        if module.split(".")[0] == "costobs"
        and _private(module)
        # the SDK's own benchmarks measure its internals on purpose
        and not path.name.startswith("sdk_")
    ]
    assert offenders == []


def test_the_pricing_engine_public_names_are_pinned() -> None:
    assert sorted(costobs.pricing.__all__) == [
        "BUNDLED_TABLE",
        "PriceTable",
        "PricingError",
        "Quote",
        "USAGE_COUNTS",
        "load_price_table",
        "read_table_file",
        "table_from_data",
    ]
    assert costobs.pricing.BUNDLED_TABLE.is_file()
    assert costobs.pricing.USAGE_COUNTS[0] == "input_tokens"


def test_no_router_reaches_into_ingest() -> None:
    """Auth and the HTTP app's composition are shared; ``ingest`` is one router among others,
    mounted by ``costobs_server.http_app`` (the benchmarks and the pipeline's publisher aside)."""
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for package in ("alerting", "readapi", "dashboard", "consumers")
        for path, module in _imports(package)
        if module.split(".")[0] == "ingest"
    }
    assert offenders == set()
    assert not (ROOT / "ingest" / "auth.py").exists()


def test_billing_borrows_nothing_from_alerting() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path, module in _imports("billing")
        if module.split(".")[0] == "alerting"
    ]
    assert offenders == []


def test_every_role_serves_health_from_one_module() -> None:
    """One health app for writer, alertd and billsyncd (and the routes of the ingest app)."""
    users = {
        path.relative_to(ROOT).as_posix()
        for package in SERVER_PACKAGES
        for path, module in _imports(package)
        if module in ("costobs_server.health", "costobs_server.health.health_app")
    }
    assert {"costobs_server/serve.py", "costobs_server/http_app.py"} <= users
    sources = "".join(p.read_text() for pkg in SERVER_PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    assert sources.count('@app.get("/healthz"') == 1
