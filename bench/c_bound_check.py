"""The captured (CUDA graph) training step bounds C after every supervised update, also when E and D are
projected only every n-th update (the paper preset's project_every = 5).

    python bench/c_bound_check.py --device cuda

A deliberately huge rate pushes C past its bound at every step, so a step that skipped the projection
shows at once. Exits 1 if any row of C ends up longer than the bound.
"""

from __future__ import annotations

import argparse
import sys

import torch

from model import data
from model.drsae import DrSAE
from model.presets import preset
from model.train import Stepper, make_optimizer


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfg = preset("paper", hidden=64, T=11, batch_size=10, lr=1.0, device=args.device)
    model = DrSAE(784, 64, 10, 11).to(device)
    with torch.no_grad():  # start C on its bound, so any update that grows a row would leave it outside
        model.C.mul_(model.config.c_bound / model.C.norm(dim=1, keepdim=True))
    x = data.normalize(torch.rand(1000, 784))
    train = data.Split(x, torch.randint(0, 10, (1000,))).to(device)
    graphed = device.type == "cuda"
    stepper = Stepper(model, model, make_optimizer(model, cfg, graphed), cfg, train, graphed)
    stepper.set_lr(cfg.lr)
    worst = 0.0
    for s in range(args.steps):
        stepper.step(torch.arange(10, device=device) + 10 * s, supervised=True, step_no=s)
        worst = max(worst, model.C.norm(dim=1).max().item())
    bound = model.config.c_bound
    ok = worst <= bound * (1 + 1e-5)
    print(f"graphed={stepper.graphed} project_every={cfg.project_every}: largest ||C_k|| {worst:.5f} (bound {bound})")
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
