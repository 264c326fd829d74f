"""Kill the real server (uvicorn, SIGKILL) in the middle of a training job, then the worker too: the database
and the checkpoints stay intact, the job ends up 'interrupted' with its metrics, and resume works."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from model import checkpoint
from server.store import Store
from tests.server.conftest import JSON, REPO, create_app, make_settings, needs_mnist, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@needs_mnist
@pytest.mark.slow
def test_sigkill_server_mid_job_then_worker_crash(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    port = free_port()
    env = os.environ | {
        "DRSAE_MODELS_DIR": str(settings.models_dir),
        "DRSAE_VAR_DIR": str(settings.var_dir),
        "DRSAE_NO_DASHBOARD": "1",
        "DRSAE_DEVICE": "cpu",
        "PYTHONPATH": str(REPO),
    }
    cmd = [sys.executable, "-m", "uvicorn", "server.main:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    store = Store(settings.db_path)
    worker_pid = None
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "uvicorn to start", every=0.2)
        r = httpx.post(f"{base}/api/jobs", json={"preset": "smoke", "dataset": "mnist", "epochs": 400})
        assert r.status_code == 202
        jid = r.json()["id"]
        wait_for(lambda: httpx.get(f"{base}/api/jobs/{jid}").json()["epoch"] >= 2, 60, "two epochs")

        server.send_signal(signal.SIGKILL)  # no shutdown hook runs
        server.wait(10)
        job = store.get_job(job_id=jid)
        worker_pid = job.pid
        assert job.status == "running" and worker_pid and alive(worker_pid)  # its own session: survives

        with TestClient(create_app(settings)) as c:
            # a new server adopts the live worker instead of declaring it dead
            assert c.get(f"/api/jobs/{jid}").json()["status"] == "running"
            epoch = c.get(f"/api/jobs/{jid}").json()["epoch"]
            wait_for(lambda: c.get(f"/api/jobs/{jid}").json()["epoch"] > epoch, 30, "the adopted worker to go on")

            os.killpg(worker_pid, signal.SIGKILL)  # now the training process crashes too
            wait_for(lambda: not alive(worker_pid) or _zombie(worker_pid), 10, "the worker to die")
            wait_for(lambda: c.get(f"/api/jobs/{jid}").json()["status"] == "interrupted", 10, "interrupted")
            j = c.get(f"/api/jobs/{jid}").json()
            rows = c.get(f"/api/jobs/{jid}/metrics").json()["data"]
            assert len(rows) == j["epoch"] >= 3 and [r_["epoch"] for r_ in rows] == list(range(1, len(rows) + 1))

            with sqlite3.connect(settings.db_path) as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            run = settings.runs_dir / str(jid)
            assert checkpoint.load(run).config.n_hidden == 32
            assert checkpoint.load_state(run)["train_state"]["epoch"] >= 1

            assert c.post(f"/api/jobs/{jid}/resume", headers=JSON).status_code == 202
            before = j["epoch"]
            wait_for(lambda: c.get(f"/api/jobs/{jid}").json()["epoch"] > before, 60, "an epoch after resuming")
            assert c.get(f"/api/jobs/{jid}").json()["status"] == "running"
    finally:
        if server.poll() is None:
            server.kill()
        for j in store.list_jobs(statuses=("running",)):
            if j.pid and alive(j.pid):
                os.killpg(j.pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    """The killed worker's parent (the dead uvicorn) cannot reap it; until init does, /proc shows it as Z."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
