"""The browser's element ids come from app/ids.py alone: static/*.js names them as window.drsae.ids."""

from __future__ import annotations

import re
from pathlib import Path

from app import ids
from app.callbacks.training import plotted_job

STATIC = Path(__file__).resolve().parents[2] / "static"
SCRIPTS = sorted(STATIC.glob("*.js"))


def test_every_id_the_scripts_use_is_served() -> None:
    served = ids.browser_ids()
    used = {name for js in SCRIPTS for name in re.findall(r"\bI\.([A-Z_]+)\b", js.read_text())}
    assert used, "the scripts read no ids"
    assert used <= served.keys(), used - served.keys()
    assert served["DRAW_CANVAS"] == ids.DRAW_CANVAS and "CURVES_REFRESH" in served


def test_no_script_keeps_its_own_copy_of_an_id() -> None:
    values = set(ids.browser_ids().values())
    for js in SCRIPTS:
        copies = {s for s in re.findall(r"[\"'`]([a-z][a-z0-9-]*)[\"'`]", js.read_text()) if s in values}
        assert not copies, f"{js.name} writes ids as strings: {sorted(copies)}"


def test_the_ids_script_is_one_inline_assignment() -> None:
    script = ids.browser_script()
    assert script.startswith("<script>window.drsae = Object.assign(") and script.endswith("</script>")
    assert script.count("</") == 1  # nothing inside can close the tag early
    assert '"DRAW_CANVAS": "draw-canvas"' in script


def test_one_namespace_for_the_browser_code() -> None:
    for js in SCRIPTS:
        text = js.read_text()
        assert not re.search(r"window\.drsae[A-Z]", text), f"{js.name} defines or reads a global besides window.drsae"


def test_plotted_job_reads_the_figures_revision() -> None:
    assert plotted_job({"data": [{"y": [1]}], "layout": {"uirevision": "7"}}) == "7"
    assert plotted_job({"data": [], "layout": {"uirevision": "7"}}) is None  # an empty figure plots no job
    assert plotted_job(None) is None
