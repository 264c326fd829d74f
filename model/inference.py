"""One image through a DrSAE's T iterations, with interventions and the drive of every unit split apart.

Rolfe & LeCun 2013 (arXiv:1301.3775) explain a trained DrSAE through its dynamics: part-units are driven by
the input E x, categorical-units by the recurrent drive S z(t-1) and build up over t; the reconstruction
reads as a prototype (categorical-units) plus deformations (part-units). This module computes those pieces
for one image with the model's own equations (model/core.py, through DrSAE.trajectory), and lets a caller
steer the dynamics:

    z(t) = relu(E x - b + S z(t-1)),  z(0) = 0           (model/core.py: trajectory)
    an intervention (k, v, t0, t1) sets z_k(t) = v for t0 <= t <= t1 after the relu, so the replaced value
    is what feeds z(t+1), the classifier and the decoder (v = 0 ablates the unit).

Iterations are numbered 1..T as in the paper; arrays index them from 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model import core
from model.analysis import ROLES
from model.drsae import DrSAE


@dataclass(frozen=True)
class Intervention:
    """Replace unit `unit`'s activity by `value` at iterations from_iteration..to_iteration (1-based, inclusive)."""

    unit: int
    value: float
    from_iteration: int
    to_iteration: int


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


def clamp(interventions: Sequence[Intervention], n_hidden: int, T: int, device: torch.device) -> core.Clamp:
    """The interventions as a (T, 1, 1, n_hidden) mask of clamped activities and their values; later win."""
    mask = torch.zeros(T, 1, 1, n_hidden, dtype=torch.bool)
    values = torch.zeros(T, 1, 1, n_hidden)
    for iv in interventions:
        sl = slice(iv.from_iteration - 1, iv.to_iteration)
        mask[sl, 0, 0, iv.unit] = True
        values[sl, 0, 0, iv.unit] = iv.value
    return core.Clamp(mask.to(device), values.to(device))


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
    return {r: roles == r for r in ROLES}


@torch.inference_mode()
def run(
    model: DrSAE,
    x: np.ndarray,
    interventions: Sequence[Intervention] = (),
    *,
    decompose: bool = False,
    reconstructions: bool = False,
    roles: np.ndarray | None = None,
) -> dict[str, object]:
    """Every iteration for one L2-normalised input x (n_in,), as numpy arrays.

    Always: "z" (T, n_hidden) after interventions, "probabilities" (T, n_classes), "decision_iteration".
    decompose: "input_drive" (n_hidden,) = E x - b and "recurrent_drive" (T, n_hidden) = S z(t-1) (zeros
    at t = 1), so z(t) = relu(input_drive + recurrent_drive[t]) wherever no intervention applies; with
    `roles`, also "recurrent_drive_by_role": the recurrent drive split by the sending unit's role
    ("part", "intermediate", "categorical", each excluding the unit itself) plus "self" (S_kk z_k(t-1)).
    reconstructions: "reconstructions" (T, n_in) = D z(t); with `roles` also "reconstructions_by_role",
    D restricted to each role's columns, which add up to the reconstructions.
    """
    T, n = model.T, model.config.n_hidden
    check_interventions(interventions, n, T)
    device = model.E.device
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device).unsqueeze(0)  # (1, n_in)
    Z = model.trajectory(xt, clamp(interventions, n, T, device) if interventions else None)[:, 0]  # (T, n)
    probs = torch.softmax(model.classify(Z), -1)

    def arr(t: torch.Tensor) -> np.ndarray:
        return t.float().cpu().numpy()

    out: dict[str, object] = {"z": arr(Z), "probabilities": arr(probs)}
    out["decision_iteration"] = decision_iteration(out["probabilities"])  # type: ignore[arg-type]
    masks = {r: torch.as_tensor(m, device=device) for r, m in role_masks(roles).items()} if roles is not None else None
    if decompose:
        Zprev = torch.cat([torch.zeros(1, n, device=device), Z[:-1]])  # (T, n): z(t-1)
        out["input_drive"] = arr(xt[0] @ model.E.T - model.b)
        out["recurrent_drive"] = arr(Zprev @ model.S.T)
        if masks is not None:
            diag = torch.diagonal(model.S)
            S_off = model.S - torch.diag(diag)  # connections between distinct units
            by_role = {r: arr(Zprev @ (S_off * m[None, :].float()).T) for r, m in masks.items()}
            by_role["self"] = arr(Zprev * diag[None, :])
            out["recurrent_drive_by_role"] = by_role
    if reconstructions:
        out["reconstructions"] = arr(model.decode(Z))
        if masks is not None:
            out["reconstructions_by_role"] = {r: arr((Z * m[None, :].float()) @ model.D.T) for r, m in masks.items()}
    return out
