"""A faster training forward/backward for DrSAE: hand-written BPTT and bfloat16 matmuls.

Autograd through DrSAE.forward records each of the T - 1 recurrent steps as several nodes and forms dS
as T - 1 small matmuls. Here the whole step, losses included, is written out by hand without autograd
(`gradients`, the trainer's single-process step); the trajectory alone is one autograd node
(`trajectory`, for the data-parallel path):

    forward:   d = E x - b;  z(1) = relu(d);  z(t+1) = relu(d + S z(t))        keeps the T codes
    backward:  delta(T) = dL/dz(T) * [z(T) > 0];  delta(t) = (S^T delta(t+1)) * [z(t) > 0]
               dS = sum_t delta(t+1) z(t)^T     ONE matmul over all t (the deltas and codes stacked)
               dE = (sum_t delta(t)) x^T,  db = -sum_t delta(t)

With `half` every matmul takes bfloat16 inputs (weights cast once per step; the fp32 parameters stay the
master copy), accumulates in fp32 inside the matmul and rounds its output to bf16; the codes are kept in
bf16, as the next matmul reads them anyway. Losses and the gradients handed to the optimiser are fp32.
docs/training.md has the measured speed and the fp32-vs-bf16 comparison.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from model.drsae import NORM_EPS, DrSAE, DrSAEOutput
from model.presets import PRECISIONS

HALF = torch.bfloat16


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


# ----------------------------------------------------------------------------------- trajectory
def _recur(xh: Tensor, Eh: Tensor, Sh: Tensor, b: Tensor, T: int) -> Tensor:
    """The T codes (T, B, H) in the matmul dtype: two kernels per iteration, a fused add-matmul and a relu.
    In bf16 the codes are rounded as the matmuls' inputs would be anyway; sums run in fp32 inside them."""
    B, H = xh.shape[0], Eh.shape[0]
    Zh = torch.empty(T, B, H, dtype=Sh.dtype, device=xh.device)
    drive = torch.addmm(b.neg().to(Sh.dtype), xh, Eh.t())  # (B, H): E x - b, once for all t
    torch.clamp_min(drive, 0, out=Zh[0])
    for t in range(1, T):
        torch.addmm(drive, Zh[t - 1], Sh.t(), out=Zh[t]).relu_()  # relu(E x - b + S z(t-1))
    return Zh


def _bptt(Zh: Tensor, Sh: Tensor, g_last: Tensor, g: Tensor | None) -> tuple[Tensor, Tensor]:
    """Back through the T iterations from dL/dz(T) (and dL/dz(t) for earlier t when `g` is given).
    Returns every step's delta (T, B, H) and their sum over t (B, H), both in the matmul dtype."""
    T, B, H = Zh.shape
    delta = torch.empty_like(Zh)  # (T, B, H): dL/d(pre-activation) at each t
    _relu_grad(g_last, Zh[T - 1], out=delta[T - 1])
    for t in range(T - 2, -1, -1):
        back = torch.mm(delta[t + 1], Sh)  # (B, H): S^T delta(t+1), in rows
        _relu_grad(back if g is None else back.add_(g[t]), Zh[t], out=delta[t])
    # the drive's gradient, summed over t by one matmul (fp32 accumulation inside it)
    total = torch.mm(torch.ones(1, T, dtype=Zh.dtype, device=Zh.device), delta.view(T, B * H)).view(B, H)
    return delta, total


def _encoder_grads(
    needs: tuple[bool, ...], xh: Tensor, Eh: Tensor, Zh: Tensor, delta: Tensor, total: Tensor
) -> tuple[Tensor | None, ...]:
    """(dx, dE, dS, db), each where `needs` asks for it, from the deltas; dS as ONE matmul over all t."""
    f32, H = torch.float32, Zh.shape[2]
    dx = dE = dS = db = None
    if needs[0]:
        dx = torch.mm(total, Eh).to(f32)
    if needs[1]:
        dE = torch.mm(total.t(), xh).to(f32)
    if needs[2]:  # (H, (T-1)B) @ ((T-1)B, H)
        dS = torch.mm(delta[1:].reshape(-1, H).t(), Zh[:-1].reshape(-1, H)).to(f32)
    if needs[3]:
        db = -total.sum(0, dtype=f32)
    return dx, dE, dS, db


class _Trajectory(torch.autograd.Function):
    """z(1) ... z(T) as (T, B, n_hidden) fp32, with the backward above."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, E: Tensor, S: Tensor, b: Tensor, T: int, half: bool) -> Tensor:
        dt = HALF if half else x.dtype
        xh, Eh, Sh = x.to(dt), E.detach().to(dt), S.detach().to(dt)
        Zh = _recur(xh, Eh, Sh, b.detach(), T)
        ctx.save_for_backward(xh, Eh, Sh, Zh)
        return Zh.to(x.dtype, copy=True)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        xh, Eh, Sh, Zh = ctx.saved_tensors
        delta, total = _bptt(Zh, Sh, g[-1], g)
        return (*_encoder_grads(ctx.needs_input_grad[:4], xh, Eh, Zh, delta, total), None, None)


class _Saved(NamedTuple):
    """What the backward reads from the forward: the matmul-dtype operands, the codes, the loss parts."""

    xh: Tensor
    Eh: Tensor
    Sh: Tensor
    Dh: Tensor
    Zh: Tensor  # (T, B, H)
    diff: Tensor  # (B, n_in): D z(T) - x
    zn: Tensor  # (B, H): z(T) / norm
    norm: Tensor  # (B, 1)
    logp: Tensor  # (B, n_classes): log softmax of the logits
    y: Tensor
    C: Tensor


def _forward(
    x: Tensor, E: Tensor, S: Tensor, b: Tensor, D: Tensor, C: Tensor, c: Tensor, y: Tensor, T: int, half: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, _Saved]:
    """DrSAE.forward(x, y) on plain tensors: the three loss terms (batch means), the logits and what the
    backward needs. The reconstruction itself is `saved.diff + x`."""
    dt = HALF if half else x.dtype
    B = x.shape[0]
    xh, Eh, Sh, Dh = x.to(dt), E.to(dt), S.to(dt), D.to(dt)
    Zh = _recur(xh, Eh, Sh, b, T)
    z = Zh[T - 1].to(x.dtype)  # (B, H)
    diff = torch.mm(Zh[T - 1], Dh.t()).to(x.dtype).sub_(x)  # (B, n_in): D z(T) - x
    rec = torch.dot(diff.view(-1), diff.view(-1)) * (0.5 / B)  # 0.5 ||x - D z||^2, batch mean
    l1 = z.sum() / B  # ||z||_1 (z >= 0), batch mean
    norm = torch.sqrt((z * z).sum(1, keepdim=True) + NORM_EPS)  # (B, 1)
    zn = z / norm
    logits = torch.addmm(c, zn, C.t())  # (B, n_classes)
    logp = torch.log_softmax(logits, 1)
    ce = -logp.gather(1, y[:, None]).sum() / B
    return rec, l1, ce, logits, _Saved(xh, Eh, Sh, Dh, Zh, diff, zn, norm, logp, y, C)


def _backward(s: _Saved, w_rec: float, w_l1: float, w_ce: float | None) -> tuple[Tensor | None, ...]:
    """(dE, dS, db, dD, dC, dc) of w_rec * rec + w_l1 * l1 + w_ce * ce; without w_ce the classifier gets
    none (None). Nothing flows into z(t) for t < T but from z(T), so no (T, B, H) gradient is formed."""
    f32, dt = torch.float32, s.Zh.dtype
    B = s.diff.shape[0]
    drh = (s.diff * (w_rec / B)).to(dt)  # (B, n_in): dL/d recon
    dz = torch.mm(drh, s.Dh).to(f32).add_(w_l1 / B)  # (B, H): dL/dz(T)
    dD = torch.mm(drh.t(), s.Zh[-1]).to(f32)
    dC = dc = None
    if w_ce is not None:
        dlogits = s.logp.exp()  # (B, n_classes): softmax - onehot, scaled
        dlogits.scatter_add_(1, s.y[:, None], torch.full_like(dlogits[:, :1], -1.0))
        dlogits.mul_(w_ce / B)
        dzn = torch.mm(dlogits, s.C)  # (B, H)
        # zn = z / sqrt(|z|^2 + eps):  dz = (dzn - zn <zn, dzn>) / norm
        dz.add_((dzn - s.zn * (s.zn * dzn).sum(1, keepdim=True)) / s.norm)
        dC = torch.mm(dlogits.t(), s.zn)
        dc = dlogits.sum(0)
    delta, total = _bptt(s.Zh, s.Sh, dz, None)
    _, dE, dS, db = _encoder_grads((False, True, True, True), s.xh, s.Eh, s.Zh, delta, total)
    return dE, dS, db, dD, dC, dc


@torch.no_grad()
def gradients(
    model: DrSAE, x: Tensor, y: Tensor, weights: dict[str, float], half: bool
) -> tuple[dict[str, Tensor], Tensor]:
    """One training step's forward and backward by hand, without autograd.

    Sets every parameter's `.grad` to the gradient of sum_k weights[k] * loss_k (the keys of
    DrSAE.forward's losses; without "classification" C and c get no gradient, as in the unsupervised
    phase) and returns the three loss terms (batch means) and the logits.
    """
    m = model
    rec, l1, ce, logits, saved = _forward(x, m.E, m.S, m.b, m.D, m.C, m.c, y, m.T, half)
    grads = _backward(saved, weights["reconstruction"], weights["sparsity"], weights.get("classification"))
    for p, g in zip((m.E, m.S, m.b, m.D, m.C, m.c), grads, strict=True):
        p.grad = g
    return {"reconstruction": rec, "sparsity": l1, "classification": ce}, logits


def _relu_grad(grad: Tensor, z: Tensor, out: Tensor) -> None:
    """out = grad where z > 0, else 0: relu's backward as one fused kernel (a mask and a multiply cost 8x)."""
    if grad.dtype == out.dtype:
        torch.ops.aten.threshold_backward.grad_input(grad, z, 0, grad_input=out)
    else:
        out.copy_(torch.ops.aten.threshold_backward(grad, z, 0))


def trajectory(model: DrSAE, x: Tensor, half: bool = False) -> Tensor:
    """What DrSAE.trajectory returns, through the hand-written backward (bf16 matmuls with `half`)."""
    return _Trajectory.apply(x, model.E, model.S, model.b, model.T, half)


def make_forward(
    model: DrSAE, net: torch.nn.Module, precision: str, manual_backward: bool
) -> Callable[[Tensor, Tensor], DrSAEOutput]:
    """The autograd training forward `(x, y) -> DrSAEOutput` for a resolved precision ('fp32' or 'bf16'),
    for the steps that `gradients` does not take: the data-parallel one and CUDA's.

    `net` is the model or its DistributedDataParallel wrapper; the call goes through it so DDP sees it.
    With bf16 the decoder and classifier run under CPU autocast (their matmuls in bf16, the losses in fp32).
    """
    half = precision == "bf16"
    # The hand-written backward is checked against autograd on the CPU only; no GPU session has run it yet,
    # so on CUDA the step keeps autograd (which bench/graph_check.py checked, graphed, on an H100).
    manual_backward = manual_backward and next(model.parameters()).device.type == "cpu"

    def forward(x: Tensor, y: Tensor) -> DrSAEOutput:
        traj = trajectory(model, x, half) if manual_backward else None  # DDP: the call must go through net
        if not half:
            return net(x, y, trajectory=traj)
        with torch.autocast(x.device.type, dtype=HALF):
            if traj is None:
                traj = model.trajectory(x).float()
            return net(x, y, trajectory=traj)

    return forward
