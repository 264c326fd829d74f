"""The faithful default recipe's pieces: momentum SGD, the classifier's own Adam, warm-up per phase, the
projection plan of the graphed step, and the per-epoch role metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import analysis, checkpoint
from model.drsae import DrSAE
from model.presets import PRESETS, preset
from model.train import SGD, learning_rate, make_optimizer, projection_plan, train


def test_default_preset_is_the_faithful_recipe() -> None:
    from model.presets import TrainConfig

    f = PRESETS["faithful"]
    assert TrainConfig().preset == "faithful"
    assert (f.optimizer, f.momentum, f.nesterov, f.classifier_optimizer) == ("sgd", 0.9, True, "same")
    # the loss stays the paper's: reconstruction + L1 + classification, with the authors' weights
    assert (f.rec_weight, f.l1_weight, f.cls_weight) == (5.0, 0.09, 1.0)
    with pytest.raises(ValueError, match="nesterov"):
        preset("adam", nesterov=True)
    with pytest.raises(ValueError, match="classifier_optimizer"):
        preset("faithful", classifier_optimizer="lbfgs")


@pytest.mark.parametrize("momentum,nesterov", [(0.9, True), (0.9, False), (0.0, False)])
@pytest.mark.parametrize("tensor_lr", [False, True])  # a rate held in a device tensor, as a captured step reads it
def test_sgd_matches_torch(momentum: float, nesterov: bool, tensor_lr: bool) -> None:
    torch.manual_seed(0)
    a = torch.randn(5, 3, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    start = a.detach().clone()
    ours = SGD([{"params": [a]}], lr=0.1, momentum=momentum, nesterov=nesterov)
    if tensor_lr:
        ours.param_groups[0]["lr"] = torch.tensor(0.1)
    ref = torch.optim.SGD([b], lr=0.1, momentum=momentum, nesterov=nesterov)
    for step in range(4):
        g = torch.randn(5, 3, generator=torch.Generator().manual_seed(step))
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    assert (a - start).abs().max() > 0.1  # it moved
    assert torch.allclose(a, b, atol=1e-6)


def test_default_recipe_keeps_the_classifier_on_sgd_at_a_fifth_of_the_rate() -> None:
    cfg = preset("faithful")
    opt = make_optimizer(DrSAE(784, 8, 10, 3), cfg, graphed=False)
    assert len(opt.opts) == 1 and isinstance(opt.opts[0], SGD)
    assert {g["name"]: g["lr"] for g in opt.param_groups}["C"] == pytest.approx(cfg.lr * 0.2)


def test_classifier_can_get_its_own_adam_and_rates() -> None:
    model = DrSAE(784, 8, 10, 3)
    cfg = preset("faithful", classifier_optimizer="adam")
    opt = make_optimizer(model, cfg, graphed=False)
    kinds = {g["name"]: type(o).__name__ for o in opt.opts for g in o.param_groups}
    assert kinds == {"E": "SGD", "S": "SGD", "b": "SGD", "D": "SGD", "C": "Adam", "c": "Adam"}
    lr = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lr["E"] == pytest.approx(cfg.lr / 3 * cfg.encoder_decoder_lr_scale)  # 1/T, then the E/D factor
    assert lr["S"] == pytest.approx(cfg.lr / 2) and lr["D"] == pytest.approx(cfg.lr * cfg.encoder_decoder_lr_scale)
    assert lr["C"] == pytest.approx(cfg.classifier_lr)
    state = opt.state_dict()
    opt.load_state_dict(state)
    with pytest.raises(ValueError, match="optimizers"):
        opt.load_state_dict({"optimizers": state["optimizers"][:1]})


def test_warmup_restarts_at_the_phase_switch() -> None:
    cfg = preset("faithful", warmup_steps=100)
    lr = lambda phase, step, sup_step=0: learning_rate(  # noqa: E731
        cfg, samples=0, phase=phase, sup_step=sup_step, sup_steps=1000, phase_step=step
    )
    assert lr("unsupervised", 0) == pytest.approx(cfg.lr / 100)
    assert lr("unsupervised", 99) == pytest.approx(cfg.lr) and lr("unsupervised", 500) == pytest.approx(cfg.lr)
    assert lr("supervised", 0) == pytest.approx(cfg.lr / 100)  # the switch ramps up again
    assert lr("supervised", 49, 49) < cfg.lr / 2 + 1e-9


@pytest.mark.parametrize("graphed", [False, True])
def test_projection_plan_bounds_every_few_steps(graphed: bool) -> None:
    plans = [projection_plan(5, graphed, s) for s in range(10)]
    ed = [in_body or after for in_body, after in plans]
    assert ed == [False, False, False, False, True] * 2  # E and D every 5th update, in both modes
    assert projection_plan(1, graphed, 3)[0]  # every update: inside the (captured) step


def test_step_bounds_C_every_supervised_update() -> None:
    """With project_every > 1 the captured CUDA step used to skip C's projection. The step's body (the
    same code is captured on a GPU) now bounds C in every supervised update."""
    from model import data
    from model.train import Stepper

    torch.manual_seed(0)
    model = DrSAE(784, 8, 10, 3)
    cfg = preset("paper", hidden=8, T=3, batch_size=10, lr=1.0)  # a huge rate pushes C past its bound
    opt = make_optimizer(model, cfg, graphed=False)
    x = data.normalize(torch.rand(50, 784))
    stepper = Stepper(model, model, opt, cfg, data.Split(x, torch.randint(0, 10, (50,))), graphed=False)
    for s in range(3):
        stepper.step(torch.arange(10) + 10 * s, supervised=True, step_no=s)
        assert model.C.norm(dim=1).max() <= model.config.c_bound + 1e-5
    assert stepper.stats[2] > 0  # it did train on the classification loss


def test_role_metrics_count_units_and_rank_correlation() -> None:
    model = DrSAE(16, 6, 2, 3)
    with torch.no_grad():
        D = torch.eye(16)[:, :6]
        model.D.copy_(D)
        E = D.T.clone()
        # units 3..5 get encoders turned away from their decoders by growing angles
        for i, angle in zip((3, 4, 5), (0.6, 1.0, 1.4), strict=True):
            E[i] = np.cos(angle) * D[:, i] + np.sin(angle) * torch.eye(16)[:, 10 + i]
        model.E.copy_(E)
        model.C.copy_(torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.0] * 6]))
    m = analysis.role_metrics(model)
    assert m["units_part"] == 3 and m["units_categorical"] == 2
    assert m["spearman_angle_c_norm"] == pytest.approx(1.0)
    assert m["angle_median"] == pytest.approx(0.3, abs=0.31)
    assert set(m) == set(analysis.ROLE_METRIC_KEYS)


def test_every_epoch_row_carries_role_metrics(tmp_path) -> None:
    small = dict(hidden=16, T=3, train_limit=300, eval_limit=100, unsup_epochs=1, epochs=1, warmup_steps=3)
    cfg = preset("faithful", threads=1, **small)
    train(cfg, tmp_path / "r", progress_bar=False)
    rows = checkpoint.read_metrics(tmp_path / "r")
    assert len(rows) == 2 and all(set(analysis.ROLE_METRIC_KEYS) <= set(r) for r in rows)
    assert all(r["units_part"] + r["units_categorical"] <= 16 for r in rows)
