"""Training jobs through the API: validation, tokens, a real smoke run end to end (with its event stream),
cancel and resume, and a restart on the same var folder."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model import checkpoint
from server.config import Settings
from server.store import Store
from tests.helpers import tiny_run
from tests.server.conftest import JSON, create_app, make_settings, needs_mnist, wait_for

SMOKE = {"preset": "smoke", "dataset": "mnist"}


def job(client: TestClient, job_id: int) -> dict:
    return client.get(f"/api/jobs/{job_id}").json()


def read_events(client: TestClient, job_id: int, timeout: float = 60.0) -> list[tuple[str, dict]]:
    """Follow GET /api/jobs/{id}/events until the stream ends (after a final status)."""
    events, name = [], None
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line.split(":", 1)[1])))
            assert time.monotonic() < deadline, "event stream did not end"
    return events


@pytest.mark.parametrize(
    "body",
    [
        {"preset": "smoke"},
        {"preset": "huge", "dataset": "mnist"},
        {**SMOKE, "dataset": "cifar"},
        {**SMOKE, "hidden_units": 0},
        {**SMOKE, "hidden_units": 1025},
        {**SMOKE, "iterations": 21},
        {**SMOKE, "epochs": 2001},
        {**SMOKE, "epochs": -1},
        {**SMOKE, "learning_rate": 0},
        {**SMOKE, "learning_rate": 1.5},
        {**SMOKE, "batch_size": 0},
        {**SMOKE, "batch_size": 5001},
        {**SMOKE, "batch_size": 2500},  # smoke trains on 2,000 images
        {**SMOKE, "epochs": 0, "unsupervised_epochs": 0},
        {**SMOKE, "seed": -1},
        {**SMOKE, "name": ""},
        {**SMOKE, "threads": 8},
    ],
)
def test_create_job_rejects_bad_hyperparameters(client: TestClient, body: dict) -> None:
    r = client.post("/api/jobs", json=body)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str)
    assert client.get("/api/jobs").json()["count"] == 0


def test_token_guards_job_actions_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, token="s3cret", max_jobs=0)  # max_jobs=0: queue, never start
    with TestClient(create_app(settings)) as c:
        assert c.post("/api/jobs", json=SMOKE).status_code == 401
        r = c.post("/api/jobs", json=SMOKE, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = c.post("/api/jobs", json=SMOKE, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 202
        jid = r.json()["id"]
        assert c.get("/api/jobs").status_code == 200 and c.get(f"/api/jobs/{jid}").status_code == 200
        assert c.post(f"/api/jobs/{jid}/cancel", headers=JSON).status_code == 401
        assert c.post(f"/api/jobs/{jid}/resume", headers=JSON).status_code == 401
        r = c.post(f"/api/jobs/{jid}/cancel", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_queue_order_overrides_and_state_conflicts(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0))) as c:
        overrides = {"hidden_units": 8, "iterations": 2, "epochs": 1, "learning_rate": 0.5, "batch_size": 20}
        r = c.post("/api/jobs", json={**SMOKE, **overrides, "seed": 3, "unsupervised_epochs": 0, "name": "mine"})
        assert r.status_code == 202
        j = r.json()
        assert j["status"] == "queued" and j["name"] == "mine" and j["total_epochs"] == 1 and j["progress"] == 0
        cfg = j["config"]
        assert (cfg["hidden"], cfg["T"], cfg["epochs"], cfg["lr"], cfg["batch_size"], cfg["seed"]) == (
            8,
            2,
            1,
            0.5,
            20,
            3,
        )
        assert cfg["train_limit"] == 2000 and cfg["threads"] == 1  # the rest from the smoke preset
        second = c.post("/api/jobs", json=SMOKE).json()
        assert [x["id"] for x in c.get("/api/jobs").json()["data"]] == [second["id"], j["id"]]  # newest first
        assert c.post(f"/api/jobs/{j['id']}/resume", headers=JSON).status_code == 409  # queued: nothing to resume
        assert c.post(f"/api/jobs/{j['id']}/cancel", headers=JSON).json()["status"] == "cancelled"
        assert c.post(f"/api/jobs/{j['id']}/cancel", headers=JSON).status_code == 409
        assert c.get("/api/jobs/999").status_code == 404 and c.get("/api/jobs/0").status_code == 422
        assert c.get("/api/jobs/999/events").status_code == 404


@needs_mnist
def test_smoke_job_end_to_end(client: TestClient, settings: Settings) -> None:
    r = client.post("/api/jobs", json={**SMOKE, "name": "e2e"})
    assert r.status_code == 202
    jid = r.json()["id"]
    second = client.post("/api/jobs", json={**SMOKE, "epochs": 400}).json()["id"]
    wait_for(lambda: job(client, jid)["status"] != "queued", 10, "the first job to start")
    assert job(client, second)["status"] == "queued"  # DRSAE_MAX_JOBS=1: one at a time
    events = read_events(client, jid)
    statuses = [e["status"] for name, e in events if name == "status"]
    assert statuses[-1] == "finished", job(client, jid)
    rows = [e for name, e in events if name == "metrics"]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    assert rows[0]["phase"] == "unsupervised" and rows[-1]["phase"] == "supervised"
    j = job(client, jid)
    assert j["progress"] == 1.0 and j["epoch"] == 4 and j["latest"] == rows[-1] and j["model_id"] == f"job-{jid}"
    assert j["started"] and j["finished"] and j["error"] is None
    assert client.get(f"/api/jobs/{jid}/metrics").json()["count"] == 4
    models = {m["id"]: m for m in client.get("/api/models").json()["data"]}
    m = models[f"job-{jid}"]
    assert m["source"] == "job" and m["job_id"] == jid and m["name"] == "e2e" and m["hidden_units"] == 32
    assert m["test_error"] is not None and m["test_error"] < 90
    assert m["shows_paper_structure"] is not None  # the worker wrote the model's card
    assert rows[-1]["units_part"] + rows[-1]["units_categorical"] <= 32  # role metrics in the job's rows
    detail = client.get(f"/api/models/job-{jid}").json()
    assert detail["metrics"] == client.get(f"/api/jobs/{jid}/metrics").json()["data"]  # one record of the rows
    card = detail["card"]
    assert card["test_error"] == m["test_error"] and card["command"].startswith("python -m model.train --preset smoke")
    img = [[0.0] * 28 for _ in range(28)]
    for r_ in range(5, 22):
        img[r_][13] = img[r_][14] = 1.0
    out = client.post(f"/api/models/job-{jid}/encode", json={"image": img}).json()
    assert len(out["z"]) == 5 and len(out["z"][0]) == 32
    assert client.get("/api/health").json()["models"] == 2
    wait_for(lambda: job(client, second)["status"] == "running", 10, "the queued job to start after the first")
    assert client.post(f"/api/jobs/{second}/cancel", headers=JSON).status_code == 200


@needs_mnist
def test_cancel_keeps_checkpoint_and_resume_continues(client: TestClient, settings: Settings) -> None:
    jid = client.post("/api/jobs", json={**SMOKE, "epochs": 400}).json()["id"]
    wait_for(lambda: job(client, jid)["epoch"] >= 2, 60, "two epochs")
    t0 = time.monotonic()
    r = client.post(f"/api/jobs/{jid}/cancel", headers=JSON)
    assert r.status_code == 200
    wait_for(lambda: job(client, jid)["status"] == "cancelled", 10, "the cancel")
    assert time.monotonic() - t0 < 5
    run = settings.runs_dir / str(jid)
    assert (run / checkpoint.STATE).exists() and checkpoint.load(run).config.n_hidden == 32
    cancelled_at = job(client, jid)["epoch"]
    assert f"job-{jid}" not in {m["id"] for m in client.get("/api/models").json()["data"]}  # not finished

    r = client.post(f"/api/jobs/{jid}/resume", headers=JSON)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    wait_for(lambda: job(client, jid)["epoch"] > cancelled_at, 60, "an epoch after resuming")
    epochs = [row["epoch"] for row in client.get(f"/api/jobs/{jid}/metrics").json()["data"]]
    assert epochs == list(range(1, len(epochs) + 1))  # continued, not restarted from epoch 1
    assert "resuming" in (run / "worker.log").read_text()
    client.post(f"/api/jobs/{jid}/cancel", headers=JSON)
    wait_for(lambda: job(client, jid)["status"] == "cancelled", 10, "the second cancel")


def test_restart_marks_dead_running_jobs_interrupted(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_jobs=0)
    with TestClient(create_app(settings)) as c:
        jid = c.post("/api/jobs", json=SMOKE).json()["id"]
    store = Store(settings.db_path)  # as a worker that died mid-run would have left it
    store.mark_started(job_id=jid, pid=2**22 + 12345)  # no such process
    store.add_metrics(job_id=jid, row={"epoch": 1, "val_error": 50.0})
    with TestClient(create_app(settings)) as c:
        j = job(c, jid)
        assert j["status"] == "interrupted" and j["epoch"] == 1 and "server stopped" in j["error"]
        assert c.get(f"/api/jobs/{jid}/metrics").json()["data"] == [{"epoch": 1, "val_error": 50.0}]
        assert c.post(f"/api/jobs/{jid}/resume", headers=JSON).json()["status"] == "queued"


def test_a_job_models_epoch_rows_come_from_the_job_store(tmp_path: Path) -> None:
    """The model endpoint of a job's model reads the rows the job endpoints and the event stream read (the job
    store), not a second copy in the run folder."""
    settings = make_settings(tmp_path, max_jobs=0)
    store = Store(settings.db_path)
    jid = store.create_job(name="rows", config={}, total_epochs=2)
    tiny_run(settings.runs_dir, hidden=8, T=2, name=str(jid))
    (settings.runs_dir / str(jid) / checkpoint.METRICS).write_text('{"epoch": 1, "val_error": 99.0}\n')
    store.mark_started(job_id=jid, pid=os.getpid())
    for e, err in ((1, 40.0), (2, 30.0)):
        store.add_metrics(job_id=jid, row={"epoch": e, "val_error": err})
    store.finish(job_id=jid, status="finished")
    with TestClient(create_app(settings)) as c:
        rows = c.get(f"/api/jobs/{jid}/metrics").json()["data"]
        assert rows == [{"epoch": 1, "val_error": 40.0}, {"epoch": 2, "val_error": 30.0}]
        assert c.get(f"/api/models/job-{jid}").json()["metrics"] == rows


def test_reused_pid_is_not_mistaken_for_the_worker(tmp_path: Path) -> None:
    """A running row whose pid now belongs to another program (here: this test process) is interrupted."""
    settings = make_settings(tmp_path, max_jobs=0)
    store = Store(settings.db_path)
    jid = store.create_job(name="x", config={}, total_epochs=1)
    store.mark_started(job_id=jid, pid=os.getpid())
    with TestClient(create_app(settings)) as c:
        assert job(c, jid)["status"] == "interrupted"
    assert os.getpid() and signal.SIGTERM  # this process was not signalled
