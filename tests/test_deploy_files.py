"""docker-compose.yml and the Dockerfile are not run here (no Docker engine); check them
statically against the code: every role is a real subcommand, every COSTOBS_* variable a real
setting, every COPY source a real path."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
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


# deploy/schemas/compose-spec.json is schema/compose-spec.json of the compose-spec project
# (Apache-2.0), commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6, vendored unchanged.
COMPOSE_SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"
# Each CostObs role that listens: the setting holding its port, and its health path.
ROLE_PORTS = {
    "ingest": ("port", "/healthz"),
    "alertd": ("alertd_port", "/healthz"),
    "billsyncd": ("billsyncd_port", "/healthz"),
    "dashboard": ("dashboard_port", "/_stcore/health"),  # Streamlit's own
}
HEALTH_ROUTES = {  # where each health path is served, to find it in the source
    "/healthz": ("costobs_server/health.py",),
}


def _compose() -> dict:  # type: ignore[type-arg]
    loaded: dict = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[type-arg]
    return loaded


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_the_compose_schema_check_rejects_a_broken_file() -> None:
    broken = _compose()
    broken["services"]["ingest"]["healthcheck"]["interval"] = ["10s"]
    broken["services"]["ingest"]["restartt"] = "always"
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_compose_ports_and_healthchecks_match_the_roles() -> None:
    defaults = Settings.model_fields
    checked = set()
    for name, service in _compose()["services"].items():
        if service.get("image") != "costobs:local":
            continue
        role = service["command"][0]
        if role not in ROLE_PORTS:
            assert "ports" not in service, f"{name}: `costobs {role}` listens on no port"
            continue
        setting, path = ROLE_PORTS[role]
        port = int(
            service.get("environment", {}).get(f"COSTOBS_{setting.upper()}")
            or defaults[setting].default
        )
        published = [str(p).split(":")[-1] for p in service.get("ports", [])]
        assert published == [str(port)], f"{name}: publishes {published}, listens on {port}"
        probe = " ".join(service["healthcheck"]["test"])
        match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", probe)
        assert match, f"{name}: healthcheck calls no local URL: {probe}"
        assert (int(match[1]), match[2]) == (port, path), f"{name}: healthcheck {match[0]}"
        for source in HEALTH_ROUTES.get(path, ()):
            # the route, bare or with arguments (responses documented)
            route = (f'@app.get("{path}"', f'@app.get(\n        "{path}",')
            assert any(r in (ROOT / source).read_text() for r in route), f"{source}: {path}"
        checked.add(role)
    assert checked == set(ROLE_PORTS)


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
