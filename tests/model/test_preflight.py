"""A run checks device, data, batch and output folder before its first step, and says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import checkpoint, preflight
from model import train as train_mod
from model.presets import preset

SMOKE = ["--preset", "smoke", "--hidden", "8", "--T", "2", "--epochs", "1", "--unsup-epochs", "0",
         "--train-limit", "200", "--eval-limit", "100", "--no-progress"]


@pytest.fixture
def no_training(monkeypatch):
    """main() must refuse before train() is ever called."""

    def fail(*a, **k):
        raise AssertionError("train() was called")

    monkeypatch.setattr(train_mod, "train", fail)


def _err(capsys) -> str:
    return capsys.readouterr().err


def test_output_folder_that_is_a_file(tmp_path, capsys, no_training) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert train_mod.main([*SMOKE, "--out", str(target)]) == 2
    assert f"output folder {target} is a file" in _err(capsys)


def test_output_folder_that_cannot_be_written(tmp_path, capsys, no_training) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "run"  # a folder below a file can never be created, even by root
    assert train_mod.main([*SMOKE, "--out", str(out)]) == 2
    assert "cannot write to output folder" in _err(capsys)


def test_output_folder_holding_another_run(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert train_mod.main([*SMOKE, "--out", str(out)]) == 0
    before = (out / checkpoint.METRICS).read_text()
    assert train_mod.main([*SMOKE, "--out", str(out)]) == 2
    err = _err(capsys)
    assert "already holds a run" in err and "--resume" in err
    assert (out / checkpoint.METRICS).read_text() == before  # untouched
    assert train_mod.main(["--resume", "--no-progress", "--out", str(out)]) == 0  # resuming it is fine


def test_check_leaves_no_folder_behind(tmp_path) -> None:
    out = tmp_path / "a" / "b"
    preflight.check_run(preset("smoke"), out)
    assert not (tmp_path / "a").exists()


def test_missing_and_corrupt_data(tmp_path, monkeypatch, capsys, no_training) -> None:
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path / "data"))
    assert train_mod.main([*SMOKE, "--out", str(tmp_path / "r1")]) == 2
    assert "python -m model.data fetch mnist" in _err(capsys)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "mnist.npz", train_x=np.zeros((10, 784), np.uint8))
    assert train_mod.main([*SMOKE, "--out", str(tmp_path / "r2")]) == 2
    assert "malformed" in _err(capsys)


def test_every_problem_is_listed_at_once(tmp_path, capsys, no_training) -> None:
    (tmp_path / "f").write_text("x")
    args = [*SMOKE, "--device", "gpu", "--batch-size", "500", "--out", str(tmp_path / "f")]
    assert train_mod.main(args) == 2
    err = _err(capsys)
    assert "device must be auto, cpu, cuda or cuda:N" in err
    assert "batch_size 500 is larger than the 200 training images" in err
    assert "is a file" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it() -> None:
    with pytest.raises(preflight.PreflightError, match="CUDA was asked for"):
        preflight.check_run(preset("smoke", device="cuda"), None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("threads", 0, "threads"), ("time_limit", 0.0, "time_limit"), ("train_limit", -5, "train_limit"),
     ("eval_limit", 0, "eval_limit"), ("min_lr_ratio", 2.0, "min_lr_ratio")],
)
def test_config_bounds(field, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        preset("smoke", **{field: value})
