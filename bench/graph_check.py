"""Check on a GPU that the CUDA-graphed training step computes what the eager step computes.

    python bench/graph_check.py [--steps 50] [--preset NAME]

Two copies of one initialised population (members at their own rates) take the same batches: the
reference through the trainer's step run eagerly, the same step captured as a CUDA graph. A first half of
the steps is unsupervised, a second half supervised, so a second graph is captured at the phase switch.
Prints, per parameter, max |reference - graphed| / max |reference| and exits 1 if any
exceeds TOLERANCE or if the graph was never used. Needs CUDA.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from model import data  # noqa: E402
from model.drsae import DrSAE  # noqa: E402
from model.presets import TrainConfig, preset  # noqa: E402
from model.train import build_engine, constant_step_inputs  # noqa: E402

# Per parameter, max |diff| / max |param|. Measured on a CPU with 2 x 50 steps of the Adam recipe (400
# units, T = 11, batch 100): changing only the summation order (1 thread vs 2) leaves at most 1.1e-5 (in E);
# skipping the very last of the 100 updates already gives 1.3e-3 (in b), skipping update 60 gives 1.1e-1
# and a 10% larger rate at update 60 gives 7.4e-2 (both in E). So 1e-3 passes rounding differences with
# ~100x to spare and fails on any lost, repeated or mis-scaled update.
TOLERANCE = 1e-3


def relative_diffs(a: torch.nn.Module, b: torch.nn.Module) -> dict[str, float]:
    return {
        name: ((p - q).abs().max() / p.abs().max().clamp_min(1e-12)).item()
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True)
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=50, help="steps per phase")
    p.add_argument("--preset", default=TrainConfig.preset, help="recipe (default: the default recipe)")
    p.add_argument("--population", type=int, default=4, help="members, each at its own rate")
    p.add_argument("--device", default="cuda", help="cpu: the same comparison without a graph (a dry run)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("graph_check: no CUDA device", file=sys.stderr)
        return 2
    graph = device.type == "cuda"
    train = data.load("mnist", limit=20000)["train"].to(device)
    cfgs = [
        preset(args.preset, device=str(device), precision="fp32", seed=i, lr=preset(args.preset).lr * (1 + 0.25 * i))
        for i in range(args.population)
    ]
    torch.manual_seed(0)
    bases = []
    for c in cfgs:
        m = DrSAE(784, c.hidden, 10, c.T, e_bound=c.e_bound)
        m.reset_parameters(templates=train.x[:1000].cpu(), generator=torch.Generator().manual_seed(c.seed))
        bases.append(m)
    runs = {}
    for graphed in (False, True):
        models = [copy.deepcopy(m).to(device) for m in bases]
        engine = build_engine(models, [replace(c, cuda_graphs=graphed and graph) for c in cfgs], train, device)
        B = cfgs[0].batch_size
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1)).to(device)
        for i in range(2 * args.steps):  # first half unsupervised, second half supervised (a second graph)
            inputs = constant_step_inputs(engine, cfgs, supervised=i >= args.steps)
            inputs["rates"] *= 1 - i / (2 * args.steps)
            inputs["project"] = torch.tensor([(i + 1) % c.project_every == 0 for c in cfgs], device=device)
            idx = torch.stack([perm[(i * len(cfgs) + j) * B : (i * len(cfgs) + j + 1) * B] for j in range(len(cfgs))])
            engine.step(idx, **inputs)
        if graph:
            torch.cuda.synchronize()
        runs[graphed] = (models, engine.step.take_stats().cpu(), engine.step.graphed)
    diffs: dict[str, float] = {}
    for j, (a, b) in enumerate(zip(runs[False][0], runs[True][0], strict=True)):
        for k, v in relative_diffs(a, b).items():
            diffs[f"{k}[{j}]"] = v
    stats = ((runs[False][1] - runs[True][1]).abs() / runs[False][1].abs().clamp_min(1e-12)).max().item()
    worst = max(diffs.values())
    print(f"graph_check: graphed={runs[True][2]} preset={args.preset} population={args.population}")
    listed = ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
    print(f"  max |eager - graphed| / max |eager| (tolerance {TOLERANCE:.0e}): {listed}")
    print(f"  running loss sums, relative: {stats:.1e}")
    ok = (runs[True][2] or not graph) and worst < TOLERANCE
    print("graph_check: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
