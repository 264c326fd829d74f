"""Units and evaluation pages in a real browser, and a console-error sweep over every page."""

from __future__ import annotations

import pytest

from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser


def test_units_page_galleries_scatter_and_detail(page: BrowserPage):
    model = "tiny"
    page.goto(f"/units?model={model}")
    page.page.wait_for_selector(".filter-grid .filter-img", timeout=30_000)
    groups = page.page.locator(".gallery-group h3").all_text_contents()
    assert groups and all(
        ("categorical units voting for" in g) or g.startswith(("part", "intermediate")) for g in groups
    )
    n_imgs = page.page.locator(".filter-grid .filter-img").count()
    assert n_imgs == 64
    # The scatter shows the 0.5 / 0.7 rad thresholds.
    page.page.wait_for_selector("#unit-scatter .annotation-text")
    notes = page.page.locator("#unit-scatter .annotation-text").all_text_contents()
    assert any("0.5 rad" in t for t in notes) and any("0.7 rad" in t for t in notes)
    # Click one filter: the unit's detail opens and the URL names it.
    first = page.page.locator(".filter-grid .filter-img").nth(2)
    k = first.get_attribute("data-unit")
    first.click()
    page.page.wait_for_function(
        f"document.querySelector('.unit-detail h3') && document.querySelector('.unit-detail h3').textContent === "
        f"'Unit {k}'",
        timeout=30_000,
    )
    assert f"unit={k}" in page.page.url
    page.page.wait_for_selector("#unit-hist .bars, #unit-hist .annotation-text")
    assert page.page.locator("#unit-weights .point").count() == 10  # one bar per class
    assert page.page.locator(".conn").count() >= 2  # afferent and efferent units with their filters
    page.screenshot("units-tiny")
    # Switch the galleries to encoder rows.
    src_before = page.page.locator(".filter-grid .filter-img").first.get_attribute("src")
    page.page.get_by_text("encoder rows E_i").click()
    page.page.wait_for_function(
        f"document.querySelector('.filter-grid .filter-img').getAttribute('src') !== {src_before!r}"
    )
    assert not page.errors, page.errors


def test_evaluation_cell_lists_digits_that_open_on_dynamics(page: BrowserPage):
    model = "tiny"
    page.goto(f"/evaluation?model={model}")
    page.page.wait_for_selector("#confusion-graph .hm, #confusion-graph image", timeout=60_000)
    summary = page.page.text_content("#eval-summary")
    assert "test set" in summary and "error" in summary
    # Click the off-diagonal cell with most errors.
    cell = page.page.evaluate(
        """() => {
          const gd = document.querySelector('#confusion-graph .js-plotly-plot');
          const c = gd.data[0].text; let best = null;
          for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++)
            if (i !== j && c[i][j] > 0 && (!best || c[i][j] > best.n)) best = {i, j, n: c[i][j]};
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
          const x = r.left + xa._offset + xa.d2p(String(best.j)), y = r.top + ya._offset + ya.d2p(String(best.i));
          return {...best, x, y};
        }"""
    )
    page.page.mouse.click(cell["x"], cell["y"])
    page.page.wait_for_selector("#cell-digits .thumb", timeout=30_000)
    title = page.page.text_content("#cell-digits .cell-title")
    assert title.startswith(f"{cell['n']} test digits of class {cell['i']} predicted as {cell['j']}")
    assert page.page.locator("#cell-digits .thumb").count() == min(cell["n"], 60)
    page.screenshot("evaluation-tiny")
    href = page.page.locator("#cell-digits .thumb").first.get_attribute("href")
    index = href.split("digit=test:")[1]
    page.page.locator("#cell-digits .thumb").first.click()
    page.page.wait_for_function(
        f"document.getElementById('digit-caption') && "
        f"document.getElementById('digit-caption').textContent.startsWith('test digit {index},')",
        timeout=30_000,
    )
    assert page.page.text_content("#prediction").strip() == str(cell["j"])  # it is misclassified as that cell says
    assert not page.errors, page.errors


def test_docs_screenshots_of_units_and_evaluation(page: BrowserPage, live_server):
    """The README's screenshots, with the shipped default model (part- and categorical-units separate in it)."""
    model = live_server["docs_model"]
    page.goto(f"/units?model={model}&unit=36")
    page.page.wait_for_function(
        "document.querySelector('.unit-detail h3') && document.querySelector('.unit-detail h3').textContent === "
        "'Unit 36'",
        timeout=60_000,
    )
    page.page.wait_for_selector(".unit-detail .gallery .thumb")  # digits that drive the unit
    page.page.wait_for_timeout(300)
    page.screenshot("units", docs=True)
    page.goto(f"/evaluation?model={model}")
    page.page.wait_for_selector("#confusion-graph .hm, #confusion-graph image", timeout=60_000)
    error = float(page.page.text_content("#eval-summary").split("error ")[1].rstrip("%"))
    assert 0 <= error < (5 if model == "default" else 90)
    page.screenshot("evaluation", docs=True)
    assert not page.errors, page.errors


@pytest.mark.parametrize("path", ["/", "/units", "/training", "/evaluation"])
def test_no_console_errors(page: BrowserPage, path: str):
    page.goto(path)
    page.page.wait_for_selector("#model-picker")
    page.page.wait_for_function("document.querySelector('#model-picker').textContent.includes('(')", timeout=30_000)
    if path == "/":
        page.page.wait_for_function("window.drsae.state && window.drsae.state.enc", timeout=30_000)
    page.page.wait_for_timeout(1500)  # let the page's first callbacks settle
    # The navigation keeps the chosen model.
    assert "model=" in page.page.get_attribute("#nav-units", "href")
    assert not page.errors, page.errors
