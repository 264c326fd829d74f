"""Uploads in a real browser: a photo of a digit on paper (grey, off-white) is read as the digit it shows."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser

# An MNIST digit (28x28 in [0, 1]) drawn dark on a paper-coloured 160x160 PNG, off-centre and 4x larger,
# with a little paper grain, then dropped on the drawing box.
DROP_ON_PAPER = """async ([img, paper]) => {
  const c = document.createElement('canvas'); c.width = c.height = 160;
  const x = c.getContext('2d'); const d = x.createImageData(160, 160);
  let seed = 1; const grain = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 6;
  for (let y = 0; y < 160; y++) for (let k = 0; k < 160; k++) {
    const iy = Math.floor((y - 30) / 4), ik = Math.floor((k - 18) / 4);
    const v = iy >= 0 && iy < 28 && ik >= 0 && ik < 28 ? img[iy][ik] : 0;
    const o = 4 * (y * 160 + k), g = grain();
    for (let ch = 0; ch < 3; ch++) d.data[o + ch] = Math.max(0, Math.min(255, paper[ch] * (1 - 0.85 * v) + g));
    d.data[o + 3] = 255;
  }
  x.putImageData(d, 0, 0);
  const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
  const dt = new DataTransfer(); dt.items.add(new File([blob], 'paper.png', {type: 'image/png'}));
  const target = document.getElementById('draw-canvas');
  for (const type of ['dragover', 'drop'])
    target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
}"""


PAPERS = {"off-white": (230, 230, 225), "grey-190": (190, 190, 190), "grey-120": (120, 120, 120)}


def test_a_dark_digit_on_paper_is_read_as_that_digit(page: BrowserPage, live_server):
    """Each paper in turn, on one page (a page load costs seconds)."""
    model = live_server["docs_model"]
    if model == "tiny":
        pytest.skip("needs the shipped default model (models/default), which reads digits reliably")
    digits = httpx.get(f"{live_server['url']}/api/datasets/mnist/samples?indices=0,1,2", timeout=10).json()["data"]
    open_dynamics(page, f"model={model}&digit=test:3")
    for name, paper in PAPERS.items():
        for d in digits:
            page.page.evaluate("window.drsae.state.enc = null")
            page.page.evaluate(DROP_ON_PAPER, [d["image"], list(paper)])
            page.page.wait_for_function(
                "window.drsae.state.enc && document.getElementById('digit-caption').textContent === 'your PNG'",
                timeout=15_000,
            )
            assert page.page.text_content("#prediction").strip() == str(d["label"]), (d["index"], name)
            # the model saw a clean digit: no paper left around it
            border = page.page.evaluate(
                "(() => { const a = window.drsae.state.enc.input; return Math.max(...a[0], ...a[27],"
                " ...a.map(r => r[0]), ...a.map(r => r[27])); })()"
            )
            assert border < 0.05, (name, border)
    assert not page.errors, page.errors
