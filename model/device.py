"""Which torch device a name means: one rule for the trainer, its preflight checks and the server.

"auto" is CUDA when there is one, else the CPU. A name that cannot be used raises ValueError with the
reason; the caller chooses what to do with it (the trainer refuses to start, the server falls back to the
CPU and says so in its log).
"""

from __future__ import annotations

import torch

NAMES = "auto, cpu, cuda or cuda:N"


def resolve(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be {NAMES}, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("CUDA was asked for but is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{name} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
