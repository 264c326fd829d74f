"""Training: the smoke recipe learns, runs are deterministic, an interrupted run resumes exactly."""

from __future__ import annotations

import json
import math
import os
import signal
import sys

import pytest
import torch

from model import checkpoint, progress
from model.presets import PRESETS, TrainConfig, preset
from model.schedule import learning_rate
from model.train import main, train


def tiny(**overrides) -> TrainConfig:
    base = dict(hidden=16, T=3, train_limit=400, eval_limit=200, batch_size=50, unsup_epochs=1, epochs=2, threads=1)
    return preset("smoke", **(base | overrides))


def test_smoke_training_lowers_loss_and_error(tmp_path) -> None:
    summary = train(preset("smoke", threads=1), tmp_path / "run", progress_bar=False)
    assert summary["status"] == "finished"
    rows = checkpoint.read_metrics(tmp_path / "run")
    assert [r["phase"] for r in rows] == ["unsupervised"] + ["supervised"] * 3
    assert rows[-1]["train_reconstruction"] < rows[0]["train_reconstruction"]
    assert rows[-1]["train_classification"] < rows[1]["train_classification"]
    assert rows[-1]["val_error"] < 60 < rows[0]["val_error"]  # chance is 90%
    cfg = checkpoint.read_config(tmp_path / "run")
    assert cfg["status"] == "finished" and cfg["results"]["test_error"] == pytest.approx(summary["test_error"])
    assert (
        cfg["results"]["best_epoch"]
        == min((r for r in rows if r["phase"] == "supervised"), key=lambda r: r["val_error"])["epoch"]
    )
    model = checkpoint.load(tmp_path / "run")  # the kept model respects the paper's bounds
    assert model.E.norm(dim=1).max() <= model.config.encoder_bound + 1e-6
    assert model.D.norm(dim=0).max() <= 1 + 1e-6 and model.C.norm(dim=1).max() <= 5 + 1e-5


def test_deterministic_on_cpu(tmp_path) -> None:
    train(tiny(), tmp_path / "a", progress_bar=False)
    train(tiny(), tmp_path / "b", progress_bar=False)
    a, b = checkpoint.load(tmp_path / "a"), checkpoint.load(tmp_path / "b")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_interrupted_run_resumes_to_the_same_result(tmp_path) -> None:
    cfg = tiny(epochs=3)
    train(cfg, tmp_path / "full", progress_bar=False)
    calls = {"n": 0}

    def stop_in_third_epoch() -> bool:  # 8 steps per epoch: stop in the middle of epoch 3
        calls["n"] += 1
        return calls["n"] == 20

    out = train(cfg, tmp_path / "cut", should_stop=stop_in_third_epoch, progress_bar=False)
    assert out["status"] == "cancelled"
    assert checkpoint.read_config(tmp_path / "cut")["status"] == "cancelled"
    assert len(checkpoint.read_metrics(tmp_path / "cut")) == 2
    checkpoint.load(tmp_path / "cut")  # a loadable model is there while stopped
    resumed = train(cfg, tmp_path / "cut", resume=True, progress_bar=False)
    assert resumed["status"] == "finished" and resumed["epochs"] == 4
    assert len(checkpoint.read_metrics(tmp_path / "cut")) == 4
    a, b = checkpoint.load(tmp_path / "full"), checkpoint.load(tmp_path / "cut")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_interrupt_in_first_epoch_is_resumable(tmp_path) -> None:
    out = train(tiny(), tmp_path / "r", should_stop=lambda: True, progress_bar=False)
    assert out["status"] == "cancelled"
    assert train(tiny(), tmp_path / "r", resume=True, progress_bar=False)["status"] == "finished"


def test_sigterm_stops_with_a_resumable_folder_and_restores_the_handler(tmp_path) -> None:
    cfg = tiny()
    train(cfg, tmp_path / "full", progress_bar=False)
    calls = {"n": 0}

    def sigterm_in_second_epoch() -> bool:  # the signal, not this callback, must stop the run
        calls["n"] += 1
        if calls["n"] == 12:
            os.kill(os.getpid(), signal.SIGTERM)
        return False

    before = signal.getsignal(signal.SIGTERM)
    out = train(cfg, tmp_path / "cut", should_stop=sigterm_in_second_epoch, progress_bar=False)
    assert out["status"] == "cancelled" and calls["n"] in (12, 13)
    assert signal.getsignal(signal.SIGTERM) is before
    assert checkpoint.read_config(tmp_path / "cut")["status"] == "cancelled"
    assert train(cfg, tmp_path / "cut", resume=True, progress_bar=False)["status"] == "finished"
    a, b = checkpoint.load(tmp_path / "full"), checkpoint.load(tmp_path / "cut")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_ctrl_c_marks_the_run_interrupted(tmp_path) -> None:
    def ctrl_c() -> bool:
        raise KeyboardInterrupt

    out = train(tiny(), tmp_path / "r", should_stop=ctrl_c, progress_bar=False)
    assert out["status"] == "interrupted"
    assert checkpoint.read_config(tmp_path / "r")["status"] == "interrupted"
    assert train(tiny(), tmp_path / "r", resume=True, progress_bar=False)["status"] == "finished"


def test_console_bar_follows_every_epoch_and_step(tmp_path, monkeypatch) -> None:
    seen: list[tuple] = []

    class Recording(progress.ConsoleProgress):
        def start_epoch(self, alive) -> None:
            super().start_epoch(alive)
            seen.append(("start_epoch", alive[0].state.epoch, alive[0].phase))

        def update(self, step, stats=None) -> None:
            seen.append(("update", step, tuple(stats.shape)))

        def epoch_done(self, member, row) -> None:
            super().epoch_done(member, row)
            seen.append(("epoch_done", row["epoch"]))

        def stop(self) -> None:
            seen.append(("stop",))

    monkeypatch.setattr(progress, "ConsoleProgress", Recording)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train(tiny(), tmp_path / "r")  # 8 steps an epoch: updates after steps 1 and 8
    assert seen[-1] == ("stop",)
    assert [e for e in seen if e[0] == "start_epoch"] == [
        ("start_epoch", 0, "unsupervised"), ("start_epoch", 1, "supervised"), ("start_epoch", 2, "supervised")
    ]
    assert [e[1] for e in seen if e[0] == "epoch_done"] == [1, 2, 3]
    assert [e[1] for e in seen if e[0] == "update"] == [1, 8] * 3
    assert all(e[2] == (1, 4) for e in seen if e[0] == "update")
    seen.clear()
    train(tiny(), tmp_path / "quiet", progress_bar=False)
    assert seen == []


def test_schedules() -> None:
    paper = PRESETS["paper"]
    assert learning_rate(paper, samples=0, phase="unsupervised", sup_step=0, sup_steps=1) == pytest.approx(5e-3)
    # the authors' schedule (docs/model.md): after 100 pretraining epochs of 50k samples the rate is ~1.43e-3
    lr100 = learning_rate(paper, samples=100 * 50000, phase="supervised", sup_step=0, sup_steps=1)
    assert lr100 == pytest.approx(5e-3 / 3.5) and lr100 == pytest.approx(1.43e-3, rel=1e-3)
    fast = PRESETS["adam"]
    assert learning_rate(fast, samples=0, phase="unsupervised", sup_step=0, sup_steps=10) == fast.lr
    assert learning_rate(fast, samples=0, phase="supervised", sup_step=5, sup_steps=10) == pytest.approx(fast.lr / 2)
    assert learning_rate(fast, samples=0, phase="supervised", sup_step=10, sup_steps=10) == pytest.approx(0.0)


def test_presets_hold_the_papers_numbers() -> None:
    p = PRESETS["paper"]
    assert (p.optimizer, p.lr, p.batch_size, p.sum_gradients) == ("sgd", 5e-3, 10, True)
    assert (p.rec_weight, p.l1_weight, p.unsup_epochs, p.epochs, p.project_every) == (5.0, 0.09, 100, 1000, 5)
    assert (p.hidden, p.T, p.lr_decay) == (400, 11, 5e-7)
    assert TrainConfig.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="optimizer"):
        preset("adam", optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown preset"):
        preset("turbo")


def test_cli(tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    args = ["--preset", "smoke", "--hidden", "8", "--T", "2", "--epochs", "1", "--unsup-epochs", "0",
            "--train-limit", "200", "--eval-limit", "100", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["hidden"] == 8 and saved["model"]["T"] == 2 and saved["status"] == "finished"
    assert math.isfinite(saved["results"]["test_error"])
    assert main(["--preset", "smoke", "--lr", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "lr must be in" in capsys.readouterr().err
    assert main(["--resume"]) == 2
    assert main(["--resume", "--out", str(tmp_path / "nothing")]) == 2
    with pytest.raises(SystemExit):
        main(["--preset", "turbo"])
