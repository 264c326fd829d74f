"""Which minibatch does the default recipe tolerate? It is trained at several sizes and compared on validation.

    python bench/batch_size.py --threads 2                                     # the default list (~20 min)
    python bench/batch_size.py --threads 2 --variant 200:0.02 --variant 500:0.04
    python bench/batch_size.py --hidden 32 --unsup-epochs 1 --epochs 1 --train-limit 2000 --variant 50:0.02

A larger batch makes each epoch cheaper (bench/train_speed.py), but it takes fewer, less noisy steps,
which can cost accuracy or the paper's structure. Each variant "B:lr" is the default recipe with batch B
and base rate lr; the warm-up keeps its length in images (the recipe's steps x 100 / B). Per run: the best
validation error, the six structure signs on the validation split (model.structure), the trainer's own
seconds per epoch (training only) and the wall time. Only the validation split decides (docs/model.md).
Writes bench/results/batch_size_<device>.json with the commit, the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from bench.train_speed import result_header, write_result  # noqa: E402
from model import checkpoint, structure  # noqa: E402
from model.device import resolve as resolve_device  # noqa: E402
from model.presets import TrainConfig, preset  # noqa: E402
from model.train import train  # noqa: E402

REFERENCE_BATCH = 100  # the batch the recipe's warm-up length was chosen for
VARIANTS = ["100:0.02", "200:0.02", "200:0.03", "200:0.04", "500:0.04"]


def parse_variant(text: str) -> tuple[int, float]:
    batch, sep, lr = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(batch), float(lr)
    except ValueError:
        raise SystemExit(f"--variant expects BATCH:LR, e.g. 200:0.02, got {text!r}") from None


def commit() -> str:
    """The checkout's commit, marked '+dirty' when tracked files differ from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty else "")


def one_run(cfg: TrainConfig, out: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    summary = train(cfg, out, progress_bar=False)
    wall = time.perf_counter() - t0
    rows = checkpoint.read_metrics(out)
    measured = structure.evaluate_run(out, "val")
    return {
        "batch": cfg.batch_size,
        "lr": cfg.lr,
        "warmup_steps": cfg.warmup_steps,
        "best_epoch": summary.get("best_epoch"),
        "val_error": summary["val_error"],
        "train_seconds_per_epoch": statistics.median(r["epoch_seconds"] for r in rows),
        "wall_seconds": wall,
        "structure_val": {k: v for k, v in measured.items() if k not in ("run", "split", "error")},
        "shows_structure": all(v == "met" for v in measured["verdicts"].values()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", action="append", default=None, metavar="BATCH:LR", help=f"default: {VARIANTS}")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=1, help="the seed of models/default")
    p.add_argument("--hidden", type=int, default=None, help="(default: the recipe's)")
    p.add_argument("--unsup-epochs", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON file (default bench/results/batch_size_<device>.json)")
    args = p.parse_args(argv)
    shorten = {k: getattr(args, k) for k in ("hidden", "unsup_epochs", "epochs", "train_limit")}
    base = preset("faithful", seed=args.seed, threads=args.threads, **{k: v for k, v in shorten.items() if v})
    device = resolve_device(base.device)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.variant or VARIANTS:
            batch, lr = parse_variant(text)
            warmup = round(base.warmup_steps * REFERENCE_BATCH / batch)
            cfg = replace(base, batch_size=batch, lr=lr, warmup_steps=warmup)
            results.append(one_run(cfg, Path(tmp) / text.replace(":", "_")))
            print(json.dumps(results[-1]), flush=True)
    result = {
        **result_header("bench/batch_size.py", argv, device),
        "commit": commit(),
        "recipe": base.to_dict(),
        "runs": results,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"batch_size_{device.type}.json")
    write_result(out, result)
    for r in results:
        s = r["structure_val"]
        print(
            f"batch {r['batch']:4d} lr {r['lr']:.3f}: val {r['val_error']:.2f}%  "
            f"{r['train_seconds_per_epoch']:.2f} s/epoch  part {s['units_part']} cat {s['units_categorical']}  "
            f"signs {'all met' if r['shows_structure'] else 'not all met'}"
        )
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
