"""Class names across datasets, in a real browser: each model's outputs are named with that model's classes,
and an input from another dataset says where it comes from."""

from __future__ import annotations

import pytest

from model import data
from tests.browser.conftest import FASHION
from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
FASHION_NAMES = data.CLASS_NAMES["fashion-mnist"]


@pytest.fixture
def fashion(live_server) -> str:
    if not data.dataset_path("fashion-mnist").exists():
        pytest.skip("Fashion-MNIST is not prepared: python -m model.data fetch fashion-mnist")
    return FASHION


def test_the_compared_model_names_its_prediction_with_its_own_classes(page: BrowserPage, fashion: str):
    open_dynamics(page, f"model=tiny&digit=test:0&compare={fashion}")
    page.page.wait_for_function("window.drsae.state.compare && window.drsae.state.compare.model_id", timeout=30_000)
    page.page.wait_for_function("document.getElementById('compare-prediction').textContent !== '–'")
    assert page.page.text_content("#compare-prediction").strip() in FASHION_NAMES
    assert page.page.text_content("#prediction").strip() in data.CLASS_NAMES["mnist"]
    assert not page.errors, page.errors


def test_a_digit_kept_across_a_switch_of_dataset_says_where_it_is_from(page: BrowserPage, fashion: str):
    open_dynamics(page, "model=tiny&digit=test:0")
    page.page.wait_for_function("document.getElementById('digit-caption').textContent.includes('true label 7')")
    page.page.click("#model-picker")
    page.page.get_by_role("option").filter(has_text="rather-long").first.click()
    page.page.wait_for_function(
        f"window.drsae.state.enc && window.drsae.state.enc.model_id === '{fashion}'", timeout=30_000
    )
    caption = page.page.text_content("#digit-caption")
    assert caption.startswith("MNIST test digit 0, true label 7") and "not from Fashion-MNIST" in caption, caption
    assert not any(name in caption for name in FASHION_NAMES), caption
    assert page.page.text_content("#prediction").strip() in FASHION_NAMES
    assert not page.errors, page.errors
