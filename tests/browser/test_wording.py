"""Text that follows the model in a real browser: its own T in the intro, and the prototype sentence only
for a model that shows the paper's structure."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SHORT
from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser
PROTOTYPES = "the right class's prototypes grow"


def test_the_intro_and_the_curves_help_follow_the_model(page: BrowserPage, live_server):
    open_dynamics(page, f"model={SHORT}&digit=test:0")
    page.page.wait_for_function("document.getElementById('intro-iterations').textContent.includes('T = 5')")
    intro = page.page.text_content("#intro")
    assert "T = 11 times" not in intro and "T = 5" in intro, intro
    help_text = page.page.text_content("#curves-help")
    assert PROTOTYPES not in help_text and "not measured" in help_text, help_text
    if live_server["docs_model"] != "tiny":  # the shipped default shows the paper's structure
        open_dynamics(page, f"model={live_server['docs_model']}&digit=test:0")
        page.page.wait_for_function(f"document.getElementById('curves-help').textContent.includes(\"{PROTOTYPES}\")")
        assert "T = 11" in page.page.text_content("#intro-iterations")
    assert not page.errors, page.errors
