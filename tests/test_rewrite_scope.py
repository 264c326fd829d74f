"""pytest rewrites the asserts of the project's tests only: a third-party module that the server imports
lazily, on a worker thread, must load as plain bytecode (CPython 3.11's ast is not thread-safe)."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from _pytest.assertion.rewrite import AssertionRewritingHook

SITE = Path(sysconfig.get_paths()["purelib"]).resolve()
PLUGINS = ("_hypothesis_pytestplugin", "schemathesis.pytest.plugin")  # named in pyproject's addopts


def test_no_third_party_module_is_rewritten() -> None:
    import annotated_types.test_cases  # noqa: F401  (a third-party file named like a test module)
    import anyio._core._fileio  # noqa: F401  (imported lazily by the server when it serves a file)
    import dash  # noqa: F401
    import hypothesis  # noqa: F401

    rewritten = sorted(
        name
        for name, mod in list(sys.modules.items())
        if isinstance(getattr(mod, "__loader__", None), AssertionRewritingHook)
        and Path(getattr(mod, "__file__", None) or "/").resolve().is_relative_to(SITE)
        and name not in PLUGINS
    )
    assert rewritten == [], rewritten[:10]
