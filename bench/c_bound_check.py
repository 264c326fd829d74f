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
from model.train import build_engine, constant_step_inputs


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
    engine = build_engine([model], [cfg], train, device)
    inputs = constant_step_inputs(engine, [cfg], supervised=True)
    worst = 0.0
    for s in range(args.steps):
        inputs["project"] = torch.tensor([(s + 1) % cfg.project_every == 0], device=device)
        engine.step((torch.arange(10, device=device) + 10 * s)[None], **inputs)
        worst = max(worst, model.C.norm(dim=1).max().item())
    bound = model.config.c_bound
    ok = worst <= bound * (1 + 1e-5)
    shown = f"graphed={engine.step.graphed} project_every={cfg.project_every}"
    print(f"{shown}: largest ||C_k|| {worst:.5f} (bound {bound})")
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
