"""A training job's states and the moves between them: the one place that names them.

```
            claim                  worker's outcome, or the scheduler's verdict on a dead/hung worker
  queued ─────────► running ─────► finished | failed | cancelled | interrupted
    │  ▲                                       │         │            │
    │  └───────────── resume ──────────────────┴─────────┴────────────┘  (failed: only with a saved state)
    └──► cancelled  (cancel before the scheduler claims it; an interrupted job can be cancelled too)
```

The store (server/store.py) applies a move only from the states listed here, in the same SQL statement, so
two processes racing (a cancel against the scheduler's claim, a worker's last word against the scheduler's
verdict) cannot both win. The API serves the names (`GET /api/jobs/options`), so the browser holds none.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


ACTIVE = (Status.QUEUED, Status.RUNNING)  # the job still has a worker coming or working
FINAL = (Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED)  # nothing will change it by itself
RESUMABLE = (Status.INTERRUPTED, Status.CANCELLED)  # a failed job too, when it saved a state (resumable())

# target -> the states it may be reached from
MOVES: dict[Status, tuple[Status, ...]] = {
    Status.QUEUED: (Status.INTERRUPTED, Status.CANCELLED, Status.FAILED),  # resume
    Status.RUNNING: (Status.QUEUED, Status.RUNNING),  # claimed, then its worker's pid recorded
    Status.FINISHED: (Status.RUNNING,),
    Status.FAILED: (Status.RUNNING,),
    Status.CANCELLED: (Status.RUNNING, Status.QUEUED, Status.INTERRUPTED),
    Status.INTERRUPTED: (Status.RUNNING,),
}


class JobStateError(ValueError):
    """The job is not in a state that allows the action (a 409)."""


def sources(target: Status) -> tuple[Status, ...]:
    return MOVES[target]


def can_move(current: str, target: Status) -> bool:
    return current in MOVES[target]


def is_final(status: str) -> bool:
    return status in FINAL


def resumable(status: str, has_state: bool) -> bool:
    """Interrupted and cancelled jobs resume; a failed one too when it saved a state first (a full disk or a
    crash after an epoch: the state is whole, files are written by rename)."""
    return status in RESUMABLE or (status == Status.FAILED and has_state)


def check_cancel(job_id: int, status: str) -> None:
    if not can_move(status, Status.CANCELLED):
        raise JobStateError(f"Job {job_id} is already {status}")


def check_resume(job_id: int, status: str, has_state: bool) -> None:
    if not resumable(status, has_state):
        raise JobStateError(
            f"Only an interrupted or cancelled job, or a failed one that saved a state, can be resumed; "
            f"job {job_id} is {status}"
        )


def sweep_status(statuses: list[str]) -> Status:
    """A sweep's status from its members': active while one is (running before queued), else their common
    one, else finished if any member finished, then interrupted, then cancelled."""
    for s in (Status.RUNNING, Status.QUEUED):
        if s in statuses:
            return s
    if len(set(statuses)) == 1:
        return Status(statuses[0])
    for s in (Status.FINISHED, Status.INTERRUPTED):
        if s in statuses:
            return s
    return Status.CANCELLED


def outcome(summary: dict[str, Any], cancel_requested: bool) -> tuple[Status, str | None]:
    """The job's final state from the trainer's summary (model/train.py): finished, diverged, or stopped."""
    if summary["status"] == "finished":
        return Status.FINISHED, None
    if summary["status"] == "diverged":
        return Status.FAILED, summary.get("stop_reason", "diverged")
    if cancel_requested:
        return Status.CANCELLED, None
    return Status.INTERRUPTED, "stopped by a signal"  # SIGTERM or Ctrl-C without a cancel: the server is leaving
