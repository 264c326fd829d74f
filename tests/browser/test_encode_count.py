"""How many encode requests one stroke costs, in a real browser: one for the model shown, whatever the page
shows (the unit card's drives and the prototype split, the run before the interventions); a compared model is
another model, so it costs one more, for that model."""

from __future__ import annotations

import collections

import pytest

from tests.browser.conftest import SHORT, TINY
from tests.browser.test_dynamics import draw_seven, open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
ENCODE = "/encode"


def encodes_of_one_stroke(bp: BrowserPage, dx: float) -> collections.Counter:
    """The encode POSTs, by model id, from the end of one stroke until the page is quiet again."""
    seen: collections.Counter = collections.Counter()
    pending: set = set()

    def started(r) -> None:
        if r.method == "POST" and r.url.endswith(ENCODE):
            seen[r.url.split("/api/models/")[1].removesuffix(ENCODE)] += 1
            pending.add(r)

    def done(r) -> None:
        pending.discard(r)

    bp.page.on("request", started)
    bp.page.on("requestfinished", done)
    bp.page.on("requestfailed", done)
    bp.page.evaluate("window.drsae.state.perf.firstFrame = null")
    draw_seven(bp, dx)
    bp.page.wait_for_function("window.drsae.state.perf.firstFrame !== null", timeout=10_000)
    quiet = 0
    while quiet < 5:  # 5 x 100 ms without an encode in flight or a new one started
        before = sum(seen.values())
        bp.page.wait_for_timeout(100)
        quiet = quiet + 1 if not pending and sum(seen.values()) == before else 0
    for event, fn in (("request", started), ("requestfinished", done), ("requestfailed", done)):
        bp.page.remove_listener(event, fn)
    return seen


def test_one_stroke_is_one_encode_of_the_model_shown(page: BrowserPage):
    open_dynamics(page, f"model={TINY}&digit=test:0")
    assert encodes_of_one_stroke(page, 0.0) == {TINY: 1}
    # that one answer feeds the unit card's drives and the prototype split too
    assert page.page.evaluate("window.drsae.state.enc.recurrent_drive_by_role !== null")
    assert page.page.evaluate("window.drsae.state.enc.reconstructions_by_role !== null")
    # with an intervention the same answer also carries the run without it (the dotted lines, the caption)
    page.page.evaluate("window.drsae.setInterventions([{unit: 0, value: 0, from_iteration: 1, to_iteration: 11}])")
    page.page.wait_for_function("window.drsae.state.enc.interventions.length === 1", timeout=10_000)
    assert encodes_of_one_stroke(page, 0.03) == {TINY: 1}
    page.page.wait_for_function("document.getElementById('digit-caption').textContent.includes('before the')")
    assert not page.errors, page.errors


def test_a_compared_model_costs_one_encode_of_its_own(page: BrowserPage):
    open_dynamics(page, f"model={TINY}&digit=test:0&compare={SHORT}")
    page.page.wait_for_function(f"window.drsae.state.compare && window.drsae.state.compare.model_id === '{SHORT}'",
                                timeout=15_000)
    assert encodes_of_one_stroke(page, 0.0) == {TINY: 1, SHORT: 1}
    # interventions belong to the model shown: still one request each
    page.page.evaluate("window.drsae.setInterventions([{unit: 0, value: 0, from_iteration: 1, to_iteration: 11}])")
    page.page.wait_for_function("window.drsae.state.enc.interventions.length === 1", timeout=10_000)
    assert encodes_of_one_stroke(page, 0.03) == {TINY: 1, SHORT: 1}
    assert not page.errors, page.errors
