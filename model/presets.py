"""Training recipes, each defined once with the source of its numbers (docs/model.md).

- faithful (the default): the paper's model, losses and bounds, trained with SGD with Nesterov momentum, a
  warm-up per phase, cosine decay, E and D at a quarter of their per-matrix rates, 5 + 100 epochs of
  minibatches of 100. Its models show the paper's part/categorical structure (model/structure.py).
- adam: Adam on minibatches of 100; more accuracy per minute, but every encoder row leaves its decoder
  column within one epoch, so no part-units form.
- paper: the authors' exact recipe: plain SGD, minibatch 10 with summed gradients, lr 5e-3 decayed as
  lr/(1 + 5e-7 x samples seen), loss 5 x 0.5||x - Dz||^2 + 0.09 ||z||_1 (+ NLL), E and D projected every
  5th minibatch, 100 unsupervised epochs then up to 1000 supervised ones. Days on a CPU.
- smoke: a tiny model on 2,000 images, seconds on a CPU; for tests and quick checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from model.core import PRECISIONS
from model.data import DATASETS
from model.optim import OPTIMIZERS

CLASSIFIER_OPTIMIZERS = ("same", "adam")
SCHEDULES = ("paper", "cosine", "constant")


@dataclass(frozen=True)
class Bound:
    """The allowed range of one numeric option. TrainConfig checks it, the API validates job bodies with it and
    serves it, the dashboard's training form shows and checks it: one table, so a value the form accepts is
    never refused."""

    low: float
    high: float | None = None  # None: no upper bound
    integer: bool = True
    low_open: bool = False  # low itself is excluded (a rate must be > 0)
    high_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below and (not self.integer or float(value).is_integer())

    def text(self) -> str:
        """'1..1024', '0..2,147,483,647', '(0, 1]', '>= 0': how the messages and the form write the range
        (whole numbers in full, never '2.14748e+09')."""
        low, high = _number(self.low), _number(self.high) if self.high is not None else ""
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.integer and not (self.low_open or self.high_open):
            return f"{low}..{high}"
        return f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


def _number(x: float) -> str:
    if not float(x).is_integer():
        return f"{x:g}"
    return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))


# The ranges of the numeric options. The upper bounds of size and length are what one server job may ask for
# (a 1024-unit, 20-iteration model on 5,000-image minibatches trains in memory on a laptop); the paper's model
# is 400 units, T = 11, minibatches of 10.
BOUNDS: dict[str, Bound] = {
    "hidden": Bound(1, 1024),
    "T": Bound(1, 20),
    "unsup_epochs": Bound(0, 2000),
    "epochs": Bound(0, 2000),
    "lr": Bound(0, 1, integer=False, low_open=True),
    "momentum": Bound(0, 1, integer=False, high_open=True),
    "classifier_lr": Bound(0, 1, integer=False, low_open=True),
    "encoder_decoder_lr_scale": Bound(0, 1, integer=False, low_open=True),
    "warmup_steps": Bound(0),
    "lr_decay": Bound(0, integer=False),
    "min_lr_ratio": Bound(0, 1, integer=False),
    "batch_size": Bound(1, 5000),
    "patience": Bound(0),
    "rec_weight": Bound(0, integer=False),
    "l1_weight": Bound(0, integer=False),
    "cls_weight": Bound(0, integer=False),
    "project_every": Bound(1),
    "e_bound": Bound(0, integer=False, low_open=True),
    "seed": Bound(0, 2**31 - 1),
    "time_limit": Bound(0, integer=False, low_open=True),
    "train_limit": Bound(1),
    "eval_limit": Bound(1),
    "threads": Bound(1),
}


# What each option does, for `python -m model.train --help` (its default and range come from the preset and
# BOUNDS, its choices from the tuples above).
HELP: dict[str, str] = {
    "preset": "the recipe every other option starts from",
    "dataset": "training data",
    "hidden": "hidden units n",
    "T": "recurrent iterations (the paper: 11)",
    "e_bound": "row bound of E (default: the paper's 1.25/(T-1))",
    "optimizer": "optimiser of E, S, b, D (and of C, c unless --classifier-optimizer adam)",
    "lr": "base learning rate; each matrix gets it times its per-matrix scale",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum (SGD with momentum > 0)",
    "classifier_optimizer": "same: C and c share the optimiser above; adam: their own Adam",
    "classifier_lr": "C's and c's rate on their own Adam",
    "encoder_decoder_lr_scale": "extra factor on E's and D's rates",
    "warmup_steps": "linear warm-up at the start of each phase, in updates",
    "schedule": "paper: lr/(1 + lr_decay x samples); cosine: to the floor over the supervised phase; constant",
    "lr_decay": "per training sample, for the paper schedule",
    "min_lr_ratio": "cosine floor, as a fraction of lr",
    "batch_size": "minibatch size (the authors: 10)",
    "sum_gradients": "sum a minibatch's gradients instead of averaging (the authors did)",
    "unsup_epochs": "epochs of reconstruction + L1 only",
    "epochs": "supervised epochs after that (at most; see --patience)",
    "patience": "stop after this many supervised epochs without a better validation error (0: never)",
    "rec_weight": "weight of 0.5 ||x - Dz||^2",
    "l1_weight": "weight of ||z||_1",
    "cls_weight": "weight of the classification loss",
    "project_every": "project E and D onto their bounds every this many updates (C: every update)",
    "train_limit": "train on the first N training images only",
    "eval_limit": "validate and test on the first N images only",
    "seed": "initial weights and data order",
    "device": "auto (CUDA when present), cpu, cuda or cuda:N",
    "cuda_graphs": "capture the training step as a CUDA graph",
    "threads": "torch CPU threads (default: torch's)",
    "precision": "the training step's matmuls (fp32 master weights either way)",
    "time_limit": "seconds; stops cleanly after the epoch that passes it",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS,
    "classifier_optimizer": CLASSIFIER_OPTIMIZERS,
    "schedule": SCHEDULES,
    "precision": PRECISIONS,
    "dataset": DATASETS,
}


# Options of earlier versions that runs' config.json files may still carry; they no longer change anything
# (manual_backward: the hand-written backward is now the only training path).
RETIRED = frozenset({"manual_backward"})
# Options added after the first runs were saved, with the value those runs were trained with: an option missing
# from a config.json means this, not today's default (those runs predate SGD with momentum and warm-ups).
ABSENT: dict[str, Any] = {
    "momentum": 0.0,
    "nesterov": False,
    "encoder_decoder_lr_scale": 1.0,
    "warmup_steps": 0,
    "classifier_optimizer": "same",
}


@dataclass
class TrainConfig:
    """One training run's options. The defaults are the default recipe ("faithful", described at PRESETS);
    every other preset names what it changes."""

    preset: str = "faithful"
    dataset: str = "mnist"
    hidden: int = 400
    T: int = 11
    e_bound: float | None = None  # None: the paper's 1.25/(T-1)
    optimizer: str = "sgd"  # for E, S, b, D (and C, c unless classifier_optimizer says otherwise)
    lr: float = 0.02  # base rate; each matrix gets it times DrSAE.lr_scales()
    momentum: float = 0.9  # sgd only
    nesterov: bool = True  # sgd only
    classifier_optimizer: str = "same"  # "same": C and c share the optimizer above; "adam": their own Adam
    classifier_lr: float = 3e-3  # with classifier_optimizer="adam"; follows the same schedule shape
    encoder_decoder_lr_scale: float = 0.25  # extra factor on E's and D's rates (on top of lr_scales)
    warmup_steps: int = 1000  # linear warm-up at the start of each phase (pretraining and the phase switch)
    schedule: str = "cosine"
    lr_decay: float = 5e-7  # per training sample, for the 'paper' schedule
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    batch_size: int = 100
    sum_gradients: bool = False  # the authors summed (not averaged) gradients over a minibatch
    unsup_epochs: int = 5  # reconstruction + L1 only
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
    cuda_graphs: bool = True  # capture the training step as a CUDA graph (one device)
    threads: int | None = None  # torch CPU threads; None: torch's default
    precision: str = "auto"  # matmuls of the training step; fp32 master weights either way (docs/training.md)
    time_limit: float | None = None  # seconds; stops cleanly after the epoch that passes it

    def __post_init__(self) -> None:
        errors = [
            f"{name} must be {'in ' if bound.high is not None else ''}{bound.text()}"
            for name, bound in BOUNDS.items()
            if (value := getattr(self, name)) is not None and not bound.contains(value)
        ]
        checks = [
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.dataset in DATASETS, f"dataset must be one of {DATASETS}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
            (not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0), "nesterov needs sgd with momentum"),
            (
                self.classifier_optimizer in CLASSIFIER_OPTIMIZERS,
                f"classifier_optimizer must be one of {CLASSIFIER_OPTIMIZERS}",
            ),
            (self.unsup_epochs + self.epochs >= 1, "train for at least one epoch"),
        ]
        errors += [msg for ok, msg in checks if not ok]
        if errors:
            raise ValueError("; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        d = ABSENT | {k: v for k, v in d.items() if k not in RETIRED}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training options {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**d)


# What Adam changes from the default recipe (the "adam" and "smoke" presets)
ADAM: dict[str, Any] = {
    "optimizer": "adam", "lr": 3e-3, "momentum": 0.0, "nesterov": False, "encoder_decoder_lr_scale": 1.0,
    "warmup_steps": 0,
}

PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(
        preset="paper",
        optimizer="sgd",  # plain SGD: no momentum, no warm-up, every matrix at its own rate
        momentum=0.0,
        nesterov=False,
        encoder_decoder_lr_scale=1.0,
        warmup_steps=0,
        lr=5e-3,  # full_train_learning_rate
        schedule="paper",  # lr / (1 + 5e-7 * samples), counter kept across phases
        batch_size=10,
        sum_gradients=True,
        unsup_epochs=100,  # num_epochs_no_classification
        epochs=1000,
        patience=0,  # the authors kept every checkpoint and chose one afterwards
        project_every=5,  # "Repair after every 5th minibatch"
    ),
    # The default (TrainConfig's own defaults): the recipe whose models show the paper's structure
    # (docs/model.md, "Our default recipe"; chosen on the validation set among 12 recipes in two GPU sweeps).
    # SGD with Nesterov momentum on every matrix with the per-matrix rates, E and D at a quarter of theirs, a
    # warm-up at the start of each phase, cosine decay to zero over the supervised phase, mean (not summed)
    # minibatch gradients.
    "faithful": TrainConfig(),
    # Adam everywhere: the most accuracy per minute, but no part-units (every encoder row leaves its
    # decoder column within one epoch; reports/paper-adam.md).
    "adam": TrainConfig(preset="adam", unsup_epochs=10, epochs=150, **ADAM),
    "smoke": TrainConfig(
        preset="smoke",
        **ADAM | {"lr": 1e-2},
        hidden=32,
        T=5,
        batch_size=50,
        unsup_epochs=1,
        epochs=3,
        train_limit=2000,
        eval_limit=500,
        cuda_graphs=False,
    ),
}


# One line each, for people choosing a recipe (the API serves them to the training form).
SUMMARIES: dict[str, str] = {
    "faithful": (
        "SGD with Nesterov momentum: the paper's part/categorical structure (under an hour on a CPU for 400 units)"
    ),
    "adam": "Adam: the most accuracy per minute, but no part-units (about an hour on a CPU for 400 units)",
    "paper": "the authors' exact recipe: plain SGD on minibatches of 10 (days on a CPU)",
    "smoke": "a tiny model on 2,000 images in seconds, for checks",
}
DEFAULT = "faithful"

RENAMED = {"fast": "adam"}  # old preset names found in the config.json of earlier runs


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A preset with some fields replaced; unknown names and bad values raise ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    return replace(PRESETS[name], **overrides)
