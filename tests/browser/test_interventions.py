"""Steering messages in a real browser: a bad unit number, iteration or clamp value is refused beside its
field, and nothing is changed behind the person's back."""

from __future__ import annotations

import pytest

from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser


def near(bp: BrowserPage, a: str, b: str) -> bool:
    """Whether element b (a message) sits within 60 px of element a (its field)."""
    ra, rb = bp.page.locator(a).bounding_box(), bp.page.locator(b).bounding_box()
    return abs((ra["y"] + ra["height"] / 2) - (rb["y"] + rb["height"] / 2)) < 60 and abs(ra["x"] - rb["x"]) < 400


def test_bad_intervention_values_are_refused_beside_their_field(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0")
    ivs = "window.drsae.state.interventions.length"
    page.page.locator("#unit-input").fill("1.5")
    page.page.wait_for_function("document.getElementById('unit-input-error').textContent.includes('whole number')")
    assert "null" not in page.page.text_content("#unit-card-text")
    assert near(page, "#unit-input", "#unit-input-error")
    page.page.locator("#unit-input").fill("3")
    page.page.wait_for_function("document.getElementById('unit-card-text').textContent.startsWith('unit 3:')")
    page.page.wait_for_function("!document.getElementById('ablate-button').disabled")
    assert page.page.text_content("#unit-input-error") == ""
    # an iteration past T is refused, not moved to T
    page.page.locator("#from-iteration").fill("50")
    page.page.click("#ablate-button")
    page.page.wait_for_function("document.getElementById('from-iteration-error').textContent.includes('1..11')")
    assert page.page.evaluate(ivs) == 0 and near(page, "#from-iteration", "#from-iteration-error")
    # a negative or half-typed clamp value is refused beside it, not under the gallery
    page.page.locator("#from-iteration").fill("2")
    for bad in ("-1", "1e"):
        page.page.locator("#clamp-value").fill(bad)
        page.page.click("#clamp-button")
        page.page.wait_for_function("document.getElementById('clamp-value-error').textContent.includes('>= 0')")
        assert page.page.evaluate(ivs) == 0 and page.page.text_content("#dynamics-status") == ""
    assert near(page, "#clamp-value", "#clamp-value-error")
    assert page.page.text_content("#from-iteration-error") == ""
    # good values: taken as they are, the messages gone
    page.page.locator("#clamp-value").fill("0.5")
    page.page.click("#clamp-button")
    page.page.wait_for_function(f"{ivs} === 1")
    assert page.page.evaluate("window.drsae.state.interventions[0]") == {
        "unit": 3, "value": 0.5, "from_iteration": 2, "to_iteration": 11
    }
    assert page.page.text_content("#clamp-value-error") == ""
    assert not page.errors, page.errors
