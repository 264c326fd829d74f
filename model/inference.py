"""One image through a DrSAE's T iterations, with interventions and the drive of every unit split apart.

Rolfe & LeCun 2013 (arXiv:1301.3775) explain a trained DrSAE through its dynamics: part-units are driven by
the input E x, categorical-units by the recurrent drive S z(t-1) and build up over t; the reconstruction
reads as a prototype (categorical-units) plus deformations (part-units). This module computes those pieces
for one image, in numpy (for a single image torch's per-operation overhead is most of the cost), and lets
a caller steer the dynamics:

    z(t) = relu(E x - b + S z(t-1)),  z(0) = 0           (model/drsae.py: DrSAE.trajectory)
    an intervention (k, v, t0, t1) sets z_k(t) = v for t0 <= t <= t1 after the relu, so the replaced value
    is what feeds z(t+1), the classifier and the decoder (v = 0 ablates the unit).

Iterations are numbered 1..T as in the paper; arrays index them from 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.drsae import NORM_EPS, DrSAE

ROLE_NAMES = ("part", "intermediate", "categorical")


@dataclass(frozen=True)
class Intervention:
    """Replace unit `unit`'s activity by `value` at iterations from_iteration..to_iteration (1-based, inclusive)."""

    unit: int
    value: float
    from_iteration: int
    to_iteration: int


@dataclass(frozen=True)
class Weights:
    """The model's parameters as float32 numpy arrays (paper names, shapes as in DrSAE)."""

    E: np.ndarray  # (n_hidden, n_in)
    S: np.ndarray  # (n_hidden, n_hidden)
    b: np.ndarray  # (n_hidden,)
    D: np.ndarray  # (n_in, n_hidden)
    C: np.ndarray  # (n_classes, n_hidden)
    c: np.ndarray  # (n_classes,)
    T: int

    @classmethod
    def of(cls, model: DrSAE) -> Weights:
        def arr(p: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(p.detach().float().cpu().numpy())

        return cls(arr(model.E), arr(model.S), arr(model.b), arr(model.D), arr(model.C), arr(model.c), model.T)

    @property
    def n_hidden(self) -> int:
        return len(self.b)


def check_interventions(interventions: Sequence[Intervention], n_hidden: int, T: int) -> None:
    """ValueError naming the first intervention that cannot apply to this model."""
    for i, iv in enumerate(interventions):
        where = f"intervention {i}"
        if not 0 <= iv.unit < n_hidden:
            raise ValueError(f"{where}: unit {iv.unit} does not exist (the model has units 0..{n_hidden - 1})")
        if not (np.isfinite(iv.value) and iv.value >= 0):
            raise ValueError(f"{where}: value must be a finite number >= 0, got {iv.value}")
        if not 1 <= iv.from_iteration <= iv.to_iteration <= T:
            raise ValueError(
                f"{where}: iterations {iv.from_iteration}..{iv.to_iteration} are not a range within 1..{T}"
            )


def clamp_mask(interventions: Sequence[Intervention], n_hidden: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, n_hidden) boolean mask of clamped activities and (T, n_hidden) their values; later ones win."""
    mask = np.zeros((T, n_hidden), dtype=bool)
    values = np.zeros((T, n_hidden), dtype=np.float32)
    for iv in interventions:
        sl = slice(iv.from_iteration - 1, iv.to_iteration)
        mask[sl, iv.unit] = True
        values[sl, iv.unit] = iv.value
    return mask, values


def softmax_probabilities(w: Weights, Z: np.ndarray) -> np.ndarray:
    """softmax(C z/||z|| + c) for each row of Z (..., n_hidden) -> (..., n_classes), as DrSAE.classify."""
    zn = Z / np.sqrt((Z * Z).sum(-1, keepdims=True) + NORM_EPS)
    logits = zn @ w.C.T + w.c
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def decision_iteration(probabilities: np.ndarray) -> int:
    """The first iteration t (1-based) from which the top class is the final one at every later t."""
    top = probabilities.argmax(-1)
    t = len(top)
    while t > 1 and top[t - 2] == top[-1]:
        t -= 1
    return t


def role_masks(roles: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean (n_hidden,) mask per role name, from an array of role strings (model/analysis.unit_roles)."""
    roles = np.asarray(roles).astype(str)
    return {r: roles == r for r in ROLE_NAMES}


def run(
    w: Weights,
    x: np.ndarray,
    interventions: Sequence[Intervention] = (),
    *,
    decompose: bool = False,
    reconstructions: bool = False,
    roles: np.ndarray | None = None,
) -> dict[str, object]:
    """Every iteration for one L2-normalised input x (n_in,).

    Always: "z" (T, n_hidden) after interventions, "probabilities" (T, n_classes), "decision_iteration".
    decompose: "input_drive" (n_hidden,) = E x - b and "recurrent_drive" (T, n_hidden) = S z(t-1) (zeros
    at t = 1), so z(t) = relu(input_drive + recurrent_drive[t]) wherever no intervention applies; with
    `roles`, also "recurrent_drive_by_role": the recurrent drive split by the sending unit's role
    ("part", "intermediate", "categorical", each excluding the unit itself) plus "self" (S_kk z_k(t-1)).
    reconstructions: "reconstructions" (T, n_in) = D z(t); with `roles` also "reconstructions_by_role",
    D restricted to each role's columns, which add up to the reconstructions.
    """
    check_interventions(interventions, w.n_hidden, w.T)
    T, n = w.T, w.n_hidden
    mask, values = clamp_mask(interventions, n, T)
    x = np.asarray(x, dtype=np.float32)
    drive = w.E @ x - w.b  # (n,): E x - b, the same at every step
    Z = np.empty((T, n), dtype=np.float32)
    R = np.zeros((T, n), dtype=np.float32)  # recurrent drive S z(t-1); z(0) = 0
    for t in range(T):
        if t:
            R[t] = w.S @ Z[t - 1]
        Z[t] = np.where(mask[t], values[t], np.maximum(drive + R[t], 0.0))
    probs = softmax_probabilities(w, Z)
    out: dict[str, object] = {"z": Z, "probabilities": probs, "decision_iteration": decision_iteration(probs)}
    masks = role_masks(roles) if roles is not None else None
    if decompose:
        out["input_drive"] = drive
        out["recurrent_drive"] = R
        if masks is not None:
            Zprev = np.vstack([np.zeros((1, n), np.float32), Z[:-1]])  # (T, n): z(t-1)
            S_off = w.S - np.diag(np.diag(w.S))  # connections between distinct units
            by_role = {r: Zprev @ (S_off * m[None, :]).T for r, m in masks.items()}  # (T, n) each
            by_role["self"] = Zprev * np.diag(w.S)[None, :]
            out["recurrent_drive_by_role"] = by_role
    if reconstructions:
        out["reconstructions"] = Z @ w.D.T  # (T, n_in)
        if masks is not None:
            out["reconstructions_by_role"] = {r: (Z * m[None, :]) @ w.D.T for r, m in masks.items()}
    return out
