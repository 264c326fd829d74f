"""Model cards: what a shipped model is, how well it does, whether it shows the paper's structure, and the
exact command that trained it.

    python -m model.card models/default --machine "NVIDIA H100 80GB HBM3 (24 runs sharing it under MPS)"

Writes <run>/card.json (read by the API's model detail and list) and <run>/README.md (the same, for people).
The structure signs are measured on the test set of the model's dataset (model/structure.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from model import checkpoint, data, structure
from model.presets import PRESETS, RENAMED, TrainConfig

CARD = "card.json"
README = "README.md"
PAPER = "Rolfe & LeCun, Discriminative Recurrent Sparse Auto-Encoders, ICLR 2013, arXiv:1301.3775"
# fields that say where a run ran rather than what it learned: left out of the reproducing command
_WHERE = {"device", "threads", "cuda_graphs", "time_limit"}


def command(train_cfg: dict[str, Any]) -> str:
    """`python -m model.train` with the preset and every field that differs from its current values."""
    name = str(train_cfg.get("preset"))
    name = RENAMED.get(name, name)
    if name not in PRESETS:
        raise ValueError(f"the run was trained with an unknown preset {name!r}")
    base = PRESETS[name].to_dict()
    args = ["python -m model.train", f"--preset {name}"]
    for f in fields(TrainConfig):
        if f.name in ("preset", "seed", *_WHERE) or f.name not in train_cfg:
            continue
        if train_cfg[f.name] != base[f.name]:
            args.append(f"--{f.name.replace('_', '-')} {train_cfg[f.name]}")
    return " ".join([*args, f"--seed {train_cfg.get('seed', 0)}"])


def recorded_machine(run_dir: Path, cfg: dict[str, Any]) -> str:
    """Where the run ran, from its own record: the machine its card already names (written by hand once), else
    the device and process count in config.json."""
    try:
        named = json.loads((run_dir / CARD).read_text()).get("machine")
    except (OSError, ValueError, AttributeError):
        named = None
    if isinstance(named, str) and named.strip():
        return named
    device = cfg.get("device") or (cfg.get("train") or {}).get("device") or "unknown device"
    processes = int(cfg.get("world_size") or 1)
    return f"{device}, {processes} process{'es' if processes > 1 else ''} (from config.json)"


def evaluated_images(train_cfg: dict[str, Any], split: str) -> int:
    """How many images of `split` the run's errors were measured on: the first eval_limit when it was set."""
    full = data.SPLIT_SIZES[split]
    limit = train_cfg.get("eval_limit")
    return min(int(limit), full) if limit else full


def build(run_dir: Path, machine: str | None = None) -> dict[str, Any]:
    cfg = checkpoint.read_config(run_dir)
    if (cfg.get("results") or {}).get("test_error") is None:
        raise ValueError(f"{run_dir} has no final results (status {cfg.get('status')!r}): a card needs a finished run")
    train_cfg = cfg.get("train") or {}
    dataset = str(train_cfg.get("dataset", "mnist"))
    measured = structure.evaluate_run(run_dir, "test")
    results = cfg.get("results") or {}
    return {
        "id": run_dir.name,
        "paper": PAPER,
        "dataset": dataset,
        "architecture": f"784-{cfg['model']['n_hidden']}^{cfg['model']['T']}-{cfg['model']['n_classes']}",
        "test_error": results.get("test_error"),
        "test_images": evaluated_images(train_cfg, "test"),
        "val_error": results.get("val_error"),
        "val_images": evaluated_images(train_cfg, "val"),
        "best_epoch": results.get("best_epoch"),
        "epochs": results.get("epochs"),
        "train_seconds": results.get("seconds"),
        "seed": train_cfg.get("seed"),
        "preset": train_cfg.get("preset"),
        "command": command(train_cfg),
        "machine": machine or recorded_machine(run_dir, cfg),
        "torch": cfg.get("torch"),
        "structure": {k: measured[k] for k in measured if k not in ("run", "split", "error", "verdicts", "images")},
        "structure_images": measured["images"],
        "structure_verdicts": measured["verdicts"],
        "shows_paper_structure": structure.shows_structure(measured),
    }


def markdown(card: dict[str, Any]) -> str:
    s, v = card["structure"], card["structure_verdicts"]
    rows = "\n".join(
        f"| {t.text} | {s[t.key]:.3f} | {v[t.key]} |" for t in structure.TARGETS
    )  # one row per sign, in TARGETS' order
    names = data.CLASS_NAMES.get(card["dataset"])
    classes = f" ({', '.join(names)})" if names else ""
    verdict = (
        "**shows the paper's structure** (every sign below is met)"
        if card["shows_paper_structure"]
        else "**does not show all of the paper's structure** (see the signs below)"
    )
    return f"""# Model `{card['id']}`

A DrSAE ({card['paper']}), {card['architecture']}, trained on {card['dataset']}{classes}. This model {verdict}.

| | |
|---|---|
| test error | {card['test_error']:.2f}% ({card['test_images']:,} test images) |
| validation error | {card['val_error']:.2f}% (the {card['val_images']:,} images the checkpoint was chosen on) |
| kept epoch | {card['best_epoch']} of {card['epochs']} (best validation error) |
| units | {s['units_part']} part (< 0.5 rad), {s['units'] - s['units_part'] - s['units_categorical']} in-between, \
{s['units_categorical']} categorical (> 0.7 rad) of {s['units']} |
| recipe | preset `{card['preset']}`, seed {card['seed']} |
| command | `{card['command']}` |
| machine | {card['machine']}, torch {card['torch']} |

## The paper's structure, measured on the test set ({card['structure_images']:,} images)

| sign | measured | verdict |
|---|---|---|
{rows}

Made by `python -m model.card` (model/card.py); the signs and their targets are defined in model/structure.py
and explained in docs/model.md.
"""


def write(run_dir: Path, machine: str | None = None) -> dict[str, Any]:
    card = build(run_dir, machine)
    checkpoint.atomic_write_json(run_dir / CARD, card)
    tmp = run_dir / (README + ".tmp")
    tmp.write_text(markdown(card))
    tmp.replace(run_dir / README)
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.card", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="model or sweep folders")
    p.add_argument(
        "--machine",
        help="where it was trained, in words (default: the machine its card names, else the device in config.json)",
    )
    args = p.parse_args(argv)
    try:
        for run in checkpoint.run_folders(args.runs):
            card = write(run, args.machine)
            print(f"{run}: test {card['test_error']:.2f}%, structure shown: {card['shows_paper_structure']}")
    except (checkpoint.CheckpointError, data.DataError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
