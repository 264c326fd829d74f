"""Figure exports in a real browser: a file that stands on its own on any slide."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser


def choose_figure(bp: BrowserPage, label: str) -> None:
    bp.page.click("#export-figure")
    bp.page.get_by_role("option").filter(has_text=label).first.click()


def test_an_exported_figure_is_opaque_titled_and_keeps_its_colour_scale(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0&t=4")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 4 / 11'")
    choose_figure(page, "units x iterations")
    with page.page.expect_download() as dl:
        page.page.click("#export-png")
    img = Image.open(io.BytesIO(Path(dl.value.path()).read_bytes())).convert("RGBA")
    assert img.getpixel((1, 1)) == (255, 255, 255, 255)  # not transparent: labels stay readable on a dark slide
    with page.page.expect_download() as dl:
        page.page.click("#export-svg")
    svg = Path(dl.value.path()).read_text()
    assert ' colorbar"' in svg and "activity z" in svg  # Plotly's colour bar, with its title
    assert "model tiny" in svg and "test digit 0, true label 7" in svg and "t = 4" in svg
    assert "units x iterations" in svg
    assert not page.errors, page.errors
