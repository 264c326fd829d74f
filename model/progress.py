"""Progress of a training run: speed and ETA for the metrics rows, and the terminal bar that shows them.

The trainer calls `speed_fields` once per epoch (the row's `images_per_second` and `eta_seconds`, which
the dashboard's job table shows) and, on a terminal, feeds `ConsoleProgress` every few steps: one line,
redrawn in place, that shows the whole population (runs alive, best validation error, speed, ETA).
"""

from __future__ import annotations

import math
import shutil
import sys
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
    """One line on stderr for a population's run, readable at 80 columns:

        ep 3/105 sup [#####-------] 1200/5000 8/8 runs best val 1.62% 4,210 img/s ETA 1:02:11

    The most useful fields come first and the line is cut to the terminal's width, so a narrow terminal
    loses the running losses, not the ETA. `update` is cheap to call every few steps; `epoch_done` marks a
    member's epoch as finished, evaluation included (its wall time feeds the ETA of later epochs).
    """

    BAR = 12

    def __init__(self, steps_per_epoch: int, images_per_step: int, members: int, stream: Any = None) -> None:
        self.steps, self.images_per_step, self.members = steps_per_epoch, images_per_step, members
        self.stream = stream if stream is not None else sys.stderr
        self.epoch_walls: list[float] = []
        self.epoch_started = time.perf_counter()
        self.alive: list[Any] = []
        self.best_val: float | None = None
        self.last_line = ""
        self._done_this_epoch = False

    def start(self) -> None:
        self.epoch_started = time.perf_counter()

    def stop(self) -> None:
        self.clear()

    def __enter__(self) -> ConsoleProgress:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_epoch(self, alive: list[Any]) -> None:
        """`alive`: the members still training (each with .state.epoch, .total_epochs, .phase)."""
        self.alive = list(alive)
        self.epoch_started = time.perf_counter()
        self._done_this_epoch = False

    def eta_seconds(self, step: int) -> float | None:
        """Rest of this epoch at its current step rate, then the longest-running member's later epochs at
        the mean epoch time."""
        if step < 1 or not self.alive:
            return None
        per_step = (time.perf_counter() - self.epoch_started) / step
        later = max(m.total_epochs - m.state.epoch - 1 for m in self.alive)
        per_epoch = sum(self.epoch_walls) / len(self.epoch_walls) if self.epoch_walls else per_step * self.steps
        return per_step * (self.steps - step) + later * per_epoch

    def line(self, step: int, stats: Any = None, width: int = 79) -> str:
        """The bar's text after `step` steps of the current epoch; `stats` (P, 4) running sums (optional).
        Fields that do not fit in `width` are left out whole, the least useful first."""
        m0 = self.alive[0]
        total = max(m.total_epochs for m in self.alive)
        phases = {m.phase for m in self.alive}
        phase = "sup" if phases == {"supervised"} else "unsup" if phases == {"unsupervised"} else "mixed"
        filled = round(self.BAR * step / max(self.steps, 1))
        elapsed = max(time.perf_counter() - self.epoch_started, 1e-9)
        speed = step * self.images_per_step * len(self.alive) / elapsed
        eta = self.eta_seconds(step)
        # (display position, text), in the order they are kept when space runs out
        fields = [
            (0, f"ep {m0.state.epoch + 1}/{total} {phase}"),
            (2, f"{step}/{self.steps}"),
            (6, f"ETA {format_seconds(eta) if eta is not None else '--:--'}"),
        ]
        if self.members > 1:
            fields.append((3, f"{len(self.alive)}/{self.members} runs"))
        if self.best_val is not None:
            fields.append((4, f"best val {self.best_val:.2f}%"))
        fields.append((5, f"{speed:,.0f} img/s"))
        fields.append((1, f"[{'#' * filled}{'-' * (self.BAR - filled)}]"))
        if stats is not None and step:
            means = stats.sum(0).tolist()
            n = step * len(self.alive)
            fields.append((7, f"rec {means[0] / n:.4f} ce {means[2] / n:.3f}"))
        kept, used = [], -1
        for pos, text in fields:
            if used + 1 + len(text) <= width:
                kept.append((pos, text))
                used += 1 + len(text)
        return " ".join(text for _, text in sorted(kept))

    def update(self, step: int, stats: Any = None) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.last_line = self.line(step, stats, width)
        self.stream.write("\r" + self.last_line + "\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()

    def epoch_done(self, member: Any, row: dict[str, Any]) -> None:
        """Member `member` finished an epoch with metrics `row` (its best validation error counts)."""
        if not self._done_this_epoch:
            self.epoch_walls.append(time.perf_counter() - self.epoch_started)
            self._done_this_epoch = True
        val = row.get("best_val_error")
        if val is not None and math.isfinite(val):
            self.best_val = val if self.best_val is None else min(self.best_val, val)
