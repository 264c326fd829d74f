"""Labels that say what is there, in a real browser: the confusion matrix's diagonal promises no list, the
Seed range is written in full, and the log-scale loss axis has a title and whole tick labels."""

from __future__ import annotations

import pytest

from tests.browser.test_training import choose_preset, field, start_job
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser

CELL_CENTRE = """([i, j]) => { const g = document.querySelector('#confusion-graph .js-plotly-plot');
  const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
  return [r.left + xa._offset + xa.l2p(j), r.top + ya._offset + ya.l2p(i)]; }"""


def hover_text(bp: BrowserPage, i: int, j: int) -> str:
    x, y = bp.page.evaluate(CELL_CENTRE, [i, j])
    bp.page.mouse.move(x, y)
    label = bp.page.locator("#confusion-graph .hoverlayer .hovertext")
    label.wait_for(timeout=5_000)
    return label.text_content() or ""


def test_the_confusion_diagonal_promises_no_list(page: BrowserPage):
    page.goto("/evaluation?model=tiny")
    page.page.wait_for_function(
        "(() => { const g = document.querySelector('#confusion-graph .js-plotly-plot');"
        " return g && g.data && g.data[0] && g.data[0].type === 'heatmap'; })()",
        timeout=60_000,
    )
    page.page.locator("#confusion-graph").scroll_into_view_if_needed()
    diagonal = hover_text(page, 3, 3)
    assert "click to list" not in diagonal and "not listed" in diagonal, diagonal
    x, y = page.page.evaluate(CELL_CENTRE, [3, 3])
    page.page.mouse.click(x, y)
    page.page.wait_for_function("document.getElementById('cell-digits').textContent.includes('only misclassified')")
    assert not page.errors, page.errors


def test_training_ranges_and_the_loss_axis_read_in_full(page: BrowserPage):
    page.goto("/training?model=tiny")
    field(page, "seed").wait_for(timeout=15_000)
    hint = page.page.locator(".field", has=field(page, "seed")).locator(".hint").inner_text()
    assert "2,147,483,647" in hint and "e+" not in hint, hint
    choose_preset(page, "smoke")
    for name, value in (("hidden_units", "8"), ("iterations", "2"), ("unsupervised_epochs", "1"), ("epochs", "2")):
        field(page, name).fill(value)
    job_id = start_job(page)
    page.page.wait_for_selector(f'.job-row[data-job="{job_id}"][data-status="finished"]', timeout=120_000)
    page.page.locator(f'.job-row[data-job="{job_id}"] .job-select').click()
    page.page.wait_for_function(
        "(() => { const g = document.querySelector('#training-curves .js-plotly-plot');"
        " return g && g.data && g.data.length >= 4; })()",
        timeout=15_000,
    )
    labels = page.page.locator("#training-curves .yaxislayer-above .ytick text").all_text_contents()
    first = page.page.evaluate(
        "[...document.querySelectorAll('#training-curves .yaxislayer-above')][0].querySelectorAll('.ytick text')"
        ".length"
    )
    losses = labels[:first]
    values = [float(t.replace("\u2212", "-")) for t in losses]
    assert len(values) >= 2 and values == sorted(set(values)), losses  # whole numbers, each once
    titles = page.page.locator("#training-curves .g-ytitle, #training-curves .g-y2title").all_text_contents()
    assert "loss (log scale)" in titles, titles
    assert not page.errors, page.errors
