"""Train several recipes and the paper's three table rows at once on one GPU, one process per run.

    python scripts/gpu_sweep.py --out runs/sweep --epochs 300            # on a GPU machine
    python scripts/gpu_sweep.py --out /tmp/s --tiny --device cpu         # seconds: checks the launcher

A GPU session is short, and one small DrSAE leaves most of an H100 idle (its kernels are tiny), so the
runs share the card: with CUDA MPS (started here when the machine has it) their kernels overlap instead
of taking turns. Each run is a plain `python -m model.train` into <out>/<variant>/<row>; the variants are
the faithful recipe with one or two numbers changed, and the choice between them is made afterwards on
the validation set (docs/model.md). Folders are packed without their resume state into <pack>/*.tar.gz.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# variant name -> overrides of the `faithful` preset
VARIANTS: dict[str, dict[str, float | str | bool]] = {
    "lr04_ed25": {"lr": 0.04},
    "lr04_ed15": {"lr": 0.04, "encoder_decoder_lr_scale": 0.15},
    "lr04_ed40": {"lr": 0.04, "encoder_decoder_lr_scale": 0.4},
    "lr06_ed25": {"lr": 0.06},
    "lr03_ed20": {"lr": 0.03, "encoder_decoder_lr_scale": 0.2},
    "lr02_ed15": {"lr": 0.02, "encoder_decoder_lr_scale": 0.15},
    # second sweep: the classifier on SGD too (C at the authors' 0.2 rate), with and without momentum
    "sgdC_lr04_ed25": {"lr": 0.04, "classifier_optimizer": "same"},
    "sgdC_lr03_ed40": {"lr": 0.03, "classifier_optimizer": "same", "encoder_decoder_lr_scale": 0.4},
    "sgdC_lr02_ed25": {"lr": 0.02, "classifier_optimizer": "same"},
    "plain_lr01_ed25": {"lr": 0.1, "momentum": 0.0, "nesterov": False, "classifier_optimizer": "same"},
    "plain_lr03_ed25": {"lr": 0.3, "momentum": 0.0, "nesterov": False, "classifier_optimizer": "same"},
    "plain_lr01_ed100": {
        "lr": 0.1,
        "momentum": 0.0,
        "nesterov": False,
        "classifier_optimizer": "same",
        "encoder_decoder_lr_scale": 1.0,
    },
}
SECOND = "sgdC_lr04_ed25,sgdC_lr03_ed40,sgdC_lr02_ed25,plain_lr01_ed25,plain_lr03_ed25,plain_lr01_ed100"
# row name -> (hidden, T, e_bound, seed); T = 2 uses the authors' reduced encoder bound (docs/model.md)
ROWS: dict[str, tuple[int, int, float | None, int]] = {
    "h400_t11": (400, 11, None, 0),
    "h400_t11_s1": (400, 11, None, 1),
    "h200_t11": (200, 11, None, 0),
    "h200_t2": (200, 2, 1.25 / 2 / 2, 0),
}
TINY = ["--train-limit", "400", "--eval-limit", "200", "--unsup-epochs", "1", "--epochs", "1", "--batch-size", "50"]


def start_mps() -> bool:
    """Start the CUDA MPS daemon if the machine has one; False where it can't (the runs then time-slice)."""
    if not shutil.which("nvidia-cuda-mps-control"):
        return False
    os.environ.setdefault("CUDA_MPS_PIPE_DIRECTORY", "/tmp/mps-pipe")
    os.environ.setdefault("CUDA_MPS_LOG_DIRECTORY", "/tmp/mps-log")
    for d in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"):
        Path(os.environ[d]).mkdir(parents=True, exist_ok=True)
    return subprocess.run(["nvidia-cuda-mps-control", "-d"], capture_output=True).returncode == 0


def stop_mps() -> None:
    subprocess.run(["nvidia-cuda-mps-control"], input=b"quit\n", capture_output=True)


def command(variant: str, row: str, args: argparse.Namespace) -> list[str]:
    hidden, T, e_bound, seed = ROWS[row]
    cmd = [sys.executable, "-m", "model.train", "--preset", "faithful", "--hidden", str(hidden), "--T", str(T)]
    cmd += ["--seed", str(seed), "--device", args.device, "--threads", "1", "--no-progress"]
    cmd += ["--out", str(args.out / variant / row)]
    if e_bound is not None:
        cmd += ["--e-bound", repr(e_bound)]
    overrides = dict(VARIANTS[variant])
    if args.epochs is not None:
        overrides.setdefault("epochs", args.epochs)
    if args.time_limit:
        overrides["time_limit"] = args.time_limit
    for k, v in overrides.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    return cmd + (TINY if args.tiny else [])


def pack(out: Path, dest: Path, limit: int = 15 * 2**20) -> list[Path]:
    """One .tar.gz per variant without state.pt; a variant over `limit` bytes is split per row."""
    dest.mkdir(parents=True, exist_ok=True)
    made = []

    def tar(name: str, folders: list[Path]) -> Path:
        path = dest / f"{name}.tar.gz"
        with tarfile.open(path, "w:gz") as tf:
            for f in folders:
                for file in sorted(f.rglob("*")):
                    if file.is_file() and file.name != "state.pt":
                        tf.add(file, arcname=str(file.relative_to(out)))
        return path

    for variant in sorted(p for p in out.iterdir() if p.is_dir()):
        path = tar(variant.name, [variant])
        if path.stat().st_size > limit:
            path.unlink()
            for row in sorted(p for p in variant.iterdir() if p.is_dir()):
                made.append(tar(f"{variant.name}-{row.name}", [row]))
        else:
            made.append(path)
    return made


def summary(out: Path) -> dict[str, dict]:
    """Per run: final results from config.json and the last metrics row's role numbers."""
    result: dict[str, dict] = {}
    for cfg_path in sorted(out.glob("*/*/config.json")):
        cfg = json.loads(cfg_path.read_text())
        rows = [json.loads(line) for line in (cfg_path.parent / "metrics.jsonl").read_text().splitlines()]
        last = rows[-1] if rows else {}
        keep = ("units_part", "units_categorical", "spearman_angle_c_norm", "angle_median", "seconds", "epoch")
        result[f"{cfg_path.parent.parent.name}/{cfg_path.parent.name}"] = {
            "status": cfg.get("status"),
            **cfg.get("results", {}),
            **{k: last.get(k) for k in keep},
        }
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pack", type=Path, help="write <variant>.tar.gz files here when done")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names, or 'second'")
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated names")
    p.add_argument("--epochs", type=int, help="supervised epochs (default: the preset's)")
    p.add_argument("--time-limit", type=float, help="seconds per run (stops cleanly after an epoch)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-mps", action="store_true")
    p.add_argument("--tiny", action="store_true", help="a few hundred images, 1 + 1 epochs: checks the launcher")
    args = p.parse_args()
    variants = (SECOND if args.variants == "second" else args.variants).split(",")
    rows = args.rows.split(",")
    unknown = [v for v in variants if v not in VARIANTS] + [r for r in rows if r not in ROWS]
    if unknown:
        p.error(f"unknown variants or rows: {unknown}")
    mps = args.device.startswith("cuda") and not args.no_mps and start_mps()
    print(f"MPS: {'on' if mps else 'off'}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    procs = {}
    t0 = time.time()
    for v in variants:
        for r in rows:
            (args.out / v).mkdir(exist_ok=True)
            log = open(args.out / v / f"{r}.log", "w")  # noqa: SIM115 - closed when the process ends
            procs[(v, r)] = (subprocess.Popen(command(v, r, args), cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log)
    codes = {}
    for key, (proc, log) in procs.items():
        codes["/".join(key)] = proc.wait()
        log.close()
    print(f"all {len(procs)} runs ended after {time.time() - t0:.0f} s; exit codes {codes}", flush=True)
    if mps:
        stop_mps()
    print(json.dumps(summary(args.out), indent=1), flush=True)
    if args.pack:
        for path in pack(args.out, args.pack):
            print(f"packed {path} ({path.stat().st_size / 2**20:.1f} MiB)", flush=True)
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
