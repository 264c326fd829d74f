"""Does a trained DrSAE show the paper's structure? Six measurable signs, each with a target and a verdict.

    python -m model.structure runs/a runs/b --split val            # measure run folders on a split
    python -m model.structure runs/sweep/*/h400_t11* --choose        # pick one on the validation set

The signs (docs/model.md, "What the paper's structure looks like in numbers"):
  part_fraction               units whose encoder row lies within 0.5 rad of their decoder column
  categorical_fraction        units further than 0.7 rad from it
  spearman_angle_c_norm       rank correlation of that angle with the classifier weight ||C_i||
  categorical_buildup         mean categorical-unit activity at t = T over that at t = 1
  categorical_vote            share of digits whose most active categorical-unit at t = T favours (largest
                              C entry) the class the model predicts
  ista_correlation            Pearson r of (S - I)_ij with (D^T D)_ij over the rows of part-units (j != i)

A sign that rests on a group of units needs at least MIN_UNITS of them; with fewer its verdict is
"not enough units", never "met".
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import analysis as A
from model import checkpoint, data
from model.drsae import DrSAE

MIN_UNITS = A.MIN_UNITS


@dataclass(frozen=True)
class Target:
    key: str
    op: str  # ">=" or "<="
    value: float
    needs: tuple[str, ...]  # unit groups the number rests on
    text: str
    column: str  # the command line's column header (at most COLUMN characters)

    def verdict(self, measured: dict[str, Any]) -> str:
        if any(measured[f"units_{g}"] < MIN_UNITS for g in self.needs):
            return "not enough units"
        v = measured[self.key]
        if v is None or not math.isfinite(v):
            return "not enough units"
        return "met" if (v >= self.value if self.op == ">=" else v <= self.value) else "missed"


TARGETS = (
    Target("part_fraction", ">=", 0.20, (), "at least 20% part-units (angle < 0.5 rad)", "part%"),
    Target("categorical_fraction", ">=", 0.10, (), "at least 10% categorical-units (angle > 0.7 rad)",
           "categ%"),
    Target("spearman_angle_c_norm", ">=", 0.5, (), "Spearman(angle, ‖C_i‖) at least 0.5", "spearman"),
    Target("categorical_buildup", ">=", 1.3, ("categorical",), "categorical activity z(T)/z(1) at least 1.3",
           "buildup"),
    Target("categorical_vote", ">=", 0.95, ("categorical",), "the strongest categorical-unit votes for the "
           "predicted class on at least 95% of inputs", "vote"),
    Target("ista_correlation", "<=", -0.5, ("part",), "connections into part-units ISTA-like: r((S - I), D^T D) "
           "at most -0.5", "ista_r"),
)


@torch.no_grad()
def measure(model: DrSAE, x: torch.Tensor, batch_size: int = 2000) -> dict[str, Any]:
    """The six signs on inputs `x` (N, n_in), plus the unit counts they rest on."""
    model = model.cpu().eval()
    angle = A.encoder_decoder_angles(model)
    part, cat = angle < A.PART_MAX_ANGLE, angle > A.CATEGORICAL_MIN_ANGLE
    n = len(angle)
    C = model.C.detach().double()
    unit_class = C.argmax(0).numpy()  # (n,) the class each unit favours most
    sum_t1 = sum_tT = 0.0
    votes = agree = 0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].float()
        traj = model.trajectory(xb)  # (T, B, n)
        pred = model.classify(traj[-1]).argmax(1).numpy()  # (B,)
        if cat.any():
            zc = traj[:, :, torch.from_numpy(cat)].double()  # (T, B, n_cat)
            sum_t1 += zc[0].sum().item()
            sum_tT += zc[-1].sum().item()
            last = zc[-1]
            strongest = last.argmax(1).numpy()  # (B,) index among categorical units
            active = (last.max(1).values > 0).numpy()
            votes += len(pred)
            agree += int(((unit_class[np.flatnonzero(cat)][strongest] == pred) & active).sum())
    S = model.S.detach().double()
    W = (S - torch.eye(n, dtype=S.dtype)).numpy()
    D = model.D.detach().double()
    G = (D.T @ D).numpy()
    rows = np.flatnonzero(part)
    off = ~np.eye(n, dtype=bool)[rows]  # leave out self-connections
    ista = A.pearson(G[rows][off], W[rows][off]) if len(rows) else math.nan
    return {
        "units": n,
        "units_part": int(part.sum()),
        "units_categorical": int(cat.sum()),
        "part_fraction": float(part.mean()),
        "categorical_fraction": float(cat.mean()),
        "spearman_angle_c_norm": A.spearman(angle, C.norm(dim=0).numpy()),
        "categorical_buildup": sum_tT / sum_t1 if sum_t1 > 0 else math.nan,
        "categorical_vote": agree / votes if votes else math.nan,
        "ista_correlation": ista,
    }


def verdicts(measured: dict[str, Any]) -> dict[str, str]:
    return {t.key: t.verdict(measured) for t in TARGETS}


def shows_structure(measured: dict[str, Any]) -> bool:
    return all(v == "met" for v in verdicts(measured).values())


def evaluate_run(run_dir: Path, split: str) -> dict[str, Any]:
    """A run folder's kept model measured on `split` of its dataset, with its error there."""
    model = checkpoint.load(run_dir)
    cfg = checkpoint.read_config(run_dir)
    s = data.load((cfg.get("train") or {}).get("dataset", "mnist"))[split]
    with torch.no_grad():
        logits = torch.cat([model(s.x[i : i + 2000]).logits for i in range(0, len(s), 2000)])
    error = 100.0 * (logits.argmax(1) != s.y).double().mean().item()
    m = measure(model, s.x)
    return {"run": str(run_dir), "split": split, "images": len(s), "error": error, **m, "verdicts": verdicts(m)}


def choose(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The rule, applied to validation-set results: among runs whose structure signs are all met, the lowest
    error; if none meets them all, the most signs met, then the lowest error."""
    if not results:
        return None
    return min(results, key=lambda r: (-sum(v == "met" for v in r["verdicts"].values()), r["error"]))


COLUMN = 9
# Why a sign can have no number at all (NaN in the results).
UNMEASURABLE = {
    "spearman_angle_c_norm": "every angle or every ‖C_i‖ is the same",
    "categorical_buildup": "no categorical unit is active at t = 1",
    "categorical_vote": "the model has no categorical units",
    "ista_correlation": "the model has no part-units",
}


def cell(value: float | None, verdict: str) -> str:
    """One measured sign: the number and its verdict mark; 'n/a' where there is no number."""
    shown = f"{value:{COLUMN}.3f}" if value is not None and math.isfinite(value) else f"{'n/a':>{COLUMN}s}"
    return shown + {"met": "*", "missed": " ", "not enough units": "?"}[verdict]


def table(results: list[dict[str, Any]]) -> list[str]:
    """The command line's table: one row per run, one column per sign of TARGETS, and what the marks mean."""
    head = f"{'run':44s} {'err%':>6s} {'part':>5s} {'cat':>5s} " + " ".join(
        f"{t.column:>{COLUMN}s} " for t in TARGETS[2:]
    )
    lines = [head.rstrip()]
    for r in results:
        signs = " ".join(cell(r[t.key], r["verdicts"][t.key]) for t in TARGETS[2:])
        lines.append(f"{r['run'][-44:]:44s} {r['error']:6.2f} {r['units_part']:5d} {r['units_categorical']:5d} {signs}")
    lines.append(f"* target met; ? no verdict: fewer than {MIN_UNITS} units in the group the sign rests on")
    for t in TARGETS[2:]:
        missing = [r["run"] for r in results if r[t.key] is None or not math.isfinite(r[t.key])]
        runs = f"{len(missing)} run{'s' if len(missing) > 1 else ''}"
        why = f" (n/a for {runs}: {UNMEASURABLE[t.key]})" if missing else ""
        lines.append(f"  {t.column:>{COLUMN}s}  {t.text}{why}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.structure", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders (model.safetensors + config.json) or sweep folders")
    p.add_argument("--split", default="val", choices=["val", "test"], help="where to measure (default val)")
    p.add_argument("--choose", action="store_true", help="apply the choice rule (validation set only)")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if args.choose and args.split != "val":
        p.error("choose on the validation set only")
    try:
        results = [evaluate_run(r, args.split) for r in checkpoint.run_folders(args.runs)]
    except (checkpoint.CheckpointError, data.DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in table(results):
        print(line)
    if args.choose:
        best = choose(results)
        print(f"chosen on {args.split}: {best['run']}" if best else "nothing to choose")
    if args.json:
        chosen = choose(results) if args.choose else None
        checkpoint.atomic_write_json(args.json, {"results": results, "chosen": chosen})
    return 0


if __name__ == "__main__":
    sys.exit(main())
