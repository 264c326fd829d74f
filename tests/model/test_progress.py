"""Speed and ETA in the metrics rows and the terminal bar."""

from __future__ import annotations

import pytest

from model import checkpoint, progress
from model.presets import preset
from model.train import train


def test_speed_fields() -> None:
    f = progress.speed_fields(
        images=5000, epoch_seconds=2.0, epochs_done=3, total_epochs=10, session_seconds=9.0, session_epochs=3
    )
    assert f == {"images_per_second": 2500.0, "eta_seconds": pytest.approx(21.0)}  # 7 epochs x 3 s
    capped = progress.speed_fields(
        images=1, epoch_seconds=1, epochs_done=3, total_epochs=10, session_seconds=9, session_epochs=3, time_left=5
    )
    assert capped["eta_seconds"] == 5
    done = progress.speed_fields(
        images=1, epoch_seconds=1, epochs_done=10, total_epochs=10, session_seconds=9, session_epochs=2
    )
    assert done["eta_seconds"] == 0


def test_format_seconds() -> None:
    assert progress.format_seconds(59.6) == "1:00"
    assert progress.format_seconds(3725) == "1:02:05"


def test_bar_eta_uses_step_rate_then_epoch_walls(monkeypatch) -> None:
    clock = {"t": 100.0}
    monkeypatch.setattr(progress.time, "perf_counter", lambda: clock["t"])
    with progress.ConsoleProgress(total_epochs=4, steps_per_epoch=10, images_per_step=100) as bar:
        bar.start_epoch()
        assert bar.eta_seconds(0, 0) is None
        clock["t"] += 2.0  # 4 of 10 steps in 2 s: 0.5 s a step
        bar.update(0, "unsupervised", 4, {"rec": 0.5}, None)
        assert bar.eta_seconds(0, 4) == pytest.approx(6 * 0.5 + 3 * 10 * 0.5)
        clock["t"] += 4.0  # the epoch, with evaluation, took 6 s
        bar.epoch_done()
        bar.start_epoch()
        clock["t"] += 1.0
        bar.update(1, "supervised", 5, {"rec": 0.4}, 12.5)
        assert bar.eta_seconds(1, 5) == pytest.approx(5 * 0.2 + 2 * 6.0)


def test_rows_carry_speed_and_eta(tmp_path) -> None:
    cfg = preset("smoke", hidden=16, T=3, train_limit=400, eval_limit=100, batch_size=50, unsup_epochs=1, epochs=2)
    train(cfg, tmp_path / "run", progress_bar=False)
    rows = checkpoint.read_metrics(tmp_path / "run")
    assert all(r["images_per_second"] > 0 for r in rows)
    assert [r["eta_seconds"] > 0 for r in rows] == [True, True, False]
    assert rows[0]["images_per_second"] == pytest.approx(400 / rows[0]["epoch_seconds"])
