"""The Dynamics page as an instrument, in a real browser: steer units and compare with the original, what
drives a unit, the prototype + deformation split, the decision iteration, a second model, PNG upload,
exports; and the first-visit fixes (playback speed, class names, header width, labels, keyboard)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import FASHION
from tests.browser.test_dynamics import LOADED, open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
DETAIL = LOADED + " && window.drsae.state.enc.recurrent_drive_by_role"


def most_active_unit(bp: BrowserPage) -> int:
    return bp.page.evaluate("(() => { const z = window.drsae.state.enc.z.at(-1); return z.indexOf(Math.max(...z)) })()")


def choose_unit(bp: BrowserPage, k: int) -> None:
    """Type the unit's number into the card (the keyboard path)."""
    bp.page.locator("#unit-input").fill(str(k))
    bp.page.wait_for_function(f"document.getElementById('unit-card-text').textContent.startsWith('unit {k}:')")
    bp.page.wait_for_function("!document.getElementById('ablate-button').disabled")


def test_loading_a_digit_while_playing_keeps_the_speed(page: BrowserPage):
    """Regression: a second playback loop started without the first being stopped doubled the speed."""
    open_dynamics(page, "model=tiny&digit=test:0")
    page.page.locator(".thumb").nth(3).wait_for()
    # the first digit's own playback has ended: the Play click below then restarts from t = 1
    page.page.wait_for_function("!window.drsae.state.playing", timeout=15_000)
    timings = []
    for _ in range(2):
        page.page.click("#play-button")  # restart from t = 1 (or pause, then play again)
        if not page.page.evaluate("window.drsae.state.playing"):
            page.page.click("#play-button")
        page.page.wait_for_timeout(300)
        page.page.locator(".thumb").nth(3).click()  # a new digit arrives while playing
        page.page.wait_for_function("window.drsae.state.source.index === 3 && window.drsae.state.playing")
        start = time.monotonic()
        page.page.wait_for_function("!window.drsae.state.playing", timeout=15_000)
        timings.append(time.monotonic() - start)
        page.page.locator(".thumb").nth(0).click()
        page.page.wait_for_function(
            "window.drsae.state.source.index === 0 && !window.drsae.state.playing", timeout=15_000
        )
    # 10 iterations at 4 per second: 2.5 s (twice the speed would be 1.25 s)
    assert min(timings) > 2.0, timings
    assert not page.errors, page.errors


def test_ablate_a_unit_against_the_original_with_the_interventions_in_the_url(page: BrowserPage, live_server):
    model = live_server["docs_model"]
    open_dynamics(page, f"model={model}&digit=test:0")
    page.page.wait_for_function(DETAIL)
    k = most_active_unit(page)
    choose_unit(page, k)
    before = page.page.evaluate("window.drsae.state.enc.probabilities.at(-1)")
    page.page.click("#ablate-button")
    page.page.wait_for_function("window.drsae.state.enc.interventions.length === 1", timeout=10_000)
    page.page.wait_for_function(f"document.getElementById('interventions').textContent.includes('unit {k} ablated')")
    assert f"iv={k}%3A0%3A1-11" in page.page.url
    after = page.page.evaluate("window.drsae.state.enc")
    assert all(row[k] == 0 for row in after["z"])  # the unit is off at every iteration
    assert after["probabilities"][-1] != before
    # the original run is drawn dotted beside the steered one
    page.page.wait_for_function(
        "document.querySelector('#probs-graph .js-plotly-plot').data.slice(10).some(t => t.y.some(v => v !== null))"
    )
    assert "before the interventions" in page.page.text_content("#digit-caption")
    page.screenshot("steer-ablate")
    # the URL brings the same view back
    page.goto(page.page.url.replace(page.base, ""))
    page.page.wait_for_function(LOADED + " && window.drsae.state.enc.interventions.length === 1", timeout=30_000)
    assert f"unit {k} ablated" in page.page.text_content("#interventions")
    page.page.click(".remove-intervention")
    page.page.wait_for_function("window.drsae.state.enc.interventions.length === 0", timeout=10_000)
    assert "iv=" not in page.page.url
    assert not page.errors, page.errors


def test_clamp_and_ablate_a_whole_class(page: BrowserPage, live_server):
    open_dynamics(page, f"model={live_server['docs_model']}&digit=test:0")
    choose_unit(page, 5)
    page.page.locator("#clamp-value").fill("0.8")
    page.page.locator("#from-iteration").fill("4")
    page.page.click("#clamp-button")
    page.page.wait_for_function("window.drsae.state.enc.interventions.length === 1", timeout=10_000)
    z = page.page.evaluate("window.drsae.state.enc.z.map(r => r[5])")
    assert z[3:] == pytest.approx([0.8] * 8)
    page.page.click("#clear-interventions")
    page.page.wait_for_function("window.drsae.state.enc.interventions.length === 0", timeout=10_000)
    n7 = page.page.evaluate(
        "Object.values(window.drsae.state.units.units).filter(u => u.role === 'categorical' && u.class === 7).length"
    )
    page.page.locator("#ablate-class").click()
    page.page.get_by_role("option", name="7", exact=True).click()
    page.page.click("#ablate-class-button")
    if n7:
        page.page.wait_for_function(f"window.drsae.state.enc.interventions.length === {n7}", timeout=10_000)
        assert page.page.locator(".intervention").count() == n7
    else:
        page.page.wait_for_function("document.getElementById('dynamics-status').textContent.includes('no categorical')")
    assert not page.errors, page.errors


def test_unit_card_shows_what_drives_the_unit(page: BrowserPage, live_server):
    open_dynamics(page, f"model={live_server['docs_model']}&digit=test:0")
    page.page.wait_for_function(DETAIL)
    k = most_active_unit(page)
    choose_unit(page, k)
    page.page.wait_for_function("document.querySelector('#drive-graph .js-plotly-plot').data.length === 6")
    names = page.page.evaluate("document.querySelector('#drive-graph .js-plotly-plot').data.map(t => t.name)")
    assert names == ["input E x - b", "from part-units", "from intermediate-units", "from categorical-units",
                     "self-connection", "z(t) = relu(sum)"]
    # the pieces add up: z(t) = relu(input + all recurrent pieces)
    err = page.page.evaluate(
        """(() => { const d = document.querySelector('#drive-graph .js-plotly-plot').data; let worst = 0;
        for (let t = 0; t < d[0].y.length; t++) { let s = 0; for (let i = 0; i < 5; i++) s += d[i].y[t];
          worst = Math.max(worst, Math.abs(Math.max(0, s) - d[5].y[t])); } return worst; })()"""
    )
    assert err < 1e-4
    page.screenshot("steer-unit-card")
    assert not page.errors, page.errors


def test_prototype_and_deformation_split_and_the_decision_iteration(page: BrowserPage, live_server):
    open_dynamics(page, f"model={live_server['docs_model']}&digit=test:0&t=11")
    page.page.wait_for_function(DETAIL)
    ink = page.page.evaluate(
        """(() => { const out = {}; for (const r of ['categorical', 'intermediate', 'part']) {
          const c = document.getElementById('recon-' + r), d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
          let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; out[r] = s; } return out; })()"""
    )
    active = page.page.evaluate(
        "(() => { const s = window.drsae.state, z = s.enc.z.at(-1);"
        " return Object.values(s.units.units).filter(u => z[u.index] > 1e-3).map(u => u.role); })()"
    )
    assert "categorical" in active
    for role, total in ink.items():
        if role in active:
            assert total > 0, f"the {role} part of the reconstruction is blank"
    mark = page.page.locator("#probs-graph-decision")
    assert mark.is_visible()
    d = page.page.evaluate("window.drsae.state.enc.decision_iteration")
    assert mark.text_content() == f"decided at t = {d}"
    assert not page.errors, page.errors


def test_compare_two_models_on_one_iteration_control(page: BrowserPage, live_server):
    other = live_server["docs_model"] if live_server["docs_model"] != "tiny" else FASHION
    open_dynamics(page, f"model=tiny&digit=test:0&t=4&compare={other}")
    page.page.wait_for_function("window.drsae.state.compare !== null && window.drsae.state.compare !== undefined",
                                timeout=30_000)
    assert page.page.text_content("#compare-prediction").strip() not in ("", "–")
    graph = "document.querySelector('#compare-probs-graph .js-plotly-plot')"
    page.page.wait_for_function(f"{graph}.data.length === 10")
    assert "decided at t =" in page.page.evaluate(f"{graph}.layout.title.text")
    page.page.click("#step-button")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 5 / 11'")
    assert page.page.locator("#compare-probs-graph-cursor").is_visible()
    assert f"compare={other}" in page.page.url
    page.page.locator("#compare-panel").scroll_into_view_if_needed()
    page.screenshot("compare", full_page=False)
    assert not page.errors, page.errors


def compare_value(bp: BrowserPage) -> str:
    """What the compare dropdown shows: the chosen model's label, or its placeholder."""
    return bp.page.text_content("#compare-picker .dash-dropdown-value") or ""


def test_a_shared_compare_url_shows_the_compared_model_in_its_picker(page: BrowserPage, live_server):
    other = live_server["docs_model"] if live_server["docs_model"] != "tiny" else FASHION
    name = next(m["name"] or m["id"] for m in httpx.get(live_server["url"] + "/api/models").json()["data"]
                if m["id"] == other)
    open_dynamics(page, f"model=tiny&digit=test:0&compare={other}")
    page.page.wait_for_function(f"window.drsae.state.compare && window.drsae.state.compare.model_id === '{other}'",
                                timeout=30_000)
    page.page.wait_for_function(
        f"document.querySelector('#compare-picker .dash-dropdown-value').textContent.includes({json.dumps(name)})",
        timeout=10_000,
    )
    page.page.wait_for_timeout(1000)  # the model list settles; the choice must stay
    assert name in compare_value(page) and "pick a model" not in compare_value(page)
    # the compared run is shown as after picking the model by hand
    graph = "document.querySelector('#compare-probs-graph .js-plotly-plot')"
    page.page.wait_for_function(f"{graph}.data.length === 10")
    assert page.page.evaluate(f"{graph}.layout.title.text").startswith(f"{other}: decided at t =")
    assert page.page.text_content("#compare-prediction").strip() not in ("", "–")
    assert f"compare={other}" in page.page.url
    # clearing the picker stops the comparison and drops it from the URL
    page.page.click("#compare-picker .dash-dropdown-clear")
    page.page.wait_for_function("!window.drsae.state.compare && !location.search.includes('compare=')")
    assert page.page.text_content("#compare-prediction") == "–"
    assert not page.errors, page.errors


def test_an_unknown_compare_id_in_the_url_selects_nothing(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0&compare=no-such-model")
    page.page.wait_for_function("document.getElementById('prediction').textContent.trim() !== '–'", timeout=15_000)
    page.page.wait_for_function("!location.search.includes('compare=')", timeout=10_000)
    assert "no-such-model" in compare_value(page)  # the notice says which model was not found
    assert page.page.evaluate("window.drsae.state.compareId") == ""
    assert page.page.text_content("#compare-prediction") == "–"
    assert page.page.text_content("#dynamics-status") == ""
    assert not page.errors, page.errors


DROP_PNG = """async () => {
  const c = document.createElement('canvas'); c.width = c.height = 56;
  const x = c.getContext('2d'); x.fillStyle = '#000'; x.fillRect(0, 0, 56, 56);
  x.strokeStyle = '#fff'; x.lineWidth = 6; x.beginPath(); x.moveTo(28, 8); x.lineTo(28, 48); x.stroke();
  const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
  const dt = new DataTransfer(); dt.items.add(new File([blob], 'one.png', {type: 'image/png'}));
  const target = document.getElementById('draw-canvas');
  for (const type of ['dragover', 'drop'])
    target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
}"""


def test_drop_a_png_on_the_drawing_box(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0")
    page.page.evaluate(DROP_PNG)
    page.page.wait_for_function("document.getElementById('digit-caption').textContent === 'your PNG'", timeout=10_000)
    assert page.page.text_content("#prediction").strip() in [str(d) for d in range(10)]
    assert page.page.evaluate("window.drsae.state.enc.input.flat().some(v => v > 0.5)")
    assert not page.errors, page.errors


def test_export_data_and_figures(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0")
    with page.page.expect_download() as dl:
        page.page.click("#export-json")
    data = json.loads(Path(dl.value.path()).read_text())
    assert data["model_id"] == "tiny" and len(data["z"]) == 11 and len(data["probabilities"][0]) == 10
    assert data["interventions"] == [] and 1 <= data["decision_iteration"] <= 11
    with page.page.expect_download() as dl:
        page.page.click("#export-csv")
    lines = Path(dl.value.path()).read_text().splitlines()
    assert lines[1].startswith("t,p_0,") and len(lines) == 2 + 11
    with page.page.expect_download() as dl:
        page.page.click("#export-svg")
    assert dl.value.suggested_filename.endswith(".svg")
    assert "<svg" in Path(dl.value.path()).read_text()[:2000]
    with page.page.expect_download() as dl:
        page.page.click("#export-png")
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not page.errors, page.errors


def test_fashion_mnist_is_shown_with_its_class_names(browser, live_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    bp = BrowserPage(ctx.new_page(), live_server["url"])
    try:
        open_dynamics(bp, f"model={FASHION}&digit=test:0")
        bp.page.wait_for_function("document.getElementById('draw-title').textContent === 'Draw an item'")
        assert bp.page.text_content("#gallery-title") == "Test items"
        caption = bp.page.text_content("#digit-caption")
        assert caption.startswith("test item 0, true label ") and caption.split("true label ")[1] == "Ankle boot"
        legend = bp.page.evaluate(
            "document.querySelector('#probs-graph .js-plotly-plot').data.slice(0, 10).map(t => t.name)"
        )
        assert legend[0] == "T-shirt/top" and legend[9] == "Ankle boot"
        names = bp.page.evaluate("window.drsae.state.units.class_names")
        assert bp.page.text_content("#prediction").strip() in names
        pred, box = (
            bp.page.locator("#prediction").bounding_box(),
            bp.page.locator(".prediction-box:has(#prediction)").bounding_box(),
        )
        assert pred["x"] + pred["width"] <= box["x"] + box["width"] + 1  # a long class name fits its box
        # the header holds a long model name at 1400 px without pushing the page sideways
        assert bp.page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
        header = bp.page.locator(".topbar").bounding_box()
        assert header["height"] < 120 and header["width"] <= 1400
        assert bp.page.evaluate(
            "(() => { const h = document.querySelector('.topbar'); return h.scrollWidth <= h.clientWidth })()"
        )
        bp.screenshot("fashion-dynamics", full_page=False)
        assert not bp.errors, bp.errors
    finally:
        ctx.close()


def test_heatmap_labels_are_not_clipped_and_the_scale_can_be_fixed(page: BrowserPage, live_server):
    open_dynamics(page, f"model={live_server['docs_model']}&digit=test:0")
    lefts = page.page.evaluate(
        """(() => { const g = document.getElementById('heatmap-graph').getBoundingClientRect();
        return [...document.querySelectorAll('#heatmap-graph .annotation-text')].map(a =>
          [a.textContent, a.getBoundingClientRect().left - g.left]); })()"""
    )
    assert lefts and all(left >= 0 for _, left in lefts), lefts
    page.page.locator("#fixed-scale-max").fill("2")
    page.page.locator("#fixed-scale input[type=checkbox]").check()
    page.page.wait_for_function("document.getElementById('heatmap-zmax').textContent === '2.0'", timeout=10_000)
    assert page.page.evaluate("document.querySelector('#heatmap-graph .js-plotly-plot').data[0].zmax") == 2
    assert not page.errors, page.errors


def test_first_visit_intro_labels_and_status(page: BrowserPage, live_server):
    open_dynamics(page, "model=tiny&digit=test:0")
    intro = page.page.locator("#intro")
    assert intro.is_visible() and "discriminative recurrent sparse auto-encoder" in intro.text_content()
    assert page.page.get_attribute("#intro a", "href") == "https://arxiv.org/abs/1301.3775"
    assert "no part/categorical split" in page.page.text_content("#model-info")  # an untrained-ish model
    assert page.page.get_attribute("#draw-canvas", "aria-label").startswith("Drawing area")
    for graph in ("heatmap-graph", "curves-graph", "probs-graph"):
        assert page.page.locator(f".graph-wrap:has(#{graph})").get_attribute("aria-label")
    # "random misclassified" names the digit and the line stays while it loads and plays
    page.page.click("#misclassified-button")
    page.page.wait_for_function(
        "document.getElementById('dynamics-status').textContent.startsWith('Test digit')", timeout=60_000
    )
    text = page.page.text_content("#dynamics-status")
    index = int(text.split()[2].rstrip(":"))
    page.page.wait_for_function(
        f"window.drsae.state.enc && window.drsae.state.source.index === {index}", timeout=15_000
    )
    page.page.wait_for_timeout(1000)
    assert page.page.text_content("#dynamics-status") == text
    assert not page.errors, page.errors


def intro_shown(bp: BrowserPage) -> bool:
    """Whether the intro's text shows, once the page has loaded and had time to restore the visitor's choice;
    its summary line stays as the way to open it again."""
    bp.page.wait_for_function(LOADED + " && document.getElementById('intro')", timeout=30_000)
    bp.page.wait_for_timeout(500)
    assert bp.page.locator("#intro summary").is_visible()
    shown = bp.page.locator("#intro p").first.is_visible()
    assert shown == bp.page.evaluate("document.getElementById('intro').open")
    return shown


def test_a_closed_intro_stays_closed_after_a_reload(browser, live_server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # its own localStorage
    bp = BrowserPage(ctx.new_page(), live_server["url"])
    try:
        bp.goto("/?model=tiny&digit=test:0")
        assert intro_shown(bp)  # a first visit
        bp.page.click("#intro summary")
        bp.page.wait_for_function("!document.getElementById('intro').open", timeout=5_000)
        bp.page.reload()
        assert not intro_shown(bp)
        bp.goto("/units?model=tiny")  # and when coming back from another page
        bp.page.click("#nav-dynamics")
        assert not intro_shown(bp)
        bp.page.click("#intro summary")  # showing it again is remembered too
        bp.page.wait_for_function("document.getElementById('intro').open", timeout=5_000)
        bp.page.reload()
        assert intro_shown(bp)
        assert not bp.errors, bp.errors
    finally:
        ctx.close()


def test_back_to_evaluation_keeps_the_selected_cell(page: BrowserPage):
    page.goto("/evaluation?model=tiny")
    graph = page.page.locator("#confusion-graph .js-plotly-plot")
    graph.wait_for(timeout=60_000)
    page.page.wait_for_function("document.getElementById('eval-summary').textContent.includes('misclassified')",
                                timeout=60_000)
    cell = page.page.evaluate(
        """(() => { const g = document.querySelector('#confusion-graph .js-plotly-plot'), c = g.data[0].text;
        for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) if (i !== j && c[i][j] > 0) return [i, j]; })()"""
    )
    page.goto(f"/evaluation?model=tiny&cell={cell[0]}-{cell[1]}")
    page.page.wait_for_selector("#cell-digits .thumb", timeout=60_000)
    title = page.page.text_content("#cell-digits .cell-title")
    page.page.locator("#cell-digits .thumb").first.click()
    page.page.wait_for_function(LOADED, timeout=30_000)
    page.page.go_back()
    page.page.wait_for_selector("#cell-digits .thumb", timeout=60_000)
    assert page.page.text_content("#cell-digits .cell-title") == title
    assert f"cell={cell[0]}-{cell[1]}" in page.page.url
    assert not page.errors, page.errors
