"""Does training in bf16 change the results? The same short run in fp32 and bf16, against fp32 seed noise.

    python bench/precision_check.py --threads 2                       # the default recipe, 400 units
    python bench/precision_check.py --preset paper --set batch_size=100 --set lr=1e-3 --set project_every=1

Runs the recipe (shortened: --unsup-epochs, --epochs, --train-limit) three times through model.train.train:
fp32 with --seed, bf16 with --seed, and fp32 with --seed + 1. bf16 is harmless when its distance to the
fp32 run is no larger than the distance between the two fp32 seeds. Compares the best validation error,
the test error, the validation reconstruction loss, the encoder-decoder angles (part-units < 0.5 rad,
categorical > 0.7 rad, median) and the six structure signs on the validation split. Writes
bench/results/precision_<preset>.json.

    python bench/precision_check.py --threads 2 --unsup-epochs 5 --epochs 100 --train-limit 50000 \
        --out bench/results/precision_faithful_full.json       # the default recipe at full length
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from bench.train_speed import parse_overrides, result_header, write_result  # noqa: E402
from model import checkpoint, structure  # noqa: E402
from model.analysis import CATEGORICAL_MIN_ANGLE, PART_MAX_ANGLE, encoder_decoder_angles  # noqa: E402
from model.presets import TrainConfig, preset  # noqa: E402
from model.train import train  # noqa: E402


def one_run(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    summary = train(cfg, out, progress_bar=False)
    seconds = time.perf_counter() - t0
    rows = checkpoint.read_metrics(out)
    angles = encoder_decoder_angles(checkpoint.load(out))
    signs = structure.evaluate_run(out, "val")
    return {
        "val_error": summary["val_error"],
        "test_error": summary["test_error"],
        "val_reconstruction": rows[-1]["val_reconstruction"],
        "part_units": int((angles < PART_MAX_ANGLE).sum()),
        "categorical_units": int((angles > CATEGORICAL_MIN_ANGLE).sum()),
        "median_angle": float(np.median(angles)),
        "seconds": seconds,
        # the six signs of the paper's structure on the validation split (model/structure.py)
        "structure_val": {k: v for k, v in signs.items() if k not in ("run", "split", "error")},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default=TrainConfig.preset, help="recipe (default: the default recipe)")
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--unsup-epochs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-limit", type=int, default=10000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override")
    p.add_argument("--out", default=None, help="JSON file (default bench/results/precision_<preset>.json)")
    args = p.parse_args(argv)
    base = dict(
        hidden=args.hidden,
        unsup_epochs=args.unsup_epochs,
        epochs=args.epochs,
        train_limit=args.train_limit,
        threads=args.threads,
        device="cpu",
        **parse_overrides(args.set),
    )
    runs = {"fp32": ("fp32", args.seed), "bf16": ("bf16", args.seed), "fp32_other_seed": ("fp32", args.seed + 1)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (precision, seed) in runs.items():
            cfg = preset(args.preset, **base, precision=precision, seed=seed)  # type: ignore[arg-type]
            results[name] = one_run(cfg, Path(tmp) / name)
            print(name, json.dumps(results[name]), flush=True)
    keys = [k for k, v in results["fp32"].items() if k != "seconds" and isinstance(v, int | float)]
    result = {
        **result_header("bench/precision_check.py", argv, torch.device("cpu")),
        "config": preset(args.preset, **base).to_dict(),  # type: ignore[arg-type]
        "runs": results,
        "bf16_minus_fp32": {k: results["bf16"][k] - results["fp32"][k] for k in keys},
        "seed_noise_fp32": {k: results["fp32_other_seed"][k] - results["fp32"][k] for k in keys},
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"precision_{args.preset}.json")
    write_result(out, result)
    print(json.dumps({k: result[k] for k in ("bf16_minus_fp32", "seed_noise_fp32")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
