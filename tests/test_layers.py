"""The dependency direction of docs/architecture.md: app -> server (HTTP/JSON) -> model, and report -> model;
model/ imports only the standard library, torch, numpy and safetensors."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {
    "model": {"model", "torch", "numpy", "safetensors"},
    "server": {"server", "model", "fastapi", "starlette", "pydantic", "numpy", "torch", "PIL", "uvicorn", "anyio"}
    | {"orjson"},
    "report": {"report", "model", "plotly", "numpy", "torch"},
}
# The entry point mounts the dashboard beside the API.
EXCEPTIONS = {"server/main.py": {"app"}}


def top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        extra = top_level_imports(path) - ALLOWED[package] - EXCEPTIONS.get(str(path.relative_to(REPO)), set())
        assert not extra, f"{path.relative_to(REPO)} imports {sorted(extra)}"
