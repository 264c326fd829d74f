"""Sharing a view in a real browser: a drawing travels in the URL, the URL follows the view at once, and
the JSON export of an upload carries the pixels that replay it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.test_dynamics import draw_seven, open_dynamics
from tests.browser.test_steer import DROP_PNG
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
INPUT = "window.drsae.state.enc.input"


def test_a_drawing_is_shared_by_its_url(page: BrowserPage, desktop, live_server):
    open_dynamics(page, "model=tiny&digit=test:3")
    page.page.click("#clear-button")
    draw_seven(page)
    page.page.wait_for_function("document.getElementById('digit-caption').textContent === 'your drawing'")
    # the URL follows the view while it still plays (the animation takes about 3 s)
    page.page.wait_for_function("location.search.includes('draw=')", timeout=1_000)
    assert page.page.evaluate("window.drsae.state.playing")
    page.page.wait_for_function("!window.drsae.state.playing", timeout=10_000)
    url, drawn, prediction = page.page.url, page.page.evaluate(INPUT), page.page.text_content("#prediction")
    assert "digit=" not in url and len(url) < 800, url
    other = BrowserPage(desktop.new_page(), live_server["url"])
    try:
        other.page.goto(url)
        other.page.wait_for_function("window.drsae.state.enc && window.drsae.state.units", timeout=30_000)
        caption = other.page.text_content("#digit-caption")
        assert caption.startswith("a drawing from a link"), caption
        shared = other.page.evaluate(INPUT)
        worst = max(abs(a - b) for ra, rb in zip(drawn, shared, strict=True) for a, b in zip(ra, rb, strict=True))
        assert worst <= 1 / 30 + 1e-6, worst  # 16 grey levels
        assert other.page.text_content("#prediction") == prediction
        assert not other.errors, other.errors
    finally:
        other.page.close()
    assert not page.errors, page.errors


def test_the_json_export_of_an_upload_replays_it(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0")
    page.page.evaluate(DROP_PNG)
    page.page.wait_for_function("document.getElementById('digit-caption').textContent === 'your PNG'", timeout=10_000)
    with page.page.expect_download() as dl:
        page.page.click("#export-json")
    data = json.loads(Path(dl.value.path()).read_text())
    assert data["input"] == page.page.evaluate(INPUT)
    replay = page.page.evaluate(
        "(body) => window.drsae.api.encode('tiny', body).then((r) => r.data.z)", data["replay"]
    )
    assert replay == data["z"]
    assert not page.errors, page.errors
