"""Training recipes, each defined once with the source of its numbers.

- paper: the authors' recipe (spec 3.2): plain SGD, minibatch 10 with summed gradients, lr 5e-3 decayed
  as lr/(1 + 5e-7 x samples seen), loss 5 x 0.5||x - Dz||^2 + 0.09 ||z||_1 (+ NLL), E and D projected every
  5th minibatch, 100 unsupervised epochs then up to 1000 supervised ones. Days on a CPU.
- fast: same model, losses and bounds; Adam on minibatches of 100 with the per-matrix rates, a short
  unsupervised phase and a cosine decay over the supervised phase. Measured: 1.14% test error (1.16% val)
  at 400 units in 86 s on an H100 (reports/paper.md). Caveat, also measured: Adam's per-entry steps pull
  every encoder row away from its decoder column within one epoch, so no part-units form (all angles
  > 0.7 rad); plain SGD keeps them aligned (`--preset paper --batch-size 100 --lr 1e-3 --project-every 1`,
  reports/paper-sgd.md). Use `fast` for accuracy, SGD to see the paper's part/categorical split.
- smoke: a tiny model on 2,000 images, seconds on a CPU; for tests and quick checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("paper", "cosine", "constant")
DATASETS = ("mnist", "fashion-mnist")
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 on a CPU with hardware bf16, else fp32


@dataclass
class TrainConfig:
    preset: str = "fast"
    dataset: str = "mnist"
    hidden: int = 400
    T: int = 11
    e_bound: float | None = None  # None: the paper's 1.25/(T-1)
    optimizer: str = "adam"
    lr: float = 3e-3
    schedule: str = "cosine"
    lr_decay: float = 5e-7  # per training sample, for the 'paper' schedule
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    batch_size: int = 100
    sum_gradients: bool = False  # the authors summed (not averaged) gradients over a minibatch
    unsup_epochs: int = 10  # reconstruction + L1 only
    epochs: int = 100  # supervised epochs after that (at most; see patience)
    patience: int = 0  # stop after this many supervised epochs without a better validation error; 0: never
    rec_weight: float = 5.0
    l1_weight: float = 0.09
    cls_weight: float = 1.0
    project_every: int = 1  # E and D every this many updates; C every update
    train_limit: int | None = None  # first N training images only (tests)
    eval_limit: int | None = None  # first N validation and test images only (tests)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    cuda_graphs: bool = True  # capture the training step as a CUDA graph (Adam, one device)
    threads: int | None = None  # torch CPU threads; None: torch's default
    precision: str = "auto"  # matmuls of the training step; fp32 master weights either way (docs/training.md)
    manual_backward: bool = True  # BPTT through the T iterations by hand, dS as one matmul (model/fast_trajectory.py)
    time_limit: float | None = None  # seconds; stops cleanly after the epoch that passes it

    def __post_init__(self) -> None:
        checks = [
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.dataset in DATASETS, f"dataset must be one of {DATASETS}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
            (1 <= self.hidden <= 4096, "hidden must be in 1..4096"),
            (1 <= self.T <= 50, "T must be in 1..50"),
            (0 < self.lr <= 1, "lr must be in (0, 1]"),
            (1 <= self.batch_size <= 50000, "batch_size must be in 1..50000"),
            (self.unsup_epochs >= 0 and self.epochs >= 0, "epochs must be >= 0"),
            (self.unsup_epochs + self.epochs >= 1, "train for at least one epoch"),
            (self.patience >= 0, "patience must be >= 0"),
            (self.project_every >= 1, "project_every must be >= 1"),
            (min(self.rec_weight, self.l1_weight, self.cls_weight) >= 0, "loss weights must be >= 0"),
            (self.e_bound is None or self.e_bound > 0, "e_bound must be positive"),
            (0 <= self.min_lr_ratio <= 1 and self.lr_decay >= 0, "min_lr_ratio must be in [0, 1], lr_decay >= 0"),
            (self.train_limit is None or self.train_limit >= 1, "train_limit must be >= 1"),
            (self.eval_limit is None or self.eval_limit >= 1, "eval_limit must be >= 1"),
            (self.threads is None or self.threads >= 1, "threads must be >= 1"),
            (self.time_limit is None or self.time_limit > 0, "time_limit must be > 0 seconds"),
        ]
        errors = [msg for ok, msg in checks if not ok]
        if errors:
            raise ValueError("; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training options {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(
        preset="paper",
        optimizer="sgd",
        lr=5e-3,  # full_train_learning_rate
        schedule="paper",  # lr / (1 + 5e-7 * samples), counter kept across phases
        batch_size=10,
        sum_gradients=True,
        unsup_epochs=100,  # num_epochs_no_classification
        epochs=1000,
        patience=0,  # the authors kept every checkpoint and chose one afterwards
        project_every=5,  # "Repair after every 5th minibatch"
    ),
    "fast": TrainConfig(preset="fast", lr=3e-3, batch_size=100, unsup_epochs=10, epochs=150, patience=0),
    "smoke": TrainConfig(
        preset="smoke",
        hidden=32,
        T=5,
        lr=1e-2,
        batch_size=50,
        unsup_epochs=1,
        epochs=3,
        train_limit=2000,
        eval_limit=500,
        cuda_graphs=False,
    ),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A preset with some fields replaced; unknown names and bad values raise ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    return replace(PRESETS[name], **overrides)
