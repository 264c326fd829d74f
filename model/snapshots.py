"""Small per-epoch snapshots of a run's units, to watch the roles form: the decoder filters (columns of D,
float16) of a fixed set of at most MAX_UNITS units spread over the layer, and every unit's encoder-decoder
angle and ||C_i|| (the Units page's scatter, over epochs). A few hundred kB per run.

    <run>/snapshots/epoch-00012.safetensors   D (n_in, k) float16, units (k,), angle (n,), c_norm (n,)

Written by the trainer (model/train.py) at the initialisation and at up to MAX_SNAPSHOTS epochs spread over
the run, including the last; the server serves them (GET /api/jobs/{id}/snapshots).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from model import checkpoint
from model.analysis import encoder_decoder_angles
from model.drsae import DrSAE

FOLDER = "snapshots"
MAX_UNITS = 64  # decoder filters kept per snapshot
MAX_SNAPSHOTS = 30  # epochs with a snapshot, besides the initialisation
_NAME = re.compile(r"epoch-(\d+)\.safetensors")


def snapshot_epochs(total_epochs: int, count: int = MAX_SNAPSHOTS) -> set[int]:
    """The epochs that get a snapshot: every one in a short run, else `count` spread evenly, the last included."""
    if total_epochs <= count:
        return set(range(1, total_epochs + 1))
    return {round(1 + i * (total_epochs - 1) / (count - 1)) for i in range(count)}


def kept_units(n_hidden: int) -> np.ndarray:
    """The units whose filters are kept: all of a small layer, else MAX_UNITS spread evenly over it."""
    return np.unique(np.linspace(0, n_hidden - 1, min(n_hidden, MAX_UNITS)).round().astype(np.int64))


def path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / FOLDER / f"epoch-{epoch:05d}.safetensors"


@torch.no_grad()
def save_snapshot(run_dir: Path, epoch: int, model: DrSAE) -> None:
    """The model's snapshot at `epoch` (0: the initialisation), written by rename."""
    units = kept_units(model.D.shape[1])
    tensors = {
        "D": model.D.detach()[:, torch.from_numpy(units).to(model.D.device)].half().cpu().contiguous(),  # (n_in, k)
        "units": torch.from_numpy(units),
        "angle": torch.from_numpy(encoder_decoder_angles(model).astype(np.float32)),  # (n_hidden,)
        "c_norm": model.C.detach().float().norm(dim=0).cpu().contiguous(),  # (n_hidden,)
    }
    checkpoint.atomic_write_bytes(path(run_dir, epoch), save(tensors))


def epochs(run_dir: Path) -> list[int]:
    folder = Path(run_dir) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _NAME.fullmatch(p.name)))


def load_snapshot(run_dir: Path, epoch: int) -> dict[str, np.ndarray]:
    """One snapshot as arrays (D as float32); CheckpointError when it is missing or unreadable."""
    p = path(run_dir, epoch)
    try:
        tensors = load(p.read_bytes())
    except (OSError, SafetensorError) as e:
        raise checkpoint.CheckpointError(f"cannot read the snapshot {p}: {e}") from e
    return {k: v.float().numpy() if k == "D" else v.numpy() for k, v in tensors.items()}


def clear(run_dir: Path) -> None:
    """A fresh run over an old folder starts without the old run's snapshots."""
    shutil.rmtree(Path(run_dir) / FOLDER, ignore_errors=True)
