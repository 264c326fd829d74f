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
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from model import checkpoint, core, data, progress, snapshots
from model.analysis import role_metrics
from model.drsae import DrSAE
from model.optim import PopulationOptimizer
from model.population import CLASSIFIER, PARAMS, STAT_KEYS, Population, Step, retain_freed_memory
from model.presets import TrainConfig

ProgressFn = Callable[[dict[str, Any]], None]
SEED_STRIDE = 100003  # a prime larger than any epoch count: (seed, epoch) pairs never share a shuffle seed
EVAL_BATCH_SIZE = 2000  # images per forward pass when evaluating: large enough to keep the device busy
BAR_EVERY_STEPS = 20  # the console bar reads the device's running sums, so not after every step
# A population's members must agree on these; the CLI runs one population per distinct combination.
POPULATION_KEYS = (
    "dataset", "hidden", "T", "batch_size", "train_limit", "eval_limit", "optimizer", "classifier_optimizer",
    "device", "precision", "threads", "cuda_graphs",
)


# ------------------------------------------------------------------------------------ helpers
def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's shuffle: reproducible per (seed, epoch), and the same after a resume."""
    return seed * SEED_STRIDE + epoch


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available on this machine")
    return device


def population_key(cfg: TrainConfig) -> tuple[Any, ...]:
    return tuple(getattr(cfg, k) for k in POPULATION_KEYS)


@torch.no_grad()
def evaluate(model: DrSAE, split: data.Split, batch_size: int = EVAL_BATCH_SIZE) -> dict[str, float]:
    """Mean loss terms and classification error (%) of `model` on a split (fp32)."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64)
    device = next(model.parameters()).device
    for i in range(0, len(split), batch_size):
        x = split.x[i : i + batch_size].to(device, non_blocking=True)
        y = split.y[i : i + batch_size].to(device, non_blocking=True)
        out = model(x, y)
        n = len(y)
        L = out.losses
        errors = (out.logits.argmax(1) != y).sum()
        terms = torch.stack([L["reconstruction"] * n, L["sparsity"] * n, L["classification"] * n, errors])
        totals += terms.double().cpu()
    model.train(was_training)
    n = max(len(split), 1)
    return {
        "reconstruction": totals[0].item() / n,
        "sparsity": totals[1].item() / n,
        "classification": totals[2].item() / n,
        "error": 100.0 * totals[3].item() / n,
    }


def learning_rate(
    cfg: TrainConfig, *, samples: int, phase: str, sup_step: int, sup_steps: int, phase_step: int = 0
) -> float:
    """The base learning rate now; per-matrix scales are applied on top (DrSAE.lr_scales).

    `phase_step` counts updates since the current phase began: a warm-up ramps the rate up linearly over
    `cfg.warmup_steps` at the start of each phase, since the switch to the classification loss brings
    large new gradients as the start does (docs/model.md, "Our default recipe").
    """
    if cfg.schedule == "paper":  # lr / (1 + 5e-7 x samples seen), the counter runs across both phases
        lr = cfg.lr / (1.0 + cfg.lr_decay * samples)
    elif cfg.schedule == "cosine" and phase == "supervised" and sup_steps > 0:
        floor = cfg.lr * cfg.min_lr_ratio
        lr = floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(sup_step / sup_steps, 1.0)))
    else:
        lr = cfg.lr
    if cfg.warmup_steps:
        lr *= min(1.0, (phase_step + 1) / cfg.warmup_steps)
    return lr


def rate_scales(model: DrSAE, cfg: TrainConfig) -> list[float]:
    """Each parameter's rate over the base rate, in PARAMS order: DrSAE.lr_scales (the paper's per-matrix
    rates), E and D times encoder_decoder_lr_scale, the classifier at classifier_lr on its own Adam."""
    scales = model.lr_scales()
    out = []
    for name in PARAMS:
        s = scales[name]
        if name in ("E", "D"):
            s *= cfg.encoder_decoder_lr_scale
        if name in CLASSIFIER and cfg.classifier_optimizer == "adam":
            s = cfg.classifier_lr / cfg.lr
        out.append(s)
    return out


def optimizer_kinds(cfg: TrainConfig) -> dict[str, str]:
    return {n: "adam" if n in CLASSIFIER and cfg.classifier_optimizer == "adam" else cfg.optimizer for n in PARAMS}


# ------------------------------------------------------------------------------------- state
@dataclass
class TrainState:
    """What a resume needs besides weights and optimizer: counters, the best model so far, time."""

    epoch: int = 0  # epochs completed (both phases)
    step: int = 0
    samples: int = 0
    best_val: float = float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class StopTraining(Exception):
    """should_stop() or SIGTERM asked the run to stop; raised between steps."""


@dataclass
class Member:
    """One run of a population: its recipe, folder, counters and the model that views its weights."""

    cfg: TrainConfig
    out_dir: Path
    state: TrainState
    model: DrSAE
    session_start: float = 0.0  # this process's start, and the epoch it started from (for ETAs)
    session_epoch0: int = 0
    started: float = 0.0  # when the run began, earlier sessions of a resumed run included
    summary: dict[str, Any] | None = None  # set when the member ends

    @property
    def total_epochs(self) -> int:
        return self.cfg.unsup_epochs + self.cfg.epochs

    @property
    def supervised(self) -> bool:
        return self.state.epoch >= self.cfg.unsup_epochs

    @property
    def phase(self) -> str:
        return "supervised" if self.supervised else "unsupervised"


@dataclass
class Run:
    """What stays fixed through a population's run: this process's place, the data, the step."""

    rank: int
    world_size: int  # > 1 only for one run trained data-parallel
    device: torch.device
    train: data.Split
    val: data.Split
    test: data.Split
    batch_size: int

    @property
    def per_rank(self) -> int:
        return len(self.train) // self.world_size

    @property
    def steps_per_epoch(self) -> int:  # the last partial batch is dropped, so shapes stay static
        return self.per_rank // self.batch_size

    @property
    def images_per_step(self) -> int:
        return self.batch_size * self.world_size


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
    device = resolve_device(cfg.device)
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


def prepare_out_dir(out_dir: Path, resume: bool) -> None:
    """Create the run folder; a fresh run over an old folder starts a new metrics.jsonl."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not resume and (out_dir / checkpoint.METRICS).exists():
        (out_dir / checkpoint.METRICS).unlink()
    if not resume:
        snapshots.clear(out_dir)


def run_info(m: Member, run: Run, status: str) -> dict[str, Any]:
    """config.json's description of the run beside the model's own config."""
    return {
        "train": m.cfg.to_dict(),
        "status": status,
        "train_state": vars(m.state) | {},
        "device": str(run.device),
        "world_size": run.world_size,
        "torch": torch.__version__,
        "created": m.state.extra.get("created"),
    }


def save_resume_state(m: Member, run: Run, opt: PopulationOptimizer, index: int) -> None:
    """state.pt: what --resume needs to continue exactly from the last completed epoch (rank 0 writes)."""
    if run.rank != 0:
        return
    checkpoint.save_state(
        m.out_dir,
        {
            "model": {k: v.detach().cpu().clone() for k, v in m.model.state_dict().items()},
            "optimizer": opt.member_state(index),
            "train_state": {k: getattr(m.state, k) for k in (f.name for f in fields(TrainState))},
        },
    )


def restore(m: Member) -> dict[str, Any]:
    """Weights and counters from the member's state.pt; returns its optimizer state for after stacking."""
    saved = checkpoint.load_state(m.out_dir)
    if "kinds" not in saved.get("optimizer", {}):
        raise checkpoint.CheckpointError(
            f"{m.out_dir / checkpoint.STATE} was written by an older trainer and cannot be resumed by this one"
        )
    m.model.load_state_dict(saved["model"])
    m.state = TrainState(**{k: saved["train_state"][k] for k in (f.name for f in fields(TrainState))})
    return saved["optimizer"]


# ------------------------------------------------------------------------------------- epochs
def epoch_orders(members: Sequence[Member], run: Run) -> torch.Tensor:
    """Each member's share of its own epoch's shuffle, (P, steps x batch): the same on every rank and after a
    resume. Members may be at different epochs (one resumed beside a fresh one): every epoch has the same
    number of steps, so their epochs still end together."""
    n = run.steps_per_epoch * run.batch_size
    rows = []
    for m in members:
        seed = epoch_seed(m.cfg.seed, m.state.epoch)
        perm = torch.randperm(len(run.train), generator=torch.Generator().manual_seed(seed))
        rows.append(perm[run.rank :: run.world_size][:n])
    return torch.stack(rows).to(run.device)


def epoch_plan(
    members: Sequence[Member], run: Run, scales: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every step's base rate per member (steps, P), its per-parameter rates (steps, P, len(PARAMS)) on the
    device, and whether each member's E and D are projected after it (steps, P): each member's schedule,
    warm-up and projection period, computed once per epoch rather than at every step."""
    steps = run.steps_per_epoch
    base = torch.empty(steps, len(members), dtype=torch.float64)
    project = torch.empty(steps, len(members), dtype=torch.bool)
    for j, m in enumerate(members):
        cfg, st = m.cfg, m.state
        sup0 = cfg.unsup_epochs * steps
        for i in range(steps):
            step = st.step + i
            base[i, j] = learning_rate(
                cfg,
                samples=st.samples + i * run.images_per_step,
                phase=m.phase,
                sup_step=step - sup0,
                sup_steps=cfg.epochs * steps,
                phase_step=step - sup0 if m.supervised else step,
            )
            project[i, j] = (step + 1) % cfg.project_every == 0
    rates = (base[:, :, None] * scales[None].double()).float()
    return base, rates.to(run.device), project.to(run.device)


def loss_weights(members: Sequence[Member], run: Run) -> torch.Tensor:
    """(3, P): each member's weight on reconstruction, sparsity and classification this epoch; the
    authors summed (not averaged) a minibatch's gradients, which is the mean times the batch size."""
    cols = []
    for m in members:
        scale = run.batch_size if m.cfg.sum_gradients else 1
        cols.append([m.cfg.rec_weight * scale, m.cfg.l1_weight * scale, m.cfg.cls_weight * scale * m.supervised])
    return torch.tensor(cols, dtype=torch.float32).t().contiguous().to(run.device)


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


def evaluate_and_checkpoint(m: Member, run: Run) -> tuple[dict[str, float], dict[str, float]]:
    """Validation and test metrics of the member now. model.safetensors keeps the best-validation model of
    the supervised phase; before that (and in a run without one) the latest, so there is always one."""
    v, te = evaluate(m.model, run.val), evaluate(m.model, run.test)
    m.state.extra["val_error"] = v["error"]
    supervised = m.state.epoch > m.cfg.unsup_epochs  # the epoch just completed was supervised
    if supervised and v["error"] < m.state.best_val:
        m.state.best_val, m.state.best_epoch, m.state.bad_epochs = v["error"], m.state.epoch, 0
        checkpoint.save_run(m.out_dir, m.model, run_info(m, run, "running"))
    elif supervised:
        m.state.bad_epochs += 1
    if not supervised or m.cfg.epochs == 0:
        checkpoint.save_run(m.out_dir, m.model, run_info(m, run, "running"))
    return v, te


def epoch_row(
    m: Member, run: Run, phase: str, lr: float, train_m: dict[str, float], val_m: dict[str, float],
    test_m: dict[str, float], epoch_seconds: float,
) -> dict[str, Any]:
    """The epoch's line in metrics.jsonl and the row on_progress gets: losses, errors, roles, speed."""
    st, cfg = m.state, m.cfg
    return {
        "epoch": st.epoch,
        "phase": phase,
        "lr": lr,
        "step": st.step,
        "samples": st.samples,
        **{f"train_{k}": value for k, value in train_m.items()},
        **{f"val_{k}": value for k, value in val_m.items()},
        "test_error": test_m["error"],
        "best_val_error": st.best_val if phase == "supervised" else None,
        **role_metrics(m.model),
        "epoch_seconds": epoch_seconds,
        "seconds": st.seconds,
        **progress.speed_fields(
            images=run.steps_per_epoch * run.images_per_step,
            epoch_seconds=epoch_seconds,
            epochs_done=st.epoch,
            total_epochs=m.total_epochs,
            session_seconds=time.time() - m.session_start,
            session_epochs=st.epoch - m.session_epoch0,
            time_left=cfg.time_limit - st.seconds if cfg.time_limit else None,
        ),
    }


def print_epoch(row: dict[str, Any], total_epochs: int, label: str) -> None:
    print(
        f"{label}epoch {row['epoch']:4d}/{total_epochs} {row['phase']:12s} loss rec {row['train_reconstruction']:.4f} "
        f"l1 {row['train_sparsity']:.3f} ce {row['train_classification']:.4f} | train err "
        f"{row['train_error']:.2f}% val err {row['val_error']:.2f}% | {row['epoch_seconds']:.1f}s",
        flush=True,
    )


def diverged(train_m: dict[str, float], val_m: dict[str, float]) -> str | None:
    """Why a member cannot go on: its losses are no longer finite, or every unit is silent on validation."""
    if not all(math.isfinite(v) for v in (*train_m.values(), *val_m.values())):
        return "diverged: the losses are no longer finite"
    if val_m["sparsity"] == 0.0:
        return "diverged: every unit is silent (all codes zero on the validation split)"
    return None


def stop_reason_after(m: Member) -> str | None:
    """Why the member ends after this epoch, if it does: its last epoch, patience or the time limit."""
    cfg, st = m.cfg, m.state
    if st.epoch >= m.total_epochs:
        return "completed"
    if m.state.epoch > cfg.unsup_epochs and cfg.patience and st.bad_epochs >= cfg.patience:
        return "early stopping"
    if cfg.time_limit and st.seconds >= cfg.time_limit:
        return "time limit"
    return None


def agree(flags: list[bool], world_size: int) -> list[bool]:
    """Rank 0 decides; every process acts on the same flags."""
    if world_size == 1:
        return flags
    t = torch.tensor([int(f) for f in flags])
    dist.broadcast(t, 0)
    return [bool(v) for v in t.tolist()]


# ------------------------------------------------------------------------------------- endings
def record_stop(m: Member, run: Run, reason: str) -> dict[str, Any]:
    """Mark an interrupted run in config.json. state.pt keeps the last completed epoch: resuming replays the
    interrupted epoch exactly (same permutation, same starting weights), so the run ends where an
    uninterrupted one would."""
    if run.rank == 0:
        if not (m.out_dir / checkpoint.WEIGHTS).exists():
            checkpoint.save_run(m.out_dir, m.model, run_info(m, run, reason))
        cfg_json = checkpoint.read_config(m.out_dir)
        cfg_json["status"] = reason
        checkpoint.atomic_write_json(m.out_dir / checkpoint.CONFIG, cfg_json)
    return {"status": reason, "out": str(m.out_dir)}


def final_summary(m: Member, run: Run, stop_reason: str) -> dict[str, Any]:
    """Test and validation error of the kept (best) model, also written into config.json by rank 0."""
    summary: dict[str, Any] = {"status": "finished", "stop_reason": stop_reason, "out": str(m.out_dir)}
    if run.rank != 0:
        return summary
    best = checkpoint.load(m.out_dir, run.device)
    te, v = evaluate(best, run.test), evaluate(best, run.val)
    summary |= {
        "test_error": te["error"],
        "val_error": v["error"],
        "best_epoch": m.state.best_epoch,
        "epochs": m.state.epoch,
        "seconds": m.state.seconds,
    }
    final = run_info(m, run, "finished") | {"results": summary}
    checkpoint.atomic_write_json(m.out_dir / checkpoint.CONFIG, {"model": best.config.to_dict(), **final})
    print(
        f"done: best epoch {m.state.best_epoch}, val error {v['error']:.2f}%, test error {te['error']:.2f}% "
        f"({m.state.seconds:.0f}s) -> {m.out_dir}",
        flush=True,
    )
    return summary


def diverged_summary(m: Member, run: Run, reason: str) -> dict[str, Any]:
    """A member stopped for divergence: its folder says so; its best model so far (if any) stays."""
    summary = record_stop(m, run, "diverged")
    summary["stop_reason"] = reason
    if run.rank == 0:
        cfg_json = checkpoint.read_config(m.out_dir)
        cfg_json["results"] = summary
        checkpoint.atomic_write_json(m.out_dir / checkpoint.CONFIG, cfg_json)
        print(f"{m.out_dir}: {reason}; the other members go on", file=sys.stderr, flush=True)
    return summary


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
    best model, log the row, save the resume state. Returns why the member ends now, if it does."""
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
    checkpoint.append_metrics(m.out_dir, row)
    save_resume_state(m, run, opt, j)
    print_epoch(row, m.total_epochs, label)
    if on_row:
        on_row(row)
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
    `on_progress(i, row)` gets member i's epoch rows; `should_stop()` is polled between steps (a job's
    cancel flag). `drop_requested()`, also polled between steps, names members (indices into `cfgs`) to stop
    now as 'cancelled' while the others go on (a cancelled member of a sweep); like any stop, a dropped
    member's state.pt keeps its last completed epoch. `on_member_end(i, summary)` hears at once of a member
    that finished, diverged or was dropped while the population goes on. With world_size > 1 the population
    must be one run, trained data-parallel; only rank 0 writes files and calls back.
    """
    check_population(cfgs)
    if world_size > 1 and len(cfgs) != 1:
        raise ValueError("data-parallel training takes one run; a sweep splits its members over the ranks")
    cfg0 = cfgs[0]
    if cfg0.threads:
        torch.set_num_threads(cfg0.threads)
    device = process_device(cfg0, rank, world_size)
    train_split, val, test = load_splits(cfg0, device)
    run = Run(rank, world_size, device, train_split, val, test, cfg0.batch_size)
    if run.steps_per_epoch < 1:
        raise ValueError(f"batch_size {cfg0.batch_size} is larger than the {run.per_rank} training images per process")
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

    `on_progress(row)` gets every epoch's metrics row; `should_stop()` is polled between steps.
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
