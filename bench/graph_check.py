"""Check on a GPU that the CUDA-graphed training step computes what the eager step computes.

    python bench/graph_check.py [--steps 50]

Two copies of one initialised model take the same batches, one through model.train.Stepper eagerly and
one captured as a CUDA graph; prints the largest parameter difference after each phase and exits 1 if it
exceeds a float32 tolerance. Needs CUDA.
"""

from __future__ import annotations

import argparse
import copy
import sys

import torch

from model import data
from model.drsae import DrSAE
from model.presets import preset
from model.train import Stepper, make_optimizer


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("graph_check: no CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    train = data.load("mnist", limit=20000)["train"].to(device)
    cfg = preset("fast", device="cuda")
    torch.manual_seed(0)
    base = DrSAE(784, 400, 10, 11)
    base.reset_parameters(templates=train.x[:1000].cpu(), generator=torch.Generator().manual_seed(0))
    runs = {}
    for graphed in (False, True):
        model = copy.deepcopy(base).to(device)
        opt = make_optimizer(model, cfg, graphed)
        stepper = Stepper(model, model, opt, cfg, train, graphed)
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1)).to(device)
        for i in range(2 * args.steps):  # first half unsupervised, second half supervised (a recapture)
            stepper.set_lr(cfg.lr * (1 - i / (2 * args.steps)))
            stepper.step(perm[i * cfg.batch_size : (i + 1) * cfg.batch_size], i >= args.steps, i)
        torch.cuda.synchronize()
        runs[graphed] = (model, stepper.take_stats().cpu(), stepper.graphed)
    worst = max(
        (a - b).abs().max().item() for a, b in zip(runs[False][0].parameters(), runs[True][0].parameters(), strict=True)
    )
    stats_diff = (runs[False][1] - runs[True][1]).abs().max().item()
    print(f"graph_check: graphed={runs[True][2]} max |param diff| {worst:.2e}, max |stats diff| {stats_diff:.2e}")
    return 0 if runs[True][2] and worst < 1e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
