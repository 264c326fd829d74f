"""The numbers behind the paper's figures, and its qualitative claims beside what a model measures.

Rolfe & LeCun 2013 show their analyses on the 400-unit, T = 11 model; `compute_analyses` runs the pure
functions of model/analysis.py on such a model and a data split, and `claims` sets the paper's qualitative
statements (docs/model.md, "The structure signs") beside the measured numbers. The figures and the HTML page
are drawn from these results by report/figures.py: model/ stays torch + numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model import analysis as A
from model.data import Split
from model.drsae import DrSAE

SIDE = 28  # MNIST images are 28 x 28
MIN_UNITS = A.MIN_UNITS


# ------------------------------------------------------------------------------------- analyses
@torch.no_grad()
def compute_analyses(
    model: DrSAE,
    split: Split,
    *,
    n_dynamics: int = 5000,
    n_decoders: int = 2000,
    n_units_dictionary: int = 16,
    n_units_decoders: int = 3,
    progressive_classes: tuple[int, ...] = (3, 3, 5, 6),
    progressive_steps: int = 10,
    roles_mode: str = "auto",
) -> dict[str, Any]:
    """Every analysis of the paper's learned units on `model` and (the first images of) `split`, as numpy
    arrays and dicts.

    `roles_mode`: "paper" uses the 0.5/0.7 rad thresholds; "relative" the angle terciles (A.relative_roles);
    "auto" the thresholds unless they leave part- or categorical-units empty. Units for the dictionary
    figure span the angle range; units for the optimal-decoder figure are the
    most part-like and most categorical-like units among those active on at least 1% of the inputs.
    """
    if roles_mode not in ("auto", "paper", "relative"):
        raise ValueError(f"roles_mode must be auto, paper or relative, got {roles_mode!r}")
    model = model.eval()
    x, y = split.x, split.y
    units = A.unit_roles(model)
    units["paper_role"] = units["role"]
    basis = "the paper's thresholds (part < 0.5 rad, categorical > 0.7 rad)"
    if roles_mode == "relative" or (
        roles_mode == "auto" and not ({"part", "categorical"} <= set(units["role"].tolist()))
    ):
        units["role"] = A.relative_roles(units["angle"])
        basis = (
            "relative roles: the third of units with the smallest angles as part-units, the third with the "
            "largest as categorical-units (the paper's 0.5/0.7 rad thresholds leave one role empty here)"
        )
    roles = units["role"]
    dyn = A.activity_dynamics(model, x[:n_dynamics], roles)
    if roles is units["paper_role"]:
        paper_summary = A.role_summary(units, dyn)
    else:  # the claims always use the paper's groups
        paper_units = units | {"role": units["paper_role"]}
        paper_summary = A.role_summary(paper_units, A.activity_dynamics(model, x[:n_dynamics], units["paper_role"]))
    order = np.argsort(units["angle"])
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(n_units_dictionary, len(order))).round().astype(int))]
    alive = order[dyn["p_active"][-1][order] > 0.01]
    alive = alive if len(alive) >= 2 else order
    k = min(n_units_decoders, len(alive) // 2)
    decoder_units = np.concatenate([alive[:k], alive[::-1][:k]])
    progressive = []
    for cls in progressive_classes:
        idx = np.flatnonzero(y.numpy() == cls)
        seen = sum(1 for p in progressive if p["label"] == cls)
        if len(idx) > seen:
            i = int(idx[seen])
            progressive.append(
                {"index": i, "label": cls} | A.progressive_reconstruction(model, x[i], max_steps=progressive_steps)
            )
    full = A.progressive_reconstruction(model, x[0])
    return {
        "units": units,
        "role_basis": basis,
        "role_basis_short": "paper thresholds" if basis.startswith("the paper") else "relative roles (angle terciles)",
        "dynamics": dyn,
        "summary": A.role_summary(units, dyn),
        "paper_summary": paper_summary,
        "paper_blocks": A.connection_blocks(model, units["paper_role"]),
        "paper_overlap": A.connections_vs_overlap(model, units["paper_role"]),
        "dictionary": {
            "units": pick,
            "E": model.E.detach().cpu().double().numpy()[pick],
            "D": model.D.detach().cpu().double().numpy()[:, pick].T,
            "C": model.C.detach().cpu().double().numpy()[:, pick],
        },
        "blocks": A.connection_blocks(model, roles),
        "overlap": A.connections_vs_overlap(model, roles),
        "afferent_angle": A.afferent_weighted_angle(model),
        "decoders": A.optimal_decoders(model, x[:n_decoders], decoder_units),
        "progressive": progressive,
        "progressive_steps_full": len(full["units"]),
        "class_units": A.class_specific_units(model, x, y, k=5),
        "n_images": {"dynamics": min(n_dynamics, len(x)), "decoders": min(n_decoders, len(x)), "class_means": len(x)},
        "model": model.config.to_dict(),
    }


# --------------------------------------------------------------------------------------- claims
@dataclass
class Claim:
    claim: str  # the paper's statement
    measured: str  # our numbers
    verdict: str  # "consistent", "not observed" or "undetermined"


def fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def _compare(cat: float, part: float, counts: tuple[int, int], larger: bool = True) -> str:
    """Verdict for 'categorical-units have more X than part-units' at the paper's 0.5/0.7 rad thresholds;
    each group needs MIN_UNITS units (the paper's own figures rest on dozens)."""
    if min(counts) < MIN_UNITS:
        return "not enough units"
    if not (math.isfinite(cat) and math.isfinite(part)):
        return "undetermined"
    return "consistent" if (cat > part) == larger else "not observed"


def claims(an: dict[str, Any]) -> list[Claim]:
    """The paper's qualitative claims (docs/model.md, "The structure, in numbers") with the measured numbers,
    the unit counts behind them
    and a verdict each. Groups are the paper's (part < 0.5 rad, categorical > 0.7 rad) whatever roles the
    figures use; a claim about a group with fewer than MIN_UNITS units says "not enough units"."""
    paper_roles = an["units"]["paper_role"]
    n_part, n_cat, n_mid = (int((paper_roles == k).sum()) for k in ("part", "categorical", "intermediate"))
    s = an["paper_summary"]
    r, rho = s["roles"], s["spearman_angle"]
    part, cat = r["part"], r["categorical"]
    counts = (n_part, n_cat)
    groups = f" ({n_cat} categorical, {n_part} part units)"
    out = []
    q = s["angle_quantiles"]
    out.append(
        Claim(
            "Part-units (angle < 0.5 rad) and categorical-units (angle > 0.7 rad) both exist, on a continuum",
            f"{n_part} part, {n_mid} in-between, {n_cat} categorical; angle median {fmt(q['median'])} rad "
            f"(range {fmt(q['min'])}-{fmt(q['max'])})",
            "consistent" if min(counts) >= MIN_UNITS else "not enough units",
        )
    )
    for key, text in (
        ("c_norm", "Categorical-units have larger classification weights ‖C_i‖"),
        ("s_norm", "Categorical-units have stronger recurrent input ‖(S - I)_i‖"),
        ("p_first_active_t2", "Categorical-units switch on later: larger P(z(1) = 0, z(2) > 0)"),
        ("mean_final_active", "When active, categorical-units have larger final values z_i(T)"),
    ):
        out.append(
            Claim(
                text,
                f"mean categorical {fmt(cat[key])} vs part {fmt(part[key])}{groups}; Spearman with angle "
                f"{fmt(rho[key])} (all {len(paper_roles)} units)",
                _compare(cat[key], part[key], counts),
            )
        )
    out.append(
        Claim(
            "Categorical-units build up their activity over the iterations",
            f"mean activity z(T)/z(1): categorical {fmt(cat['buildup'])}, part {fmt(part['buildup'])}{groups}",
            _compare(cat["buildup"], part["buildup"], counts),
        )
    )
    ov = an["paper_overlap"]
    pp, cp = ov["part->part"], ov["categorical->part"]
    ok = [v["correlation"] < -0.5 for v in (pp, cp) if math.isfinite(v["correlation"])]
    out.append(
        Claim(
            "Connections into part-units are ISTA-like: S - I falls on a line of negative slope against D^T D, "
            "for part and categorical sources alike",
            f"part->part r = {fmt(pp['correlation'])}, slope {fmt(pp['slope'])}; categorical->part r = "
            f"{fmt(cp['correlation'])}, slope {fmt(cp['slope'])}{groups}",
            "not enough units"
            if min(counts) < MIN_UNITS
            else "undetermined"
            if not ok
            else ("consistent" if all(ok) else "not observed"),
        )
    )
    cc = an["paper_blocks"]["blocks"]["categorical->categorical"]
    out.append(
        Claim(
            "Among categorical-units: mostly negative connections, strong positive self-connections",
            f"fraction positive {fmt(cc['frac_positive'])}, "
            f"mean self-connection (S - I)_ii {fmt(cc.get('diag_mean'))} ({n_cat} categorical units)",
            "not enough units"
            if n_cat < MIN_UNITS
            else ("consistent" if cc["frac_positive"] < 0.5 and cc["diag_mean"] > 0 else "not observed"),
        )
    )
    aw = an["afferent_angle"]

    def role_mean(name: str) -> float:
        v = aw[(paper_roles == name) & np.isfinite(aw)]
        return float(v.mean()) if len(v) else math.nan

    rho_aw = A.spearman(an["units"]["angle"], aw)
    out.append(
        Claim(
            "Hierarchy: categorical-units get a larger share of input from categorical-units (afferent-weighted "
            "angle)",
            f"mean afferent-weighted angle: categorical {fmt(role_mean('categorical'))}, "
            f"part {fmt(role_mean('part'))}{groups}; Spearman with angle {fmt(rho_aw)}",
            _compare(role_mean("categorical"), role_mean("part"), counts),
        )
    )
    return out


def claims_markdown(items: list[Claim]) -> str:
    rows = ["| paper's claim | measured | verdict |", "|---|---|---|"]
    rows += [f"| {c.claim} | {c.measured} | {c.verdict} |" for c in items]
    return "\n".join(rows)


# -------------------------------------------------------------------------------------- figures
def mosaic(tiles: np.ndarray, normalise: bool = True, gap: int = 1) -> np.ndarray:
    """(rows, cols, 784) images -> one 2-D array with NaN gaps, each tile scaled to max |value| = 1 so
    encoders (norm <= 1.25/(T-1)) and decoders (norm <= 1) can share a colour scale."""
    rows, cols = tiles.shape[:2]
    out = np.full((rows * (SIDE + gap) - gap, cols * (SIDE + gap) - gap), np.nan)
    for r in range(rows):
        for c in range(cols):
            t = np.asarray(tiles[r, c], dtype=np.float64).reshape(SIDE, SIDE)
            if normalise and np.isfinite(t).all():
                t = t / max(np.abs(t).max(), 1e-12)
            out[r * (SIDE + gap) : r * (SIDE + gap) + SIDE, c * (SIDE + gap) : c * (SIDE + gap) + SIDE] = t
    return out
