"""The DrSAE's equations, written once, for a population of P models of one shape.

Rolfe & LeCun 2013 (arXiv:1301.3775); docs/model.md explains each line. Every tensor carries a leading
population dimension P (a single model is P = 1), so one batched matmul serves every member:

    x  (P, B, n_in)      E (P, H, n_in)   S (P, H, H)   b (P, H)   D (P, n_in, H)   C (P, K, H)   c (P, K)

    z(1) = relu(E x - b),  z(t+1) = relu(E x - b + S z(t))          `trajectory` -> (T, P, B, H)
    recon = D z(T),  logits = C z(T)/||z(T)|| + c                     `decode`, `classify`
    losses per member, batch means: 0.5||x - D z(T)||^2, ||z(T)||_1, NLL(logits, y)   `loss_terms`

`DrSAE` (model/drsae.py), the trainer, the server's encode and the analyses all call these functions.
`fast_losses` is the same forward as one autograd node whose backward through time is written by hand
(dS one matmul over all t and members) and whose matmuls may run in bfloat16; tests check it against
autograd through `loss_terms`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

# The classifier normalises z(T) by sqrt(||z||^2 + eps), as the authors' NormalizeTable does (docs/model.md).
NORM_EPS = 1e-8
HALF = torch.bfloat16
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 on a CPU with hardware bf16, else fp32
LOSS_TERMS = ("reconstruction", "sparsity", "classification")


class Clamp(NamedTuple):
    """Interventions on the dynamics: where `mask` (T, P, B, H) is true, z(t) is replaced by `values`
    after the relu, so the replaced value is what feeds z(t+1), the classifier and the decoder."""

    mask: Tensor
    values: Tensor


# ------------------------------------------------------------------------------------ forward
def trajectory(x: Tensor, E: Tensor, S: Tensor, b: Tensor, T: int, clamp: Clamp | None = None) -> Tensor:
    """z(1) ... z(T) as (T, P, B, H); differentiable (backpropagation through time by autograd).

    E x - b is the same at every step, so it is computed once; z(0) = 0 makes z(1) = relu(E x - b).
    """
    drive = torch.baddbmm(-b.unsqueeze(1), x, E.transpose(1, 2))  # (P, B, H): E x - b
    S_t = S.transpose(1, 2)
    z = F.relu(drive)
    steps = []
    for t in range(T):
        if t:
            z = F.relu(torch.baddbmm(drive, z, S_t))  # E x - b + S z(t-1)
        if clamp is not None:
            z = torch.where(clamp.mask[t], clamp.values[t], z)
        steps.append(z)
    return torch.stack(steps)


def decode(z: Tensor, D: Tensor) -> Tensor:
    """Reconstruction D z for codes (P, B, H) -> (P, B, n_in)."""
    return torch.bmm(z, D.transpose(1, 2))


def normalise(z: Tensor) -> tuple[Tensor, Tensor]:
    """(z / ||z||, ||z||) with the authors' eps, the classifier's input (docs/model.md)."""
    norm = torch.sqrt((z * z).sum(-1, keepdim=True) + NORM_EPS)
    return z / norm, norm


def classify(z: Tensor, C: Tensor, c: Tensor) -> Tensor:
    """Class logits C z/||z|| + c for codes (P, B, H) -> (P, B, K)."""
    return torch.baddbmm(c.unsqueeze(1), normalise(z)[0], C.transpose(1, 2))


def loss_terms(
    x: Tensor, y: Tensor, z: Tensor, D: Tensor, C: Tensor, c: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The three loss terms per member, batch means, as (3, P) in LOSS_TERMS order; the reconstruction
    and the logits they came from.

    0.5 ||x - D z||^2 and ||z||_1 (z >= 0, so the L1 norm is the sum) are the unsupervised loss L^U; the
    negative log-likelihood of softmax(C z/||z|| + c) is L^S. y is (P, B).
    """
    B = x.shape[1]
    recon = decode(z, D)
    rec = 0.5 * (x - recon).pow(2).sum((1, 2)) / B
    l1 = z.sum((1, 2)) / B
    logits = classify(z, C, c)
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
    return torch.stack([rec, l1, ce]), recon, logits


# ----------------------------------------------------------------------------------- the bounds
def clip_norms_(w: Tensor, bound: Tensor, dim: int) -> None:
    """Scale down every slice of the stacked `w` (P, ...) along `dim` whose L2 norm exceeds its member's
    `bound` (P,); an infinite bound leaves the member alone. A bound, not an equality (docs/model.md)."""
    if dim == w.dim() - 1:  # along contiguous rows
        norms = torch.linalg.vector_norm(w, dim=dim, keepdim=True)
    else:  # across rows linalg.vector_norm is ~4x slower on a CPU than a squared sum (bench/step_parts.py)
        norms = (w * w).sum(dim, keepdim=True).sqrt_()
    w.mul_(norms.reciprocal_().mul_(bound.view(-1, *([1] * (w.dim() - 1)))).clamp_max_(1.0))


# -------------------------------------------------------------------------- the fast training node
def _recur(drive: Tensor, Sh: Tensor, T: int) -> Tensor:
    """`trajectory` without autograd from the drive E x - b (P, B, H), in S's dtype: one fused add-matmul
    and a relu per step."""
    Z = torch.empty(T, *drive.shape, dtype=Sh.dtype, device=drive.device)
    torch.clamp_min(drive, 0, out=Z[0])
    S_t = Sh.transpose(1, 2)
    for t in range(1, T):
        torch.baddbmm(drive, Z[t - 1], S_t, out=Z[t]).relu_()
    return Z


def _relu_grad(grad: Tensor, z: Tensor, out: Tensor) -> None:
    """out = grad where z > 0, else 0: relu's backward as one fused kernel."""
    if grad.dtype == out.dtype:
        torch.ops.aten.threshold_backward.grad_input(grad, z, 0, grad_input=out)
    else:
        out.copy_(torch.ops.aten.threshold_backward(grad, z, 0))


class _FastLosses(torch.autograd.Function):
    """loss_terms(trajectory(...)) as one node: the forward keeps the T codes, the backward runs the deltas
    back through S once and forms dS as ONE batched matmul over all t (docs/training.md):

        delta(T) = dL/dz(T) * [z(T) > 0],  delta(t) = (S^T delta(t+1)) * [z(t) > 0]
        dS = sum_t delta(t+1) z(t)^T,  dE = (sum_t delta(t)) x^T,  db = -sum_t delta(t)

    With `half` every matmul takes bfloat16 inputs (the fp32 parameters stay the master copy) and sums in
    fp32 inside the matmul; losses, logits and the gradients handed back are fp32.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, y: Tensor, E: Tensor, S: Tensor, b: Tensor, D: Tensor, C: Tensor, c: Tensor,
        T: int, half: bool,
    ) -> tuple[Tensor, Tensor]:
        f32, B = x.dtype, x.shape[1]
        dt = HALF if half else f32
        xe, Ee, De, Sh = x.to(dt), E.to(dt), D.to(dt), S.to(dt)
        drive = torch.baddbmm(b.neg().to(dt).unsqueeze(1), xe, Ee.transpose(1, 2))  # E x - b
        Z = _recur(drive, Sh, T)
        z = Z[-1].to(f32)
        diff = torch.bmm(Z[-1], De.transpose(1, 2)).to(f32).sub_(x)  # (P, B, n_in): D z(T) - x
        rec = 0.5 * diff.pow(2).sum((1, 2)) / B
        l1 = z.sum((1, 2)) / B
        zn, norm = normalise(z)
        logits = torch.baddbmm(c.unsqueeze(1), zn, C.transpose(1, 2))
        logp = torch.log_softmax(logits, -1)
        ce = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(1)
        ctx.save_for_backward(xe, De, Sh, Z, diff, zn, norm, logp, y, C)
        ctx.mark_non_differentiable(logits)
        return torch.stack([rec, l1, ce]), logits

    @staticmethod
    def backward(ctx: Any, g: Tensor, _g_logits: Tensor | None) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        """g (3, P): each member's weight on each loss term (the trainer's loss is sum(weights * terms))."""
        xe, De, Sh, Z, diff, zn, norm, logp, y, C = ctx.saved_tensors
        f32, dt = torch.float32, Z.dtype
        T, P, B, H = Z.shape
        w_rec, w_l1, w_ce = (g[k].view(P, 1, 1) / B for k in range(3))
        drh = (diff * w_rec).to(dt)  # (P, B, n_in): dL/d recon
        dz = torch.bmm(drh, De).to(f32).add_(w_l1)  # (P, B, H): dL/dz(T)
        dD = torch.bmm(drh.transpose(1, 2), Z[-1]).to(f32)
        dC = dc = None
        if ctx.needs_input_grad[6] or ctx.needs_input_grad[7]:  # the classifier trains
            dlogits = logp.exp()  # softmax - onehot, weighted
            dlogits.scatter_add_(-1, y.unsqueeze(-1), torch.full_like(dlogits[..., :1], -1.0))
            dlogits.mul_(w_ce)
            dzn = torch.bmm(dlogits, C)  # (P, B, H)
            # zn = z / sqrt(|z|^2 + eps):  dz = (dzn - zn <zn, dzn>) / norm
            dz.add_((dzn - zn * (zn * dzn).sum(-1, keepdim=True)) / norm)
            dC = torch.bmm(dlogits.transpose(1, 2), zn)
            dc = dlogits.sum(1)
        delta = torch.empty_like(Z)  # (T, P, B, H): dL/d(pre-activation) at each t
        _relu_grad(dz, Z[-1], out=delta[-1])
        for t in range(T - 2, -1, -1):
            _relu_grad(torch.bmm(delta[t + 1], Sh), Z[t], out=delta[t])  # S^T delta(t+1), in rows
        total = delta.sum(0, dtype=f32)  # (P, B, H): the drive's gradient summed over t
        dE = torch.bmm(total.to(dt).transpose(1, 2), xe).to(f32)
        db = -total.sum(1)
        # dS: (P, H, (T-1)B) @ (P, (T-1)B, H), one matmul over every t
        d_next = delta[1:].transpose(0, 1).reshape(P, (T - 1) * B, H)
        z_prev = Z[:-1].transpose(0, 1).reshape(P, (T - 1) * B, H)
        dS = torch.bmm(d_next.transpose(1, 2), z_prev).to(f32)
        return None, None, dE, dS, db, dD, dC, dc, None, None


def fast_losses(
    x: Tensor, y: Tensor, E: Tensor, S: Tensor, b: Tensor, D: Tensor, C: Tensor, c: Tensor, T: int, half: bool
) -> tuple[Tensor, Tensor]:
    """What loss_terms(trajectory(...)) returns, (3, P) terms and the logits, with the fast backward."""
    return _FastLosses.apply(x, y, E, S, b, D, C, c, T, half)


# ------------------------------------------------------------------------------------ precision
@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX-512 BF16 or AMX). Without it torch
    still accepts bf16 but converts to fp32 internally, which is slower than fp32 itself."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(p is not None for p in probes):
        return any(p() for p in probes)  # type: ignore[misc]
    try:  # older torch: the kernel's CPU flags
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 on a CPU with hardware bf16, fp32 everywhere else (CUDA keeps fp32 for now)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"
    return precision
