"""reports/curves: where each run stands and its curves, read from run and sweep folders."""

from __future__ import annotations

from report import curves
from tests.model.test_population import SWEEP


def test_curves_report_lists_every_member_of_a_sweep(tmp_path) -> None:
    from model.cli import main as cli_main

    assert cli_main([*SWEEP, "--seeds", "0,1", "--out", str(tmp_path / "sweep")]) == 0
    out = tmp_path / "reports"
    assert curves.main([str(tmp_path / "sweep"), "--out-dir", str(out), "--name", "c", "--title", "T"]) == 0
    md = (out / "c.md").read_text()
    assert md.startswith("# T") and "sweep/seed0 | finished | 3 of 3 |" in md and "sweep/seed1" in md
    html = (out / "c.html").read_text()
    assert 'src="plotly.min.js"' in html and 'sweep\\u002fseed1 categorical' in html  # plotly escapes the slash
    assert curves.main([str(tmp_path / "missing"), "--out-dir", str(out)]) == 2
    assert "structure signs" not in md
    assert curves.main([str(tmp_path / "sweep"), "--out-dir", str(out), "--name", "s", "--signs"]) == 0
    signs = (out / "s.md").read_text().split("## The six structure signs")[1]
    row = next(line for line in signs.splitlines() if line.startswith("| sweep/seed0 |"))
    # a 3-epoch toy model has too few units for the signs that rest on a group: never "met" there
    assert " of 6 |" in row and row.count("|") == 3 + 6 + 1 and "?" in row
