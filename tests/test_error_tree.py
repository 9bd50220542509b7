"""One error tree: every exception the server defines or raises on purpose is a
``costobs_server.errors.CostObsError``, which is the SDK's ``costobs.CostObsError``."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
from pathlib import Path

import costobs
import pytest
from costobs.pricing import PricingError

from costobs_server import errors

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alerting", "billing", "consumers", "costobs_server", "dashboard", "ingest", "readapi")
BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if inspect.isclass(value) and issubclass(value, BaseException)
} - {"AttributeError", "SystemExit", "NotImplementedError", "AssertionError"}  # not errors
# Raised and caught on the next lines, never leaving the function (turned into a
# PoisonMessage / a 400 there).
INTERNAL = {
    ("consumers/processor.py", "TypeError"),
    ("costobs_server/repricing/jobs.py", "TypeError"),  # json.dumps default= protocol
    ("readapi/routes/requests.py", "ValueError"),
    ("readapi/routes/dead_letters.py", "ConnectionError"),
}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            if "alembic" in rel.parts or (rel.name == "app" and package == "dashboard"):
                continue  # migrations and the Streamlit script run only under their tools
            names.append(".".join(rel.parts).removesuffix(".__init__"))
    return names


def test_the_server_root_is_the_sdk_root() -> None:
    assert errors.CostObsError is costobs.CostObsError
    assert issubclass(PricingError, errors.CostObsError)
    for cls, builtin in [
        (errors.ConfigError, ValueError),
        (errors.InvalidInput, ValueError),
        (errors.NotFound, LookupError),
        (errors.StoreError, RuntimeError),
        (errors.Unavailable, RuntimeError),
    ]:
        assert issubclass(cls, errors.CostObsError) and issubclass(cls, builtin)


def test_every_exception_class_of_the_server_derives_from_the_root() -> None:
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not issubclass(value, errors.CostObsError)
            ):
                strays.append(f"{name}.{attr}")
    assert strays == []


def test_no_bare_builtin_error_is_raised_on_purpose() -> None:
    raised = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    func = node.exc.func
                    name = func.id if isinstance(func, ast.Name) else None
                    if name in BUILTIN_ERRORS and (rel, name) not in INTERNAL:
                        raised.append(f"{rel}:{node.lineno} {name}")
    assert raised == []


def test_input_errors_stay_value_errors_for_pydantic() -> None:
    """Validators raise ``InvalidInput``; pydantic still reports it as the field's error."""
    from costobs_server.wire import validate_event

    with pytest.raises(errors.InvalidInput, match="reasoning_tokens"):
        validate_event(
            {
                "request_id": "r1",
                "timestamp": "2026-11-20T10:00:00Z",
                "provider": "openai",
                "model": "gpt-4o",
                "usage": {"output_tokens": 1, "reasoning_tokens": 2},
            }
        )
