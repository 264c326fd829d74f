"""Train DrSAEs: unsupervised (reconstruction + L1), then discriminative (+ classification).

    python -m model.train --out runs/default                          # one run of the default recipe
    python -m model.train --preset smoke                              # seconds on a CPU
    python -m model.train --seeds 0-3 --lr 0.01,0.02 --out runs/sweep # 8 runs in one process (a population)
    python -m model.train --resume --out runs/sweep                   # continue a run or a whole sweep
    torchrun --nproc_per_node=2 -m model.train --preset smoke         # one run, data-parallel
    torchrun --nproc_per_node=2 -m model.train --seeds 0-7 --out DIR  # a sweep, its members split over ranks

One loop (docs/training.md) for a population of runs of one shape: per-matrix learning rates,
backpropagation through all T iterations, projection of the norm bounds after updates, validation every
epoch, each member's best-validation model kept and its test error reported at the end. A single run is a
population of one. Every member has an ordinary run folder: model.safetensors (best), config.json,
metrics.jsonl and state.pt (for --resume). Ctrl-C or SIGTERM stops after the current step, resumable.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from model import checkpoint, core, data, preflight, progress, snapshots
from model import device as devices
from model.drsae import DrSAE
from model.members import Member, Run, TrainState
from model.optim import PopulationOptimizer
from model.population import STAT_KEYS, Population, Step, retain_freed_memory
from model.presets import TrainConfig
from model.run_record import (
    diverged,
    diverged_summary,
    epoch_row,
    evaluate_and_checkpoint,
    final_summary,
    prepare_out_dir,
    print_epoch,
    record_stop,
    restore,
    save_resume_state,
    stop_reason_after,
)
from model.schedule import epoch_orders, epoch_plan, loss_weights, optimizer_kinds, rate_scales

ProgressFn = Callable[[dict[str, Any]], None]
BAR_EVERY_STEPS = 20  # the console bar reads the device's running sums, so not after every step
# A population's members must agree on these; the CLI runs one population per distinct combination.
POPULATION_KEYS = (
    "dataset", "hidden", "T", "batch_size", "train_limit", "eval_limit", "optimizer", "classifier_optimizer",
    "device", "precision", "threads", "cuda_graphs",
)


def population_key(cfg: TrainConfig) -> tuple[Any, ...]:
    return tuple(getattr(cfg, k) for k in POPULATION_KEYS)


# ------------------------------------------------------------------------------------- stops
class StopTraining(Exception):
    """should_stop() or SIGTERM asked the run to stop; raised between steps."""


class StopRequests:
    """Polled between steps: the caller's should_stop() (a job's cancel flag), then SIGTERM, whose handler
    only sets a flag. Python lets only the main thread install one; the previous handler comes back on exit."""

    def __init__(self, should_stop: Callable[[], bool] | None) -> None:
        self.should_stop = should_stop
        self.sigterm = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous)

    def _on_sigterm(self, *_: object) -> None:
        self.sigterm = True

    def __call__(self) -> bool:
        return bool(self.should_stop and self.should_stop()) or self.sigterm


# ------------------------------------------------------------------------------------- setup
def process_device(cfg: TrainConfig, rank: int, world_size: int) -> torch.device:
    """The device of this process: with several CUDA processes, the GPU torchrun gave it."""
    device = devices.resolve(cfg.device)
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    return device


def load_splits(cfg: TrainConfig, device: torch.device) -> tuple[data.Split, data.Split, data.Split]:
    """(train, val, test) on `device`, cut to cfg.train_limit and cfg.eval_limit images when set."""
    splits = data.load(cfg.dataset)
    train_split, val, test = splits["train"], splits["val"], splits["test"]
    if cfg.train_limit:
        train_split = data.Split(train_split.x[: cfg.train_limit], train_split.y[: cfg.train_limit])
    if cfg.eval_limit:
        val = data.Split(val.x[: cfg.eval_limit], val.y[: cfg.eval_limit])
        test = data.Split(test.x[: cfg.eval_limit], test.y[: cfg.eval_limit])
    return train_split.to(device), val.to(device), test.to(device)


def init_model(cfg: TrainConfig, train_split: data.Split, device: torch.device) -> DrSAE:
    """A fresh model, its initial weights drawn from cfg.seed (the decoder from training images)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    # n_classes is left at the model's default: every dataset here has ten classes
    model = DrSAE(n_in=train_split.x.shape[1], n_hidden=cfg.hidden, T=cfg.T, e_bound=cfg.e_bound)
    model.reset_parameters(templates=train_split.x.cpu(), generator=gen)
    return model.to(device)


# ------------------------------------------------------------------------------------- epochs
def train_metrics(sums: torch.Tensor, run: Run) -> list[dict[str, float]]:
    """Per member: mean loss terms and error (%) over the epoch's steps, summed over every process."""
    sums = sums.cpu()
    if run.world_size > 1:
        dist.all_reduce(sums)
    steps = run.steps_per_epoch
    out = []
    for row in sums:
        metrics = {k: (row[j] / steps / run.world_size).item() for j, k in enumerate(STAT_KEYS[:3])}
        metrics["error"] = 100.0 * row[3].item() / max(steps * run.images_per_step, 1)
        out.append(metrics)
    return out


def agree(flags: list[bool], world_size: int) -> list[bool]:
    """Rank 0 decides; every process acts on the same flags."""
    if world_size == 1:
        return flags
    t = torch.tensor([int(f) for f in flags])
    dist.broadcast(t, 0)
    return [bool(v) for v in t.tolist()]


# ------------------------------------------------------------------------------------- the engine
@dataclass
class Engine:
    """A population's parameters, optimiser and step, and each member's per-parameter rate scales."""

    pop: Population
    opt: PopulationOptimizer
    step: Step
    scales: torch.Tensor  # (P, len(PARAMS)): rate over base rate (rate_scales)


def build_engine(
    models: Sequence[DrSAE], cfgs: Sequence[TrainConfig], train_split: data.Split, device: torch.device,
    world_size: int = 1,
) -> Engine:
    """Stack the members, give them their optimiser, and build the step as the trainer runs it (eager on
    a CPU, a CUDA graph on one GPU, DDP around a population of one trained data-parallel)."""
    cfg0 = cfgs[0]
    if device.type == "cpu":
        retain_freed_memory()
    pop = Population(models)
    opt = PopulationOptimizer(
        pop.params(),
        optimizer_kinds(cfg0),
        torch.tensor([c.momentum if c.optimizer == "sgd" else 0.0 for c in cfgs]),
        torch.tensor([c.nesterov for c in cfgs]),
    )
    net: torch.nn.Module = pop
    if world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(pop, device_ids=ids)
    graphed = cfg0.cuda_graphs and device.type == "cuda" and world_size == 1
    precision = core.resolve_precision(cfg0.precision, device)
    step = Step(pop, opt, train_split, cfg0.batch_size, precision, graphed, net)
    scales = torch.tensor([rate_scales(m, c) for m, c in zip(models, cfgs, strict=True)])
    return Engine(pop, opt, step, scales)


def constant_step_inputs(engine: Engine, cfgs: Sequence[TrainConfig], supervised: bool) -> dict[str, Any]:
    """The step's per-member inputs for a supervised (or unsupervised) step at each member's base rate,
    projecting everything: what the benches and checks feed the step in place of the schedule."""
    device = engine.step.device
    P = engine.pop.size
    lr = torch.tensor([c.lr for c in cfgs])[:, None]
    w = [[c.rec_weight, c.l1_weight, c.cls_weight * supervised] for c in cfgs]
    return {
        "rates": (lr * engine.scales).float().to(device),
        "weights": torch.tensor(w, dtype=torch.float32).t().contiguous().to(device),
        "supervised": torch.full((P,), supervised, device=device),
        "project": torch.ones(P, dtype=torch.bool, device=device),
        "classifier": supervised,
    }


def end_epoch(
    m: Member, run: Run, opt: PopulationOptimizer, j: int, lr: float, train_m: dict[str, float],
    epoch_seconds: float, bar: progress.ConsoleProgress | None, label: str, on_row: ProgressFn | None,
) -> str | None:
    """Member m (index j in the population) finished an epoch: count it, and on rank 0 evaluate, keep the
    best model, log the row, save the resume state. Returns why the member ends now, if it does.

    The row is stored once: by `on_row`'s owner when there is one (a server job keeps its rows in SQLite),
    else in the run folder's metrics.jsonl (a run from the command line)."""
    phase = m.phase
    m.state.epoch += 1
    m.state.step += run.steps_per_epoch
    m.state.samples += run.steps_per_epoch * run.images_per_step
    m.state.seconds = time.time() - m.started
    if run.rank != 0:
        return None
    val_m, test_m = evaluate_and_checkpoint(m, run)
    if m.state.epoch in snapshots.snapshot_epochs(m.total_epochs):  # the roles forming (model/snapshots.py)
        snapshots.save_snapshot(m.out_dir, m.state.epoch, m.model)
    row = epoch_row(m, run, phase, lr, train_m, val_m, test_m, epoch_seconds)
    if on_row:
        on_row(row)
    else:
        checkpoint.append_metrics(m.out_dir, row)
    save_resume_state(m, run, opt, j)
    print_epoch(row, m.total_epochs, label)
    if bar:
        bar.epoch_done(m, row)
    bad = diverged(train_m, val_m)
    if bad:
        m.summary = diverged_summary(m, run, bad)
    return bad or stop_reason_after(m)


# ------------------------------------------------------------------------------------- the loop
def check_population(cfgs: Sequence[TrainConfig]) -> None:
    keys = {population_key(c) for c in cfgs}
    if len(keys) != 1:
        raise ValueError(f"a population's members must share {', '.join(POPULATION_KEYS)}")


def train_population(
    cfgs: Sequence[TrainConfig],
    out_dirs: Sequence[Path | str],
    *,
    rank: int = 0,
    world_size: int = 1,
    resume: bool | Sequence[bool] = False,
    on_progress: Callable[[int, dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    drop_requested: Callable[[], Collection[int]] | None = None,
    on_member_end: Callable[[int, dict[str, Any]], None] | None = None,
    progress_bar: bool = True,
) -> list[dict[str, Any]]:
    """Train every config into its folder, all in one population; returns each member's summary.

    `resume` (one flag, or one per member) continues members from their state.pt, each from its own epoch.
    `on_progress(i, row)` gets member i's epoch rows (its owner stores them then, not metrics.jsonl);
    `should_stop()` is polled between steps (a job's cancel flag). `drop_requested()`, also polled between
    steps, names members (indices into `cfgs`) to stop now as 'cancelled' while the others go on (a cancelled
    member of a sweep); like any stop, a dropped member's state.pt keeps its last completed epoch.
    `on_member_end(i, summary)` hears at once of a member that finished, diverged or was dropped while the
    population goes on. With world_size > 1 the population must be one run, trained data-parallel; only rank 0
    writes files and calls back.
    """
    check_population(cfgs)
    if world_size > 1 and len(cfgs) != 1:
        raise ValueError("data-parallel training takes one run; a sweep splits its members over the ranks")
    cfg0 = cfgs[0]
    if cfg0.threads:
        torch.set_num_threads(cfg0.threads)
    device = process_device(cfg0, rank, world_size)
    if (problem := preflight.batch_problem(cfg0, world_size)) is not None:
        raise ValueError(problem)
    train_split, val, test = load_splits(cfg0, device)
    run = Run(rank, world_size, device, train_split, val, test, cfg0.batch_size)
    locks = {i: checkpoint.lock_run(Path(out)) for i, out in enumerate(out_dirs)} if rank == 0 else {}

    def release(i: int) -> None:
        """A member that ended frees its folder at once: it can be resumed while the others go on."""
        lock = locks.pop(i, None)
        if lock is not None:
            lock.close()

    members = [
        Member(cfg, Path(out), TrainState(), init_model(cfg, train_split, device))
        for cfg, out in zip(cfgs, out_dirs, strict=True)
    ]
    resumes = [resume] * len(members) if isinstance(resume, bool) else list(resume)
    if len(resumes) != len(members):
        raise ValueError(f"{len(resumes)} resume flags for {len(members)} members")
    saved_opt = {i: restore(m) for i, m in enumerate(members) if resumes[i]}
    for m, again in zip(members, resumes, strict=True):
        m.state.extra.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        if rank == 0:
            prepare_out_dir(m.out_dir, again)

    engine = build_engine([m.model for m in members], cfgs, train_split, device, world_size)
    for i, saved in saved_opt.items():
        engine.opt.load_member_state(i, saved)
    pop, opt, step, scales = engine.pop, engine.opt, engine.step, engine.scales

    now = time.time()
    for m in members:
        m.session_start, m.session_epoch0, m.started = now, m.state.epoch, now - m.state.seconds
    alive = list(members)

    def label(m: Member) -> str:
        return f"[{m.out_dir.name}] " if len(members) > 1 else ""

    bar = progress.ConsoleProgress(run.steps_per_epoch, run.images_per_step, len(members)) if (
        progress_bar and rank == 0 and sys.stderr.isatty()
    ) else None
    with StopRequests(should_stop) as stop_requested:
        try:
            for i, m in enumerate(alive):  # resuming restarts from an epoch boundary, so an early stop needs one
                if not resumes[i]:
                    save_resume_state(m, run, opt, i)
                    if rank == 0:
                        snapshots.save_snapshot(m.out_dir, 0, m.model)
            while alive:
                orders = epoch_orders(alive, run)
                base, rates, project = epoch_plan(alive, run, scales)
                weights = loss_weights(alive, run)
                supervised = torch.tensor([m.supervised for m in alive], device=device)
                classifier = bool(supervised.any()) or world_size > 1  # DDP wants a gradient for every parameter
                B, t0 = run.batch_size, time.time()
                if bar:
                    bar.start_epoch(alive)
                for i in range(run.steps_per_epoch):
                    step(orders[:, i * B : (i + 1) * B], rates[i], weights, supervised, project[i], classifier)
                    if stop_requested():
                        raise StopTraining
                    gone = set(drop_requested()) if drop_requested else set()
                    out = [j for j, m in enumerate(alive) if members.index(m) in gone]
                    if out:
                        for j in out:
                            alive[j].summary = record_stop(alive[j], run, "cancelled")
                            release(members.index(alive[j]))
                            if on_member_end:
                                on_member_end(members.index(alive[j]), alive[j].summary)
                        keep = [j for j in range(len(alive)) if j not in out]
                        alive = [alive[j] for j in keep]
                        if not alive:
                            break
                        index = torch.tensor(keep, device=device)
                        stats = step.stats[index].clone()  # the survivors' sums so far this epoch
                        pop.keep(index)
                        opt.keep(index, pop.params())
                        scales = scales[keep]
                        step = Step(pop, opt, train_split, cfg0.batch_size, step.precision, step.graphed, step.net)
                        step.stats.copy_(stats)
                        orders, base, rates, project = orders[index], base[:, keep], rates[:, index], project[:, index]
                        weights, supervised = weights[:, index], supervised[index]
                    if bar and (i % BAR_EVERY_STEPS == 0 or i == run.steps_per_epoch - 1):
                        bar.update(i + 1, step.stats)
                if not alive:  # every member was dropped
                    break
                epoch_seconds = time.time() - t0
                train_ms = train_metrics(step.take_stats(), run)
                if bar:
                    bar.clear()
                reasons = [
                    end_epoch(m, run, opt, j, float(base[-1, j]), train_ms[j], epoch_seconds, bar, label(m),
                              functools.partial(on_progress, members.index(m)) if on_progress else None)
                    for j, m in enumerate(alive)
                ]
                ends = agree([r is not None for r in reasons], world_size)
                for m, end, reason in zip(alive, ends, reasons, strict=True):
                    if end and m.summary is None:
                        m.summary = final_summary(m, run, reason or "completed")
                    if end:
                        release(members.index(m))
                    if end and on_member_end and rank == 0:
                        on_member_end(members.index(m), m.summary or {})
                if any(ends):  # the others go on as a smaller population
                    keep = [j for j, end in enumerate(ends) if not end]
                    alive = [alive[j] for j in keep]
                    if alive:
                        index = torch.tensor(keep, device=device)
                        pop.keep(index)
                        opt.keep(index, pop.params())
                        scales = scales[keep]
                        step = Step(pop, opt, train_split, cfg0.batch_size, step.precision, step.graphed, step.net)
        except (KeyboardInterrupt, StopTraining) as e:
            reason = "interrupted" if isinstance(e, KeyboardInterrupt) else "cancelled"
            for m in alive:
                m.summary = record_stop(m, run, reason)
            if rank == 0:
                where = alive[0].out_dir.parent if len(members) > 1 else alive[0].out_dir
                print(f"\nstopped ({reason}); resume with --resume --out {where}", file=sys.stderr)
        finally:
            if bar:
                bar.stop()
            for i in list(locks):
                release(i)
    return [m.summary or {"status": "interrupted", "out": str(m.out_dir)} for m in members]


def train(
    cfg: TrainConfig,
    out_dir: Path | str,
    *,
    rank: int = 0,
    world_size: int = 1,
    resume: bool = False,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_bar: bool = True,
) -> dict[str, Any]:
    """Run one config into `out_dir` (a population of one); returns the summary also written to config.json.

    `on_progress(row)` gets every epoch's metrics row (and stores it: no metrics.jsonl then);
    `should_stop()` is polled between steps.
    """
    callback = (lambda _i, row: on_progress(row)) if on_progress else None
    (summary,) = train_population(
        [cfg], [out_dir], rank=rank, world_size=world_size, resume=resume, on_progress=callback,
        should_stop=should_stop, progress_bar=progress_bar,
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    """The command line (model/cli.py), here so that `python -m model.train` is the one entry point."""
    from model import cli

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
