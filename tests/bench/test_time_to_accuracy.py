"""The time-to-accuracy bench at smoke size: time to the target, the final error, the figure file."""

from __future__ import annotations

import json

from bench import time_to_accuracy

SMOKE = ["--preset", "smoke", "--threads", "1", "--set", "hidden=16", "--set", "T=3", "--set", "train_limit=400",
         "--set", "eval_limit=200", "--set", "epochs=3"]


def test_records_time_to_target_and_final_error(tmp_path) -> None:
    out = tmp_path / "tta.json"
    assert time_to_accuracy.main([*SMOKE, "--target", "89.9", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["hidden"] == 16 and r["threads"] == 1 and r["status"] == "finished"
    sup = [e for e in r["epochs"] if e["phase"] == "supervised"]
    first = next(e for e in sup if e["test_error"] <= 89.9)  # chance is 90%
    assert r["epoch_at_target"] == first["epoch"] and r["seconds_to_target"] == first["wall_seconds"]
    assert 0 < r["seconds_to_target"] <= r["total_seconds"]
    assert r["final_test_error"] is not None and len(r["epochs"]) == 4


def test_unreached_target_and_stop_at_target(tmp_path) -> None:
    out = tmp_path / "tta.json"
    assert time_to_accuracy.main([*SMOKE, "--target", "0.0", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["seconds_to_target"] is None
    assert time_to_accuracy.main([*SMOKE, "--target", "89.9", "--stop-at-target", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["status"] == "stopped at target" and r["epochs"][-1]["epoch"] == r["epoch_at_target"]
