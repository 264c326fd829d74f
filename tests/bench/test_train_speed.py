"""The speed bench runs at tiny size and writes its figure file; the baseline loop is the model's maths."""

from __future__ import annotations

import json

import torch

from bench import train_speed
from model.drsae import DrSAE
from model.presets import TrainConfig


def test_bench_writes_a_figure_file(tmp_path) -> None:
    out = tmp_path / "speed.json"
    argv = ["--data", "synthetic", "--hidden", "16", "--T", "3", "--steps", "2", "--repeats", "2", "--warmup", "1"]
    assert train_speed.main([*argv, "--threads", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["threads"] == 1 and result["torch"] == torch.__version__ and result["machine"]
    assert result["command"].startswith("python bench/train_speed.py --data synthetic")
    assert len(result["all_baseline_epoch_seconds"]) == len(result["all_project_epoch_seconds"]) == 2
    assert train_speed.main([*argv, "--recipe", "adam", "--out", str(tmp_path / "adam.json")]) == 0
    assert result["speedup"] == result["baseline_epoch_seconds"] / result["project_epoch_seconds"] > 0


def test_baseline_step_equals_the_models_loss_gradient() -> None:
    """The baseline takes the same Adam step as autograd through DrSAE.forward with the trainer's loss."""
    torch.manual_seed(0)
    cfg = TrainConfig(hidden=12, T=4)
    a = DrSAE(784, 12, 10, 4)
    b = DrSAE(784, 12, 10, 4)
    b.load_state_dict(a.state_dict())
    x = torch.nn.functional.normalize(torch.rand(8, 784), dim=1)
    y = torch.randint(0, 10, (8,))
    E0 = a.E.detach().clone()
    opt_a = torch.optim.Adam(a.param_groups(1e-2), lr=1e-2)
    train_speed.baseline_step(a, opt_a, cfg, x, y)
    opt_b = torch.optim.Adam(b.param_groups(1e-2), lr=1e-2)
    L = b.losses(x, y)
    (cfg.rec_weight * L["reconstruction"] + cfg.l1_weight * L["sparsity"] + L["classification"]).backward()
    opt_b.step()
    b.project_()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(a.E, E0)  # a step was taken


def test_stock_optimizer_follows_the_recipe() -> None:
    from model.presets import preset

    model = DrSAE(784, 8, 10, 3)
    sgd = train_speed.stock_optimizer(model, preset("faithful"))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    lrs = {g["name"]: g["lr"] for g in sgd.param_groups}
    assert lrs["E"] == lrs["b"] * 0.25 and lrs["D"] == 0.02 * 0.25  # the E/D factor, as the trainer does
    assert isinstance(train_speed.stock_optimizer(model, preset("adam")), torch.optim.Adam)
