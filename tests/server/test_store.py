"""The SQLite job store (server/store.py): WAL mode, rows round-trip, final statuses are not overwritten."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

from server.store import Store


def test_jobs_round_trip_and_newest_first(tmp_path: Path) -> None:
    s = Store(tmp_path / "jobs.sqlite")
    a = s.create_job(name="a", config={"hidden": 8}, total_epochs=3)
    b = s.create_job(name="b", config={"hidden": 9}, total_epochs=4)
    assert [j.id for j in s.list_jobs()] == [b, a]
    job = s.get_job(job_id=a)
    assert job and job.status == "queued" and job.config == {"hidden": 8} and job.total_epochs == 3
    assert s.get_job(job_id=999) is None
    assert s._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_metrics_replace_and_non_finite_become_null(tmp_path: Path) -> None:
    s = Store(tmp_path / "jobs.sqlite")
    j = s.create_job(name="a", config={}, total_epochs=2)
    s.add_metrics(job_id=j, row={"epoch": 1, "val_error": math.nan, "best_val_error": math.inf})
    s.add_metrics(job_id=j, row={"epoch": 2, "val_error": 5.0})
    s.add_metrics(job_id=j, row={"epoch": 2, "val_error": 4.0})  # a resumed run repeats an epoch
    rows = s.metrics(job_id=j)
    assert rows == [{"epoch": 1, "val_error": None, "best_val_error": None}, {"epoch": 2, "val_error": 4.0}]
    assert s.metrics(job_id=j, after_epoch=1) == [{"epoch": 2, "val_error": 4.0}]
    assert s.latest_metrics(job_id=j) == {"epoch": 2, "val_error": 4.0}
    assert s.get_job(job_id=j).epoch == 2


def test_finish_only_from_running_keeps_a_workers_final_status(tmp_path: Path) -> None:
    s = Store(tmp_path / "jobs.sqlite")
    j = s.create_job(name="a", config={}, total_epochs=1)
    s.mark_started(job_id=j, pid=12345)
    assert s.get_job(job_id=j).status == "running"
    assert s.finish(job_id=j, status="finished")
    assert not s.finish(job_id=j, status="failed", error="reaped")
    job = s.get_job(job_id=j)
    assert job.status == "finished" and job.error is None and job.finished is not None
    s.request_cancel(job_id=j)
    assert s.cancel_requested(job_id=j)
    assert not s.requeue(job_id=j, resume=True)  # a finished job does not come back
    s._conn().execute("UPDATE jobs SET status = 'interrupted' WHERE id = ?", (j,))
    assert s.requeue(job_id=j, resume=True)
    job = s.get_job(job_id=j)
    assert job.status == "queued" and job.resume and not job.cancel and job.pid is None
    assert job.started is None  # waiting again: `started` is when its current run began (running: active + started)


def test_a_queued_job_cannot_be_finished_and_moves_follow_the_lifecycle(tmp_path: Path) -> None:
    """Every write of a status goes through server/lifecycle.py's moves: none from a state it does not list."""
    s = Store(tmp_path / "jobs.sqlite")
    j = s.create_job(name="a", config={}, total_epochs=1)
    assert not s.finish(job_id=j, status="finished")  # never ran
    assert not s.requeue(job_id=j, resume=False)  # already waiting
    assert s.claim(job_id=j) and not s.claim(job_id=j)
    assert s.finish(job_id=j, status="interrupted", error="gone")
    assert not s.finish(job_id=j, status="cancelled")  # an ended job keeps its ending
    assert s.cancel_queued(job_id=j)  # an interrupted job may be cancelled while it waits for a resume
    assert s.get_job(job_id=j).status == "cancelled"


def test_cancel_and_claim_of_a_queued_job_cannot_both_win(tmp_path: Path) -> None:
    """The scheduler claims queued jobs while a request may cancel them: exactly one of the two succeeds."""
    s = Store(tmp_path / "jobs.sqlite")
    a = s.create_job(name="a", config={}, total_epochs=1)
    assert s.cancel_queued(job_id=a)
    assert not s.claim(job_id=a)  # cancelled first: never starts
    assert s.get_job(job_id=a).status == "cancelled"
    b = s.create_job(name="b", config={}, total_epochs=1)
    assert s.claim(job_id=b)
    assert not s.cancel_queued(job_id=b)  # claimed first: the cancel must go through the running path
    assert s.get_job(job_id=b).status == "running"


def test_two_connections_in_two_threads_see_each_others_writes(tmp_path: Path) -> None:
    s = Store(tmp_path / "jobs.sqlite")
    other = Store(tmp_path / "jobs.sqlite")  # as a worker process would open it
    j = s.create_job(name="a", config={}, total_epochs=5)
    t = threading.Thread(target=lambda: [other.add_metrics(job_id=j, row={"epoch": e}) for e in range(1, 6)])
    t.start()
    t.join()
    assert [r["epoch"] for r in s.metrics(job_id=j)] == [1, 2, 3, 4, 5]


def _open_files(path: Path) -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            if os.readlink(fd).startswith(str(path)):
                count += 1
        except OSError:
            continue
    return count


def test_connections_are_bounded_whatever_the_threads(tmp_path: Path) -> None:
    """40 threads reading at once (a burst of GET /api/jobs/1) share at most POOL_SIZE connections."""
    s = Store(tmp_path / "jobs.sqlite")
    jid = s.create_job(name="a", config={}, total_epochs=1)
    ready, done = threading.Barrier(41), threading.Event()

    def reader() -> None:
        assert s.get_job(job_id=jid) is not None
        ready.wait(10)
        done.wait(10)  # alive, as a pool thread is, while the files are counted

    threads = [threading.Thread(target=reader) for _ in range(40)]
    for t in threads:
        t.start()
    ready.wait(10)
    try:
        assert _open_files(s.path) <= 2 * 8  # POOL_SIZE connections, each with the database and its WAL
    finally:
        done.set()
        for t in threads:
            t.join(10)
