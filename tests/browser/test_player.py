"""The player in a real browser: Play, the steps and the iteration slider stay in reach while the views
scroll by (1400x900), and on a phone the prediction is in view beside the drawing box."""

from __future__ import annotations

import pytest

from tests.browser.test_dynamics import LOADED
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser

REACHABLE = """(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const top = document.elementFromPoint(x, y);
  return r.top >= 0 && r.bottom <= window.innerHeight && r.width > 0 && !!top && (el === top || el.contains(top)); }"""


def open_page(browser, live_server, size: tuple[int, int]) -> tuple[object, BrowserPage]:
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, has_touch=size[0] < 500)
    bp = BrowserPage(ctx.new_page(), live_server["url"])
    bp.goto("/?model=tiny&digit=test:0")
    bp.page.wait_for_function(LOADED, timeout=30_000)
    return ctx, bp


def test_the_player_stays_in_reach_while_the_views_scroll(browser, live_server):
    ctx, bp = open_page(browser, live_server, (1400, 900))
    try:
        bp.page.wait_for_function("!window.drsae.state.playing", timeout=10_000)
        for below in ("#drive-graph", "#export-json"):
            bp.page.locator(below).scroll_into_view_if_needed()
            bp.page.wait_for_timeout(200)
            for control in ("#play-button", "#step-button", "#step-back-button", "#iteration-slider"):
                assert bp.page.evaluate(REACHABLE, control), (control, below)
        bp.page.click("#step-back-button")
        assert bp.page.text_content("#iteration-label") == "t = 10 / 11"
        assert not bp.errors, bp.errors
    finally:
        ctx.close()


def test_on_a_phone_the_prediction_is_in_view_beside_the_drawing_box(browser, live_server):
    ctx, bp = open_page(browser, live_server, (390, 844))
    try:
        bp.page.wait_for_function("document.getElementById('prediction').textContent.trim() !== '–'")
        bp.page.evaluate("window.scrollTo(0, 0)")
        assert bp.page.evaluate(REACHABLE, "#player-prediction")
        assert bp.page.text_content("#player-prediction") == bp.page.text_content("#prediction")
        assert bp.page.evaluate(REACHABLE, "#play-button")
        assert not bp.errors, bp.errors
    finally:
        ctx.close()
