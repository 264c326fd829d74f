"""Discriminative recurrent sparse auto-encoder (DrSAE).

Rolfe & LeCun, "Discriminative Recurrent Sparse Auto-Encoders", ICLR 2013 (arXiv:1301.3775).
Specification: shared/spec/paper.md, sections 1-3 (model, losses, training) and 7 (checklist).

Names follow the paper:

    x  input (B, n_in), each image L2-normalised       E  encoder (n_hidden, n_in)
    z  hidden code (B, n_hidden), z(0) = 0             S  explaining-away matrix (n_hidden, n_hidden)
    T  number of unrolled iterations (11)              b  bias, subtracted (n_hidden)
    D  decoder (n_in, n_hidden): x_hat = D z(T)        C  classifier (n_classes, n_hidden), c its bias

    z(t+1) = relu(E x + S z(t) - b),   logits = C z(T) / ||z(T)|| + c

No optimiser, no files, no HTTP here: the trainer (model/train.py) and the checkpoint code
(model/checkpoint.py) build on this module.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from model import core


@dataclass
class DrSAEConfig:
    """Architecture and the norm bounds that belong to it (docs/model.md)."""

    n_in: int = 784
    n_hidden: int = 400
    n_classes: int = 10
    T: int = 11
    # Row bound of E. None means the paper's 1.25/(T-1); the authors' code used 1.25/T (docs/model.md).
    e_bound: float | None = None
    d_bound: float = 1.0  # columns of D (docs/model.md)
    c_bound: float = 5.0  # rows of C (docs/model.md)

    def __post_init__(self) -> None:
        for name in ("n_in", "n_hidden", "n_classes", "T"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("e_bound", "d_bound", "c_bound"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")

    @property
    def encoder_bound(self) -> float:
        return self.e_bound if self.e_bound is not None else 1.25 / max(self.T - 1, 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DrSAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DrSAEConfig keys {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**d)


@dataclass
class DrSAEOutput:
    """Everything one pass computes; loss terms are batch means, returned by name (docs/model.md)."""

    trajectory: Tensor  # (T, B, n_hidden): z(1) ... z(T)
    reconstruction: Tensor  # (B, n_in): D z(T)
    logits: Tensor  # (B, n_classes): C z(T)/||z(T)|| + c
    losses: dict[str, Tensor]  # "reconstruction", "sparsity", and "classification" when labels are given

    @property
    def code(self) -> Tensor:
        return self.trajectory[-1]


class DrSAE(nn.Module):
    """Recurrent ReLU encoder unrolled T times, linear decoder D, normalised linear classifier C."""

    def __init__(
        self,
        n_in: int = 784,
        n_hidden: int = 400,
        n_classes: int = 10,
        T: int = 11,
        e_bound: float | None = None,
        d_bound: float = 1.0,
        c_bound: float = 5.0,
    ) -> None:
        super().__init__()
        self.config = DrSAEConfig(n_in, n_hidden, n_classes, T, e_bound, d_bound, c_bound)
        self.E = nn.Parameter(torch.empty(n_hidden, n_in))
        self.S = nn.Parameter(torch.empty(n_hidden, n_hidden))
        self.b = nn.Parameter(torch.empty(n_hidden))
        self.D = nn.Parameter(torch.empty(n_in, n_hidden))
        self.C = nn.Parameter(torch.empty(n_classes, n_hidden))
        self.c = nn.Parameter(torch.empty(n_classes))
        self.reset_parameters()

    @classmethod
    def from_config(cls, cfg: DrSAEConfig) -> DrSAE:
        return cls(**cfg.to_dict())

    @property
    def T(self) -> int:
        return self.config.T

    # ----------------------------------------------------------------------------------- init
    @torch.no_grad()
    def reset_parameters(self, templates: Tensor | None = None, generator: torch.Generator | None = None) -> None:
        """The authors' ISTA-like initialisation (docs/model.md, the authors' recipe).

        D: torch's default Linear init plus 0.25 x a random L2-normalised training image per column,
        then unit columns. E = a0 D^T and S = I - a0 D^T D with a0 = 1.25/T, so the untrained encoder
        is T steps of non-negative ISTA on D; b = 1e-5. C: random rows of unit norm, bias 0.
        a0 never exceeds the encoder bound: the authors cut both together for T = 2 (docs/model.md), and a
        larger a0 would leave S inconsistent with the E that the first projection clips.
        `templates` (N, n_in) are training images; without them D starts purely random.
        """
        n_hidden, n_in = self.E.shape
        bound = 1.0 / math.sqrt(n_hidden)  # nn.Linear(n_hidden -> n_in) default: U(-1/sqrt(fan_in), ...)
        D = (torch.rand(n_in, n_hidden, generator=generator) * 2 - 1) * bound
        if templates is not None:
            pick = torch.randint(len(templates), (n_hidden,), generator=generator)
            t = templates[pick].float().cpu()  # (n_hidden, n_in)
            D += 0.25 * (t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)).T
        D /= D.norm(dim=0, keepdim=True).clamp_min(1e-12)
        a0 = min(1.25 / self.T, self.config.encoder_bound)
        self.D.copy_(D)
        self.E.copy_(a0 * D.T)
        self.S.copy_(torch.eye(n_hidden) - a0 * D.T @ D)
        self.b.fill_(1e-5)
        n_classes = self.C.shape[0]
        C = (torch.rand(n_classes, n_hidden, generator=generator) * 2 - 1) / math.sqrt(n_hidden)
        self.C.copy_(C / C.norm(dim=1, keepdim=True))
        self.c.zero_()

    # -------------------------------------------------------------------------------- forward
    # One model is a population of one: every equation is model/core.py's, called with P = 1.
    def _stacked(self, *names: str) -> list[Tensor]:
        return [getattr(self, n).unsqueeze(0) for n in names]

    def trajectory(self, x: Tensor, clamp: core.Clamp | None = None) -> Tensor:
        """z(1) ... z(T) as a (T, B, n_hidden) tensor; gradients flow through every step (BPTT)."""
        E, S, b = self._stacked("E", "S", "b")
        return core.trajectory(x.unsqueeze(0), E, S, b, self.T, clamp).squeeze(1)

    def classify(self, z: Tensor) -> Tensor:
        """Class logits from codes (..., n_hidden): C z/||z|| + c (docs/model.md)."""
        C, c = self._stacked("C", "c")
        flat = z.reshape(1, -1, z.shape[-1])
        return core.classify(flat, C, c).reshape(*z.shape[:-1], C.shape[1])

    def decode(self, z: Tensor) -> Tensor:
        """Reconstruction D z, for codes (..., n_hidden)."""
        (D,) = self._stacked("D")
        return core.decode(z.reshape(1, -1, z.shape[-1]), D).reshape(*z.shape[:-1], D.shape[1])

    def forward(self, x: Tensor, y: Tensor | None = None, trajectory: Tensor | None = None) -> DrSAEOutput:
        """Every iteration's code, the reconstruction, the logits and the loss terms (batch means).
        `trajectory`: z(1) ... z(T) already computed from x by another route."""
        traj = self.trajectory(x) if trajectory is None else trajectory
        z = traj[-1]  # (B, n_hidden)
        D, C, c = self._stacked("D", "C", "c")
        labels = y if y is not None else torch.zeros(len(x), dtype=torch.long, device=x.device)
        terms, recon, logits = core.loss_terms(x.unsqueeze(0), labels.unsqueeze(0), z.unsqueeze(0), D, C, c)
        losses = {"reconstruction": terms[0, 0], "sparsity": terms[1, 0]}
        if y is not None:
            losses["classification"] = terms[2, 0]
        return DrSAEOutput(traj, recon.squeeze(0), logits.squeeze(0), losses)

    def losses(self, x: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        return self.forward(x, y).losses

    # ----------------------------------------------------------------------------- training
    @torch.no_grad()
    def project_(self, encoder: bool = True, decoder: bool = True, classifier: bool = True) -> None:
        """Enforce the paper's bounds after an update (docs/model.md): ||E_i,:|| <= e_bound,
        ||D_:,i|| <= d_bound, ||C_k,:|| <= c_bound. Each can be skipped, as the authors projected
        E and D only every 5th minibatch."""
        cfg = self.config
        for on, w, bound, dim in (
            (encoder, self.E, cfg.encoder_bound, 2),
            (decoder, self.D, cfg.d_bound, 1),
            (classifier, self.C, cfg.c_bound, 2),
        ):
            if on:
                core.clip_norms_(w.unsqueeze(0), torch.tensor([bound], device=w.device), dim=dim)

    def lr_scales(self) -> dict[str, float]:
        """Per-matrix learning-rate multipliers (docs/model.md): each matrix's rate is divided by the
        number of times it appears in the unrolled network; C's further by 5."""
        return {
            "E": 1.0 / self.T,
            "b": 1.0 / self.T,
            "S": 1.0 / max(self.T - 1, 1),
            "D": 1.0,
            "C": 0.2,
            "c": 0.2,
        }

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups with the per-matrix rates; 'scale' is kept for schedules."""
        scales = self.lr_scales()
        return [
            {"params": [p], "name": name, "scale": scales[name], "lr": lr * scales[name]}
            for name, p in self.named_parameters()
        ]
