"""Progress of a training run: speed and ETA for the metrics rows, and the terminal bar that shows them.

The trainer calls `speed_fields` once per epoch (the row's `images_per_second` and `eta_seconds`, which
the dashboard's job table shows) and, on a terminal, feeds `ConsoleProgress` every few steps. The bar is
drawn with rich when it is installed; without it (model/ needs only torch, numpy and safetensors) the
per-epoch lines the trainer prints are all there is.
"""

from __future__ import annotations

import time
from typing import Any


def speed_fields(
    *,
    images: int,
    epoch_seconds: float,
    epochs_done: int,
    total_epochs: int,
    session_seconds: float,
    session_epochs: int,
    time_left: float | None = None,
) -> dict[str, float]:
    """`images_per_second` of the last epoch's steps and `eta_seconds` until the last epoch ends.

    The ETA uses the mean wall time of the epochs run in this process (evaluation and checkpoints
    included); a time limit caps it. Early stopping can only make the run shorter.
    """
    per_epoch = session_seconds / max(session_epochs, 1)
    eta = per_epoch * max(total_epochs - epochs_done, 0)
    if time_left is not None:
        eta = min(eta, max(time_left, 0.0))
    return {"images_per_second": images / max(epoch_seconds, 1e-9), "eta_seconds": eta}


def format_seconds(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60}:{rem % 60:02d}"


class ConsoleProgress:
    """A one-line bar on stderr: phase, epoch, step, running losses, images/s and the run's ETA.

    start/stop it (or use it as a context manager); `update` is cheap to call every few steps; `epoch_done` marks the
    end of an epoch, evaluation included (its wall time feeds the ETA of later epochs).
    """

    def __init__(self, total_epochs: int, steps_per_epoch: int, images_per_step: int) -> None:
        self.total_epochs, self.steps, self.images_per_step = total_epochs, steps_per_epoch, images_per_step
        self.epoch_walls: list[float] = []
        self.epoch_started = time.perf_counter()
        self.step_at_start = 0
        self._bar: Any = None
        self._task: Any = None
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        except ImportError:  # no bar; the trainer's per-epoch lines remain
            return
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("[cyan]{task.fields[speed]}"),
            TextColumn("ETA [bold]{task.fields[eta]}"),
            transient=True,
        )

    def start(self) -> None:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("", total=self.steps, stats="", speed="", eta="?")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __enter__(self) -> ConsoleProgress:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_epoch(self) -> None:
        self.epoch_started = time.perf_counter()

    def eta_seconds(self, epoch: int, step: int) -> float | None:
        """Rest of this epoch at its current step rate, then the later epochs at the mean epoch time."""
        elapsed = time.perf_counter() - self.epoch_started
        if step < 1:
            return None
        per_step = elapsed / step
        later = self.total_epochs - epoch - 1
        per_epoch = sum(self.epoch_walls) / len(self.epoch_walls) if self.epoch_walls else per_step * self.steps
        return per_step * (self.steps - step) + later * per_epoch

    def update(self, epoch: int, phase: str, step: int, means: dict[str, float], val_error: float | None) -> None:
        """`epoch` counts from 0, `step` is the number of steps done in it; `means` are running means."""
        if self._bar is None:
            return
        elapsed = max(time.perf_counter() - self.epoch_started, 1e-9)
        eta = self.eta_seconds(epoch, step)
        stats = " ".join(f"{k} {v:.3f}" for k, v in means.items())
        if val_error is not None:
            stats += f" | val err {val_error:.2f}%"
        self._bar.update(
            self._task,
            completed=step,
            description=f"epoch {epoch + 1}/{self.total_epochs} {phase}",
            stats=stats,
            speed=f"{step * self.images_per_step / elapsed:,.0f} img/s",
            eta=format_seconds(eta) if eta is not None else "?",
        )

    def epoch_done(self) -> None:
        self.epoch_walls.append(time.perf_counter() - self.epoch_started)
