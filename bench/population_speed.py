"""Population speed: P runs trained as one population against one run in the loop a good engineer writes first.

    python bench/population_speed.py --threads 2                       # CPU: 8 members at batch 10
    python bench/population_speed.py --device cuda --population 24    # GPU: 24 members, one CUDA graph
    python bench/population_speed.py --hidden 32 --steps 5 --repeats 2 # seconds: a smoke run

The baseline is bench/train_speed.py's `baseline_step` (E x - b hoisted, the recipe's torch.optim SGD
with Nesterov momentum, fp32, eager autograd) training ONE run of the default recipe at batch 10. The
candidate is the trainer's step (model.train.build_engine) for a population of --population members of
the same recipe, each at its own rate and seed, at the same batch. Both share one process and the data,
and alternate in chunks of --steps timed steps, --repeats times. The figure is images per second summed
over the population against the baseline's images per second, as the ratio of medians and as the median
of each repeat's back-to-back ratio. The step is also set against its floors on this machine: the matmul
FLOPs at the bf16 (or fp32) throughput of a large matmul measured here, and the bytes every step must
move (parameters, gradients and momentum read and written once, the low-precision weights written and
read once) at the bandwidth of a large in-place add measured here. bench/results/population_speed_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's model/, run as a script

from bench.train_speed import baseline_step, load_train, result_header, stock_optimizer, sync, write_result  # noqa: E402
from model import core  # noqa: E402
from model.drsae import DrSAE  # noqa: E402
from model.presets import preset  # noqa: E402
from model.train import build_engine, constant_step_inputs  # noqa: E402


def matmul_flops(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a large square matmul here: the arithmetic ceiling the step's matmuls could reach."""
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def bandwidth(device: torch.device, mb: int = 256, repeats: int = 5) -> float:
    """Bytes/s of a large in-place add (two reads, one write): the memory-traffic ceiling."""
    a = torch.ones(mb * 2**20 // 4, device=device)
    b = torch.ones_like(a)
    a.add_(b)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a.add_(b, alpha=0.5)
    sync(device)
    return 3 * a.numel() * 4 * repeats / (time.perf_counter() - t0)


def floors(P: int, B: int, H: int, N: int, T: int, half: bool, momentum: bool) -> dict[str, float]:
    """What one population step must compute and move, whatever the implementation."""
    macs = P * (5 * B * N * H + 3 * (T - 1) * B * H * H)  # E x, D z, dz, dE, dD; (T-1) x (S z, S^T d, dS)
    weights = P * (2 * N * H + H * H)  # E, D, S
    low = 2 if half else 0
    # p read+write, g write+read, momentum read+write (fp32), the low-precision copy written and read
    bytes_ = weights * (8 + 8 + (8 if momentum else 0) + 2 * low)
    return {"flops": 2.0 * macs, "bytes": float(bytes_)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--T", type=int, default=11)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--steps", type=int, default=100, help="timed baseline steps per chunk")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--data", default="mnist", choices=["mnist", "synthetic"])
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    P, B, H, T = args.population, args.batch, args.hidden, args.T
    train = load_train(args.data, device)
    base_cfg = preset("faithful", hidden=H, T=T, batch_size=B, device=str(device))
    cfgs = [preset("faithful", hidden=H, T=T, batch_size=B, device=str(device), seed=i, lr=0.02 * (1 + i / P))
            for i in range(P)]
    models = []
    for c in cfgs:
        m = DrSAE(784, H, 10, T, e_bound=c.e_bound)
        m.reset_parameters(templates=train.x[:1000].cpu(), generator=torch.Generator().manual_seed(c.seed))
        models.append(m.to(device))
    base_model = DrSAE.from_config(models[0].config)
    base_model.load_state_dict(models[0].state_dict())
    base_model.to(device)
    base_opt = stock_optimizer(base_model, base_cfg)
    engine = build_engine(models, cfgs, train, device)
    inputs = constant_step_inputs(engine, cfgs, supervised=True)
    gen = torch.Generator().manual_seed(1)
    n = len(train)

    def run_baseline(k: int) -> None:
        for _ in range(k):
            idx = torch.randint(0, n, (B,), generator=gen).to(device)
            baseline_step(base_model, base_opt, base_cfg, train.x[idx], train.y[idx])

    def run_population(k: int) -> None:
        for _ in range(k):
            engine.step(torch.randint(0, n, (P, B), generator=gen).to(device), **inputs)

    run_baseline(10)
    run_population(10)
    # the population's chunk takes about as long as the baseline's: fewer steps, each serving P runs
    pop_steps = max(1, args.steps // max(1, P // 4))
    secs: dict[str, list[float]] = {"baseline": [], "population": []}
    for r in range(args.repeats):
        for name in (("baseline", "population") if r % 2 == 0 else ("population", "baseline")):
            k = args.steps if name == "baseline" else pop_steps
            sync(device)
            t0 = time.perf_counter()
            (run_baseline if name == "baseline" else run_population)(k)
            sync(device)
            secs[name].append((time.perf_counter() - t0) / k)
    base_s, pop_s = statistics.median(secs["baseline"]), statistics.median(secs["population"])
    base_ips, pop_ips = B / base_s, P * B / pop_s
    half = engine.step.half
    f = floors(P, B, H, 784, T, half, momentum=True)
    peak = matmul_flops(core.HALF if half else torch.float32, device)
    bw = bandwidth(device)
    result = {
        **result_header("bench/population_speed.py", argv, device),
        "population": P, "batch": B, "hidden": H, "T": T, "precision": engine.step.precision,
        "graphed": engine.step.graphed,
        "baseline_ms_per_step": base_s * 1e3,
        "population_ms_per_step": pop_s * 1e3,
        "population_steps_per_second": 1 / pop_s,
        "baseline_images_per_second": base_ips,
        "population_images_per_second": pop_ips,
        "speedup": pop_ips / base_ips,
        "speedup_median_of_pairs": statistics.median(
            (P * B / q) / (B / b) for b, q in zip(secs["baseline"], secs["population"], strict=True)
        ),
        "floors": {
            "step_gflop": f["flops"] / 1e9,
            "step_mbytes": f["bytes"] / 1e6,
            "matmul_gflops_measured": peak / 1e9,
            "bandwidth_gbytes_per_s_measured": bw / 1e9,
            "flop_floor_ms": f["flops"] / peak * 1e3,
            "traffic_floor_ms": f["bytes"] / bw * 1e3,
        },
        "all_baseline_ms": [s * 1e3 for s in secs["baseline"]],
        "all_population_ms": [s * 1e3 for s in secs["population"]],
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"population_speed_{device.type}.json")
    write_result(out, result)
    print(json.dumps(result, indent=2))
    print(f"{P} members at batch {B}: {pop_ips:,.0f} images/s against one eager run's {base_ips:,.0f}: "
          f"{pop_ips / base_ips:.2f}x (median of pairs {result['speedup_median_of_pairs']:.2f}x) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
