"""Faults: a worker killed outright (kill -9, the OOM killer) and storage that cannot be written (disk full,
a var folder that cannot be created). Nothing is lost, and the API says what is wrong and where."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model import checkpoint
from server import store as store_module
from server.jobs import JobManager, run_dir
from server.store import StorageError, Store
from tests.helpers import tiny_run
from tests.server.conftest import JSON, create_app, make_settings, needs_mnist, wait_for

SMOKE = {"preset": "smoke", "dataset": "mnist"}


def job(c: TestClient, jid: int) -> dict:
    return c.get(f"/api/jobs/{jid}").json()


@needs_mnist
def test_a_worker_killed_outright_is_interrupted_and_resumable(client: TestClient) -> None:
    jid = client.post("/api/jobs", json={**SMOKE, "epochs": 400}).json()["id"]
    wait_for(lambda: job(client, jid)["epoch"] >= 1, 60, "an epoch (and its resume checkpoint)")
    pid = client.app.state.drsae.store.get_job(job_id=jid).pid
    os.killpg(pid, signal.SIGKILL)  # what the OOM killer does: no handler runs, no final status written
    wait_for(lambda: job(client, jid)["status"] != "running", 10, "the scheduler to notice")
    j = job(client, jid)
    assert j["status"] == "interrupted", j
    assert "SIGKILL" in j["error"] and "resume" in j["error"]
    killed_at = j["epoch"]
    r = client.post(f"/api/jobs/{jid}/resume", headers=JSON)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    wait_for(lambda: job(client, jid)["epoch"] > killed_at, 60, "an epoch after resuming")
    epochs = [row["epoch"] for row in client.get(f"/api/jobs/{jid}/metrics").json()["data"]]
    assert epochs == list(range(1, len(epochs) + 1))  # went on from the checkpoint, not from epoch 1
    assert client.post(f"/api/jobs/{jid}/cancel", headers=JSON).status_code == 200


def _sleeper() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


@pytest.mark.parametrize("checkpointed", [True, False])
def test_a_dead_worker_is_interrupted_only_with_a_checkpoint(tmp_path: Path, checkpointed: bool) -> None:
    settings = make_settings(tmp_path, max_jobs=0)
    store = Store(settings.db_path)
    jobs = JobManager(settings, store)
    jid = store.create_job(name="killed", config={}, total_epochs=3)
    if checkpointed:
        run_dir(settings, jid).mkdir(parents=True)
        (run_dir(settings, jid) / checkpoint.STATE).write_bytes(b"state")
    proc = _sleeper()
    jobs.procs[jid] = proc
    store.mark_started(job_id=jid, pid=proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    jobs.tick()
    j = store.get_job(job_id=jid)
    assert j.status == ("interrupted" if checkpointed else "failed") and "SIGKILL" in j.error
    if checkpointed:
        assert jobs.resume(j).status == "queued" and store.get_job(job_id=jid).resume


def test_an_unusable_var_folder_gives_503_naming_the_path(tmp_path: Path) -> None:
    tiny_run(tmp_path / "models", hidden=8, T=2, name="tiny")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the var folder should be")
    settings = make_settings(tmp_path, var_dir=blocker / "var")
    with TestClient(create_app(settings)) as c:  # starts anyway: shipped models stay browsable
        h = c.get("/api/health").json()
        assert h["status"] == "degraded" and str(blocker) in h["storage"] and h["jobs_queued"] is None
        assert c.get("/api/models").json()["count"] == 1
        for r in (c.post("/api/jobs", json=SMOKE), c.get("/api/jobs"), c.get("/api/jobs/1")):
            assert r.status_code == 503 and r.headers["content-type"] == "application/json"
            detail = r.json()["detail"]
            assert detail.startswith("Storage unavailable") and str(settings.db_path) in detail
            assert "Not a directory" in detail


def test_a_full_disk_gives_503_and_health_reports_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, max_jobs=0, max_queued=1000)
    real_open = Store._open

    def full_disk(self: Store) -> sqlite3.Connection:
        """SQLite's own disk-full error (SQLITE_FULL), from a page limit at the database's current size."""
        db = real_open(self)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return db

    with TestClient(create_app(settings)) as c:
        assert c.post("/api/jobs", json=SMOKE).status_code == 202
        Store(settings.db_path)  # schema in place; now every new connection sees a full disk
        monkeypatch.setattr(Store, "_open", full_disk)
        c.app.state.drsae.store.reset()  # drop the open connections
        codes = []
        for _ in range(50):
            r = c.post("/api/jobs", json={**SMOKE, "name": "x" * 64})  # the longest name allowed
            codes.append(r.status_code)
            if r.status_code != 202:
                break
        assert codes[-1] == 503, codes
        detail = r.json()["detail"]
        assert "database or disk is full" in detail and str(settings.db_path) in detail
        h = c.get("/api/health").json()
        assert h["status"] == "degraded" and "disk is full" in h["storage"]
        assert c.get("/api/models").status_code == 200  # reading goes on
        monkeypatch.setattr(Store, "_open", real_open)  # space again: the next write clears the report
        c.app.state.drsae.store.reset()
        assert c.post("/api/jobs", json=SMOKE).status_code == 202
        assert c.get("/api/health").json()["status"] == "ok"


def test_a_corrupt_job_database_does_not_stop_the_server(tmp_path: Path) -> None:
    """An intact header with garbage pages after it: the server starts, models stay browsable, the job
    endpoints answer 503 naming the file, health says degraded."""
    tiny_run(tmp_path / "models", hidden=8, T=2, name="tiny")
    settings = make_settings(tmp_path, max_jobs=0)
    store = Store(settings.db_path)
    for _ in range(20):
        store.create_job(name="j" * 60, config={"pad": "x" * 500}, total_epochs=3)
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store._conn().close()
    raw = bytearray(settings.db_path.read_bytes())
    page = 4096  # SQLite's default page size: the first page (the header and the schema) stays whole
    raw[page:] = bytes((i * 151 + 7) % 256 for i in range(len(raw) - page))
    settings.db_path.write_bytes(bytes(raw))
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/models").json()["count"] == 1
        for r in (c.get("/api/jobs"), c.get("/api/jobs/1"), c.post("/api/jobs", json=SMOKE)):
            assert r.status_code == 503, r.text
            assert "malformed" in r.json()["detail"] and str(settings.db_path) in r.json()["detail"]
        h = c.get("/api/health").json()
        assert h["status"] == "degraded" and str(settings.db_path) in h["storage"]


def test_a_hung_worker_is_killed_and_its_job_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -STOP: the process lives but its heartbeat goes stale. The stale-heartbeat rule applies to the
    workers this server started too: killed, the job interrupted and resumable, the next job starts."""
    settings = make_settings(tmp_path, max_jobs=1, stale_after_s=5.0)
    store = Store(settings.db_path)
    jobs = JobManager(settings, store)
    hung = store.create_job(name="hung", config={}, total_epochs=3)
    waiting = store.create_job(name="next", config={}, total_epochs=3)
    proc = _sleeper()
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        _tick_past_a_hung_worker(jobs, store, proc, hung, waiting, monkeypatch)
    finally:
        proc.kill()  # a stopped process would outlive the test
        proc.wait(5)


def _tick_past_a_hung_worker(
    jobs: JobManager,
    store: Store,
    proc: subprocess.Popen[bytes],
    hung: int,
    waiting: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.claim(job_id=hung)
    jobs.procs[hung] = proc
    store.mark_started(job_id=hung, pid=proc.pid)
    started: list[int] = []
    monkeypatch.setattr(jobs, "start_group", lambda group: started.extend(j.id for j in group))
    jobs.tick()  # a fresh heartbeat: left alone
    assert store.get_job(job_id=hung).status == "running" and started == []
    store._conn().execute("UPDATE jobs SET heartbeat = heartbeat - 60 WHERE id = ?", (hung,))
    jobs.tick()
    assert proc.wait(5) == -signal.SIGKILL
    j = store.get_job(job_id=hung)
    assert j.status == "interrupted" and "no heartbeat" in j.error
    assert started == [waiting]
    jobs.tick()  # reaped without touching the final status
    assert hung not in jobs.procs and store.get_job(job_id=hung).status == "interrupted"
    assert jobs.resume(j).status == "queued"


@pytest.mark.parametrize("saved", [True, False])
def test_a_failed_job_with_a_saved_state_is_resumable(tmp_path: Path, saved: bool) -> None:
    """A full disk after an epoch was saved: the job failed, but its state on disk is whole."""
    settings = make_settings(tmp_path, max_jobs=0)
    with TestClient(create_app(settings)) as c:
        store = c.app.state.drsae.store
        jid = store.create_job(name="enospc", config={}, total_epochs=3)
        store.finish(job_id=jid, status="failed", error="OSError: [Errno 28] No space left on device")
        if saved:
            run_dir(settings, jid).mkdir(parents=True)
            (run_dir(settings, jid) / checkpoint.STATE).write_bytes(b"state")
        assert c.get(f"/api/jobs/{jid}").json()["resumable"] is saved
        r = c.post(f"/api/jobs/{jid}/resume", headers=JSON)
        if saved:
            assert r.status_code == 202 and r.json()["status"] == "queued" and store.get_job(job_id=jid).resume
        else:
            assert r.status_code == 409 and "saved a state" in r.json()["detail"]


def test_health_rechecks_a_remembered_storage_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"database is locked" must clear once the lock is gone, not only at the next job write."""
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0))) as c:
        store = c.app.state.drsae.store
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        store.reset()
        monkeypatch.setattr(store_module, "BUSY_MS", 50)  # a write that times out on that lock
        with pytest.raises(StorageError, match="locked"):
            store.create_job(name="locked", config={}, total_epochs=1)
        h = c.get("/api/health").json()
        assert h["status"] == "degraded" and "locked" in h["storage"]
        other.execute("ROLLBACK")
        other.close()
        h = c.get("/api/health").json()
        assert h["status"] == "ok" and h["storage"] is None
