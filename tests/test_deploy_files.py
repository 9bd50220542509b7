"""docker-compose.yml and the Dockerfile are not run here (no Docker engine); check them
statically against the code: every role is a real subcommand, every COSTOBS_* variable a real
setting, every COPY source a real path."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import yaml

from costobs_server.cli import build_parser
from costobs_server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NOT_SETTINGS = {"COSTOBS_API_URL"}  # read by the dashboard process itself


def _subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_compose_services_run_real_roles_with_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    settings = {f"COSTOBS_{name.upper()}" for name in Settings.model_fields}
    commands = _subcommands()
    roles = []
    for name, service in compose["services"].items():
        if service.get("image") != "costobs:local":
            continue
        roles.append(service["command"][0])
        assert service["command"][0] in commands, f"{name}: no `costobs {service['command'][0]}`"
        for variable in service.get("environment", {}):
            assert variable in settings | NOT_SETTINGS, f"{name}: unknown setting {variable}"
    assert {"migrate", "ingest", "writer", "alertd", "billsyncd", "dashboard"} <= set(roles)


def test_dockerfile_copies_existing_paths() -> None:
    for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_dockerfile_installs_the_built_wheels_of_every_package_as_non_root() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {line.split()[1] for line in text.splitlines() if line.startswith("COPY ")}
    assert set(packages) <= copied, f"the wheel build lacks {set(packages) - copied}"
    assert "pip install -e" not in text and "pip install /tmp/wheels/*.whl" in text
    runtime = text.split("\nFROM ")[-1]  # the final stage
    user = next(line.split()[1] for line in runtime.splitlines() if line.startswith("USER "))
    assert user.split(":")[0] not in {"0", "root"}
