"""Page faults and CPU time of the population step, with and without keeping freed memory in the heap.

    python bench/page_faults.py                      # 8 members at batch 10, 400 units, one thread
    python bench/page_faults.py --population 1 --batch 100
    python bench/page_faults.py --hidden 32 --steps 5 # seconds: a smoke run

glibc's allocator settings are per process and cannot be undone, so each side runs in a process of its own:
one as the trainer builds its step (model.population.retain_freed_memory), one with that call left out.
Each counts minor page faults (getrusage) and CPU time (process_time) over --steps steps after a warm-up,
best of three. Figures to bench/results/page_faults_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def measure(population: int, batch: int, hidden: int, steps: int, retain: bool) -> dict[str, float]:
    import torch

    import model.train as trainer
    from bench.train_speed import load_train
    from model.drsae import DrSAE
    from model.presets import preset

    torch.set_num_threads(1)
    if not retain:
        trainer.retain_freed_memory = lambda: False  # type: ignore[assignment]
    train = load_train("synthetic", torch.device("cpu"))
    cfgs = [preset("faithful", hidden=hidden, batch_size=batch, seed=i) for i in range(population)]
    engine = trainer.build_engine([DrSAE(784, hidden) for _ in cfgs], cfgs, train, torch.device("cpu"))
    inputs = trainer.constant_step_inputs(engine, cfgs, supervised=True)
    gen = torch.Generator().manual_seed(0)

    def run(k: int) -> None:
        for _ in range(k):
            engine.step(torch.randint(0, len(train), (population, batch), generator=gen), **inputs)

    run(20)
    best_cpu, faults = float("inf"), 0.0
    for _ in range(3):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        run(steps)
        cpu = (time.process_time() - t0) / steps * 1e3
        if cpu < best_cpu:
            best_cpu = cpu
            faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / steps
    return {"cpu_ms_per_step": best_cpu, "minor_faults_per_step": faults}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--side", choices=["retain", "default"], help=argparse.SUPPRESS)  # one side, in a child
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "page_faults_cpu.json")
    args = p.parse_args(argv)
    shape = [str(v) for v in ("--population", args.population, "--batch", args.batch, "--hidden", args.hidden,
                              "--steps", args.steps)]
    if args.side:
        print(json.dumps(measure(args.population, args.batch, args.hidden, args.steps, args.side == "retain")))
        return 0
    sides = {}
    for side in ("default", "retain"):
        out = subprocess.run([sys.executable, __file__, *shape, "--side", side], capture_output=True, text=True,
                             check=True)
        sides[side] = json.loads(out.stdout.strip().splitlines()[-1])
    import torch

    from bench.train_speed import result_header, write_result  # noqa: E402 (torch only in the children above)

    result = {**result_header("bench/page_faults.py", argv, torch.device("cpu")), "threads": 1,
              "population": args.population, "batch": args.batch, "hidden": args.hidden, **sides}
    write_result(args.out, result)
    d, r = sides["default"], sides["retain"]
    print(f"{args.population} members at batch {args.batch}: {d['minor_faults_per_step']:.0f} -> "
          f"{r['minor_faults_per_step']:.0f} minor faults a step, {d['cpu_ms_per_step']:.1f} -> "
          f"{r['cpu_ms_per_step']:.1f} ms of CPU a step -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
