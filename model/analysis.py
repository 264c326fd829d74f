"""The paper's analyses (its section 5; docs/model.md) as pure functions: tensors in, numpy arrays and dicts out.

No plotting and no files here: the API (server/), the dashboard (through the API) and the paper report
(report/reproduce.py) all call these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from model.drsae import DrSAE

PART_MAX_ANGLE = 0.5  # rad: encoder-decoder angle below which a unit is a part-unit (docs/model.md)
CATEGORICAL_MIN_ANGLE = 0.7  # rad: above which it is a categorical-unit
ROLES = ("part", "intermediate", "categorical")  # the one list of role names (the API serves it)
MIN_UNITS = 10  # units a group needs before a claim or structure sign about it gets a verdict


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


def relative_roles(angles: np.ndarray, fraction: float = 1 / 3) -> np.ndarray:
    """Roles by rank of the angle instead of the fixed 0.5/0.7 rad thresholds: the lowest `fraction` of
    units are "part", the highest "categorical", the rest "intermediate".

    The paper stresses that the roles form a continuum (docs/model.md) and its thresholds were set for its own
    SGD-trained model; a model whose angles all fall on one side of them (an Adam-trained one, say) can
    still be compared along that continuum this way. Ties are broken by unit index.
    """
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    angles = np.asarray(angles)
    order = np.argsort(angles, kind="stable")
    k = int(len(angles) * fraction)
    roles = np.full(len(angles), "intermediate", dtype=object)
    roles[order[:k]] = "part"
    roles[order[len(angles) - k :]] = "categorical"
    return roles.astype(str)


@torch.no_grad()
def unit_roles(model: DrSAE) -> dict[str, np.ndarray]:
    """Per unit: angle, role, the class it projects to most strongly, ||C_i|| and ||(S - I)_i||.

    'class' is argmax_k C[k, i] (the strongest positive classification projection, docs/model.md);
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


ROLE_METRIC_KEYS = (
    "angle_q10",
    "angle_q25",
    "angle_median",
    "angle_q75",
    "angle_q90",
    "units_part",
    "units_categorical",
    "spearman_angle_c_norm",
)


@torch.no_grad()
def role_metrics(model: DrSAE) -> dict[str, float]:
    """Cheap per-epoch numbers that show the roles separating during training (a few ms): quantiles of
    the encoder-decoder angle, how many units fall under 0.5 rad and over 0.7 rad, and the Spearman
    correlation of the angle with ||C_i|| (the paper: categorical-units classify strongly)."""
    angle = encoder_decoder_angles(model)
    c_norm = model.C.detach().cpu().double().norm(dim=0).numpy()
    q = np.quantile(angle, [0.1, 0.25, 0.5, 0.75, 0.9])
    counts = [int((angle < PART_MAX_ANGLE).sum()), int((angle > CATEGORICAL_MIN_ANGLE).sum())]
    values = [*q.tolist(), *counts, spearman(angle, c_norm)]
    return dict(zip(ROLE_METRIC_KEYS, values, strict=True))


# ------------------------------------------------------------------------------------ helpers
def _as_batch(x: Tensor, model: DrSAE) -> Tensor:
    """Inputs as a float (B, n_in) tensor on the model's device."""
    device = next(model.parameters()).device
    x = torch.as_tensor(x).float().to(device)
    return x.unsqueeze(0) if x.dim() == 1 else x


@torch.no_grad()
def trajectories(model: DrSAE, x: Tensor, batch_size: int = 2000) -> Tensor:
    """z(1) ... z(T) for all of `x`, in batches, on the CPU: (T, N, n_hidden)."""
    x = _as_batch(x, model)
    parts = [model.trajectory(x[i : i + batch_size]).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts, dim=1)


def _roles(model: DrSAE, roles: np.ndarray | None) -> np.ndarray:
    return roles_from_angles(encoder_decoder_angles(model)) if roles is None else np.asarray(roles).astype(str)


# ------------------------------------------------------------------------ activity over time
@torch.no_grad()
def activity_dynamics(model: DrSAE, x: Tensor, roles: np.ndarray | None = None) -> dict[str, Any]:
    """How each unit's activity unfolds over the T iterations on inputs `x` (docs/model.md).

    Part-units usually switch on at t = 1 straight from the input; categorical-units are more likely to
    switch on first at t = 2, driven by part-units, and then integrate their input over time.

    Returns (n = hidden units):
      "first_active": (T + 1, n) fraction of inputs whose unit first becomes active at t = 1..T (rows
                      1..T); row 0 holds the fraction never active.
      "p_first_active_t2": (n,) P(z_i(1) = 0 and z_i(2) > 0), the paper's "switches on late" statistic (0 when T < 2).
      "p_active": (T, n) fraction of inputs with z_i(t) > 0.
      "mean_activity": (T, n) mean z_i(t) over inputs (inactive inputs count as 0).
      "mean_final_active": (n,) mean z_i(T) over the inputs where z_i(T) > 0; NaN for a unit never active.
      "role_activity": {role: (T,) mean over inputs and over that role's units of z_i(t); NaN if no unit}.
      "role_count": {role: number of units}.
    """
    Z = trajectories(model, x).double()  # (T, N, n)
    T, N, n = Z.shape
    active = Z > 0  # (T, N, n)
    ever = active.any(0)  # (N, n)
    first = torch.where(ever, active.float().argmax(0) + 1, torch.zeros_like(ever, dtype=torch.long))  # (N, n)
    first_active = torch.stack([(first == t).double().mean(0) for t in range(T + 1)])  # (T + 1, n)
    p_t2 = (~active[0] & active[1]).double().mean(0) if T >= 2 else torch.zeros(n, dtype=torch.float64)
    final = Z[-1]  # (N, n)
    n_final = active[-1].sum(0)  # (n,)
    mean_final = torch.where(n_final > 0, final.sum(0) / n_final.clamp_min(1), torch.full_like(final[0], math.nan))
    mean_activity = Z.mean(1)  # (T, n)
    roles = _roles(model, roles)
    role_activity, role_count = {}, {}
    for role in ROLES:
        mask = torch.from_numpy(roles == role)
        role_count[role] = int(mask.sum())
        role_activity[role] = (
            mean_activity[:, mask].mean(1).numpy() if mask.any() else np.full(T, np.nan, dtype=np.float64)
        )
    return {
        "first_active": first_active.numpy(),
        "p_first_active_t2": p_t2.numpy(),
        "p_active": active.double().mean(1).numpy(),
        "mean_activity": mean_activity.numpy(),
        "mean_final_active": mean_final.numpy(),
        "role_activity": role_activity,
        "role_count": role_count,
    }


# --------------------------------------------------------------------- optimal decoders over t
def least_squares_decoder(Z: Tensor, X: Tensor, ridge: float = 1e-6) -> np.ndarray:
    """D = argmin_D ||X - Z D^T||^2 + ridge ||D||^2 for codes Z (B, n) and targets X (B, m): (m, n).

    Solved with torch.linalg.lstsq on the ridge-augmented system [Z; sqrt(ridge) I] D^T = [X; 0], in
    float64: a unit that is never active gets a zero decoder instead of an ill-posed one.
    """
    Z, X = torch.as_tensor(Z).double().cpu(), torch.as_tensor(X).double().cpu()
    n, m = Z.shape[1], X.shape[1]
    A = torch.cat([Z, math.sqrt(ridge) * torch.eye(n, dtype=torch.float64)])  # (B + n, n)
    B = torch.cat([X, torch.zeros(n, m, dtype=torch.float64)])  # (B + n, m)
    return torch.linalg.lstsq(A, B).solution.T.numpy()  # (m, n)


@torch.no_grad()
def optimal_decoders(
    model: DrSAE,
    x: Tensor,
    units: list[int] | np.ndarray | None = None,
    target: Tensor | None = None,
    ridge: float = 1e-6,
) -> dict[str, np.ndarray]:
    """The "optimal decoder over time" (docs/model.md): for each t = 1..T, D(t) = argmin ||X - D(t) Z(t)||^2.

    Part-units' inferred decoders settle at once; categorical-units' refine slowly, so comparing D(t)
    with E_i and the learned D_i shows when each unit takes on its meaning. `target` replaces X as what
    is reconstructed (default: the inputs themselves).

    Returns "units" (k,), "decoders" (T, k, m) (columns of D(t) for the chosen units), "encoders" (k, m)
    (E_i), "final" (k, m) (the learned D_i), "relative_error" (T,) ||X - D(t) Z(t)||/||X||, and
    "cosine_to_final" (T, k), the cosine between D(t)_i and the learned D_i.
    """
    X = _as_batch(x, model).cpu().double() if target is None else torch.as_tensor(target).double().cpu()
    Z = trajectories(model, x).double()  # (T, B, n)
    units = np.arange(Z.shape[2]) if units is None else np.asarray(units, dtype=int)
    D_final = model.D.detach().cpu().double().numpy()[:, units].T  # (k, m)
    decoders, errors = [], []
    for Zt in Z:
        D_t = least_squares_decoder(Zt, X, ridge)  # (m, n)
        errors.append(float((X - Zt @ torch.from_numpy(D_t).T).norm() / X.norm().clamp_min(1e-12)))
        decoders.append(D_t[:, units].T)  # (k, m)
    dec = np.stack(decoders)  # (T, k, m)
    cos = (dec * D_final).sum(-1) / np.maximum(np.linalg.norm(dec, axis=-1) * np.linalg.norm(D_final, axis=-1), 1e-12)
    return {
        "units": units,
        "decoders": dec,
        "encoders": model.E.detach().cpu().double().numpy()[units],
        "final": D_final,
        "relative_error": np.asarray(errors),
        "cosine_to_final": cos,
    }


# -------------------------------------------------------------------------- connection structure
def _sorted_units(units: np.ndarray, classes: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Units sorted by class, then by decreasing strength within a class (the paper's figure 4)."""
    return units[np.lexsort((-strength[units], classes[units]))]


@torch.no_grad()
def connection_blocks(model: DrSAE, roles: np.ndarray | None = None) -> dict[str, Any]:
    """S - I split into blocks by the role of source and recipient (docs/model.md).

    Row i of S holds the connections *into* unit i, so block "src->dst" is (S - I)[dst][:, src]. The
    paper expects ISTA-like (mostly negative, small) weights into part-units, source-organised positive
    and negative weights from part- to categorical-units, and winner-take-all among categorical-units
    (negative off-diagonal, strongly positive self-connections).

    Returns:
      "total": sum of all entries of S - I (the blocks over all 3 x 3 role pairs add up to it);
      "blocks": {"src->dst": {"count", "sum", "mean", "frac_positive", "sum_positive", "sum_negative",
                 "diag_mean" (self-connections, only where src == dst)}} for every pair of ROLES;
      "matrices": {"src->dst": {"matrix" (n_dst, n_src), "rows", "cols", "row_class", "col_class"}} for the
                  four part/categorical blocks, with units sorted by class, then by ||C_i||.
    """
    S = model.S.detach().cpu().double()
    W = (S - torch.eye(S.shape[0], dtype=S.dtype)).numpy()  # (n, n): W[i, j] = weight j -> i
    roles = _roles(model, roles)
    C = model.C.detach().cpu().double()
    classes, strength = C.argmax(0).numpy(), C.norm(dim=0).numpy()
    blocks: dict[str, dict[str, float]] = {}
    matrices: dict[str, dict[str, np.ndarray]] = {}
    for src in ROLES:
        for dst in ROLES:
            rows, cols = np.flatnonzero(roles == dst), np.flatnonzero(roles == src)
            block = W[np.ix_(rows, cols)]
            name = f"{src}->{dst}"
            stats = {
                "count": int(block.size),
                "sum": float(block.sum()),
                "mean": float(block.mean()) if block.size else math.nan,
                "frac_positive": float((block > 0).mean()) if block.size else math.nan,
                "sum_positive": float(block[block > 0].sum()),
                "sum_negative": float(block[block < 0].sum()),
            }
            if src == dst:
                stats["diag_mean"] = float(np.diag(block).mean()) if len(rows) else math.nan
            blocks[name] = stats
            if src != "intermediate" and dst != "intermediate":
                r, c = _sorted_units(rows, classes, strength), _sorted_units(cols, classes, strength)
                matrices[name] = {
                    "matrix": W[np.ix_(r, c)],
                    "rows": r,
                    "cols": c,
                    "row_class": classes[r],
                    "col_class": classes[c],
                }
    return {"total": float(W.sum()), "blocks": blocks, "matrices": matrices}


def pearson(xv: np.ndarray, yv: np.ndarray) -> float:
    """Pearson correlation; NaN when undefined (fewer than 2 points or a constant side)."""
    return _fit(xv, yv)[0]


def _fit(xv: np.ndarray, yv: np.ndarray) -> tuple[float, float]:
    """Pearson correlation and least-squares slope (with intercept) of y on x; NaN when undefined."""
    if len(xv) < 2 or np.ptp(xv) == 0 or np.ptp(yv) == 0:
        return math.nan, math.nan
    return float(np.corrcoef(xv, yv)[0, 1]), float(np.polyfit(xv, yv, 1)[0])


@torch.no_grad()
def connections_vs_overlap(model: DrSAE, roles: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """(S - I)_ij against the decoder overlap (D^T D)_ij, for each role pair src -> dst (docs/model.md).

    ISTA has S - I = -alpha D^T D, so connections into part-units should fall on a line of negative slope
    (the same slope for part and categorical sources), while part -> categorical weights form a "V"
    (positive for parallel prototypes, negative for orthogonal ones). Self-connections are left out.

    Returns {"src->dst": {"overlap" (k,), "weight" (k,), "src" (k,), "dst" (k,), "correlation", "slope"}}
    for the four part/categorical pairs.
    """
    S = model.S.detach().cpu().double()
    W = (S - torch.eye(S.shape[0], dtype=S.dtype)).numpy()
    D = model.D.detach().cpu().double()
    G = (D.T @ D).numpy()  # (n, n): D_i . D_j
    roles = _roles(model, roles)
    out: dict[str, dict[str, Any]] = {}
    for src in ("part", "categorical"):
        for dst in ("part", "categorical"):
            rows, cols = np.flatnonzero(roles == dst), np.flatnonzero(roles == src)
            ii, jj = np.meshgrid(rows, cols, indexing="ij")
            keep = ii != jj
            ii, jj = ii[keep], jj[keep]
            overlap, weight = G[ii, jj], W[ii, jj]
            corr, slope = _fit(overlap, weight)
            out[f"{src}->{dst}"] = {
                "overlap": overlap,
                "weight": weight,
                "src": jj,
                "dst": ii,
                "correlation": corr,
                "slope": slope,
            }
    return out


@torch.no_grad()
def afferent_weighted_angle(model: DrSAE) -> np.ndarray:
    """Per unit, the mean encoder-decoder angle of its afferents weighted by |S_ij - delta_ij| (docs/model.md
    Hierarchy): part-units get most input from part-units, categorical-units a larger share from
    categorical-units. Self-connections are excluded. (n,)"""
    S = model.S.detach().cpu().double()
    W = (S - torch.eye(S.shape[0], dtype=S.dtype)).abs().numpy()
    np.fill_diagonal(W, 0.0)
    angles = encoder_decoder_angles(model)
    total = W.sum(1)
    return np.where(total > 0, W @ angles / np.maximum(total, 1e-300), np.nan)


# ------------------------------------------------------------------------ progressive reconstruction
@torch.no_grad()
def progressive_reconstruction(model: DrSAE, x: Tensor, max_steps: int | None = None) -> dict[str, np.ndarray]:
    """Rebuild one input from its active units' contributions D_i z_i(T), largest first (the paper's figure 6).

    After fine-tuning the first steps should be a whole-digit prototype (categorical-units) and the rest
    pen-stroke deformations (part-units), every intermediate step staying recognisable as the same class.

    Returns "units" (k,) in order of decreasing ||D_i z_i(T)||, "z" (k,) their z_i(T), "sizes" (k,) those
    norms, "partials" (k, m) the cumulative reconstructions (the last equals D z(T) when max_steps is
    None), "reconstruction" (m,) D z(T), "input" (m,), "errors" (k,) ||x - partial||, and "classes" (k,)
    the model's class for each partial reconstruction's code (the code with only those units kept).
    """
    x = _as_batch(x, model)[:1]
    z = model.trajectory(x)[-1, 0].cpu().double()  # (n,)
    D = model.D.detach().cpu().double()  # (m, n)
    sizes = z * D.norm(dim=0)  # ||D_i z_i||, z >= 0
    active = torch.nonzero(z > 0).flatten()
    order = active[torch.argsort(sizes[active], descending=True, stable=True)]
    if max_steps is not None:
        order = order[:max_steps]
    contributions = D[:, order] * z[order]  # (m, k)
    partials = torch.cumsum(contributions.T, dim=0)  # (k, m)
    xd = x[0].cpu().double()
    masks = torch.zeros(len(order), z.shape[0], dtype=torch.float64)
    for k in range(len(order)):
        masks[k, order[: k + 1]] = 1.0
    codes = (masks * z).float().to(x.device)  # (k, n): z with only the first units kept
    classes = model.classify(codes).argmax(-1).cpu().numpy() if len(order) else np.zeros(0, dtype=int)
    return {
        "units": order.numpy(),
        "z": z[order].numpy(),
        "sizes": sizes[order].numpy(),
        "partials": partials.numpy(),
        "reconstruction": (D @ z).numpy(),
        "input": xd.numpy(),
        "errors": (xd - partials).norm(dim=1).numpy(),
        "classes": classes,
    }


# ---------------------------------------------------------------------------- class-specific units
@torch.no_grad()
def class_specific_units(model: DrSAE, x: Tensor, y: Tensor, k: int = 5) -> dict[str, np.ndarray]:
    """For each class, the k units with the largest classification weights C[class, i] next to the class
    average of `x` (the paper's "most class-specific units", figure 7): the prototypes should be sharper
    than the blurry averages, and the top unit should have a large encoder-decoder angle.

    Weights are signed (the units that vote *for* the class). Returns "units" (l, k), "weights" (l, k),
    "angles" (l, k), "decoders" (l, k, m), "class_means" (l, m) (NaN rows for classes absent from y),
    "class_counts" (l,).
    """
    C = model.C.detach().cpu().double()  # (l, n)
    D = model.D.detach().cpu().double()  # (m, n)
    angles = encoder_decoder_angles(model)
    k = min(k, C.shape[1])
    weights, units = torch.topk(C, k, dim=1)  # (l, k)
    images = torch.as_tensor(x).double().cpu()
    labels = torch.as_tensor(y).cpu()
    means, counts = [], []
    for cls in range(C.shape[0]):
        sel = images[labels == cls]
        counts.append(len(sel))
        means.append(sel.mean(0) if len(sel) else torch.full((images.shape[1],), math.nan, dtype=torch.float64))
    u = units.numpy()
    return {
        "units": u,
        "weights": weights.numpy(),
        "angles": angles[u],
        "decoders": D.T[units].numpy(),  # (l, k, m)
        "class_means": torch.stack(means).numpy(),
        "class_counts": np.asarray(counts),
    }


# ------------------------------------------------------------------------------------ summaries
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation over the entries finite in both (NaN with fewer than 3)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan
    ra, rb = np.argsort(np.argsort(a[ok])), np.argsort(np.argsort(b[ok]))
    return _fit(ra.astype(float), rb.astype(float))[0]


def role_summary(units: dict[str, np.ndarray], dynamics: dict[str, Any]) -> dict[str, Any]:
    """Numbers behind the paper's qualitative claims (docs/model.md, "The structure, in numbers"), from
    unit_roles and activity_dynamics.

    Per role: unit count, mean ||C_i||, mean ||(S - I)_i||, mean P(first active at t = 2), mean final
    activity when active, and the build-up ratio (mean activity at T over that at t = 1). Because the
    paper stresses a continuum, Spearman correlations with the angle are given too; they hold whatever
    the thresholds.
    """
    angle, roles = units["angle"], units["role"]
    per_role: dict[str, dict[str, float]] = {}
    for role in ROLES:
        m = roles == role
        act = dynamics["role_activity"][role]

        def mean(v: np.ndarray, m: np.ndarray = m) -> float:
            v = v[m]
            v = v[np.isfinite(v)]
            return float(v.mean()) if len(v) else math.nan

        per_role[role] = {
            "count": int(m.sum()),
            "c_norm": mean(units["c_norm"]),
            "s_norm": mean(units["s_norm"]),
            "p_first_active_t2": mean(dynamics["p_first_active_t2"]),
            "mean_final_active": mean(dynamics["mean_final_active"]),
            "buildup": float(act[-1] / act[0]) if np.isfinite(act).all() and act[0] > 0 else math.nan,
        }
    return {
        "roles": per_role,
        "spearman_angle": {
            "c_norm": spearman(angle, units["c_norm"]),
            "s_norm": spearman(angle, units["s_norm"]),
            "p_first_active_t2": spearman(angle, dynamics["p_first_active_t2"]),
            "mean_final_active": spearman(angle, dynamics["mean_final_active"]),
        },
        "angle_quantiles": dict(
            zip(
                ("min", "q25", "median", "q75", "max"),
                np.quantile(angle, [0, 0.25, 0.5, 0.75, 1]).tolist(),
                strict=True,
            )
        ),
    }
