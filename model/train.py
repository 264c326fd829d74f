"""Train a DrSAE: unsupervised (reconstruction + L1), then discriminative (+ classification).

    python -m model.train --preset fast --out runs/fast
    python -m model.train --preset smoke                         # seconds on a CPU
    torchrun --nproc_per_node=2 -m model.train --preset smoke    # data-parallel (gloo on CPU, nccl on GPU)

One loop (docs/model.md): per-matrix learning rates, backpropagation through all T iterations, projection of
the norm bounds after updates, validation every epoch, the best-validation model kept, test error of that
model reported at the end. A run folder holds model.safetensors (best), config.json, metrics.jsonl and
state.pt (for --resume). Ctrl-C or SIGTERM stops after the current step with a resumable checkpoint.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from model import checkpoint, data, fast_trajectory, preflight, progress
from model.analysis import role_metrics
from model.drsae import DrSAE
from model.presets import DEFAULT, PRESETS, TrainConfig, preset

ProgressFn = Callable[[dict[str, Any]], None]
STAT_KEYS = ("reconstruction", "sparsity", "classification", "errors")


# ------------------------------------------------------------------------------------ helpers
SEED_STRIDE = 100003  # a prime larger than any epoch count: (seed, epoch) pairs never share a shuffle seed


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


EVAL_BATCH_SIZE = 2000  # images per forward pass when evaluating: large enough to keep the device busy


@torch.no_grad()
def evaluate(model: DrSAE, split: data.Split, batch_size: int = EVAL_BATCH_SIZE) -> dict[str, float]:
    """Mean loss terms and classification error (%) of `model` on a split."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64)
    device = next(model.parameters()).device
    for i in range(0, len(split), batch_size):
        x = split.x[i : i + batch_size].to(device, non_blocking=True)
        y = split.y[i : i + batch_size].to(device, non_blocking=True)
        out = model(x, y)
        n = len(y)
        totals += torch.tensor(
            [
                out.losses["reconstruction"].item() * n,
                out.losses["sparsity"].item() * n,
                out.losses["classification"].item() * n,
                (out.logits.argmax(1) != y).sum().item(),
            ],
            dtype=torch.float64,
        )
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


class SGD(torch.optim.Optimizer):
    """p <- p - lr * g, optionally with (Nesterov) momentum: buf <- mu buf + g, g <- g + mu buf (Nesterov)
    or buf. With momentum 0 it is the authors' plain SGD. Unlike torch.optim.SGD it reads a rate held in a
    device tensor and allocates its buffers up front, so the step can be captured in a CUDA graph."""

    def __init__(self, params: list[dict[str, Any]], lr: float, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov})
        for group in self.param_groups:
            for p in group["params"]:
                if group["momentum"]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            mu, lr = group["momentum"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if mu:  # in place, no temporaries: each of these is one pass over the matrix
                    buf = self.state[p]["momentum_buffer"]
                    torch.add(g, buf, alpha=mu, out=buf)  # buf <- mu buf + g
                    if group["nesterov"]:  # p <- p - lr (g + mu buf)
                        _sub_scaled_(p, g, lr, 1.0)
                        _sub_scaled_(p, buf, lr, mu)
                    else:
                        _sub_scaled_(p, buf, lr, 1.0)
                else:
                    _sub_scaled_(p, g, lr, 1.0)


def _sub_scaled_(p: torch.Tensor, v: torch.Tensor, lr: float | torch.Tensor, factor: float) -> None:
    """p <- p - lr * factor * v in one pass, for a rate given as a number or held in a device tensor."""
    if isinstance(lr, torch.Tensor):
        p.addcmul_(v, lr, value=-factor)
    else:
        p.add_(v, alpha=-lr * factor)


class Optimizers:
    """Several optimizers stepped as one (SGD on the encoder and decoder, Adam on the classifier, say).
    `param_groups` lists every group, each with its 'scale' relative to the base rate."""

    def __init__(self, *opts: torch.optim.Optimizer) -> None:
        self.opts = opts

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for o in self.opts for g in o.param_groups]

    def step(self) -> None:
        for o in self.opts:
            o.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.opts:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [o.state_dict() for o in self.opts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["optimizers"]
        if len(saved) != len(self.opts):
            raise ValueError(f"resume state holds {len(saved)} optimizers, this run has {len(self.opts)}")
        for o, s in zip(self.opts, saved, strict=True):
            o.load_state_dict(s)


CLASSIFIER = ("C", "c")


def make_optimizer(model: DrSAE, cfg: TrainConfig, graphed: bool) -> Optimizers:
    """Per-matrix rates (DrSAE.lr_scales, times encoder_decoder_lr_scale for E and D); C and c on their own
    Adam when asked. Every group keeps 'scale' = its rate / the base rate, so one schedule drives all."""
    groups = model.param_groups(cfg.lr)
    for g in groups:
        if g["name"] in ("E", "D"):
            g["scale"] *= cfg.encoder_decoder_lr_scale
        if g["name"] in CLASSIFIER and cfg.classifier_optimizer == "adam":
            g["scale"] = cfg.classifier_lr / cfg.lr
        g["lr"] = cfg.lr * g["scale"]
    if graphed:  # a captured step reads the rate from device memory, so it must be a tensor
        device = next(model.parameters()).device
        for g in groups:
            g["lr"] = torch.tensor(g["lr"], device=device)
    own = [g for g in groups if g["name"] in CLASSIFIER and cfg.classifier_optimizer == "adam"]
    rest = [g for g in groups if not any(g is o for o in own)]

    def build(gs: list[dict[str, Any]], kind: str) -> torch.optim.Optimizer:
        if kind == "sgd":
            return SGD(gs, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
        # fused: one kernel for all of Adam's element-wise work; on a CPU 1/3 to 1/8 the time of the default
        return torch.optim.Adam(gs, lr=cfg.lr, capturable=graphed, fused=not graphed or None)

    opts = [build(rest, cfg.optimizer)]
    if own:
        opts.append(build(own, "adam"))
    return Optimizers(*opts)


# --------------------------------------------------------------------------------- train step
GRAPH_WARMUP_STEPS = 3  # eager steps before capture, so lazily made state (Adam's moments) exists first


def projection_plan(project_every: int, graphed: bool, step_no: int) -> tuple[bool, bool]:
    """Where E and D are projected after update `step_no`: (inside the step, after it).

    Eager steps decide per step. A captured CUDA graph replays the same work every step, so with
    project_every > 1 the E/D projection moves out of it and runs every n-th step; C's projection stays
    in the step in both cases (it is bounded after every supervised update).
    """
    due = (step_no + 1) % project_every == 0
    if not graphed:
        return due, False
    if project_every == 1:
        return True, False
    return False, due


class Stepper:
    """One optimisation step on a batch given by indices into on-device training data.

    Eager by default. With `graphed` (CUDA) the whole step (gather, forward over T iterations,
    backward through time, Adam, projection, running sums) is captured once per phase as a CUDA graph
    and replayed, which removes the per-kernel launch cost that dominates a model this small.
    """

    def __init__(
        self,
        model: DrSAE,
        net: torch.nn.Module,
        opt: Optimizers,
        cfg: TrainConfig,
        train: data.Split,
        graphed: bool,
    ) -> None:
        self.model, self.net, self.opt, self.cfg, self.train = model, net, opt, cfg, train
        self.graphed = graphed
        self.device = train.x.device
        self.stats = torch.zeros(len(STAT_KEYS), device=self.device)
        self.idx = torch.zeros(cfg.batch_size, dtype=torch.long, device=self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.phase: str | None = None
        self.warm = 0
        # With tensor rates (graphed) the step derives each group's rate from one device scalar, so a
        # schedule costs one tiny copy per step instead of one per parameter group.
        self.tensor_lr = isinstance(opt.param_groups[0]["lr"], torch.Tensor)
        self.base_lr = torch.tensor(float(cfg.lr), device=self.device)
        self.precision = fast_trajectory.resolve_precision(cfg.precision, self.device)
        # One process on a CPU: the whole step by hand, without autograd. The hand-written backward is checked
        # against autograd on the CPU only, so CUDA keeps autograd (bench/graph_check.py checked it graphed).
        self.by_hand = cfg.manual_backward and net is model and self.device.type == "cpu"
        self.forward = fast_trajectory.make_forward(model, net, self.precision, cfg.manual_backward)

    def set_lr(self, base: float) -> None:
        if self.tensor_lr:
            self.base_lr.fill_(base)
        else:
            for g in self.opt.param_groups:
                g["lr"] = base * g["scale"]

    def _body(self, supervised: bool, project_encoder_decoder: bool) -> None:
        cfg = self.cfg
        x = self.train.x.index_select(0, self.idx)
        y = self.train.y.index_select(0, self.idx)
        scale = x.shape[0] if cfg.sum_gradients else 1  # the authors' summed minibatch gradients
        weights = {"reconstruction": cfg.rec_weight * scale, "sparsity": cfg.l1_weight * scale}
        if supervised:
            weights["classification"] = cfg.cls_weight * scale
        if self.by_hand:
            L, logits = fast_trajectory.gradients(self.model, x, y, weights, self.precision == "bf16")
        else:
            out = self.forward(x, y)
            L, logits = out.losses, out.logits
            loss = sum(w * L[k] for k, w in weights.items())
            if not supervised and self.net is not self.model:  # DDP must see a gradient (zero) for C and c
                loss = loss + 0.0 * L["classification"]
            loss.backward()
        if self.tensor_lr:
            for g in self.opt.param_groups:
                torch.mul(self.base_lr, g["scale"], out=g["lr"])
        self.opt.step()
        # C is bounded after every supervised update; E and D as often as the caller says (docs/model.md)
        self.model.project_(encoder=project_encoder_decoder, decoder=project_encoder_decoder, classifier=supervised)
        with torch.no_grad():
            errors = (logits.argmax(1) != y).sum().float()
            terms = [L["reconstruction"], L["sparsity"], L["classification"], errors]
            self.stats.add_(torch.stack([t.detach() for t in terms]))

    def step(self, idx: torch.Tensor, supervised: bool, step_no: int) -> None:
        self.idx.copy_(idx, non_blocking=True)
        phase = "supervised" if supervised else "unsupervised"
        in_body, after = projection_plan(self.cfg.project_every, self.graphed, step_no)
        if not self.graphed:
            self.opt.zero_grad(set_to_none=True)
            self._body(supervised, project_encoder_decoder=in_body)
            return
        if self.phase != phase:  # (re)capture for this phase after a few eager warm-up steps
            self.graph, self.phase, self.warm = None, phase, 0
        if self.graph is None and self.warm < GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.opt.zero_grad(set_to_none=True)
                self._body(supervised, project_encoder_decoder=in_body)
            torch.cuda.current_stream().wait_stream(side)
            self.warm += 1
        else:
            if self.graph is None:
                self.graph = torch.cuda.CUDAGraph()
                self.opt.zero_grad(set_to_none=True)
                try:
                    with torch.cuda.graph(self.graph):
                        self._body(supervised, project_encoder_decoder=in_body)
                except RuntimeError as e:  # keep training, eagerly, rather than lose the run
                    print(f"warning: CUDA graph capture failed ({e}); continuing without graphs", file=sys.stderr)
                    self.graph, self.graphed = None, False
                    return self.step(idx, supervised, step_no)
            self.graph.replay()
        if after:
            self.model.project_(encoder=True, decoder=True, classifier=False)

    def take_stats(self) -> torch.Tensor:
        values = self.stats.clone()
        self.stats.zero_()
        return values


# ------------------------------------------------------------------------------------- train
BAR_EVERY_STEPS = 20  # the console bar's running means read the device's sums, so not after every step


@dataclass
class TrainState:
    """What a resume needs besides weights, optimizer and RNG: counters, the best model so far, time."""

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
class Run:
    """What stays fixed through one run: the recipe, its folder, this process's place, data, model, optimizer."""

    cfg: TrainConfig
    out_dir: Path
    rank: int
    world_size: int
    device: torch.device
    train: data.Split
    val: data.Split
    test: data.Split
    model: DrSAE
    opt: Optimizers

    @property
    def per_rank(self) -> int:
        return len(self.train) // self.world_size

    @property
    def steps_per_epoch(self) -> int:  # the last partial batch is dropped, so shapes stay static
        return self.per_rank // self.cfg.batch_size

    @property
    def images_per_step(self) -> int:
        return self.cfg.batch_size * self.world_size

    @property
    def total_epochs(self) -> int:
        return self.cfg.unsup_epochs + self.cfg.epochs


@dataclass
class Clock:
    """Wall time of the whole run (earlier sessions of a resumed run included) and of this session, for ETAs."""

    started: float
    session_start: float
    session_epoch0: int

    @classmethod
    def start(cls, state: TrainState) -> Clock:
        now = time.time()
        return cls(started=now - state.seconds, session_start=now, session_epoch0=state.epoch)

    def run_seconds(self) -> float:
        return time.time() - self.started


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


def check_batch(run: Run) -> None:
    if run.steps_per_epoch < 1:
        raise ValueError(
            f"batch_size {run.cfg.batch_size} is larger than the {run.per_rank} training images per process"
        )


def data_parallel(model: DrSAE, device: torch.device, world_size: int) -> torch.nn.Module:
    """The module the step runs: the model itself, or its DDP wrapper when several processes train."""
    if world_size == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def prepare_out_dir(out_dir: Path, resume: bool) -> None:
    """Create the run folder; a fresh run over an old folder starts a new metrics.jsonl."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not resume and (out_dir / checkpoint.METRICS).exists():
        (out_dir / checkpoint.METRICS).unlink()


def restore(run: Run, graphed: bool) -> TrainState:
    """Weights, optimizer, RNG and counters from the run folder's state.pt (written at an epoch's end)."""
    saved = checkpoint.load_state(run.out_dir)
    run.model.load_state_dict(saved["model"])
    run.opt.load_state_dict(saved["optimizer"])
    if graphed:  # load_state_dict may turn the rate tensors into floats or move them
        for g in run.opt.param_groups:
            g["lr"] = torch.as_tensor(g["lr"], dtype=torch.float32, device=run.device).clone()
    state = TrainState(**{k: saved["train_state"][k] for k in (f.name for f in fields(TrainState))})
    torch.set_rng_state(saved["rng"])
    return state


def run_info(run: Run, state: TrainState, status: str) -> dict[str, Any]:
    """config.json's description of the run beside the model's own config."""
    return {
        "train": run.cfg.to_dict(),
        "status": status,
        "train_state": vars(state) | {},
        "device": str(run.device),
        "world_size": run.world_size,
        "torch": torch.__version__,
    }


def save_resume_state(run: Run, state: TrainState) -> None:
    """state.pt: what --resume needs to continue exactly from the last completed epoch (rank 0 writes)."""
    if run.rank != 0:
        return
    checkpoint.save_state(
        run.out_dir,
        {
            "model": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
            "optimizer": run.opt.state_dict(),
            "rng": torch.get_rng_state(),
            "train_state": {k: getattr(state, k) for k in (f.name for f in fields(TrainState))},
        },
    )


def console_bar(run: Run) -> progress.ConsoleProgress:
    bar = progress.ConsoleProgress(run.total_epochs, run.steps_per_epoch, run.images_per_step)
    bar.start()
    return bar


# ------------------------------------------------------------------------------------- steps
def epoch_order(run: Run, epoch: int) -> torch.Tensor:
    """This process's share of the epoch's shuffle: the same on every rank and after a resume."""
    perm = torch.randperm(len(run.train), generator=torch.Generator().manual_seed(epoch_seed(run.cfg.seed, epoch)))
    return perm[run.rank :: run.world_size][: run.per_rank].to(run.device)


def scheduled_lr(cfg: TrainConfig, state: TrainState, supervised: bool, steps_per_epoch: int) -> float:
    """The base rate of the next step (learning_rate with this run's counters)."""
    sup_step = state.step - cfg.unsup_epochs * steps_per_epoch
    return learning_rate(
        cfg,
        samples=state.samples,
        phase="supervised" if supervised else "unsupervised",
        sup_step=sup_step,
        sup_steps=cfg.epochs * steps_per_epoch,
        phase_step=sup_step if supervised else state.step,
    )


def show_running_means(
    bar: progress.ConsoleProgress, stepper: Stepper, run: Run, state: TrainState, phase: str, steps_done: int
) -> None:
    rec, l1, ce, errs = (v / steps_done for v in stepper.stats.tolist())
    means = {"rec": rec, "l1": l1, "ce": ce, "err%": 100 * errs / run.cfg.batch_size}
    bar.update(state.epoch, phase, steps_done, means, state.extra.get("val_error"))


# ------------------------------------------------------------------------------------- epochs
def epoch_train_metrics(sums: torch.Tensor, run: Run) -> dict[str, float]:
    """Mean loss terms and error (%) over the epoch's steps, summed over every process."""
    sums = sums.cpu()
    if run.world_size > 1:
        dist.all_reduce(sums)
    steps = run.steps_per_epoch
    metrics = {k: (sums[j] / steps / run.world_size).item() for j, k in enumerate(STAT_KEYS[:3])}
    metrics["error"] = 100.0 * sums[3].item() / max(steps * run.images_per_step, 1)
    return metrics


def evaluate_and_checkpoint(run: Run, state: TrainState, supervised: bool) -> tuple[dict[str, float], dict[str, float]]:
    """Validation and test metrics of the model now. model.safetensors keeps the best-validation model of
    the supervised phase; before that (and in a run without one) the latest, so there is always one."""
    v, te = evaluate(run.model, run.val), evaluate(run.model, run.test)
    state.extra["val_error"] = v["error"]
    if supervised and v["error"] < state.best_val:
        state.best_val, state.best_epoch, state.bad_epochs = v["error"], state.epoch, 0
        checkpoint.save_run(run.out_dir, run.model, run_info(run, state, "running"))
    elif supervised:
        state.bad_epochs += 1
    if not supervised or run.cfg.epochs == 0:
        checkpoint.save_run(run.out_dir, run.model, run_info(run, state, "running"))
    return v, te


def epoch_row(
    run: Run,
    state: TrainState,
    clock: Clock,
    phase: str,
    lr: float,
    train_m: dict[str, float],
    val_m: dict[str, float],
    test_m: dict[str, float],
    epoch_seconds: float,
) -> dict[str, Any]:
    """The epoch's line in metrics.jsonl and the row on_progress gets: losses, errors, roles, speed."""
    cfg = run.cfg
    return {
        "epoch": state.epoch,
        "phase": phase,
        "lr": lr,
        "step": state.step,
        "samples": state.samples,
        **{f"train_{k}": value for k, value in train_m.items()},
        **{f"val_{k}": value for k, value in val_m.items()},
        "test_error": test_m["error"],
        "best_val_error": state.best_val if phase == "supervised" else None,
        **role_metrics(run.model),
        "epoch_seconds": epoch_seconds,
        "seconds": state.seconds,
        **progress.speed_fields(
            images=run.steps_per_epoch * run.images_per_step,
            epoch_seconds=epoch_seconds,
            epochs_done=state.epoch,
            total_epochs=run.total_epochs,
            session_seconds=time.time() - clock.session_start,
            session_epochs=state.epoch - clock.session_epoch0,
            time_left=cfg.time_limit - state.seconds if cfg.time_limit else None,
        ),
    }


def print_epoch(row: dict[str, Any], total_epochs: int) -> None:
    print(
        f"epoch {row['epoch']:4d}/{total_epochs} {row['phase']:12s} loss rec {row['train_reconstruction']:.4f} "
        f"l1 {row['train_sparsity']:.3f} ce {row['train_classification']:.4f} | train err "
        f"{row['train_error']:.2f}% val err {row['val_error']:.2f}% | {row['epoch_seconds']:.1f}s",
        flush=True,
    )


def stop_reason_after(cfg: TrainConfig, state: TrainState, supervised: bool) -> str | None:
    """Why the run ends after this epoch, if it does before its last: patience or the time limit."""
    reason = None
    if supervised and cfg.patience and state.bad_epochs >= cfg.patience:
        reason = "early stopping"
    if cfg.time_limit and state.seconds >= cfg.time_limit:
        reason = "time limit"
    return reason


def agree_to_stop(stop: bool, world_size: int) -> bool:
    """Rank 0 decides; every process leaves the loop together."""
    if world_size == 1:
        return stop
    flag = torch.tensor([int(stop)])
    dist.broadcast(flag, 0)
    return bool(flag.item())


# ------------------------------------------------------------------------------------- endings
def record_stop(run: Run, state: TrainState, reason: str) -> dict[str, Any]:
    """Mark an interrupted run in config.json. state.pt keeps the last completed epoch: resuming replays the
    interrupted epoch exactly (same permutation, same starting weights), so the run ends where an
    uninterrupted one would."""
    if run.rank == 0:
        if not (run.out_dir / checkpoint.WEIGHTS).exists():
            checkpoint.save_run(run.out_dir, run.model, run_info(run, state, reason))
        cfg_json = checkpoint.read_config(run.out_dir)
        cfg_json["status"] = reason
        checkpoint.atomic_write_json(run.out_dir / checkpoint.CONFIG, cfg_json)
        print(f"\nstopped ({reason}); resume with --resume --out {run.out_dir}", file=sys.stderr)
    return {"status": reason, "out": str(run.out_dir)}


def final_summary(run: Run, state: TrainState, stop_reason: str | None) -> dict[str, Any]:
    """Test and validation error of the kept (best) model, also written into config.json by rank 0."""
    summary: dict[str, Any] = {"status": "finished", "stop_reason": stop_reason or "completed", "out": str(run.out_dir)}
    if run.rank != 0:
        return summary
    best = checkpoint.load(run.out_dir, run.device)
    te, v = evaluate(best, run.test), evaluate(best, run.val)
    summary |= {
        "test_error": te["error"],
        "val_error": v["error"],
        "best_epoch": state.best_epoch,
        "epochs": state.epoch,
        "seconds": state.seconds,
    }
    final = run_info(run, state, "finished") | {"results": summary}
    checkpoint.atomic_write_json(run.out_dir / checkpoint.CONFIG, {"model": best.config.to_dict(), **final})
    print(
        f"done: best epoch {state.best_epoch}, val error {v['error']:.2f}%, test error {te['error']:.2f}% "
        f"({state.seconds:.0f}s) -> {run.out_dir}",
        flush=True,
    )
    return summary


# ------------------------------------------------------------------------------------- the loop
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
    """Run `cfg` into `out_dir`; returns the summary also written to config.json.

    `on_progress(row)` gets every epoch's metrics row; `should_stop()` is polled between steps (a job's
    cancel flag). Only rank 0 writes files and calls back.
    """
    # setup: data, model and optimizer on this process's device, counters from state.pt when resuming
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = process_device(cfg, rank, world_size)
    train_split, val, test = load_splits(cfg, device)
    model = init_model(cfg, train_split, device)
    graphed = cfg.cuda_graphs and device.type == "cuda" and world_size == 1
    opt = make_optimizer(model, cfg, graphed)
    run = Run(cfg, Path(out_dir), rank, world_size, device, train_split, val, test, model, opt)
    state = restore(run, graphed) if resume else TrainState()
    stepper = Stepper(model, data_parallel(model, device, world_size), opt, cfg, train_split, graphed)
    if rank == 0:
        prepare_out_dir(run.out_dir, resume)
    check_batch(run)
    steps, batch = run.steps_per_epoch, cfg.batch_size

    clock = Clock.start(state)
    bar = console_bar(run) if progress_bar and rank == 0 and sys.stderr.isatty() else None
    stop_reason: str | None = None
    with StopRequests(should_stop) as stop_requested:
        try:
            if not resume:  # resuming always restarts from an epoch boundary, so an early stop needs one too
                save_resume_state(run, state)
            while state.epoch < run.total_epochs:
                supervised = state.epoch >= cfg.unsup_epochs
                phase = "supervised" if supervised else "unsupervised"
                order = epoch_order(run, state.epoch)
                t0 = time.time()
                if bar:
                    bar.start_epoch()
                for i in range(steps):
                    lr = scheduled_lr(cfg, state, supervised, steps)
                    stepper.set_lr(lr)
                    # forward through T iterations, backward through time, update, projection of the bounds
                    stepper.step(order[i * batch : (i + 1) * batch], supervised, state.step)
                    state.step += 1
                    state.samples += run.images_per_step
                    if stop_requested():
                        raise StopTraining
                    if bar and (i % BAR_EVERY_STEPS == 0 or i == steps - 1):
                        show_running_means(bar, stepper, run, state, phase, i + 1)
                train_m = epoch_train_metrics(stepper.take_stats(), run)
                epoch_seconds = time.time() - t0
                state.epoch += 1
                state.seconds = clock.run_seconds()
                if rank == 0:  # evaluate, keep the best model, log, and decide whether to stop
                    val_m, test_m = evaluate_and_checkpoint(run, state, supervised)
                    row = epoch_row(run, state, clock, phase, lr, train_m, val_m, test_m, epoch_seconds)
                    checkpoint.append_metrics(run.out_dir, row)
                    save_resume_state(run, state)
                    print_epoch(row, run.total_epochs)
                    if on_progress:
                        on_progress(row)
                    if bar:
                        bar.epoch_done()
                    stop_reason = stop_reason_after(cfg, state, supervised)
                if agree_to_stop(stop_reason is not None, world_size):
                    break
        except (KeyboardInterrupt, StopTraining) as e:
            return record_stop(run, state, "interrupted" if isinstance(e, KeyboardInterrupt) else "cancelled")
        finally:
            if bar:
                bar.stop()
    return final_summary(run, state, stop_reason)


# -------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--preset", default=DEFAULT, choices=sorted(PRESETS), help=f"recipe to start from (default {DEFAULT})"
    )
    p.add_argument("--out", help="run folder (default runs/<preset>-<dataset>-<hidden>x<T>-s<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")
    p.add_argument("--hidden", type=int, help="hidden units")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    names = {"hidden"}
    for f in fields(TrainConfig):
        if f.name in names or f.name == "preset":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, type=_parse_bool, metavar="{true,false}")
        elif f.type in ("int", "int | None"):
            p.add_argument(flag, type=int)
        elif f.type in ("float", "float | None"):
            p.add_argument(flag, type=float)
        else:
            p.add_argument(flag, type=str)
    return p


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if f.name != "preset" and getattr(args, f.name, None) is not None
    }
    return preset(args.preset, **overrides)


def default_out(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{cfg.preset}-{cfg.dataset}-{cfg.hidden}x{cfg.T}-s{cfg.seed}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    try:
        out = Path(args.out) if args.out else None
        if args.resume:
            if out is None:
                raise ValueError("--resume needs --out RUN_FOLDER")
            saved = checkpoint.read_config(out)
            cfg = TrainConfig.from_dict(saved["train"])
        else:
            cfg = config_from_args(args)
        out = out or default_out(cfg)
        # device, data, batch and (rank 0, which writes it) the output folder, before anything starts
        preflight.check_run(cfg, out if rank == 0 else None, resume=args.resume, world_size=world_size)
        if world_size > 1:
            dev = resolve_device(cfg.device)
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        try:
            train(
                cfg,
                out,
                rank=rank,
                world_size=world_size,
                resume=args.resume,
                progress_bar=not args.no_progress,
            )
        finally:
            if world_size > 1:
                dist.destroy_process_group()
    except (ValueError, data.DataError, checkpoint.CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
