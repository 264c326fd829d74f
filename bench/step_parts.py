"""Where the CPU training step's time goes: its parts timed in place, in the trainer's order.

    python bench/step_parts.py --threads 2            # 400 units, T = 11, batch 100, default recipe
    python bench/step_parts.py --hidden 32 --steps 20 # seconds: a smoke run

Runs the trainer's step (model.train.Stepper, the default recipe) on MNIST and, on the same batches, times
the parts of `fast_trajectory.gradients` on their own: the weights' bf16 copies, the forward recurrence,
the backward recurrence, dS and the E/D matmuls; then the optimiser and the projection. Each figure is a
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
from model import fast_trajectory as ft  # noqa: E402
from model.drsae import DrSAE  # noqa: E402
from model.presets import preset  # noqa: E402
from model.train import Stepper, make_optimizer  # noqa: E402


def matmul_us(batch: int, hidden: int, threads: int, repeats: int = 300) -> float:
    """One (batch x hidden) @ (hidden x hidden) bf16 matmul with a warm cache, in microseconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    z = torch.rand(batch, hidden).to(ft.HALF)
    S = torch.rand(hidden, hidden).to(ft.HALF)
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
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--data", default="mnist", choices=["mnist", "synthetic"])
    p.add_argument("--out", default=None, help="JSON file (default bench/results/step_parts_cpu.json)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = preset("faithful", hidden=args.hidden, batch_size=args.batch, device="cpu")
    train = load_train(args.data, torch.device("cpu"))
    torch.manual_seed(0)
    model = DrSAE(784, args.hidden, 10, cfg.T, e_bound=cfg.e_bound)
    model.reset_parameters(templates=train.x[:1000], generator=torch.Generator().manual_seed(0))
    stepper = Stepper(model, model, make_optimizer(model, cfg, False), cfg, train, False)
    stepper.set_lr(cfg.lr)
    half = stepper.precision == "bf16"
    dt = ft.HALF if half else torch.float32
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    n_batches = len(train) // args.batch
    parts: dict[str, list[float]] = {}

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        parts.setdefault(name, []).append(time.perf_counter() - t0)

    weights = {"reconstruction": cfg.rec_weight, "sparsity": cfg.l1_weight, "classification": cfg.cls_weight}
    m, H = model, args.hidden
    for i in range(args.steps + 20):
        idx = perm[(i % n_batches) * args.batch : (i % n_batches + 1) * args.batch]
        x, y = train.x[idx], train.y[idx]
        with torch.no_grad():  # the parts on their own, on this step's batch and weights
            with clock("bf16 copies of E, S, D"):
                xh, Eh, Sh, _ = x.to(dt), m.E.to(dt), m.S.to(dt), m.D.to(dt)
            with clock("forward recurrence (E x - b, then T - 1 matmuls with S)"):
                Z = ft._recur(xh, Eh, Sh, m.b, cfg.T)
            g = torch.randn(args.batch, H)
            with clock("backward recurrence (T - 1 matmuls with S)"):
                delta, total = ft._bptt(Z, Sh, g, None)
            with clock("dS, one matmul over all t"):
                torch.mm(delta[1:].reshape(-1, H).t(), Z[:-1].reshape(-1, H))
            with clock("dE"):
                torch.mm(total.t(), xh)
        stepper.opt.zero_grad(set_to_none=True)
        with clock("gradients (the whole forward and backward)"):
            ft.gradients(m, x, y, weights, half)
        with clock("optimiser"):
            stepper.opt.step()
        with clock("projection"):
            m.project_()
        with clock("whole trainer step"):
            stepper.step(idx, True, i)
    medians = {k: statistics.median(v[20:]) * 1e3 for k, v in parts.items()}  # ms, after 20 warm-up steps
    result = {
        **result_header("bench/step_parts.py", argv, torch.device("cpu")),
        "hidden": args.hidden,
        "T": cfg.T,
        "batch": args.batch,
        "precision": stepper.precision,
        "median_ms": medians,
        "decoder_column_norms_us_warm_cache": column_norms_us(784, args.hidden),
        "recurrent_matmul_us_warm_cache": {
            f"{n} thread{'s' if n > 1 else ''}": matmul_us(args.batch, args.hidden, n)
            for n in sorted({1, torch.get_num_threads()})
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
