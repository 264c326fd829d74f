"""The faithful default recipe's pieces: per-member momentum SGD and Adam, the classifier's own Adam,
warm-up per phase, the projection of the bounds in the step, and the per-epoch role metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import analysis, checkpoint
from model.drsae import DrSAE
from model.optim import PopulationOptimizer
from model.population import PARAMS
from model.presets import PRESETS, preset
from model.schedule import learning_rate, optimizer_kinds, rate_scales
from model.train import train


def test_default_preset_is_the_faithful_recipe() -> None:
    from model.presets import TrainConfig

    f = PRESETS["faithful"]
    assert TrainConfig() == f  # the defaults are the default recipe, not another one under its name
    assert (f.optimizer, f.momentum, f.nesterov, f.classifier_optimizer) == ("sgd", 0.9, True, "same")
    # the loss stays the paper's: reconstruction + L1 + classification, with the authors' weights
    assert (f.rec_weight, f.l1_weight, f.cls_weight) == (5.0, 0.09, 1.0)
    with pytest.raises(ValueError, match="nesterov"):
        preset("adam", nesterov=True)
    with pytest.raises(ValueError, match="classifier_optimizer"):
        preset("faithful", classifier_optimizer="lbfgs")


def test_a_config_json_from_before_momentum_reads_as_it_was_trained() -> None:
    """Options newer than a saved run take the value that run was trained with, not today's defaults."""
    from model.presets import TrainConfig

    saved = PRESETS["adam"].to_dict()
    for name in ("momentum", "nesterov", "encoder_decoder_lr_scale", "warmup_steps", "classifier_optimizer"):
        del saved[name]
    cfg = TrainConfig.from_dict(saved)
    assert cfg == PRESETS["adam"]
    assert TrainConfig.from_dict(PRESETS["faithful"].to_dict()) == PRESETS["faithful"]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_population_optimizer_matches_torch_per_member(kind: str) -> None:
    """Three members, each with its own rate and momentum, against torch.optim run member by member."""
    torch.manual_seed(0)
    lrs, mus, nest = [0.1, 0.05, 0.2], [0.9, 0.9, 0.0], [True, False, False]
    start = torch.randn(3, 5, 4)
    ours = start.clone().requires_grad_(True)
    refs = [start[i].clone().requires_grad_(True) for i in range(3)]
    opt = PopulationOptimizer({"W": ours}, {"W": kind}, torch.tensor(mus), torch.tensor(nest))
    ref_opts = [
        torch.optim.SGD([r], lr=lrs[i], momentum=mus[i], nesterov=nest[i]) if kind == "sgd"
        else torch.optim.Adam([r], lr=lrs[i])
        for i, r in enumerate(refs)
    ]
    for step in range(4):
        g = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(step))
        ours.grad = g.clone()
        opt.step(torch.tensor(lrs)[:, None])
        for i, (r, o) in enumerate(zip(refs, ref_opts, strict=True)):
            r.grad = g[i].clone()
            o.step()
    assert (ours - start).abs().max() > 0.1  # it moved
    for i in range(3):
        torch.testing.assert_close(ours[i], refs[i], rtol=1e-5, atol=1e-6)


def test_idle_members_adam_does_not_count_steps() -> None:
    """A member whose classifier does not train yet (unsupervised) keeps its Adam step count at zero."""
    w = torch.zeros(2, 3, requires_grad=True)
    opt = PopulationOptimizer({"C": w}, {"C": "adam"}, torch.zeros(2), torch.zeros(2, dtype=torch.bool))
    w.grad = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    opt.step(torch.tensor([[0.1], [0.1]]), {"C": torch.tensor([True, False])})
    assert opt.state["C"]["step"].tolist() == [1.0, 0.0]
    assert torch.equal(w[1], torch.zeros(3)) and torch.all(w[0] < 0)


def test_default_recipe_keeps_the_classifier_on_sgd_at_a_fifth_of_the_rate() -> None:
    cfg = preset("faithful")
    model = DrSAE(784, 8, 10, 3)
    assert set(optimizer_kinds(cfg).values()) == {"sgd"}
    scales = dict(zip(PARAMS, rate_scales(model, cfg), strict=True))
    assert scales["C"] == pytest.approx(0.2) and scales["c"] == pytest.approx(0.2)


def test_classifier_can_get_its_own_adam_and_rates() -> None:
    model = DrSAE(784, 8, 10, 3)
    cfg = preset("faithful", classifier_optimizer="adam")
    assert optimizer_kinds(cfg) == {"E": "sgd", "S": "sgd", "b": "sgd", "D": "sgd", "C": "adam", "c": "adam"}
    lr = {n: cfg.lr * s for n, s in zip(PARAMS, rate_scales(model, cfg), strict=True)}
    assert lr["E"] == pytest.approx(cfg.lr / 3 * cfg.encoder_decoder_lr_scale)  # 1/T, then the E/D factor
    assert lr["S"] == pytest.approx(cfg.lr / 2) and lr["D"] == pytest.approx(cfg.lr * cfg.encoder_decoder_lr_scale)
    assert lr["C"] == pytest.approx(cfg.classifier_lr)


def test_warmup_restarts_at_the_phase_switch() -> None:
    cfg = preset("faithful", warmup_steps=100)
    lr = lambda phase, step, sup_step=0: learning_rate(  # noqa: E731
        cfg, samples=0, phase=phase, sup_step=sup_step, sup_steps=1000, phase_step=step
    )
    assert lr("unsupervised", 0) == pytest.approx(cfg.lr / 100)
    assert lr("unsupervised", 99) == pytest.approx(cfg.lr) and lr("unsupervised", 500) == pytest.approx(cfg.lr)
    assert lr("supervised", 0) == pytest.approx(cfg.lr / 100)  # the switch ramps up again
    assert lr("supervised", 49, 49) < cfg.lr / 2 + 1e-9


def test_step_bounds_C_every_supervised_update_and_E_D_every_fifth() -> None:
    """The paper recipe bounds C after every supervised update and E and D after every 5th (the graphed
    CUDA step runs this same body)."""
    from model import data
    from model.population import Population, Step

    torch.manual_seed(0)
    model = DrSAE(784, 8, 10, 3)
    cfg = preset("paper", hidden=8, T=3, batch_size=10, lr=1.0)  # a huge rate pushes C past its bound
    pop = Population([model])
    opt = PopulationOptimizer(pop.params(), optimizer_kinds(cfg), torch.zeros(1), torch.zeros(1, dtype=torch.bool))
    x = data.normalize(torch.rand(50, 784))
    step = Step(pop, opt, data.Split(x, torch.randint(0, 10, (50,))), 10, "fp32", graphed=False)
    rates = torch.tensor([rate_scales(model, cfg)]) * cfg.lr
    weights = torch.tensor([[5.0], [0.09], [1.0]]) * 10  # summed over the minibatch of 10
    over = []
    for s in range(5):
        due = torch.tensor([(s + 1) % cfg.project_every == 0])
        step((torch.arange(10) + 10 * s)[None], rates, weights, torch.tensor([True]), due, classifier=True)
        assert model.C.norm(dim=1).max() <= model.config.c_bound + 1e-5
        over.append(model.E.norm(dim=1).max().item() > model.config.encoder_bound + 1e-6)
    assert over == [True, True, True, True, False]  # E left alone between projections, bounded on the 5th
    assert step.stats[0, 2] > 0  # it did train on the classification loss


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
