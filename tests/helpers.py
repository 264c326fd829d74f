"""Factories shared by the test suites (several teams add functions here; keep each one self-contained)."""

from __future__ import annotations

from pathlib import Path

import torch

from model import checkpoint
from model.drsae import DrSAE
from model.presets import preset


def tiny_run(
    tmp_path: Path,
    hidden: int = 16,
    T: int = 3,
    name: str = "tiny",
    dataset: str = "mnist",
    seed: int = 0,
    results: dict | None = None,
) -> Path:
    """An untrained DrSAE(784, hidden, 10, T) saved as a run folder `tmp_path/name` (model.safetensors +
    config.json in the trainer's format), for tests that need a loadable checkpoint in milliseconds."""
    gen = torch.Generator().manual_seed(seed)
    model = DrSAE(784, hidden, 10, T)
    model.reset_parameters(generator=gen)
    run = Path(tmp_path) / name
    info = {
        "train": preset("smoke", hidden=hidden, T=T, dataset=dataset, seed=seed).to_dict(),
        "status": "finished",
        "results": results if results is not None else {"test_error": 90.0, "val_error": 90.0},
    }
    checkpoint.save_run(run, model, info)
    return run
