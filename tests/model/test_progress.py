"""Speed and ETA in the metrics rows and the terminal bar."""

from __future__ import annotations

import io
import os

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


class _Member:
    """What the bar reads of a population's member."""

    def __init__(self, epoch: int, total: int, phase: str) -> None:
        self.state = type("S", (), {"epoch": epoch})()
        self.total_epochs, self.phase = total, phase


def test_bar_eta_uses_step_rate_then_epoch_walls(monkeypatch) -> None:
    clock = {"t": 100.0}
    monkeypatch.setattr(progress.time, "perf_counter", lambda: clock["t"])
    out = io.StringIO()
    m = _Member(0, 4, "unsupervised")
    with progress.ConsoleProgress(steps_per_epoch=10, images_per_step=100, members=1, stream=out) as bar:
        bar.start_epoch([m])
        assert bar.eta_seconds(0) is None
        clock["t"] += 2.0  # 4 of 10 steps in 2 s: 0.5 s a step
        bar.update(4)
        assert bar.eta_seconds(4) == pytest.approx(6 * 0.5 + 3 * 10 * 0.5)
        clock["t"] += 4.0  # the epoch, with evaluation, took 6 s
        bar.epoch_done(m, {"best_val_error": None})
        m.state.epoch, m.phase = 1, "supervised"
        bar.start_epoch([m])
        clock["t"] += 1.0
        bar.update(5)
        assert bar.eta_seconds(5) == pytest.approx(5 * 0.2 + 2 * 6.0)
        assert "ETA 0:13" in bar.last_line


def test_bar_fits_80_columns_and_keeps_the_eta(monkeypatch) -> None:
    """A population's line at 80 columns: epoch, phase, steps, runs alive, best validation error, speed
    and ETA all whole; only the running losses (last) may be cut."""
    clock = {"t": 0.0}
    monkeypatch.setattr(progress.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(progress.shutil, "get_terminal_size", lambda fallback: os.terminal_size((80, 24)))
    members = [_Member(102, 1100, "supervised") for _ in range(7)]
    bar = progress.ConsoleProgress(steps_per_epoch=5000, images_per_step=10, members=8, stream=io.StringIO())
    bar.start_epoch(members)
    clock["t"] += 30.0  # an epoch of 30 s
    bar.epoch_done(members[0], {"best_val_error": 1.62})
    bar.start_epoch(members)
    clock["t"] += 30.0
    import torch

    bar.update(1200, torch.ones(7, 4))
    line = bar.last_line
    assert len(line) <= 79
    # 3,800 steps at 25 ms, then 997 epochs of 30 s
    for part in ("ep 103/1100 sup", "1200/5000", "7/8 runs", "best val 1.62%", "2,800 img/s", "ETA 8:20:05"):
        assert part in line, (part, line)


def test_rows_carry_speed_and_eta(tmp_path) -> None:
    cfg = preset("smoke", hidden=16, T=3, train_limit=400, eval_limit=100, batch_size=50, unsup_epochs=1, epochs=2)
    train(cfg, tmp_path / "run", progress_bar=False)
    rows = checkpoint.read_metrics(tmp_path / "run")
    assert all(r["images_per_second"] > 0 for r in rows)
    assert [r["eta_seconds"] > 0 for r in rows] == [True, True, False]
    assert rows[0]["images_per_second"] == pytest.approx(400 / rows[0]["epoch_seconds"])
