"""Training speed: the project's training step against the eager loop a good engineer writes first.

    python bench/train_speed.py --threads 2                    # CPU, 400 units, T = 11, batch 100, default recipe
    python bench/train_speed.py --threads 2 --recipe adam      # the Adam recipe
    python bench/train_speed.py --device cuda --steps 300      # GPU: eager baseline vs the CUDA-graphed step
    python bench/train_speed.py --hidden 32 --steps 5          # seconds: a smoke run
    python bench/train_speed.py --set precision=fp32           # any TrainConfig field, for the project's step

The baseline (`baseline_step`) is the competent first version: E x - b computed once per batch and
reused by all T iterations, the same loss as the trainer, the recipe's optimizer from torch.optim (SGD with
Nesterov momentum for the default recipe, Adam for `adam`) with the per-matrix rates as parameter groups,
fp32, eager autograd, the norm bounds projected after every step. The candidate is the trainer's step
(model.train.build_engine, a population of one) exactly as the trainer builds it for the same recipe
(eager on a CPU, a CUDA graph on a GPU, whatever precision the config selects). Both share one process,
one copy of the data and the same batches; they alternate in chunks of `--steps` timed steps, `--repeats`
times, so a burst of load on a shared machine hits both. Per-epoch seconds are the median chunk time
scaled to one epoch of 50,000 images; the speed-up is given as the ratio of those medians and as the
median of each repeat's back-to-back ratio. The figures and the exact command go to
bench/results/train_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from model import data
from model.drsae import DrSAE  # noqa: E402
from model.presets import TrainConfig, preset  # noqa: E402
from model.train import build_engine, constant_step_inputs  # noqa: E402
from report.reproduce import cpu_name  # noqa: E402

EPOCH_IMAGES = 50_000


def baseline_step(model: DrSAE, opt: torch.optim.Optimizer, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor) -> None:
    """One supervised step as a good engineer writes it first: plain autograd over the unrolled loop."""
    drive = x @ model.E.T - model.b  # (B, n_hidden): constant over t, so computed once
    z = F.relu(drive)
    for _ in range(1, model.T):
        z = F.relu(drive + z @ model.S.T)
    recon = z @ model.D.T  # (B, n_in)
    logits = (z / torch.sqrt((z * z).sum(1, keepdim=True) + 1e-8)) @ model.C.T + model.c
    loss = (
        cfg.rec_weight * 0.5 * (x - recon).pow(2).sum(1).mean()
        + cfg.l1_weight * z.sum(1).mean()
        + cfg.cls_weight * F.cross_entropy(logits, y)
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    model.project_()


def stock_optimizer(model: DrSAE, cfg: TrainConfig) -> torch.optim.Optimizer:
    """torch.optim's own optimizer for the recipe, with the per-matrix rates as parameter groups."""
    groups = model.param_groups(cfg.lr)
    for g in groups:
        if g["name"] in ("E", "D"):
            g["lr"] *= cfg.encoder_decoder_lr_scale
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    return torch.optim.Adam(groups, lr=cfg.lr)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU's model name."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def result_header(script: str, argv: list[str] | None, device: torch.device) -> dict[str, Any]:
    """What every bench's JSON starts with: the exact command, the machine, threads, torch and the load."""
    return {
        "command": " ".join(["python", script, *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1_5_15min": list(os.getloadavg()),
    }


def write_result(out: Path, result: dict[str, Any]) -> None:
    """A bench's JSON, written atomically (a temporary file renamed into place)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)


def load_train(name: str, device: torch.device) -> data.Split:
    """MNIST's training split, or random unit-norm images with random labels (speed does not depend on
    the pixels: every matmul is dense), for a machine without the data."""
    if name == "synthetic":
        g = torch.Generator().manual_seed(0)
        x = data.normalize(torch.rand(EPOCH_IMAGES, 784, generator=g))
        return data.Split(x, torch.randint(0, 10, (EPOCH_IMAGES,), generator=g)).to(device)
    return data.load(name)["train"].to(device)


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`key=value` pairs; values parsed as JSON where they parse (numbers, true/false), else strings."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--T", type=int, default=11)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=50, help="timed steps per chunk")
    p.add_argument("--repeats", type=int, default=5, help="chunks of each, alternating baseline and project")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps of each first (and CUDA graph capture)")
    p.add_argument("--data", default="mnist", choices=["mnist", "synthetic"])
    p.add_argument(
        "--recipe",
        default="faithful",
        choices=["faithful", "adam"],
        help="the preset both sides train with (default: the default recipe)",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override")
    p.add_argument("--out", default=None, help="JSON file (default bench/results/train_speed_<device>.json)")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # The recipe's step; --set changes any field of the project's side only.
    cfg = preset(
        args.recipe,
        hidden=args.hidden,
        T=args.T,
        batch_size=args.batch,
        device=str(device),
        **parse_overrides(args.set),  # type: ignore[arg-type]
    )
    train = load_train(args.data, device)
    n_batches = len(train) // args.batch
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1)).to(device)

    def batch(i: int) -> torch.Tensor:
        j = i % n_batches
        return perm[j * args.batch : (j + 1) * args.batch]

    torch.manual_seed(0)
    init = DrSAE(784, args.hidden, 10, args.T, e_bound=cfg.e_bound)
    init.reset_parameters(templates=train.x[:1000].cpu(), generator=torch.Generator().manual_seed(0))

    # The baseline: stock Adam, per-matrix rates as parameter groups, fp32, eager.
    base_model = DrSAE.from_config(init.config)
    base_model.load_state_dict(init.state_dict())
    base_model.to(device)
    base_opt = stock_optimizer(base_model, cfg)

    # The project: the trainer's own step, built as train() builds it.
    ours_model = DrSAE.from_config(init.config)
    ours_model.load_state_dict(init.state_dict())
    ours_model.to(device)
    engine = build_engine([ours_model], [cfg], train, device)
    inputs = constant_step_inputs(engine, [cfg], supervised=True)

    counters = {"baseline": 0, "project": 0}

    def run_baseline(n: int) -> None:
        for _ in range(n):
            idx = batch(counters["baseline"])
            baseline_step(base_model, base_opt, cfg, train.x.index_select(0, idx), train.y.index_select(0, idx))
            counters["baseline"] += 1

    def run_project(n: int) -> None:
        for _ in range(n):
            engine.step(batch(counters["project"])[None], **inputs)
            counters["project"] += 1

    runners: dict[str, Callable[[int], None]] = {"baseline": run_baseline, "project": run_project}
    for run in runners.values():
        run(args.warmup)
    sync(device)

    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {"baseline": [], "project": []}
    for r in range(args.repeats):
        order = ["baseline", "project"] if r % 2 == 0 else ["project", "baseline"]
        for name in order:
            sync(device)
            t0 = time.perf_counter()
            runners[name](args.steps)
            sync(device)
            seconds[name].append((time.perf_counter() - t0) / args.steps * (EPOCH_IMAGES / args.batch))

    base_med = statistics.median(seconds["baseline"])
    ours_med = statistics.median(seconds["project"])
    result = {
        "command": " ".join(["python", "bench/train_speed.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(device),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1_5_15min": {"before": list(load_before), "after": list(os.getloadavg())},
        "hidden": args.hidden,
        "T": args.T,
        "batch": args.batch,
        "data": args.data,
        "steps_per_chunk": args.steps,
        "repeats": args.repeats,
        "project_step": {
            "graphed": engine.step.graphed,
            "precision": engine.step.precision,
            **{k: getattr(cfg, k) for k in sorted(parse_overrides(args.set))},
        },
        "baseline_epoch_seconds": base_med,
        "project_epoch_seconds": ours_med,
        "speedup": base_med / ours_med,
        # each repeat's baseline chunk over its project chunk, run back to back: robust to load that comes
        # and goes on a shared machine (the ratio of medians above is not, quite)
        "speedup_median_of_pairs": statistics.median(
            b / o for b, o in zip(seconds["baseline"], seconds["project"], strict=True)
        ),
        "all_baseline_epoch_seconds": seconds["baseline"],
        "all_project_epoch_seconds": seconds["project"],
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"train_speed_{device.type}.json")
    write_result(out, result)
    print(json.dumps(result, indent=2))
    pairs = result["speedup_median_of_pairs"]
    print(f"per epoch: baseline {base_med:.2f} s, project {ours_med:.2f} s -> {base_med / ours_med:.2f}x", end="")
    print(f" (median of pairs {pairs:.2f}x) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
