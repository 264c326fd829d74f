"""Checks that run before a training run's first step, so it never fails late for an early reason.

The configuration's own bounds live in TrainConfig; here are the facts that need the machine: the device
exists, the data is present and intact, the training split holds a batch, the output folder can be
written and does not hold another run (unless resuming it). Every problem found is reported at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from model import checkpoint, data, device
from model.presets import TrainConfig

RUN_FILES = (checkpoint.WEIGHTS, checkpoint.STATE, checkpoint.METRICS, checkpoint.CONFIG)


class PreflightError(ValueError):
    """Everything wrong with a run, found before it started; str() lists each problem on its own line."""


def check_device(name: str) -> str | None:
    try:
        device.resolve(name)
    except ValueError as e:
        return str(e)
    return None


def train_images(cfg: TrainConfig, world_size: int = 1) -> int:
    """The training images each process steps through: the split, or its first train_limit images."""
    full = data.SPLIT_SIZES["train"]
    return min(cfg.train_limit or full, full) // world_size


def batch_problem(cfg: TrainConfig, world_size: int = 1) -> str | None:
    """The one rule on the minibatch: no larger than the training images (of each process)."""
    images = train_images(cfg, world_size)
    if cfg.batch_size <= images:
        return None
    per = " per process" if world_size > 1 else ""
    return f"batch_size {cfg.batch_size} is larger than the {images} training images{per} of preset {cfg.preset}"


def check_output(out_dir: Path, resume: bool) -> str | None:
    """The run folder: a folder (or creatable), writable, empty of runs unless resuming one."""
    if out_dir.exists() and not out_dir.is_dir():
        return f"output folder {out_dir} is a file"
    if resume:
        if not (out_dir / checkpoint.STATE).is_file():
            return f"nothing to resume in {out_dir}: no {checkpoint.STATE}"
    else:
        held = [f for f in RUN_FILES if (out_dir / f).exists()]
        if held:
            listed = ", ".join(held)
            return f"{out_dir} already holds a run ({listed}): continue it with --resume or choose another --out"
    missing = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # created for the test, then removed
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as e:
        return f"cannot write to output folder {out_dir}: {e.strerror or e}"
    finally:
        for p in missing:
            if p.is_dir():
                p.rmdir()
    return None


def check_run(cfg: TrainConfig, out_dir: Path | str | None, *, resume: bool = False, world_size: int = 1) -> None:
    """Raise PreflightError listing every problem; `out_dir` None skips the folder (a caller that owns it)."""
    problems = []
    if (problem := check_device(cfg.device)) is not None:
        problems.append(problem)
    try:
        data.load_arrays(cfg.dataset)  # present, readable, right shapes, checksum
    except data.DataError as e:
        problems.append(str(e))
    if (problem := batch_problem(cfg, world_size)) is not None:
        problems.append(problem)
    if out_dir is not None and (problem := check_output(Path(out_dir), resume)) is not None:
        problems.append(problem)
    if problems:
        raise PreflightError("\n".join(problems))
