"""Training speed: the project's training step against a plain eager PyTorch loop of the same model.

    python bench/train_speed.py                       # CPU, one full epoch each (50k images)
    python bench/train_speed.py --device cuda         # GPU: eager baseline vs the CUDA-graphed step
    python bench/train_speed.py --steps 100           # shorter: time 100 steps and scale to an epoch

Same model (400 units, T = 11), same data on the device, batch 100, Adam with the per-matrix rates,
projection after every step. The baseline is the loop anyone would write first: the recurrence
z = relu(x E^T + z S^T - b) evaluated as written at every iteration, eager autograd, eager Adam.
Ours is model.train.Stepper: E x - b hoisted out of the recurrence (it does not change over t), fused
add-matmul, and on CUDA the whole step captured once as a CUDA graph. Both run side by side in one
process; figures go to bench/results/train_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from model import data
from model.drsae import DrSAE
from model.presets import preset
from model.train import Stepper, make_optimizer


def naive_step(model: DrSAE, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """The baseline: the paper's recurrence written literally, eager everything."""
    z = torch.zeros(x.shape[0], model.S.shape[0], device=x.device)
    for _ in range(model.T):
        z = F.relu(x @ model.E.T + z @ model.S.T - model.b)
    recon = z @ model.D.T
    logits = (z / torch.sqrt((z * z).sum(1, keepdim=True) + 1e-8)) @ model.C.T + model.c
    loss = 5.0 * 0.5 * ((x - recon) ** 2).sum(1).mean() + 0.09 * z.sum(1).mean() + F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    model.project_()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_baseline(train: data.Split, steps: int, batch: int, device: torch.device) -> float:
    model = DrSAE(784, 400, 10, 11).to(device)
    opt = torch.optim.Adam(model.param_groups(1e-3), lr=1e-3)
    perm = torch.randperm(len(train), device=device)
    for i in range(3):  # warm-up
        idx = perm[i * batch : (i + 1) * batch]
        naive_step(model, opt, train.x[idx], train.y[idx])
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[(i % (len(train) // batch)) * batch :][:batch]
        naive_step(model, opt, train.x[idx], train.y[idx])
    sync(device)
    return time.perf_counter() - t0


def time_ours(train: data.Split, steps: int, batch: int, device: torch.device) -> float:
    cfg = preset("fast", batch_size=batch, device=str(device))
    model = DrSAE(784, 400, 10, 11).to(device)
    graphed = device.type == "cuda"
    opt = make_optimizer(model, cfg, graphed)
    stepper = Stepper(model, model, opt, cfg, train, graphed)
    stepper.set_lr(1e-3)
    perm = torch.randperm(len(train), device=device)
    for i in range(5):  # warm-up (and, on CUDA, graph capture)
        stepper.step(perm[i * batch : (i + 1) * batch], True, i)
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        stepper.step(perm[(i % (len(train) // batch)) * batch :][:batch], True, i)
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=0, help="steps to time (0: one full epoch)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--repeats", type=int, default=1, help="alternate baseline/ours this many times; best of each")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    train = data.load("mnist")["train"].to(device)
    steps_per_epoch = len(train) // args.batch
    steps = args.steps or steps_per_epoch
    base, ours = [], []
    for _ in range(args.repeats):
        base.append(time_baseline(train, steps, args.batch, device) * steps_per_epoch / steps)
        ours.append(time_ours(train, steps, args.batch, device) * steps_per_epoch / steps)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "steps_timed": steps,
        "baseline_epoch_seconds": min(base),
        "ours_epoch_seconds": min(ours),
        "speedup": min(base) / min(ours),
        "all_baseline": base,
        "all_ours": ours,
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"train_speed_{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
