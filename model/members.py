"""A population's runs, as the training loop (model/train.py) sees them: each member's recipe, folder,
counters and model, and what stays fixed for the whole population (this process's place, the data, the batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model import data
from model.drsae import DrSAE
from model.presets import TrainConfig


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

