"""The hand-written training forward/backward: exact against autograd in fp32, close in bf16; precision
detection; the trainer's step on the fast path equals its autograd step."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from model import data, fast_trajectory
from model.drsae import DrSAE
from model.presets import TrainConfig
from model.train import Stepper, make_optimizer

WEIGHTS = {"reconstruction": 5.0, "sparsity": 0.09, "classification": 1.0}


def _setup(hidden: int = 24, T: int = 5, batch: int = 16, seed: int = 0) -> tuple[DrSAE, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    model = DrSAE(784, hidden, 10, T)
    x = torch.rand(batch, 784, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    model.reset_parameters(templates=x, generator=g)
    with torch.no_grad():  # a random S and b, so units switch on and off along the trajectory
        model.S.add_(0.05 * torch.randn(hidden, hidden, generator=g))
        model.b.copy_(0.01 * torch.randn(hidden, generator=g))
    return model, x.requires_grad_(True), torch.randint(0, 10, (batch,), generator=g)


def _grads(model: DrSAE, x: torch.Tensor, out, terms: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Autograd's parameter gradients of the weighted sum of `terms`."""
    for p in model.parameters():
        p.grad = None
    sum(WEIGHTS[k] * out.losses[k] for k in terms).backward()
    return {k: (p.grad if p.grad is not None else torch.zeros_like(p)).clone() for k, p in model.named_parameters()}


def _by_hand(model: DrSAE, x: torch.Tensor, y: torch.Tensor, terms: tuple[str, ...], half: bool = False):
    """fast_trajectory.gradients for the same terms: (losses, logits, gradients)."""
    for p in model.parameters():
        p.grad = None
    losses, logits = fast_trajectory.gradients(model, x.detach(), y, {k: WEIGHTS[k] for k in terms}, half)
    grads = {k: (p.grad if p.grad is not None else torch.zeros_like(p)).clone() for k, p in model.named_parameters()}
    return losses, logits, grads


@pytest.mark.parametrize("terms", [("reconstruction", "sparsity", "classification"), ("reconstruction", "sparsity")])
def test_fp32_losses_and_gradients_equal_autograd(terms) -> None:
    model, x, y = _setup()
    ref_out = model(x, y)
    ref = _grads(model, x, ref_out, terms)
    losses, logits, got = _by_hand(model, x, y, terms)
    assert 0 < (ref_out.trajectory > 0).float().mean() < 0.9  # relu gates matter
    for k in ref_out.losses:
        torch.testing.assert_close(losses[k], ref_out.losses[k], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(logits, ref_out.logits, rtol=1e-6, atol=1e-6)
    for k in ref:
        assert ref[k].abs().max() > 0 or k in ("C", "c")
        torch.testing.assert_close(got[k], ref[k], rtol=1e-4, atol=1e-6 * float(ref[k].abs().max()) + 1e-12)
    if "classification" not in terms:  # the unsupervised phase leaves the classifier without a gradient
        assert model.C.grad is None and model.c.grad is None


def test_fp32_trajectory_gradient_into_every_step_equals_autograd() -> None:
    """The trajectory alone (the data-parallel path): a loss on every z(t), not only z(T)."""
    model, x, y = _setup(T=4)
    w = torch.randn(4, 1, 24)

    def grads(traj: torch.Tensor) -> list[torch.Tensor]:
        for p in [*model.parameters(), x]:
            p.grad = None
        ((traj * w).sum() + model(x, y, trajectory=traj).losses["reconstruction"]).backward()
        return [model.E.grad.clone(), model.S.grad.clone(), model.b.grad.clone(), x.grad.clone()]

    ref = grads(model.trajectory(x))
    got = grads(fast_trajectory.trajectory(model, x))
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max()))


def test_single_iteration_model() -> None:
    model, x, y = _setup(T=1)
    ref = _grads(model, x, model(x, y), tuple(WEIGHTS))
    _, _, got = _by_hand(model, x, y, tuple(WEIGHTS))
    assert torch.equal(got["S"], torch.zeros_like(got["S"]))
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-4, atol=1e-7)


def test_bf16_gradients_are_close_to_fp32() -> None:
    """bf16 keeps 8 bits of mantissa: each gradient within 3% (in L2) of the fp32 one, the losses within
    1%. A wrong formula would be off by O(1)."""
    model, x, y = _setup(hidden=64, T=6, batch=32)
    ref_out = model(x, y)
    ref = _grads(model, x, ref_out, tuple(WEIGHTS))
    losses, _, got = _by_hand(model, x, y, tuple(WEIGHTS), half=True)
    for k in ref_out.losses:
        assert losses[k].item() == pytest.approx(ref_out.losses[k].item(), rel=1e-2)
    for k in ref:
        assert got[k].dtype == torch.float32
        assert (got[k] - ref[k]).norm() / ref[k].norm() < 3e-2, k


def test_auto_precision_follows_the_cpu(monkeypatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(fast_trajectory, "cpu_has_fast_bf16", lambda: False)
    assert fast_trajectory.resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(fast_trajectory, "cpu_has_fast_bf16", lambda: True)
    assert fast_trajectory.resolve_precision("auto", cpu) == "bf16"
    assert fast_trajectory.resolve_precision("auto", cuda) == "fp32"
    assert fast_trajectory.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        fast_trajectory.resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="half")


def test_bf16_detection_agrees_with_the_cpu_flags() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo")
    flags = cpuinfo.read_text()
    assert fast_trajectory.cpu_has_fast_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_stepper_without_bf16_hardware_trains_in_fp32(monkeypatch) -> None:
    monkeypatch.setattr(fast_trajectory, "cpu_has_fast_bf16", lambda: False)
    model, _, _ = _setup()
    cfg = TrainConfig(hidden=24, T=5, batch_size=8)
    split = data.Split(torch.rand(16, 784), torch.randint(0, 10, (16,)))
    stepper = Stepper(model, model, make_optimizer(model, cfg, False), cfg, split, False)
    assert stepper.precision == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_stepper_fast_path_follows_the_autograd_step(precision) -> None:
    """Ten Adam steps through the hand-written backward land where autograd's land (fp32: to rounding)."""
    base, _, _ = _setup(hidden=32, T=5)
    g = torch.Generator().manual_seed(3)
    xs = torch.rand(200, 784, generator=g)
    split = data.Split(xs / xs.norm(dim=1, keepdim=True), torch.randint(0, 10, (200,), generator=g))
    params = {}
    for manual in (False, True):
        model = copy.deepcopy(base)
        cfg = TrainConfig(hidden=32, T=5, batch_size=20, precision=precision, manual_backward=manual, lr=1e-3)
        stepper = Stepper(model, model, make_optimizer(model, cfg, False), cfg, split, False)
        for i in range(10):
            stepper.step(torch.arange(20 * i, 20 * (i + 1)), i >= 4, i)
        params[manual] = [p.detach().clone() for p in model.parameters()]
    moved = max((p - q).abs().max().item() for p, q in zip(params[False], base.parameters(), strict=True))
    worst = max((p - q).abs().max().item() for p, q in zip(params[True], params[False], strict=True))
    assert moved > 1e-3
    assert worst < (1e-5 if precision == "fp32" else 0.05 * moved)
