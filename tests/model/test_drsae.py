"""The DrSAE module: recurrence, BPTT, the ISTA equivalence, projections, rates, initialisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model.drsae import DrSAE, DrSAEConfig


def _x(batch: int = 8, n_in: int = 784, seed: int = 0) -> torch.Tensor:
    x = torch.rand(batch, n_in, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=1, keepdim=True)


def test_trajectory_shape_and_recurrence() -> None:
    torch.manual_seed(0)
    model = DrSAE(784, 32, 10, T=6)
    with torch.no_grad():  # a random S makes the recurrence non-trivial
        model.S.add_(0.05 * torch.randn(32, 32))
    x = _x()
    traj = model.trajectory(x)
    assert traj.shape == (6, 8, 32)
    E, S, b = model.E, model.S, model.b
    z = torch.zeros(8, 32)
    for t in range(6):  # z(t+1) = relu(E x + S z(t) - b), z(0) = 0
        z = F.relu(x @ E.T + z @ S.T - b)
        torch.testing.assert_close(traj[t], z, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(traj[0], F.relu(x @ E.T - b))
    assert (traj >= 0).all()


def test_forward_outputs_and_losses() -> None:
    model = DrSAE(784, 24, 10, T=4)
    x, y = _x(5), torch.tensor([0, 1, 2, 3, 4])
    out = model(x, y)
    z = out.code
    torch.testing.assert_close(out.reconstruction, z @ model.D.T)
    zn = z / torch.sqrt((z * z).sum(1, keepdim=True) + 1e-8)
    torch.testing.assert_close(out.logits, zn @ model.C.T + model.c)
    torch.testing.assert_close(out.losses["reconstruction"], 0.5 * ((x - z @ model.D.T) ** 2).sum(1).mean())
    torch.testing.assert_close(out.losses["sparsity"], z.abs().sum(1).mean())
    torch.testing.assert_close(out.losses["classification"], F.cross_entropy(out.logits, y))
    assert set(model(x).losses) == {"reconstruction", "sparsity"}  # no labels, no classification term


def test_gradients_flow_through_all_iterations() -> None:
    """dL/dS must include contributions from every step: compare with the gradient when the recurrence
    is cut after one step (detached), which would be the 'no BPTT' bug of a public re-implementation."""
    torch.manual_seed(1)
    model = DrSAE(784, 16, 10, T=5)
    with torch.no_grad():
        model.S.add_(0.05 * torch.randn(16, 16))
        model.b.fill_(-0.01)  # keep every unit active so all paths carry gradient
    x = _x(4)
    loss = model(x).losses["reconstruction"]
    gE, gS, gb = torch.autograd.grad(loss, [model.E, model.S, model.b])
    for g in (gE, gS, gb):
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    # the same loss with z(T-1) detached: only the last step's share of the gradient survives
    traj = model.trajectory(x)
    z_last = F.relu(x @ model.E.T + traj[-2].detach() @ model.S.T - model.b)
    loss_cut = 0.5 * ((x - z_last @ model.D.T) ** 2).sum(1).mean()
    gE_cut, gS_cut = torch.autograd.grad(loss_cut, [model.E, model.S])
    assert (gS - gS_cut).abs().max() > 1e-6
    assert (gE - gE_cut).abs().max() > 1e-6
    # finite-difference check on one entry of S, through all T steps
    i, j, eps = 3, 5, 1e-3
    with torch.no_grad():
        model.S[i, j] += eps
        up = model(x).losses["reconstruction"].item()
        model.S[i, j] -= 2 * eps
        down = model(x).losses["reconstruction"].item()
        model.S[i, j] += eps
    assert math.isclose((up - down) / (2 * eps), gS[i, j].item(), rel_tol=2e-2, abs_tol=1e-6)


def test_equals_nonnegative_ista() -> None:
    """With E = a D^T, S = I - a D^T D, b = a*lambda the encoder is T steps of non-negative ISTA (docs/model.md)."""
    torch.manual_seed(2)
    n, T, lam = 64, 11, 0.05
    model = DrSAE(784, n, 10, T).double()
    D = torch.randn(784, n, dtype=torch.float64)
    D /= D.norm(dim=0, keepdim=True)
    alpha = 0.9 / torch.linalg.matrix_norm(D, ord=2).item() ** 2  # a step below 1/lambda_max(D^T D)
    with torch.no_grad():
        model.D.copy_(D)
        model.E.copy_(alpha * D.T)
        model.S.copy_(torch.eye(n, dtype=torch.float64) - alpha * D.T @ D)
        model.b.fill_(alpha * lam)
    x = _x(6).double()
    z = torch.zeros(6, n, dtype=torch.float64)
    steps = []
    for _ in range(T):  # proximal gradient on 0.5||x - Dz||^2 + lam ||z||_1 with z >= 0
        z = torch.clamp(z - alpha * (z @ D.T - x) @ D - alpha * lam, min=0)
        steps.append(z)
    torch.testing.assert_close(model.trajectory(x), torch.stack(steps), rtol=1e-10, atol=1e-12)


def test_project_enforces_bounds_without_growing() -> None:
    model = DrSAE(784, 20, 10, T=11)
    with torch.no_grad():
        model.E.mul_(50)
        model.D.mul_(3)
        model.C.mul_(20)
        model.E[0].mul_(1e-3)  # a row already inside its bound must be left alone
        model.D[:, 1].mul_(1e-3)  # and a column (D's norms are taken across rows, by another route)
        model.D[:, 2].zero_()
        small, small_d = model.E[0].clone(), model.D[:, 1].clone()
        over = model.D[:, 3] / model.D[:, 3].norm()
    model.project_()
    cfg = model.config
    assert cfg.encoder_bound == pytest.approx(1.25 / 10)
    assert (model.E.norm(dim=1) <= cfg.encoder_bound + 1e-6).all()
    assert (model.D.norm(dim=0) <= 1 + 1e-6).all()
    assert (model.C.norm(dim=1) <= 5 + 1e-5).all()
    torch.testing.assert_close(model.E[0], small)
    torch.testing.assert_close(model.D[:, 1], small_d)
    assert (model.D[:, 2] == 0).all()
    torch.testing.assert_close(model.D[:, 3], over)  # scaled onto the bound, direction kept
    # the authors' bound 1.25/T is a config option
    assert DrSAE(784, 4, 10, T=11, e_bound=1.25 / 11).config.encoder_bound == pytest.approx(1.25 / 11)
    # each projection can be skipped (the authors projected E and D every 5th minibatch)
    with torch.no_grad():
        model.E.mul_(10)
    model.project_(encoder=False)
    assert model.E.norm(dim=1).max() > cfg.encoder_bound


def test_learning_rate_scaling() -> None:
    model = DrSAE(784, 8, 10, T=11)
    scales = model.lr_scales()
    assert scales == pytest.approx({"E": 1 / 11, "b": 1 / 11, "S": 1 / 10, "D": 1.0, "C": 0.2, "c": 0.2})
    groups = {g["name"]: g for g in model.param_groups(1e-2)}
    assert groups["E"]["lr"] == pytest.approx(1e-2 / 11)
    assert groups["S"]["lr"] == pytest.approx(1e-3)
    assert groups["C"]["lr"] == pytest.approx(2e-3)
    assert groups["S"]["params"][0] is model.S
    assert DrSAE(784, 8, 10, T=1).lr_scales()["S"] == 1.0  # no division by zero at T = 1


def test_initialisation_is_ista_like() -> None:
    templates = _x(50, seed=3)
    model = DrSAE(784, 30, 10, T=11)
    model.reset_parameters(templates=templates, generator=torch.Generator().manual_seed(0))
    a0 = 1.25 / 11
    torch.testing.assert_close(model.D.norm(dim=0), torch.ones(30))
    torch.testing.assert_close(model.E, a0 * model.D.T)
    torch.testing.assert_close(model.S, torch.eye(30) - a0 * model.D.T @ model.D)
    assert (model.b == 1e-5).all() and (model.c == 0).all()
    torch.testing.assert_close(model.C.norm(dim=1), torch.ones(10))
    # each decoder column leans towards one training image (the 0.25 template term): at 400 units the
    # random part has norm ~0.8, so the template shows as a cosine ~0.3; without templates it is ~0.1
    big, plain = DrSAE(784, 400, 10, 11), DrSAE(784, 400, 10, 11)
    big.reset_parameters(templates=templates, generator=torch.Generator().manual_seed(0))
    plain.reset_parameters(generator=torch.Generator().manual_seed(0))
    assert (big.D.T @ templates.T).max(1).values.mean() > (plain.D.T @ templates.T).max(1).values.mean() + 0.1
    # the initial step never exceeds the encoder bound (T = 2 with the authors' reduced bound)
    m2 = DrSAE(784, 10, 10, T=2, e_bound=0.3125)
    assert m2.E.norm(dim=1).max() <= 0.3125 + 1e-6


def test_config_round_trip_and_validation() -> None:
    cfg = DrSAEConfig(784, 50, 10, 7, e_bound=0.1)
    assert DrSAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="n_hidden"):
        DrSAEConfig(n_hidden=0)
    with pytest.raises(ValueError, match="unknown"):
        DrSAEConfig.from_dict({"n_hidden": 5, "bogus": 1})
    with pytest.raises(ValueError, match="e_bound"):
        DrSAE(784, 4, 10, 3, e_bound=-1.0)
