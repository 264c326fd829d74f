"""Checkpoints: a run folder holding `model.safetensors` + `config.json` (+ `metrics.jsonl`).

Weights are written in the safetensors format (a JSON header and raw little-endian tensors), read and
written here with torch alone so that loading can never run code and model/ needs no extra package.
Resume state (optimiser, RNG, counters) is `state.pt`, loaded with `weights_only=True`.
Every file is written to a temporary name and renamed into place, so a crash leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch

from model.drsae import DrSAE, DrSAEConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATE = "state.pt"

_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.uint8: "U8",
}
_FROM_CODE = {v: k for k, v in _DTYPES.items()}


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
def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    data = Path(path).read_bytes()
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        meta = header.pop("__metadata__", {}) or {}
        body = memoryview(data)[8 + n :]
        out = {}
        for name, info in header.items():
            start, end = info["data_offsets"]
            if end > len(body):
                raise ValueError(f"tensor {name} runs past the end of the file")
            dtype = _FROM_CODE[info["dtype"]]
            buf = bytearray(body[start:end])
            t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
            out[name] = t.reshape(info["shape"])
    except (struct.error, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is not a valid safetensors file ({e})") from e
    return out, meta


# ---------------------------------------------------------------------------------- save/load
def save_weights(path: Path, model: DrSAE) -> None:
    meta = {"format": "pt", "drsae_config": json.dumps(model.config.to_dict())}
    atomic_write_bytes(path, safetensors_bytes(dict(model.state_dict()), meta))


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
