"""server/lifecycle.py: the job states, the moves between them, and a trainer summary's job outcome."""

from __future__ import annotations

import pytest

from server.lifecycle import (
    ACTIVE,
    FINAL,
    MOVES,
    JobStateError,
    Status,
    can_move,
    check_cancel,
    check_resume,
    outcome,
    resumable,
)


def test_every_status_is_active_or_final_and_every_final_one_comes_only_from_running() -> None:
    assert set(ACTIVE) | set(FINAL) == set(Status) and not set(ACTIVE) & set(FINAL)
    assert set(MOVES) == set(Status)
    for target in (Status.FINISHED, Status.FAILED, Status.INTERRUPTED):
        assert MOVES[target] == (Status.RUNNING,)


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("queued", Status.RUNNING, True),
        ("finished", Status.RUNNING, False),
        ("queued", Status.FINISHED, False),  # a job that never ran cannot have finished
        ("finished", Status.QUEUED, False),  # a finished job is never requeued
        ("interrupted", Status.QUEUED, True),
        ("interrupted", Status.CANCELLED, True),
        ("failed", Status.CANCELLED, False),
        ("cancelled", Status.INTERRUPTED, False),
    ],
)
def test_moves(current: str, target: Status, allowed: bool) -> None:
    assert can_move(current, target) is allowed


def test_resume_and_cancel_rules_refuse_what_they_must() -> None:
    assert resumable("interrupted", False) and resumable("cancelled", False)
    assert resumable("failed", True) and not resumable("failed", False)
    assert not resumable("finished", True) and not resumable("running", True) and not resumable("queued", True)
    with pytest.raises(JobStateError, match="job 3 is finished"):
        check_resume(3, "finished", True)
    check_resume(3, "failed", True)
    with pytest.raises(JobStateError, match="Job 4 is already failed"):
        check_cancel(4, "failed")
    check_cancel(4, "running")


@pytest.mark.parametrize(
    ("summary", "cancelled", "expected"),
    [
        ({"status": "finished"}, True, (Status.FINISHED, None)),  # finished before the cancel was seen
        ({"status": "diverged", "stop_reason": "diverged: all silent"}, False, (Status.FAILED, "diverged: all silent")),
        ({"status": "cancelled"}, True, (Status.CANCELLED, None)),
        ({"status": "cancelled"}, False, (Status.INTERRUPTED, "stopped by a signal")),
        ({"status": "interrupted"}, False, (Status.INTERRUPTED, "stopped by a signal")),
    ],
)
def test_a_trainer_summary_becomes_a_job_outcome(summary: dict, cancelled: bool, expected: tuple) -> None:
    assert outcome(summary, cancelled) == expected
