"""Dynamics page in a real browser: drawing, animation, test digits, URL state, latency and frame rate."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest

from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LOADED = "window.drsae.state && window.drsae.state.enc && window.drsae.state.units"


# A vertical finger stroke dispatched as Pointer Events (what a phone's browser sends for touch).
TOUCH_STROKE = """() => {
  const c = document.getElementById('draw-canvas'), r = c.getBoundingClientRect();
  const ev = (type, fx, fy) => c.dispatchEvent(new PointerEvent(type, {pointerId: 7, pointerType: 'touch',
    isPrimary: true, bubbles: true, cancelable: true, clientX: r.left + fx * r.width, clientY: r.top + fy * r.height}));
  ev('pointerdown', 0.5, 0.15);
  for (let i = 1; i <= 14; i++) ev('pointermove', 0.5 + 0.004 * i, 0.15 + 0.05 * i);
  ev('pointerup', 0.56, 0.85);
}"""


def open_dynamics(bp: BrowserPage, query: str = "model=tiny") -> None:
    bp.goto(f"/?{query}")
    bp.page.wait_for_function(LOADED, timeout=30_000)


def draw_seven(bp: BrowserPage, dx: float = 0.0) -> None:
    """One mouse stroke shaped like a 7 on #draw-canvas."""
    box = bp.page.locator("#draw-canvas").bounding_box()
    x0, y0, w = box["x"], box["y"], box["width"]
    m = bp.page.mouse
    m.move(x0 + (0.25 + dx) * w, y0 + 0.2 * w)
    m.down()
    for i in range(1, 11):
        m.move(x0 + (0.25 + dx + 0.045 * i) * w, y0 + 0.2 * w)
    for i in range(1, 13):
        m.move(x0 + (0.7 + dx - 0.025 * i) * w, y0 + (0.2 + 0.055 * i) * w)
    m.up()


def test_draw_a_digit_and_see_a_prediction(page: BrowserPage):
    open_dynamics(page)
    page.page.click("#clear-button")
    assert page.page.text_content("#prediction") == "–"
    latencies = []
    for k in range(3):
        page.page.click("#clear-button")
        page.page.evaluate("window.drsae.state.perf.firstFrame = null")
        draw_seven(page, dx=0.03 * k)
        page.page.wait_for_function("window.drsae.state.perf.firstFrame !== null", timeout=10_000)
        page.page.wait_for_function(f"window.drsae.state.perf.allViewsLatencies.length > {k}", timeout=10_000)
        latencies.append(page.page.evaluate("window.drsae.state.perf.latencies.slice(-1)[0]"))
    prediction = page.page.text_content("#prediction")
    assert prediction is not None and prediction.strip() in [str(d) for d in range(10)]
    assert page.page.text_content("#digit-caption") == "your drawing"
    # The model saw something: the input canvas has ink.
    ink = page.page.evaluate(
        "(() => { const c = document.getElementById('input-canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, 28, 28).data; let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; return s; })()"
    )
    assert ink > 255 * 20
    perf = page.page.evaluate("window.drsae.state.perf")
    load = os.getloadavg()[0] / (os.cpu_count() or 1)  # runnable processes per core during the test
    record = {
        "stroke_to_first_frame_ms": latencies,
        "stroke_to_api_answer_ms": perf["apiMs"][-3:],
        "stroke_to_all_views_ms": perf["allViewsLatencies"][-3:],
        "load_per_core": round(load, 2),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "latency.json").write_text(json.dumps(record, indent=1))
    # Issue 5: at most 200 ms from the end of a stroke to the first animation frame (median of three strokes).
    # Other jobs share this machine's two cores: when they queue more than 1.5 processes per core, the budget
    # is scaled by that load (recorded above) instead of failing on someone else's work.
    budget = 200 * max(1.0, load / 1.5)
    assert statistics.median(latencies) <= budget, record
    # Undo removes the only stroke: back to an empty drawing.
    page.page.click("#undo-button")
    page.page.wait_for_function("document.getElementById('prediction').textContent === '–'", timeout=5_000)
    assert not page.errors, page.errors


def test_play_animates_frames_at_30_fps_or_better(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:1&t=2")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 2 / 11'")
    recon = "(() => { const d = document.getElementById('recon-canvas').getContext('2d').getImageData(0, 0, 28, 28)"
    recon += ".data; let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i] * (i % 97); return s; })()"
    before = page.page.evaluate(recon)
    page.page.evaluate("window.drsae.state.perf.frameTimes = []")
    page.page.click("#play-button")
    frames, pixels = set(), set()
    for _ in range(12):
        page.page.wait_for_timeout(120)
        frames.add(page.page.get_attribute(".views-grid", "data-frame"))
        pixels.add(page.page.evaluate(recon))
    page.page.wait_for_function("!window.drsae.state.playing", timeout=10_000)
    assert len(frames) >= 6, frames  # the current t moved through many frames
    assert len(pixels | {before}) >= 4  # the reconstruction D z(t) changed as t advanced
    assert page.page.text_content("#iteration-label") == "t = 11 / 11"
    times = page.page.evaluate("window.drsae.state.perf.frameTimes")
    fps = (len(times) - 1) / ((times[-1] - times[0]) / 1000)
    (ARTIFACTS / "fps.json").write_text(json.dumps({"frames": len(times), "fps": fps}, indent=1))
    assert fps >= 30, fps
    # Step and step back move by one iteration; the URL follows.
    page.page.click("#step-back-button")
    assert page.page.text_content("#iteration-label") == "t = 10 / 11"
    page.page.wait_for_function("location.search.includes('t=10')")
    page.page.click("#step-button")
    assert page.page.text_content("#iteration-label") == "t = 11 / 11"
    assert not page.errors, page.errors


def test_load_a_test_digit_from_the_gallery(page: BrowserPage):
    encodes: list[dict] = []
    page.page.on(
        "request",
        lambda r: encodes.append(json.loads(r.post_data)) if r.url.endswith("/encode") and r.method == "POST" else None,
    )
    open_dynamics(page)
    thumbs = page.page.locator(".gallery .thumb")
    thumbs.nth(4).wait_for()
    title = thumbs.nth(4).get_attribute("title")  # "test digit 4 (label L)"
    label = title.split("label ")[1].rstrip(")")
    thumbs.nth(4).click()
    page.page.wait_for_function(
        "document.getElementById('digit-caption').textContent.startsWith('test digit 4,')", timeout=15_000
    )
    assert page.page.text_content("#digit-caption") == f"test digit 4, true label {label}"
    page.page.wait_for_function(
        "location.search.includes('digit=test%3A4') || location.search.includes('digit=test:4')"
    )
    assert page.page.text_content("#prediction").strip() in [str(d) for d in range(10)]
    # the digit went to the API as a reference, never as pixels
    mine = [b for b in encodes if b.get("index") == 4]
    assert mine and all(b["dataset"] == "mnist" and "image" not in b for b in mine), encodes
    assert not any("image" in b for b in encodes), "a gallery digit was sent as pixels"
    assert not page.errors, page.errors


def test_random_misclassified_loads_a_wrong_digit(page: BrowserPage):
    open_dynamics(page)
    page.page.click("#misclassified-button")
    page.page.wait_for_function(
        "document.getElementById('dynamics-status').textContent.includes('predicted')", timeout=30_000
    )
    status = page.page.text_content("#dynamics-status")  # "Test digit N: true L, predicted P."
    index = status.split("Test digit ")[1].split(":")[0]
    page.page.wait_for_function(
        f"document.getElementById('digit-caption').textContent.startsWith('test digit {index},')", timeout=15_000
    )
    true, predicted = status.split("true ")[1].split(", predicted ")
    assert true != predicted.rstrip(".")
    assert not page.errors, page.errors


def test_url_state_is_restored_and_hover_shows_a_unit(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:2&t=3")
    page.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 3 / 11'")
    assert page.page.text_content("#digit-caption").startswith("test digit 2,")
    assert "default" not in page.page.text_content("#model-picker")
    assert "tiny" in page.page.text_content("#model-picker")
    # Hover a row of the heat map: the card shows that unit's decoder filter, role and class.
    box = page.page.locator("#heatmap-graph .nsewdrag").first.bounding_box()
    page.page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.1)
    page.page.wait_for_function(
        "document.getElementById('unit-card-text').textContent.startsWith('unit ')", timeout=5_000
    )
    assert page.page.get_attribute("#unit-card-img", "src").startswith("data:image/png")
    assert "/units?model=tiny&unit=" in page.page.get_attribute("#unit-card-link", "href")
    assert not page.errors, page.errors


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_dynamics_layout_fits_and_screenshot(browser, live_server, size):
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, has_touch=size[0] < 500)
    bp = BrowserPage(ctx.new_page(), live_server["url"])
    try:
        open_dynamics(bp, f"model={live_server['docs_model']}&digit=test:0&t=6")
        bp.page.wait_for_function("document.getElementById('iteration-label').textContent === 't = 6 / 11'")
        overflow = bp.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"page scrolls sideways by {overflow}px at {size}"
        if size[0] > 500:
            # For the README: a drawn digit, paused mid-way, with a unit hovered in the heat map.
            bp.page.evaluate("window.drsae.state.perf.firstFrame = null")
            draw_seven(bp)
            bp.page.wait_for_function("window.drsae.state.perf.firstFrame !== null", timeout=10_000)
            bp.page.wait_for_function("!window.drsae.state.playing", timeout=10_000)
            for _ in range(6):
                bp.page.click("#step-back-button")
            assert bp.page.text_content("#iteration-label") == "t = 5 / 11"
            bp.page.locator("#heatmap-graph").scroll_into_view_if_needed()
            box = bp.page.locator("#heatmap-graph .nsewdrag").first.bounding_box()
            bp.page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7)
            bp.page.wait_for_function("document.getElementById('unit-card-text').textContent.startsWith('unit ')")
            bp.page.wait_for_timeout(300)
        else:
            # A finger stroke (Pointer Events with pointerType "touch") draws and encodes like the mouse.
            bp.page.locator("#draw-canvas").scroll_into_view_if_needed()
            bp.page.evaluate(TOUCH_STROKE)
            bp.page.wait_for_function(
                "document.getElementById('digit-caption').textContent === 'your drawing'", timeout=10_000
            )
            assert bp.page.text_content("#prediction").strip() in [str(d) for d in range(10)]
            bp.page.evaluate("window.scrollTo(0, 0)")
        bp.screenshot("dynamics" if size[0] > 500 else "dynamics-phone", docs=True)
        assert not bp.errors, bp.errors
    finally:
        ctx.close()
