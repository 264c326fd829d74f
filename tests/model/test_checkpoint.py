"""Checkpoints: safetensors round trip (bit-identical outputs), format compatibility, bad files."""

from __future__ import annotations

import json

import pytest
import torch

from model import checkpoint
from model.drsae import DrSAE


def test_round_trip_is_bit_identical(tmp_path) -> None:
    torch.manual_seed(0)
    model = DrSAE(784, 40, 10, T=7, e_bound=0.2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    checkpoint.save_run(tmp_path / "run", model, {"status": "finished", "note": "x"})
    loaded = checkpoint.load(tmp_path / "run")
    assert loaded.config == model.config
    x = torch.rand(16, 784)
    a, b = model(x), loaded(x)
    assert torch.equal(a.trajectory, b.trajectory) and torch.equal(a.logits, b.logits)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert checkpoint.read_config(tmp_path / "run")["note"] == "x"


def test_files_are_real_safetensors(tmp_path) -> None:
    """Files we write load with the safetensors package's own loader, and files it writes load here."""
    import safetensors.torch as st

    model = DrSAE(784, 8, 10, T=3)
    checkpoint.save_weights(tmp_path / "a.safetensors", model)
    theirs = st.load_file(str(tmp_path / "a.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(theirs[k], v)
    st.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "b.safetensors"))
    ours, _ = checkpoint.read_safetensors(tmp_path / "b.safetensors")
    assert all(torch.equal(ours[k], v) for k, v in model.state_dict().items())


def test_bad_checkpoints_raise_clear_errors(tmp_path) -> None:
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(checkpoint.CheckpointError, match="not a valid safetensors"):
        checkpoint.load(bad)
    model = DrSAE(784, 8, 10, T=3)
    checkpoint.save_weights(tmp_path / "t.safetensors", model)
    truncated = (tmp_path / "t.safetensors").read_bytes()[:-100]
    (tmp_path / "t.safetensors").write_bytes(truncated)
    with pytest.raises(checkpoint.CheckpointError, match="past the end"):
        checkpoint.load(tmp_path / "t.safetensors")


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch) -> None:
    target = tmp_path / "config.json"
    checkpoint.atomic_write_json(target, {"v": 1})

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "replace", boom)
    with pytest.raises(OSError):
        checkpoint.atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary left behind


def test_state_loads_with_weights_only(tmp_path) -> None:
    checkpoint.save_state(tmp_path, {"step": 3, "t": torch.ones(2)})
    assert checkpoint.load_state(tmp_path)["step"] == 3
    torch.save({"f": print}, tmp_path / checkpoint.STATE)  # a pickle that references code is refused
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        checkpoint.load_state(tmp_path)


def test_metrics_skip_a_torn_last_line(tmp_path) -> None:
    checkpoint.append_metrics(tmp_path, {"epoch": 1})
    with open(tmp_path / checkpoint.METRICS, "a") as f:
        f.write('{"epoch": 2, "val_')
    assert checkpoint.read_metrics(tmp_path) == [{"epoch": 1}]
