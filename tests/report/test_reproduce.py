"""`python -m report.reproduce` (report/reproduce.py) and the report page (report/figures.py), on tiny runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from model import checkpoint
from model.train import train
from report import reproduce as P


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One --quick run (three tiny models trained, both reports written), shared by the tests below."""
    out = tmp_path_factory.mktemp("reports")
    assert P.main(["--quick", "--out", str(out), "--device", "cpu"]) == 0
    return out


def table_rows(md: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in md.splitlines() if ln.startswith("| 784-")]


def test_quick_writes_the_table_with_the_three_paper_rows(quick: Path) -> None:
    md = (quick / "paper.md").read_text()
    rows = table_rows(md)
    assert [r[0].split(" ")[0] for r in rows] == ["784-400^11-10", "784-200^11-10", "784-200^2-10"]
    assert [r[1] for r in rows] == ["1.08%", "1.21%", "1.49%"]
    for r in rows:
        assert re.fullmatch(r"\d+\.\d\d%", r[2]) and re.fullmatch(r"\d+\.\d\d%", r[3])  # ours: test, val
        assert r[5].endswith("s")  # wall time
        assert r[6].startswith("cpu") and r[7] == "0"  # device, seed
        assert "faithful: sgd Nesterov momentum 0.9" in r[8] and "E bound" in r[8]  # recipe
    assert "ours 784-32^11-10" in rows[0][0] and "ours 784-16^2-10" in rows[2][0]
    assert "E bound 0.3125" in rows[2][8] and "1.25/2/2" in rows[2][8]
    assert "QUICK MODE" in md
    assert "Command: python -m report.reproduce --quick" in md
    assert "torch 2." in md and "device cpu" in md  # the machine it came from
    assert "‖C_i‖" in md and "| verdict |" in md  # the claims table


def test_quick_runs_are_finished_run_folders(quick: Path) -> None:
    for run in P.PAPER_RUNS:
        run_dir = quick / "quick-runs" / run.name
        cfg = checkpoint.read_config(run_dir)
        assert cfg["status"] == "finished"
        assert cfg["model"]["T"] == run.T
        assert cfg["model"]["n_hidden"] == round(run.hidden / P.QUICK_HIDDEN_DIVISOR)
        assert (run_dir / P.MACHINE_FILE).exists()
    assert checkpoint.read_config(quick / "quick-runs" / "h200_t2")["model"]["e_bound"] == pytest.approx(0.3125)


def test_quick_html_opens_offline_with_every_figure(quick: Path) -> None:
    page = (quick / "paper.html").read_text()
    assert page.count("<figure id='figure-") == 9
    for name in (
        "Dictionary",
        "Unit roles",
        "Connection blocks",
        "S - I against D^T D",
        "Afferent-weighted angle",
        "Activity over time",
        "Optimal decoders over time",
        "Progressive reconstruction",
        "Class-specific units",
    ):
        assert f". {name}</h3>" in page
    assert page.count("Plotly.newPlot") == 9
    # plotly.js sits once beside the page and is its only script source: nothing is fetched from a network
    assert re.findall(r"<script[^>]*\bsrc='([^']*)'", page) == ["plotly.min.js"]
    assert len(re.findall(r"plotly\.js v\d", (quick / "plotly.min.js").read_text())) == 1
    assert "plotly.js v" not in page
    assert "1.08%" in page and "The paper's claims against the measured numbers" in page


def test_reuse_only_reuses_finished_runs_without_training(quick: Path, tmp_path: Path) -> None:
    weights = quick / "quick-runs" / "h400_t11" / checkpoint.WEIGHTS
    before = weights.stat().st_mtime_ns
    rc = P.main(["--quick", "--reuse-only", "--runs-dir", str(quick / "quick-runs"), "--out", str(tmp_path)])
    assert rc == 0
    assert weights.stat().st_mtime_ns == before
    assert len(table_rows((tmp_path / "paper.md").read_text())) == 3
    assert "--reuse-only" in (tmp_path / "paper.md").read_text()


def test_reuse_only_without_runs_reports_them_missing(tmp_path: Path) -> None:
    rc = P.main(["--reuse-only", "--runs-dir", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert rc == 1
    md = (tmp_path / "paper.md").read_text()
    rows = table_rows(md)
    assert len(rows) == 3 and all(r[2] == "not run" for r in rows)
    assert not (tmp_path / "none").exists()  # nothing trained
    assert "No analyses" in (tmp_path / "paper.html").read_text()


def test_a_folder_with_another_architecture_is_refused(quick: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "h200_t11").symlink_to(quick / "quick-runs" / "h400_t11")  # 32 units where 16 are expected
    rc = P.main(["--quick", "--reuse-only", "--runs-dir", str(runs), "--out", str(tmp_path)])
    assert rc == 2


def test_unfinished_run_is_not_reused(tmp_path: Path) -> None:
    run_dir = tmp_path / "h200_t2"
    cfg = P.run_config(P.PAPER_RUNS[2], "smoke", quick=True, epochs=None, device="cpu", seed=0)
    train(cfg, run_dir, progress_bar=False)
    assert P.is_finished(run_dir)
    data = checkpoint.read_config(run_dir)
    data["status"] = "interrupted"
    checkpoint.atomic_write_json(run_dir / checkpoint.CONFIG, data)
    assert not P.is_finished(run_dir)
    assert P.ensure_run(P.PAPER_RUNS[2], cfg, run_dir, reuse_only=True) == "missing"


def test_run_configs_follow_the_paper() -> None:
    cfgs = {r.name: P.run_config(r, "adam", quick=False, epochs=None, device="cpu", seed=3) for r in P.PAPER_RUNS}
    assert (cfgs["h400_t11"].hidden, cfgs["h400_t11"].T, cfgs["h400_t11"].e_bound) == (400, 11, None)
    assert (cfgs["h200_t11"].hidden, cfgs["h200_t11"].T) == (200, 11)
    assert (cfgs["h200_t2"].hidden, cfgs["h200_t2"].T) == (200, 2)
    assert cfgs["h200_t2"].e_bound == pytest.approx(1.25 / 4)
    assert all(c.preset == "adam" and c.seed == 3 and c.train_limit is None for c in cfgs.values())
    assert P.run_config(P.PAPER_RUNS[0], "paper", quick=False, epochs=7, device="cpu", seed=0).epochs == 7
    assert [r.paper_error for r in P.PAPER_RUNS] == [1.08, 1.21, 1.49]


def test_describe_recipe_names_preset_and_key_hyperparameters() -> None:
    cfg = P.run_config(P.PAPER_RUNS[0], "paper", quick=False, epochs=None, device="cpu", seed=0)
    text = P.describe_recipe(cfg.to_dict(), {"T": 11, "e_bound": None})
    assert text.startswith("paper: sgd lr 0.005 (paper)")
    assert "batch 10" in text and "100 unsup + 1000 sup epochs" in text and "1.25/(T-1) = 0.125" in text


def test_mosaic_scales_each_tile() -> None:
    from model.report import mosaic

    tiles = np.stack([np.full((1, 784), 2.0), np.full((1, 784), -0.5)], axis=1)  # (1, 2, 784)
    m = mosaic(tiles)
    assert m.shape == (28, 57)
    assert np.isnan(m[:, 28]).all()
    assert np.allclose(m[:, :28], 1.0) and np.allclose(m[:, 29:], -1.0)


def test_compute_analyses_falls_back_to_relative_roles_when_one_role_is_empty() -> None:
    import torch

    from model import report as R
    from model.data import Split
    from model.drsae import DrSAE
    from report import figures as F

    gen = torch.Generator().manual_seed(0)
    model = DrSAE(784, 12, 10, 3)
    model.reset_parameters(templates=torch.rand(30, 784, generator=gen), generator=gen)  # ISTA: all part-units
    x = torch.rand(60, 784, generator=gen)
    split = Split(x / x.norm(dim=1, keepdim=True), torch.arange(60) % 10)
    an = R.compute_analyses(model, split, n_dynamics=60, n_decoders=60)
    assert set(an["units"]["paper_role"]) == {"part"}
    assert list(np.unique(an["units"]["role"], return_counts=True)[1]) == [4, 4, 4]  # terciles
    assert an["role_basis_short"].startswith("relative")
    paper = R.compute_analyses(model, split, n_dynamics=60, n_decoders=60, roles_mode="paper")
    assert set(paper["units"]["role"]) == {"part"} and paper["role_basis_short"] == "paper thresholds"
    items = R.claims(an)
    assert len(items) == 9 and items[0].verdict == "not enough units"  # no categorical-unit at 0.7 rad
    assert all(c.verdict == "not enough units" for c in items)  # every claim rests on both groups
    assert "12 part, 0 in-between, 0 categorical" in items[0].measured
    assert len(F.figures(an)) == 9
