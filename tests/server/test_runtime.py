"""Runtime behaviour: settings from the environment, slow computations off the event loop, the torch and
numpy encode paths agreeing, and workers stopped on shutdown when asked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from model import data
from server import registry as R
from server.config import Settings
from server.jobs import JobManager
from server.store import Store
from tests.server.conftest import (
    JSON,
    assert_health_answers_during,
    create_app,
    make_settings,
    needs_mnist,
    wait_for,
)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DRSAE_MODELS_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("DRSAE_VAR_DIR", str(tmp_path / "v"))
    monkeypatch.setenv("DRSAE_TOKEN", "t")
    monkeypatch.setenv("DRSAE_MAX_JOBS", "3")
    monkeypatch.setenv("DRSAE_KILL_JOBS_ON_EXIT", "1")
    monkeypatch.setenv("DRSAE_DEVICE", "CPU")
    s = Settings.from_env()
    assert (s.models_dir, s.var_dir, s.token, s.max_jobs, s.kill_jobs_on_exit, s.device) == (
        tmp_path / "m", tmp_path / "v", "t", 3, True, "cpu"
    )
    assert s.db_path == tmp_path / "v" / "jobs.sqlite"
    monkeypatch.setenv("DRSAE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="DRSAE_DEVICE"):
        Settings.from_env()


def test_torch_and_numpy_encode_paths_agree(client: TestClient) -> None:
    lm = client.app.state.drsae.registry.get("tiny")
    x = np.random.default_rng(0).random(784).astype(np.float32)
    x /= np.linalg.norm(x)
    a = R.encode(lm, x, reconstructions=True)  # numpy (model/inference.py) on a CPU copy of the weights
    with torch.no_grad():  # the torch model itself
        traj = lm.model.trajectory(torch.from_numpy(x).unsqueeze(0).to(lm.model.E.device))[:, 0]
        b = {
            "z": traj.cpu().numpy(),
            "probabilities": torch.softmax(lm.model.classify(traj), -1).cpu().numpy(),
            "reconstructions": lm.model.decode(traj).cpu().numpy(),
        }
    for key in ("z", "probabilities", "reconstructions"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6)


@needs_mnist
def test_test_set_pass_is_the_models_own_forward(client: TestClient) -> None:
    """The codes and predictions behind the test-set endpoints are DrSAE.forward's, batch by batch or not."""
    registry = client.app.state.drsae.registry
    lm = registry.get("tiny")
    served = registry.test_pass(lm)
    arrays = data.load_arrays(lm.entry.dataset)
    x = data.normalize(torch.from_numpy(arrays["test_x"].astype(np.float32) / 255.0)).to(lm.model.E.device)
    with torch.no_grad():
        out = lm.model(x)
    np.testing.assert_allclose(served.codes, out.code.cpu().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(served.predictions, out.logits.argmax(1).cpu().numpy())
    np.testing.assert_array_equal(served.labels, arrays["test_y"])


@needs_mnist
def test_a_slow_test_set_pass_does_not_block_other_requests(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # start-up warms the first model in the background: wait for that, then forget it, so the request
    # below is the one that computes (slowly)
    lm = client.app.state.drsae.registry.get("tiny")
    wait_for(lambda: "test_pass" in lm.cache, 30, "the start-up warm-up")
    lm.cache.clear()
    real = R.Registry._test_pass

    def slow(self: R.Registry, lm: R.LoadedModel, batch: int = 1000) -> R.TestPass:
        time.sleep(1.5)
        return real(self, lm, batch)

    monkeypatch.setattr(R.Registry, "_test_pass", slow)
    r = assert_health_answers_during(client, lambda: client.get("/api/models/tiny/evaluation"), 0.2)
    assert r.status_code == 200


@needs_mnist
def test_kill_jobs_on_exit_stops_workers_and_marks_them_interrupted(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, kill_jobs_on_exit=True)
    with TestClient(create_app(settings)) as c:
        jid = c.post("/api/jobs", json={"preset": "smoke", "dataset": "mnist", "epochs": 400}).json()["id"]
        wait_for(lambda: c.get(f"/api/jobs/{jid}").json()["status"] == "running", 30, "the job to start")
        pid = c.app.state.drsae.store.get_job(job_id=jid).pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with TestClient(create_app(settings)) as c:
        j = c.get(f"/api/jobs/{jid}").json()
        assert j["status"] == "interrupted"
        assert c.post(f"/api/jobs/{jid}/resume", headers=JSON).status_code == 202


def test_cancel_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    """A worker that ignores SIGTERM (stuck in a long step) is killed after cancel_grace_s; the job ends cancelled."""
    settings = make_settings(tmp_path, cancel_grace_s=0.5)
    store = Store(settings.db_path)
    jobs = JobManager(settings, store)
    jid = store.create_job(name="stuck", config={}, total_epochs=1)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        jobs.procs[jid] = proc
        store.mark_started(job_id=jid, pid=proc.pid)
        assert jobs.cancel(store.get_job(job_id=jid)).status == "running"  # asked, not yet stopped
        time.sleep(0.3)
        jobs.tick()
        assert proc.poll() is None  # SIGTERM ignored, still within the grace period
        time.sleep(0.4)
        jobs.tick()  # past the grace period: SIGKILL
        wait_for(lambda: proc.poll() is not None, 5, "SIGKILL")
        jobs.tick()  # reaped
        assert store.get_job(job_id=jid).status == "cancelled" and jid not in jobs.procs
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_job_cancelled_while_the_scheduler_holds_it_never_starts(tmp_path: Path) -> None:
    """The scheduler lists a queued job, a request cancels it, then the scheduler starts what it listed:
    the stale row must not bring the job back to life."""
    settings = make_settings(tmp_path)
    store = Store(settings.db_path)
    jobs = JobManager(settings, store)
    jid = store.create_job(name="raced", config={}, total_epochs=1)
    listed = store.get_job(job_id=jid)  # what the scheduler read
    assert jobs.cancel(listed).status == "cancelled"
    jobs.start(listed)
    assert jid not in jobs.procs
    assert store.get_job(job_id=jid).status == "cancelled"
