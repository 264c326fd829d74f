"""Where the CPU training step's time goes: its parts timed in place, in the trainer's order.

    python bench/step_parts.py --threads 2                           # 400 units, T = 11, batch 100
    python bench/step_parts.py --threads 2 --batch 10 --population 8 # the population step at batch 10
    python bench/step_parts.py --hidden 32 --steps 20                # seconds: a smoke run

Runs the trainer's step (model.train.build_engine, the default recipe, a population of --population) on
MNIST and, on the same batches, times its parts on their own: the weights' bf16 copies, the forward
recurrence, the backward recurrence, dS; the fast node's forward and backward; the optimiser and the
projection. Each figure is a
median over --steps steps, taken with the rest of the step around it (so the caches are as warm or cold as
in training). Also times, with a warm cache, one recurrent matmul (batch x H x H, bf16) on one thread and
on --threads, and D's column norms by linalg.vector_norm and by a squared sum.
Writes bench/results/step_parts_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from bench.train_speed import load_train, result_header, write_result  # noqa: E402
from model import core  # noqa: E402
from model.drsae import DrSAE  # noqa: E402
from model.presets import preset  # noqa: E402
from model.train import build_engine, constant_step_inputs  # noqa: E402


def matmul_us(batch: int, hidden: int, threads: int, repeats: int = 300) -> float:
    """One (batch x hidden) @ (hidden x hidden) bf16 matmul with a warm cache, in microseconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    z = torch.rand(batch, hidden).to(core.HALF)
    S = torch.rand(hidden, hidden).to(core.HALF)
    for _ in range(20):
        torch.mm(z, S.t())
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.mm(z, S.t())
    seconds = time.perf_counter() - t0
    torch.set_num_threads(before)
    return seconds / repeats * 1e6


def column_norms_us(rows: int, cols: int, repeats: int = 300) -> dict[str, float]:
    """Norms of a (rows x cols) matrix's columns, as D's projection needs them, two ways, in microseconds:
    why model/drsae.py takes a squared sum across rows rather than linalg.vector_norm."""
    w = torch.randn(rows, cols)
    ways = {
        "linalg.vector_norm(dim=0)": lambda: torch.linalg.vector_norm(w, dim=0, keepdim=True),
        "square().sum(0).sqrt_()": lambda: w.square().sum(0, keepdim=True).sqrt_(),
    }
    out = {}
    for name, fn in ways.items():
        for _ in range(20):
            fn()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        out[name] = (time.perf_counter() - t0) / repeats * 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--population", type=int, default=1, help="members trained together")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--data", default="mnist", choices=["mnist", "synthetic"])
    p.add_argument("--out", default=None, help="JSON file (default bench/results/step_parts_cpu.json)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    P, B, H = args.population, args.batch, args.hidden
    cfgs = [preset("faithful", hidden=H, batch_size=B, device="cpu", seed=i) for i in range(P)]
    train = load_train(args.data, torch.device("cpu"))
    models = []
    for c in cfgs:
        m = DrSAE(784, H, 10, c.T, e_bound=c.e_bound)
        m.reset_parameters(templates=train.x[:1000], generator=torch.Generator().manual_seed(c.seed))
        models.append(m)
    engine = build_engine(models, cfgs, train, torch.device("cpu"))
    inputs = constant_step_inputs(engine, cfgs, supervised=True)
    pop, T = engine.pop, cfgs[0].T
    half = engine.step.half
    dt = core.HALF if half else torch.float32
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    n_batches = len(train) // (B * P)
    parts: dict[str, list[float]] = {}

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        parts.setdefault(name, []).append(time.perf_counter() - t0)

    for i in range(args.steps + 20):
        idx = perm[(i % n_batches) * B * P : (i % n_batches + 1) * B * P].view(P, B)
        x, y = train.x[idx.view(-1)].view(P, B, -1), train.y[idx.view(-1)].view(P, B)
        with torch.no_grad():  # the recurrence's parts on their own, on this step's batch and weights
            with clock("bf16 copies of E, S, D"):
                xh, Eh, Sh, _ = x.to(dt), pop.E.to(dt), pop.S.to(dt), pop.D.to(dt)
            with clock("forward recurrence (E x - b, then T - 1 matmuls with S)"):
                drive = torch.baddbmm(pop.b.neg().to(dt).unsqueeze(1), xh, Eh.transpose(1, 2))
                Z = core._recur(drive, Sh, T)
            with clock("backward recurrence (T - 1 matmuls with S)"):
                delta = torch.empty_like(Z)
                for t in range(T - 2, -1, -1):
                    core._relu_grad(torch.bmm(Z[t + 1], Sh), Z[t], out=delta[t])
            with clock("dS, one matmul over all t"):
                d = delta[1:].transpose(0, 1).reshape(P, -1, H)
                torch.bmm(d.transpose(1, 2), Z[:-1].transpose(0, 1).reshape(P, -1, H))
        with clock("forward (the fast node)"):
            terms, _ = pop(x, y, half, True)
        with clock("backward (the fast node)"):
            (terms * inputs["weights"]).sum().backward()
        with clock("optimiser"):
            engine.opt.step(inputs["rates"])
        for q in pop.parameters():
            q.grad = None
        with clock("projection"):
            pop.project_(inputs["project"], True)
        with clock("whole trainer step"):
            engine.step(idx, **inputs)
    medians = {k: statistics.median(v[20:]) * 1e3 for k, v in parts.items()}  # ms, after 20 warm-up steps
    result = {
        **result_header("bench/step_parts.py", argv, torch.device("cpu")),
        "hidden": H,
        "T": T,
        "batch": B,
        "population": P,
        "precision": engine.step.precision,
        "median_ms": medians,
        "decoder_column_norms_us_warm_cache": column_norms_us(784, H),
        "recurrent_matmul_us_warm_cache": {
            f"{n} thread{'s' if n > 1 else ''}": matmul_us(B, H, n) for n in sorted({1, torch.get_num_threads()})
        },
    }
    out = Path(args.out or Path(__file__).parent / "results" / "step_parts_cpu.json")
    write_result(out, result)
    for k, v in medians.items():
        print(f"{v:7.3f} ms  {k}")
    for key in ("recurrent_matmul_us_warm_cache", "decoder_column_norms_us_warm_cache"):
        print(key, json.dumps(result[key]))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
