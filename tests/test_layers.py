"""The dependency direction of docs/architecture.md: app -> server (HTTP/JSON) -> model, and report -> model;
model/ imports only the standard library, torch, numpy and safetensors.

Every top-level folder with Python in it (tests/ aside: tests reach every layer) is a package of the layer
table, and its files import only what the table's "may import" column names for it (the names in backticks).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
NOT_PACKAGES = {"tests", "data", "runs", "var", "models", "reports", "test-artifacts"}
ALLOWED = {
    "model": {"torch", "numpy", "safetensors"},
    "server": {"model", "fastapi", "starlette", "pydantic", "numpy", "torch", "PIL", "uvicorn", "anyio", "orjson"},
    "app": {"dash", "plotly", "httpx", "numpy", "PIL"},
    "report": {"model", "plotly", "numpy", "torch"},
    "bench": {"model", "server", "report", "tests", "torch", "numpy", "httpx", "fastapi", "PIL"},
}
EXCEPTIONS = {
    "server/main.py": {"app"},  # the entry point mounts the dashboard beside the API
    "app/api.py": {"fastapi"},  # the in-process client calls the API's app object
    "app/dashboard.py": {"fastapi", "starlette"},  # mounts Dash into that app, behind its middleware
}


def top_level_imports(path: Path) -> set[str]:
    """Third-party and first-party top-level names; a module beside the file (a script's sibling) is its own."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    siblings = {p.stem for p in path.parent.glob("*.py")}
    return names - set(sys.stdlib_module_names) - {"__future__"} - siblings


def documented(package: str) -> set[str]:
    """The names in backticks of the package's "may import" cell in docs/architecture.md."""
    for line in DOC.read_text().splitlines():
        if line.startswith(f"| `{package}/` |"):
            cell = line.rstrip(" |").rsplit("|", 1)[1]
            return {n for n in re.findall(r"`([^`]+)`", cell) if re.fullmatch(r"[A-Za-z_]\w*", n)}
    raise AssertionError(f"docs/architecture.md has no row for {package}/")


def test_every_package_is_in_the_table() -> None:
    found = {
        d.name for d in REPO.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.name not in NOT_PACKAGES and any(d.rglob("*.py"))
    }
    assert found == set(ALLOWED), found ^ set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_table_says_what_each_package_may_import(package: str) -> None:
    special = set().union(*(v for k, v in EXCEPTIONS.items() if k.startswith(f"{package}/")))
    assert documented(package) == ALLOWED[package] | special


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        allowed = ALLOWED[package] | {package} | EXCEPTIONS.get(str(path.relative_to(REPO)), set())
        extra = top_level_imports(path) - allowed
        assert not extra, f"{path.relative_to(REPO)} imports {sorted(extra)}"
