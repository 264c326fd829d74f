"""The model's equations (model/core.py): the fast training node is exact against autograd in fp32 and
close in bf16, for one model and for a population; precision detection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import core
from model.drsae import DrSAE
from model.presets import TrainConfig

WEIGHTS = torch.tensor([5.0, 0.09, 1.0])


def _population(P: int = 3, hidden: int = 24, T: int = 5, batch: int = 16, seed: int = 0):
    """P models with random S and b (so units switch on and off along the trajectory) and their batches."""
    g = torch.Generator().manual_seed(seed)
    models = []
    x = torch.rand(P, batch, 784, generator=g)
    x = x / x.norm(dim=-1, keepdim=True)
    for p in range(P):
        m = DrSAE(784, hidden, 10, T)
        m.reset_parameters(templates=x[p], generator=g)
        with torch.no_grad():
            m.S.add_(0.05 * torch.randn(hidden, hidden, generator=g))
            m.b.copy_(0.01 * torch.randn(hidden, generator=g))
            m.c.copy_(0.1 * torch.randn(10, generator=g))
        models.append(m)
    params = [torch.stack([getattr(m, n).detach() for m in models]).requires_grad_(True) for n in "ESbDCc"]
    return params, x, torch.randint(0, 10, (P, batch), generator=g)


def _reference(params, x, y, T, weights):
    """autograd through the plain equations: terms, logits and the gradients of sum(weights * terms)."""
    E, S, b, D, C, c = params
    terms, _, logits = core.loss_terms(x, y, core.trajectory(x, E, S, b, T)[-1], D, C, c)
    grads = torch.autograd.grad((terms * weights).sum(), params, allow_unused=True)
    return terms.detach(), logits.detach(), grads


def _fast(params, x, y, T, weights, half=False, classifier=True):
    E, S, b, D, C, c = params
    if not classifier:
        C, c = C.detach(), c.detach()
    terms, logits = core.fast_losses(x, y, E, S, b, D, C, c, T, half)
    inputs = params if classifier else params[:4]
    grads = torch.autograd.grad((terms * weights).sum(), inputs)
    return terms.detach(), logits, grads


@pytest.mark.parametrize("P", [1, 3])
def test_fp32_fast_node_equals_autograd(P: int) -> None:
    params, x, y = _population(P)
    weights = WEIGHTS[:, None] * torch.rand(3, P, generator=torch.Generator().manual_seed(1))  # per member
    ref_terms, ref_logits, ref = _reference(params, x, y, 5, weights)
    terms, logits, got = _fast(params, x, y, 5, weights)
    z = core.trajectory(x, *params[:3], 5)
    assert 0.05 < (z > 0).float().mean() < 0.95  # relu gates matter
    torch.testing.assert_close(terms, ref_terms, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-6, atol=1e-6)
    for name, a, b in zip("ESbDCc", got, ref, strict=True):
        assert b.abs().max() > 0, name
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max())), name


def test_members_are_independent() -> None:
    """Member 1's gradient is the same whether members 0 and 2 train beside it or not."""
    params, x, y = _population(3)
    alone = [p.detach()[1:2].clone().requires_grad_(True) for p in params]
    weights = WEIGHTS[:, None].expand(3, 3)
    _, _, together = _fast(params, x, y, 5, weights)
    _, _, single = _fast(alone, x[1:2], y[1:2], 5, weights[:, :1])
    for a, b in zip(together, single, strict=True):
        torch.testing.assert_close(a[1:2], b, rtol=1e-5, atol=1e-8)


def test_without_the_classifier_no_classifier_gradient() -> None:
    """The unsupervised phase: C and c get nothing, and the encoder's gradient ignores the classifier."""
    params, x, y = _population(2)
    weights = torch.tensor([[5.0, 5.0], [0.09, 0.09], [0.0, 0.0]])
    _, _, ref = _reference(params, x, y, 5, weights)
    _, _, got = _fast(params, x, y, 5, weights, classifier=False)
    assert len(got) == 4
    for a, b in zip(got, ref[:4], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max()))


def test_single_iteration_model() -> None:
    params, x, y = _population(2, T=1)
    weights = WEIGHTS[:, None].expand(3, 2)
    _, _, ref = _reference(params, x, y, 1, weights)
    _, _, got = _fast(params, x, y, 1, weights)
    assert torch.equal(got[1], torch.zeros_like(got[1]))  # S never acts when T = 1
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b if b is not None else torch.zeros_like(a), rtol=1e-4, atol=1e-7)


def test_bf16_gradients_are_close_to_fp32() -> None:
    """bf16 keeps 8 bits of mantissa: each gradient within 3% (in L2) of the fp32 one, the losses within
    1%. A wrong formula would be off by O(1)."""
    params, x, y = _population(2, hidden=64, T=6, batch=32)
    weights = WEIGHTS[:, None].expand(3, 2)
    ref_terms, _, ref = _reference(params, x, y, 6, weights)
    terms, _, got = _fast(params, x, y, 6, weights, half=True)
    torch.testing.assert_close(terms, ref_terms, rtol=1e-2, atol=0)
    for name, a, b in zip("ESbDCc", got, ref, strict=True):
        assert a.dtype == torch.float32
        assert (a - b).norm() / b.norm() < 3e-2, name


def test_clamp_replaces_activity_after_the_relu() -> None:
    params, x, _ = _population(1, T=4)
    E, S, b = (p.detach() for p in params[:3])
    mask = torch.zeros(4, 1, 16, 24, dtype=torch.bool)
    mask[1:3, :, :, 5] = True
    values = torch.full((4, 1, 16, 24), 0.7)
    z = core.trajectory(x, E, S, b, 4, core.Clamp(mask, values))
    assert torch.all(z[1:3, :, :, 5] == 0.7)
    free = core.trajectory(x, E, S, b, 4)
    assert torch.equal(z[0], free[0]) and not torch.allclose(z[3], free[3])  # the clamp feeds z(t+1)


def test_clip_norms_per_member_bound() -> None:
    w = torch.ones(3, 4, 5)  # rows of norm sqrt(5)
    core.clip_norms_(w, torch.tensor([1.0, float("inf"), 10.0]), dim=2)
    norms = w.norm(dim=2)
    torch.testing.assert_close(norms[0], torch.ones(4))
    assert torch.equal(w[1], torch.ones(4, 5)) and torch.equal(w[2], torch.ones(4, 5))  # inf, and within bound
    z = torch.zeros(1, 4, 5)
    core.clip_norms_(z, torch.tensor([1.0]), dim=1)  # a zero column stays zero
    assert torch.equal(z, torch.zeros(1, 4, 5))


def test_auto_precision_follows_the_cpu(monkeypatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(core, "cpu_has_fast_bf16", lambda: False)
    assert core.resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(core, "cpu_has_fast_bf16", lambda: True)
    assert core.resolve_precision("auto", cpu) == "bf16"
    assert core.resolve_precision("auto", cuda) == "fp32"
    assert core.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        core.resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="half")


def test_bf16_detection_agrees_with_the_cpu_flags() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo")
    flags = cpuinfo.read_text()
    assert core.cpu_has_fast_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)
