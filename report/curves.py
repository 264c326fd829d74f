"""Error and unit roles over epochs for a set of run folders: reports/curves.{md,html}.

    python -m report.curves runs/paper-400x11 runs/paper-200x11 runs/paper-200x2 models/default \\
        --name curves --title "The authors' recipe and the default, over epochs"

Each argument is a run folder or a sweep folder (every member of its sweep.json). The page plots, per run,
the validation and test error and the part- and categorical-unit counts (the trainer's per-epoch role
metrics, docs/model.md) against the epoch, and the markdown lists where each run stands: epochs done of its
total, its status, the best validation error so far, the test error and the role counts at that epoch; with
`--signs`, also the six structure signs (model/structure.py) of each run's kept model on the validation split.
Everything is read from the folders' metrics.jsonl and config.json; nothing is trained here.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from model import checkpoint, data, structure
from model.progress import format_seconds
from report.figures import PLOTLY_JS

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def label(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name not in ("", ".") else folder.name


def summary(folder: Path) -> dict[str, Any]:
    """Where a run stands, from its files."""
    rows = checkpoint.read_metrics(folder)
    cfg = checkpoint.read_config(folder)
    train = cfg.get("train", {})
    total = train.get("unsup_epochs", 0) + train.get("epochs", 0)
    sup = [r for r in rows if r.get("phase") == "supervised"]
    best = min(sup, key=lambda r: r["val_error"]) if sup else None
    last = rows[-1] if rows else {}
    at = best or last  # the roles of the kept (best-validation) model, or of the latest before there is one
    return {
        "run": label(folder),
        "status": cfg.get("status"),
        "epochs": f"{last.get('epoch', 0)} of {total}",
        "time": format_seconds(last.get("seconds", 0.0)),
        "best_val": best["val_error"] if best else None,
        "test_at_best": best["test_error"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "part": at.get("units_part"),
        "categorical": at.get("units_categorical"),
        "command": cfg.get("train", {}).get("preset"),
    }


def figure(folders: list[Path], title: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("error (%)", "part- and categorical-units"))
    for i, folder in enumerate(folders):
        rows = checkpoint.read_metrics(folder)
        color, name = PALETTE[i % len(PALETTE)], label(folder)
        ep = [r["epoch"] for r in rows]
        fig.add_scatter(x=ep, y=[r["val_error"] for r in rows], name=f"{name} val", line={"color": color},
                        legendgroup=name, row=1, col=1)
        fig.add_scatter(x=ep, y=[r["test_error"] for r in rows], name=f"{name} test", legendgroup=name,
                        line={"color": color, "dash": "dot"}, row=1, col=1)
        fig.add_scatter(x=ep, y=[r.get("units_part") for r in rows], name=f"{name} part", legendgroup=name,
                        line={"color": color}, row=1, col=2)
        fig.add_scatter(x=ep, y=[r.get("units_categorical") for r in rows], name=f"{name} categorical",
                        legendgroup=name, line={"color": color, "dash": "dash"}, row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, template="plotly_white", height=520)
    return fig


def signs(folder: Path) -> dict[str, Any] | None:
    """The six structure signs of the run's kept model on the validation split (None before it has one)."""
    if not (folder / checkpoint.WEIGHTS).exists():
        return None
    return structure.evaluate_run(folder, "val")


def signs_table(rows: list[dict[str, Any]], measured: list[dict[str, Any] | None]) -> list[str]:
    heads = " | ".join(t.column for t in structure.TARGETS)
    lines = [
        "",
        "## The six structure signs of each run's kept model (validation split)",
        "",
        "A number with its verdict: met, missed, or '?' (not enough units: fewer than "
        f"{structure.MIN_UNITS} in the group the sign rests on). " + "; ".join(
            f"{t.column}: {t.text}" for t in structure.TARGETS
        ) + ".",
        "",
        f"| run | val error | signs met | {heads} |",
        "|---|---|---|" + "---|" * len(structure.TARGETS),
    ]
    mark = {"met": "met", "missed": "missed", "not enough units": "?"}
    for r, m in zip(rows, measured, strict=True):
        if m is None:
            lines.append(f"| {r['run']} | - | - |" + " - |" * len(structure.TARGETS))
            continue
        met = sum(v == "met" for v in m["verdicts"].values())
        cells = " | ".join(
            ("n/a" if m[t.key] is None or not math.isfinite(m[t.key]) else f"{m[t.key]:.3g}")
            + f" {mark[m['verdicts'][t.key]]}"
            for t in structure.TARGETS
        )
        lines.append(f"| {r['run']} | {m['error']:.2f}% | {met} of {len(structure.TARGETS)} | {cells} |")
    return lines


def markdown(
    rows: list[dict[str, Any]], title: str, command: str, measured: list[dict[str, Any] | None] | None = None
) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}%"

    lines = [
        f"# {title}",
        "",
        f"Made by `{command}` from the run folders' metrics.jsonl and config.json; the plots are in the .html "
        "beside this file. Part-units: encoder-decoder angle < 0.5 rad; categorical: > 0.7 rad (docs/model.md); "
        "counts are of the model at the best epoch (before the supervised phase: at the latest). "
        "'best val' is the lowest validation error of the "
        "supervised epochs so far and 'test' the test error at that epoch (never used for a choice).",
        "",
        "| run | status | epochs | wall time | best val | test | best epoch | part | categorical |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['status']} | {r['epochs']} | {r['time']} | {pct(r['best_val'])} | "
            f"{pct(r['test_at_best'])} | {r['best_epoch'] if r['best_epoch'] is not None else '-'} | "
            f"{r['part'] if r['part'] is not None else '-'} | "
            f"{r['categorical'] if r['categorical'] is not None else '-'} |"
        )
    if measured is not None:
        lines += signs_table(rows, measured)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--name", default="curves", help="reports/<name>.md and .html")
    p.add_argument("--title", default="Error and unit roles over epochs")
    p.add_argument("--out-dir", type=Path, default=Path("reports"))
    p.add_argument("--signs", action="store_true", help="measure the six structure signs of each kept model (val)")
    args = p.parse_args(argv)
    try:
        folders = checkpoint.run_folders(args.folders)
        rows = [summary(f) for f in folders]
        measured = [signs(f) for f in folders] if args.signs else None
    except (checkpoint.CheckpointError, data.DataError, OSError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = " ".join(["python -m report.curves", *(sys.argv[1:] if argv is None else argv)])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, args.title, command, measured)
    checkpoint.atomic_write_bytes(args.out_dir / f"{args.name}.md", text.encode())
    html = figure(folders, args.title).to_html(include_plotlyjs=PLOTLY_JS, full_html=True)
    checkpoint.atomic_write_bytes(args.out_dir / f"{args.name}.html", html.encode())
    print(f"{len(folders)} runs -> {args.out_dir / args.name}.md, .html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
