"""Bounded resources: the job queue (429), the job list (pages), a job's training time, the models kept in
memory (least recently used dropped) and what start-up loads (only the dashboard's first model)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.helpers import tiny_run
from tests.server.conftest import JSON, create_app, make_settings, needs_mnist, wait_for

SMOKE = {"preset": "smoke", "dataset": "mnist"}


def test_the_queue_is_capped_with_a_429(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0, max_queued=3))) as c:
        ids = [c.post("/api/jobs", json=SMOKE).json()["id"] for _ in range(3)]
        r = c.post("/api/jobs", json=SMOKE)
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        assert "3 jobs are already waiting" in r.json()["detail"]
        assert c.get("/api/jobs").json()["count"] == 3
        assert c.post(f"/api/jobs/{ids[0]}/cancel", headers=JSON).status_code == 200  # a place frees up
        assert c.post("/api/jobs", json=SMOKE).status_code == 202
        r = c.post(f"/api/jobs/{ids[0]}/resume", headers=JSON)  # resuming queues too
        assert r.status_code == 429 and "limit is 3" in r.json()["detail"]


def test_the_job_list_is_paginated(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0))) as c:
        ids = [c.post("/api/jobs", json={**SMOKE, "name": f"j{i}"}).json()["id"] for i in range(5)]
        body = c.get("/api/jobs").json()
        assert body["count"] == 5 and [j["id"] for j in body["data"]] == ids[::-1]
        assert (body["offset"], body["limit"]) == (0, 50)
        page = c.get("/api/jobs?limit=2").json()
        assert page["count"] == 5 and [j["id"] for j in page["data"]] == ids[:2:-1]  # newest two
        page = c.get("/api/jobs?offset=2&limit=2").json()
        assert [j["id"] for j in page["data"]] == [ids[2], ids[1]]
        assert c.get("/api/jobs?offset=5").json() == {"data": [], "count": 5, "offset": 5, "limit": 50}
        for bad in ("limit=0", "limit=201", "offset=-1", "limit=abc"):
            assert c.get(f"/api/jobs?{bad}").status_code == 422, bad


def test_time_limit_defaults_to_and_is_capped_by_the_servers(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0, max_job_seconds=3600.0))) as c:
        assert c.post("/api/jobs", json=SMOKE).json()["config"]["time_limit"] == 3600.0
        assert c.post("/api/jobs", json={**SMOKE, "time_limit": 90}).json()["config"]["time_limit"] == 90.0
        r = c.post("/api/jobs", json={**SMOKE, "time_limit": 7200})
        assert r.status_code == 422 and "over this server's limit of 3600 s" in r.json()["detail"]
        assert c.post("/api/jobs", json={**SMOKE, "time_limit": 0}).status_code == 422
    with TestClient(create_app(make_settings(tmp_path / "open", max_jobs=0, max_job_seconds=None))) as c:
        assert c.post("/api/jobs", json=SMOKE).json()["config"]["time_limit"] is None
        assert c.post("/api/jobs", json={**SMOKE, "time_limit": 1e6}).status_code == 202


@needs_mnist
def test_a_job_stops_at_its_time_limit_and_keeps_its_model(client: TestClient) -> None:
    jid = client.post("/api/jobs", json={**SMOKE, "epochs": 400, "time_limit": 0.01}).json()["id"]
    wait_for(lambda: client.get(f"/api/jobs/{jid}").json()["status"] == "finished", 60, "the job to stop")
    j = client.get(f"/api/jobs/{jid}").json()
    assert j["epoch"] == 1 and j["total_epochs"] == 401 and j["model_id"] == f"job-{jid}"


def test_cached_models_are_evicted_least_recently_used(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        tiny_run(tmp_path / "models", hidden=8, T=2, name=name)
    with TestClient(create_app(make_settings(tmp_path, cached_models=2))) as c:
        registry = c.app.state.drsae.registry
        img = [[0.0] * 28 for _ in range(28)]
        img[10][10] = 1.0
        for name in ("a", "b", "c"):
            assert c.post(f"/api/models/{name}/encode", json={"image": img}).status_code == 200
        assert registry.loaded_ids() == ["b", "c"]
        assert c.get("/api/models/b").status_code == 200  # b is now the most recently used
        assert c.get("/api/models/a").status_code == 200  # loaded again: c goes
        assert registry.loaded_ids() == ["b", "a"]
        assert c.get("/api/health").json()["models"] == 3  # listed, whether loaded or not


def test_startup_loads_only_the_first_model(tmp_path: Path) -> None:
    """Other models (shipped or made by jobs) load when first asked for, not at start."""
    for name in ("a", "b", "c"):
        tiny_run(tmp_path / "models", hidden=8, T=2, name=name)
    with TestClient(create_app(make_settings(tmp_path))) as c:
        registry = c.app.state.drsae.registry
        assert set(registry.loaded_ids()) <= {"a"}
        assert c.get("/api/models").json()["count"] == 3
        assert set(registry.loaded_ids()) <= {"a"}  # listing reads config files only
        assert c.get("/api/models/c").status_code == 200
        assert "c" in registry.loaded_ids()
