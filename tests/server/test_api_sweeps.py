"""Sweeps through the API: validation of the grid, a sweep trained as one population end to end (its
members' rows, models and cards), and cancel and resume of one member and of the whole sweep."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.config import Settings
from server.schemas import MAX_SWEEP_MEMBERS
from tests.server.conftest import JSON, create_app, make_settings, needs_mnist, wait_for

BASE = {"preset": "smoke", "dataset": "mnist", "hidden_units": 8, "iterations": 3}


def sweep(client: TestClient, sweep_id: int) -> dict:
    return client.get(f"/api/sweeps/{sweep_id}").json()


def members(client: TestClient, sweep_id: int) -> list[dict]:
    return sweep(client, sweep_id)["members"]


@pytest.mark.parametrize(
    ("grid", "words"),
    [
        ({}, "grid is empty"),
        ({"seed": []}, "no values"),
        ({"momentum": [0.5, 0.9]}, "Unknown grid field 'momentum'"),
        ({"hidden_units": [8, 16]}, "hidden_units cannot be swept"),
        ({"batch_size": [10, 20]}, "batch_size cannot be swept"),
        ({"seed": list(range(MAX_SWEEP_MEMBERS + 1))}, f"at most {MAX_SWEEP_MEMBERS}"),
        ({"seed": [0, 0]}, "repeats"),
        ({"seed": [0.5]}, "whole numbers"),
        ({"learning_rate": [0.01, 2.0]}, '{"learning_rate": 2.0} is invalid'),
    ],
)
def test_a_bad_grid_is_a_422_that_says_why(client: TestClient, grid: dict, words: str) -> None:
    r = client.post("/api/sweeps", json={"base": BASE, "grid": grid})
    assert r.status_code == 422 and words in r.json()["detail"], r.json()
    assert client.get("/api/jobs").json()["count"] == 0  # nothing was queued


def test_unknown_fields_the_cap_and_the_queue(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_jobs=0, max_queued=5)
    with TestClient(create_app(settings)) as c:
        assert c.post("/api/sweeps", json={"base": BASE, "grid": {"seed": [0]}, "extra": 1}).status_code == 422
        bad_base = c.post("/api/sweeps", json={"base": {**BASE, "threads": 2}, "grid": {"seed": [0]}})
        assert bad_base.status_code == 422
        named = c.post("/api/sweeps", json={"base": {**BASE, "name": "x"}, "grid": {"seed": [0]}})
        assert named.status_code == 422 and "top level" in named.json()["detail"]
        options = c.get("/api/jobs/options").json()
        assert options["max_sweep_members"] == MAX_SWEEP_MEMBERS and "seed" in options["sweep_fields"]
        r = c.post("/api/sweeps", json={"base": BASE, "grid": {"seed": [0, 1], "learning_rate": [0.01, 0.02]}})
        assert r.status_code == 202
        s = r.json()
        assert s["status"] == "queued" and s["counts"] == {"queued": 4} and len(s["members"]) == 4
        assert [m["settings"] for m in s["members"]] == [
            {"seed": 0, "learning_rate": 0.01}, {"seed": 0, "learning_rate": 0.02},
            {"seed": 1, "learning_rate": 0.01}, {"seed": 1, "learning_rate": 0.02},
        ]
        assert all(m["sweep_id"] == s["id"] and m["config"]["hidden"] == 8 for m in s["members"])
        assert s["members"][3]["config"]["seed"] == 1 and s["members"][3]["config"]["lr"] == 0.02
        # 4 queued + 2 more would pass DRSAE_MAX_QUEUED=5: refused whole
        full = c.post("/api/sweeps", json={"base": BASE, "grid": {"seed": [0, 1]}})
        assert full.status_code == 429 and "this adds 2" in full.json()["detail"]
        assert c.get("/api/sweeps").json()["count"] == 1
        assert c.get("/api/sweeps/99").status_code == 404
        assert c.post(f"/api/sweeps/{s['id']}/resume", headers=JSON).status_code == 409  # nothing to resume
        assert c.post(f"/api/sweeps/{s['id']}/cancel", headers=JSON).json()["counts"] == {"cancelled": 4}


@needs_mnist
def test_a_sweep_trains_as_one_population_and_its_models_are_listed(client: TestClient, settings: Settings) -> None:
    r = client.post(
        "/api/sweeps", json={"base": {**BASE, "epochs": 2}, "grid": {"seed": [0, 1]}, "name": "pair"}
    )
    assert r.status_code == 202
    sid = r.json()["id"]
    wait_for(lambda: sweep(client, sid)["status"] == "finished", 90, "the sweep to finish")
    ms = members(client, sid)
    for m in ms:
        assert m["status"] == "finished" and m["model_id"] == f"job-{m['id']}" and m["name"].startswith("pair/seed=")
        rows = client.get(f"/api/jobs/{m['id']}/metrics").json()["data"]
        assert [row["epoch"] for row in rows] == [1, 2, 3]
        best = min((row for row in rows if row["phase"] == "supervised"), key=lambda row: row["val_error"])
        assert m["best_val_error"] == best["val_error"] and m["test_error_at_best"] == best["test_error"]
        assert m["last_val_error"] == rows[-1]["val_error"] and m["seconds"] > 0
        assert set(m["verdicts"]) and m["units_part"] + m["units_categorical"] <= 8  # from its model card
    log = (settings.runs_dir / str(ms[0]["id"]) / "worker.log").read_text()
    assert all(f"job {m['id']}: starting" in log for m in ms)  # one worker trained both
    # the roles forming: a snapshot of the units at the start and after every epoch
    snaps = client.get(f"/api/jobs/{ms[0]['id']}/snapshots").json()
    assert snaps["epochs"] == [0, 1, 2, 3] and snaps["thresholds"] == {"part": 0.5, "categorical": 0.7}
    last = client.get(f"/api/jobs/{ms[0]['id']}/snapshots/3").json()
    assert last["units"] == list(range(8)) and len(last["decoder_png"]) == 8 and len(last["roles"]) == 8
    assert last["decoder_png"][0].startswith("data:image/png;base64,")
    row = client.get(f"/api/jobs/{ms[0]['id']}/metrics").json()["data"][-1]
    assert sum(r == "part" for r in last["roles"]) == row["units_part"]  # the epoch's own counts
    assert client.get(f"/api/jobs/{ms[0]['id']}/snapshots/9").status_code == 404
    models = {m["id"]: m for m in client.get("/api/models").json()["data"]}
    assert all(f"job-{m['id']}" in models and models[f"job-{m['id']}"]["shows_paper_structure"] is not None
               for m in ms)


@needs_mnist
def test_cancel_and_resume_a_member_and_the_whole_sweep(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_jobs=2)
    with TestClient(create_app(settings)) as c:
        sid = c.post("/api/sweeps", json={"base": {**BASE, "epochs": 400}, "grid": {"seed": [0, 1, 2]}}).json()["id"]
        wait_for(lambda: all(m["epoch"] >= 1 for m in members(c, sid)), 60, "an epoch of every member")
        one = members(c, sid)[2]
        assert c.post(f"/api/jobs/{one['id']}/cancel", headers=JSON).status_code == 200
        wait_for(lambda: members(c, sid)[2]["status"] == "cancelled", 10, "the member's cancel")
        others = members(c, sid)[:2]
        assert all(m["status"] == "running" for m in others)  # the population goes on without it
        at = {m["id"]: m["epoch"] for m in members(c, sid)}
        wait_for(lambda: all(m["epoch"] > at[m["id"]] for m in members(c, sid)[:2]), 60, "the others to go on")
        assert members(c, sid)[2]["epoch"] == at[one["id"]]

        assert c.post(f"/api/jobs/{one['id']}/resume", headers=JSON).status_code == 202  # alone, beside them
        wait_for(lambda: members(c, sid)[2]["epoch"] > at[one["id"]], 60, "the resumed member's next epoch")
        epochs = [row["epoch"] for row in c.get(f"/api/jobs/{one['id']}/metrics").json()["data"]]
        assert epochs == list(range(1, len(epochs) + 1))  # continued, not restarted

        r = c.post(f"/api/sweeps/{sid}/cancel", headers=JSON)
        assert r.status_code == 200
        wait_for(lambda: sweep(c, sid)["status"] == "cancelled", 15, "the sweep's cancel")
        at = {m["id"]: m["epoch"] for m in members(c, sid)}
        r = c.post(f"/api/sweeps/{sid}/resume", headers=JSON)
        assert r.status_code == 202 and r.json()["counts"] == {"queued": 3}
        wait_for(lambda: all(m["epoch"] > at[m["id"]] for m in members(c, sid)), 60, "every member to go on")
        log = (settings.runs_dir / str(members(c, sid)[0]["id"]) / "worker.log").read_text()
        assert f"job {one['id']}: resuming" in log  # with the others, in one population, from its own epoch
        assert c.post(f"/api/sweeps/{sid}/cancel", headers=JSON).status_code == 200
        wait_for(lambda: sweep(c, sid)["status"] == "cancelled", 15, "the second cancel")
