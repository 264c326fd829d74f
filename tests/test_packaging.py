"""The installed project holds every package of the repository, so `python -m report.reproduce` (and the
others) run from any folder, not only from the repository root."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_installed() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in REPO.glob("*/**/__init__.py")
        if p.parts[len(REPO.parts)] not in ("tests", ".venv", "data", "runs", "var")
    }
    assert found == listed
