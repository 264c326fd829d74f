"""Checkpoints: a run folder holding `model.safetensors` + `config.json` (+ `metrics.jsonl`).

Weights are written and read with the safetensors package (a JSON header and raw tensors: loading can never
run code). Resume state (optimiser, RNG, counters) is `state.pt`, loaded with `weights_only=True`.
Every file is written to a temporary name and renamed into place, so a crash leaves the old file whole.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from model.drsae import DrSAE, DrSAEConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATE = "state.pt"
LOCK = ".training.lock"
SWEEP = "sweep.json"  # a sweep folder's list of its members (model/cli.py)

class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or does not fit the model it claims to hold."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


# ------------------------------------------------------------------------------- safetensors
def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata of a .safetensors file; a clear CheckpointError when it is not one."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {name: f.get_tensor(name) for name in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118
    except SafetensorError as e:
        if "not fully covered" in str(e):  # the library's words for a file cut short
            raise CheckpointError(f"{path} is truncated: a tensor runs past the end of the file") from e
        raise CheckpointError(f"{path} is not a valid safetensors file ({e})") from e


def saved_at(path: Path) -> float | None:
    """When the weights were saved (unix seconds), from their header; None for weights saved without it."""
    try:
        with safe_open(str(path), framework="pt") as f:
            stamp = (f.metadata() or {}).get("saved_at")
        return datetime.fromisoformat(stamp).timestamp() if stamp else None
    except (SafetensorError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------- save/load
def save_weights(path: Path, model: DrSAE) -> None:
    """The weights with their config and the time they were saved (UTC): the run's record of when this model
    was trained, which a copy or a clone of the folder keeps (a file's mtime does not)."""
    meta = {
        "format": "pt",
        "drsae_config": json.dumps(model.config.to_dict()),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def load_weights(path: Path, device: torch.device | str = "cpu") -> DrSAE:
    tensors, meta = read_safetensors(path)
    if "drsae_config" not in meta:
        raise CheckpointError(f"{path} carries no drsae_config metadata")
    model = DrSAE.from_config(DrSAEConfig.from_dict(json.loads(meta["drsae_config"])))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match its config: {e}") from e
    return model.to(device).eval()


def save_run(run_dir: Path, model: DrSAE, info: dict[str, Any]) -> None:
    """The best model of a run and its description (train config, results). Config last: a reader that
    sees config.json finds weights that match it."""
    run_dir = Path(run_dir)
    save_weights(run_dir / WEIGHTS, model)
    atomic_write_json(run_dir / CONFIG, {"model": model.config.to_dict(), **info})


def load(path: Path | str, device: torch.device | str = "cpu") -> DrSAE:
    """A ready DrSAE from a run folder or a .safetensors file."""
    path = Path(path)
    weights = path / WEIGHTS if path.is_dir() else path
    if not weights.exists():
        raise CheckpointError(f"no checkpoint at {weights}")
    return load_weights(weights, device)


def read_config(run_dir: Path) -> dict[str, Any]:
    p = Path(run_dir) / CONFIG
    if not p.exists():
        raise CheckpointError(f"no {CONFIG} in {run_dir}")
    return json.loads(p.read_text())


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Per-epoch rows of metrics.jsonl; a torn last line (crash mid-append) is skipped."""
    p = Path(run_dir) / METRICS
    rows = []
    if p.exists():
        for line in p.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    with open(Path(run_dir) / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Resume state: only tensors, numbers, strings and containers, so weights_only loading accepts it."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(run_dir) / STATE, buf.getvalue())


def load_state(run_dir: Path) -> dict[str, Any]:
    p = Path(run_dir) / STATE
    if not p.exists():
        raise CheckpointError(f"nothing to resume in {run_dir}: no {STATE}")
    return torch.load(p, map_location="cpu", weights_only=True)


def lock_run(run_dir: Path) -> Any:
    """Hold the run folder for this process while it trains: a second trainer (a resume started twice, a
    sweep resumed while it still runs) would interleave epochs in one metrics.jsonl and state.pt. Returns
    the open lock file (the lock goes with it, or with the process); CheckpointError if another holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    f = open(run_dir / LOCK, "a+")  # noqa: SIM115 (held open for the whole run)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise CheckpointError(f"{run_dir} is being trained by {holder}; wait for it or stop it first") from None
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()}")
    f.flush()
    return f


def run_folders(paths: list[Path]) -> list[Path]:
    """The run folders named, a sweep folder standing for every member its sweep.json lists."""
    out = []
    for p in map(Path, paths):
        if (p / SWEEP).is_file():
            out += [p / m["folder"] for m in json.loads((p / SWEEP).read_text())["members"]]
        else:
            out.append(p)
    return out
