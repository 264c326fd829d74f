"""Feedback in a real browser: the page says what it waits for (a model, an encode), and shows the keyboard
shortcuts it has, which do what they say."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SHORT
from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
BUSY = "document.getElementById('dynamics-busy').textContent"


def test_a_slow_encode_and_a_model_switch_show_a_loading_state(page: BrowserPage, desktop):
    open_dynamics(page, "model=tiny&digit=test:0")
    page.page.wait_for_function(f"{BUSY} === ''")
    cdp = desktop.new_cdp_session(page.page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 1200, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        page.page.locator(".thumb").nth(2).click()
        page.page.wait_for_function(f"{BUSY} === 'Encoding…'", timeout=5_000)
        assert page.page.get_attribute(".col-views", "aria-busy") == "true"
        page.page.wait_for_function(f"{BUSY} === ''", timeout=20_000)
        assert page.page.text_content("#digit-caption").startswith("test digit")
        page.page.click("#model-picker")
        page.page.get_by_role("option").filter(has_text=SHORT).first.click()
        page.page.wait_for_function(f"{BUSY} === 'Loading model {SHORT}…'", timeout=5_000)
        page.page.wait_for_function(
            f"{BUSY} === '' && window.drsae.state.enc.model_id === '{SHORT}'", timeout=30_000
        )
        assert page.page.get_attribute(".col-views", "aria-busy") == "false"
    finally:
        cdp.send("Network.emulateNetworkConditions",
                 {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        cdp.detach()
    assert not page.errors, page.errors


def test_the_keyboard_shortcuts_are_shown_and_work(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0&t=5")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 5 / 11'")
    hint = page.page.locator("#keys-hint")
    assert hint.is_visible()
    assert [k.strip() for k in hint.locator("kbd").all_text_contents()] == ["Space", "←", "→"]
    page.page.locator("body").click(position={"x": 5, "y": 300})  # focus the page, not a field
    page.page.keyboard.press("ArrowRight")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 6 / 11'")
    page.page.keyboard.press("ArrowLeft")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 5 / 11'")
    page.page.keyboard.press("Space")
    page.page.wait_for_function("window.drsae.state.playing", timeout=3_000)
    assert not page.errors, page.errors
