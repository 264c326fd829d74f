"""What each member's steps use, epoch by epoch: which images in which order, the learning rate of every
step (the paper's schedule or cosine, with a warm-up per phase), the per-matrix rate scales, when E and D are
projected, and the loss weights. Computed once per epoch for the whole population (docs/training.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from model.drsae import DrSAE
from model.members import Member, Run
from model.population import CLASSIFIER, PARAMS
from model.presets import TrainConfig

SEED_STRIDE = 100003  # a prime larger than any epoch count: (seed, epoch) pairs never share a shuffle seed


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's shuffle: reproducible per (seed, epoch), and the same after a resume."""
    return seed * SEED_STRIDE + epoch


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

