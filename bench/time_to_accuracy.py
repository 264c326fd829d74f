"""Time to accuracy: wall time until a recipe first reaches a test error, and the error it ends with.

    python bench/time_to_accuracy.py --threads 2                              # the default recipe, CPU
    python bench/time_to_accuracy.py --preset adam --threads 2 --target 1.2
    python bench/time_to_accuracy.py --set device=cuda --target 1.08          # on a GPU
    python bench/time_to_accuracy.py --preset smoke --target 60               # seconds: a smoke run

Trains through model.train.train exactly as the CLI does (every option of the preset, --set overrides
any TrainConfig field), reads each epoch's row as it arrives and records the wall time (from the start of
train(), data loading included) at which the current model's test error first is <= --target. The final
test error is the trainer's own: that of the best-validation model. --stop-at-target ends the run there.
Writes bench/results/time_to_accuracy_<preset>_<device>.json with the machine and the command.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from bench.train_speed import parse_overrides, result_header, write_result  # noqa: E402
from model.device import resolve as resolve_device  # noqa: E402
from model.presets import TrainConfig, preset  # noqa: E402
from model.train import train  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default=TrainConfig.preset, help="recipe (default: the default recipe)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--target", type=float, default=1.2, help="test error in percent (default 1.2)")
    p.add_argument("--stop-at-target", action="store_true", help="end the run when the target is reached")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override")
    p.add_argument("--run-dir", default=None, help="keep the run folder here (default: a temporary one)")
    p.add_argument("--out", default=None, help="JSON file (default bench/results/time_to_accuracy_<...>.json)")
    args = p.parse_args(argv)
    overrides = parse_overrides(args.set)
    if args.threads:
        overrides["threads"] = args.threads
    cfg = preset(args.preset, **overrides)  # type: ignore[arg-type]
    device = resolve_device(cfg.device)

    reached: dict[str, Any] = {}
    epochs: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def on_progress(row: dict[str, Any]) -> None:
        wall = time.perf_counter() - t0
        epochs.append({k: row.get(k) for k in ("epoch", "phase", "test_error", "val_error", "epoch_seconds")})
        epochs[-1]["wall_seconds"] = wall
        if not reached and row["phase"] == "supervised" and row["test_error"] <= args.target:
            reached.update(seconds=wall, epoch=row["epoch"], test_error=row["test_error"])

    def should_stop() -> bool:
        return args.stop_at_target and bool(reached)

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run_dir) if args.run_dir else Path(tmp) / "run"
        summary = train(cfg, run_dir, on_progress=on_progress, should_stop=should_stop, progress_bar=False)
    total = time.perf_counter() - t0

    result = {
        **result_header("bench/time_to_accuracy.py", argv, device),
        "device": str(device),
        "preset": args.preset,
        "config": cfg.to_dict(),
        "target_test_error": args.target,
        "seconds_to_target": reached.get("seconds"),
        "epoch_at_target": reached.get("epoch"),
        "status": "stopped at target" if args.stop_at_target and reached else summary["status"],
        "final_test_error": summary.get("test_error"),
        "final_val_error": summary.get("val_error"),
        "best_epoch": summary.get("best_epoch"),
        "total_seconds": total,
        "epochs": epochs,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"time_to_accuracy_{args.preset}_{device.type}.json")
    write_result(out, result)
    to_target = f"{reached['seconds']:.0f} s (epoch {reached['epoch']})" if reached else "not reached"
    final = f"{result['final_test_error']:.2f}%" if result["final_test_error"] is not None else "none (stopped)"
    print(f"{args.preset}: test error <= {args.target}% after {to_target}; final test error {final} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
