"""The paper's analyses (spec section 5) as pure functions: tensors in, numpy arrays and dicts out.

No plotting and no files here: the API (server/), the dashboard (through the API) and the paper report
(model/reproduce.py) all call these.
"""

from __future__ import annotations

import numpy as np
import torch

from model.drsae import DrSAE

PART_MAX_ANGLE = 0.5  # rad: encoder-decoder angle below which a unit is a part-unit (spec 5.1)
CATEGORICAL_MIN_ANGLE = 0.7  # rad: above which it is a categorical-unit
ROLES = ("part", "intermediate", "categorical")


@torch.no_grad()
def encoder_decoder_angles(model: DrSAE) -> np.ndarray:
    """Angle (rad) between each unit's encoder row E_i and decoder column D_i; 0 for perfect ISTA."""
    E, D = model.E.detach().cpu().double(), model.D.detach().cpu().double()
    cos = (E * D.T).sum(1) / (E.norm(dim=1) * D.norm(dim=0)).clamp_min(1e-12)
    return torch.arccos(cos.clamp(-1, 1)).numpy()


def roles_from_angles(angles: np.ndarray) -> np.ndarray:
    roles = np.full(angles.shape, "intermediate", dtype=object)
    roles[angles < PART_MAX_ANGLE] = "part"
    roles[angles > CATEGORICAL_MIN_ANGLE] = "categorical"
    return roles.astype(str)


@torch.no_grad()
def unit_roles(model: DrSAE) -> dict[str, np.ndarray]:
    """Per unit: angle, role, the class it projects to most strongly, ||C_i|| and ||(S - I)_i||.

    'class' is argmax_k C[k, i] (the strongest positive classification projection, spec 5.1);
    ||(S - I)_i|| is the norm of unit i's incoming recurrent row.
    """
    angles = encoder_decoder_angles(model)
    C = model.C.detach().cpu().double()
    S = model.S.detach().cpu().double()
    S_minus_I = S - torch.eye(S.shape[0], dtype=S.dtype)
    return {
        "angle": angles,
        "role": roles_from_angles(angles),
        "class": C.argmax(0).numpy(),
        "c_norm": C.norm(dim=0).numpy(),
        "s_norm": S_minus_I.norm(dim=1).numpy(),
    }
