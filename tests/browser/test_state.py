"""The browser's one state object (static/0-state.js): its fields are declared once, a misspelt one is an
error rather than a second copy, and a reader is told of each change of the field it follows."""

from __future__ import annotations

import pytest

from tests.browser.test_dynamics import open_dynamics
from tests.helpers import BrowserPage

pytestmark = pytest.mark.browser


def test_the_state_has_named_fields_and_tells_its_readers(page: BrowserPage):
    open_dynamics(page, "model=tiny&digit=test:0")
    out = page.page.evaluate("""(() => {
      "use strict"; // as static/*.js are: a write to an undeclared field throws
      const S = window.drsae.state, seen = [];
      let refused = false;
      try { S.compareID = "x"; } catch (e) { refused = e instanceof TypeError; }
      S.on({ ablateClass: (v, old) => seen.push([v, old]) });
      const was = S.ablateClass;
      S.ablateClass = "3"; S.ablateClass = "3"; S.ablateClass = was;
      let unknown = false;
      try { S.on({ nope: () => {} }); } catch (e) { unknown = true; }
      return { refused, added: "compareID" in S, seen, was, unknown };
    })()""")
    assert out["refused"] and not out["added"]
    assert out["seen"] == [["3", out["was"]], [out["was"], "3"]]  # once per change, not per write
    assert out["unknown"]
    assert not page.errors, page.errors
