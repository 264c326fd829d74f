"""The batch-size and step-parts benches at smoke size: their figure files and their checks on input."""

from __future__ import annotations

import json

import pytest

from bench import batch_size, step_parts


def test_batch_size_bench_keeps_the_warmup_in_images_and_judges_on_validation(tmp_path) -> None:
    out = tmp_path / "batch.json"
    argv = ["--hidden", "16", "--unsup-epochs", "1", "--epochs", "1", "--train-limit", "400", "--threads", "1"]
    assert batch_size.main([*argv, "--variant", "50:0.02", "--variant", "200:0.01", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["command"].startswith("python bench/batch_size.py --hidden 16") and r["commit"]
    assert r["recipe"]["hidden"] == 16 and r["recipe"]["seed"] == 1
    a, b = r["runs"]
    assert (a["batch"], a["lr"], b["batch"], b["lr"]) == (50, 0.02, 200, 0.01)
    base = r["recipe"]["warmup_steps"]
    assert a["warmup_steps"] == 2 * base and b["warmup_steps"] == base // 2  # the same number of images
    for run in (a, b):
        signs = run["structure_val"]["verdicts"]
        assert len(signs) == 6 and run["shows_structure"] == all(v == "met" for v in signs.values())
        assert 0 <= run["val_error"] <= 100 and run["train_seconds_per_epoch"] > 0


@pytest.mark.parametrize("bad", ["200", "x:0.1", "200:fast"])
def test_batch_size_variants_must_be_batch_colon_rate(bad: str) -> None:
    with pytest.raises(SystemExit, match="BATCH:LR"):
        batch_size.parse_variant(bad)


def test_step_parts_bench_times_every_part(tmp_path) -> None:
    out = tmp_path / "parts.json"
    argv = ["--hidden", "16", "--steps", "3", "--data", "synthetic", "--threads", "1", "--out", str(out)]
    assert step_parts.main(argv) == 0
    r = json.loads(out.read_text())
    parts = r["median_ms"]
    assert {"optimiser", "projection", "whole trainer step", "dS, one matmul over all t"} <= set(parts)
    assert all(v > 0 for v in parts.values())
    assert set(r["recurrent_matmul_us_warm_cache"]) == {"1 thread"}  # --threads 1: one figure, not two
    assert len(r["decoder_column_norms_us_warm_cache"]) == 2
