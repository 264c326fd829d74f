"""Models, encode, units, evaluation and datasets through the API, on a tiny untrained model."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from model import checkpoint, data
from server.config import Settings
from tests.helpers import tiny_run
from tests.server.conftest import create_app, needs_mnist


def digit(seed: int = 0) -> np.ndarray:
    """A blob of ink away from the centre, values in [0, 1]."""
    img = np.zeros((28, 28), dtype=np.float32)
    img[2:14, 3:9] = np.random.default_rng(seed).uniform(0.3, 1.0, (12, 6))
    return img


def reference(settings: Settings, model_id: str = "tiny"):
    return checkpoint.load(settings.models_dir / model_id)


def test_health_and_catch_all(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok", "device": "cpu", "models": 1, "jobs_running": 0, "jobs_queued": 0, "storage": None
    }
    for path in ("/api/typo", "/api/models/tiny/nothing/here"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        assert r.json()["detail"].startswith("Not found")
    assert client.post("/api/typo").status_code == 404
    r = client.delete("/api/jobs/1")  # a known path, the wrong method
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert client.options("/api/jobs").headers["allow"] == "GET, POST"
    assert client.get("/docs").status_code == 200
    assert "/api/models/{model_id}/encode" in client.get("/openapi.json").json()["paths"]


def test_created_is_when_the_model_was_trained_not_when_the_folder_was_copied(settings: Settings) -> None:
    """A clone or a copy gives the weights a new mtime; `created` comes from the weights' own record."""
    from datetime import datetime

    from safetensors.torch import save_file

    before = time.time()
    run = settings.models_dir / "tiny"
    tiny_run(settings.models_dir, name="tiny")  # saved now
    os.utime(run / checkpoint.WEIGHTS, (before + 86_400, before + 86_400))  # "cloned" a day later
    old = settings.models_dir / "old"
    shutil.copytree(run, old)
    tensors = {k: v.contiguous() for k, v in checkpoint.load(run).state_dict().items()}
    meta = {"format": "pt", "drsae_config": json.dumps(checkpoint.load(run).config.to_dict())}  # no saved_at
    save_file(tensors, str(old / checkpoint.WEIGHTS), metadata=meta)
    with TestClient(create_app(settings)) as c:
        created = {m["id"]: m["created"] for m in c.get("/api/models").json()["data"]}
    assert before - 2 <= datetime.fromisoformat(created["tiny"]).timestamp() <= time.time() + 1
    assert created["old"] is None  # its record does not say: not the copy's time


def test_models_list_and_detail(client: TestClient) -> None:
    body = client.get("/api/models").json()
    assert body["count"] == 1
    (m,) = body["data"]
    assert m["id"] == "tiny" and m["source"] == "shipped" and m["job_id"] is None
    assert (m["hidden_units"], m["iterations"], m["dataset"]) == (16, 3, "mnist")
    assert m["test_error"] == 90.0 and m["created"].endswith("+00:00")
    d = client.get("/api/models/tiny").json()
    assert d["config"]["model"]["n_hidden"] == 16 and d["metrics"] == []
    assert sum(d["roles"].values()) == 16 and set(d["roles"]) == {"part", "intermediate", "categorical"}
    r = client.get("/api/models/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Model not found: nope"}


def test_new_model_folder_is_picked_up_without_restart(client: TestClient, settings: Settings) -> None:
    tiny_run(settings.models_dir, hidden=8, T=2, name="later")
    ids = {m["id"] for m in client.get("/api/models").json()["data"]}
    assert ids == {"tiny", "later"}
    assert len(client.post("/api/models/later/encode", json={"image": digit().tolist()}).json()["z"][0]) == 8


def test_encode_returns_every_iteration_matching_the_model(client: TestClient, settings: Settings) -> None:
    img = digit()
    body = {"image": img.tolist(), "preprocess": "none", "reconstructions": True}
    r = client.post("/api/models/tiny/encode", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_id"] == "tiny" and out["iterations"] == 3
    np.testing.assert_allclose(out["input"], img, atol=1e-6)  # 'none' shows the input as given
    z, p, rec = np.array(out["z"]), np.array(out["probabilities"]), np.array(out["reconstructions"])
    assert z.shape == (3, 16) and p.shape == (3, 10) and rec.shape == (3, 28, 28)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    assert out["prediction"] == int(p[-1].argmax())
    model = reference(settings)
    x = data.normalize(torch.from_numpy(img.reshape(1, 784)))
    with torch.no_grad():
        traj = model.trajectory(x)[:, 0]
        np.testing.assert_allclose(z, traj.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(p, torch.softmax(model.classify(traj), -1).numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(rec.reshape(3, 784), model.decode(traj).numpy(), rtol=1e-4, atol=1e-6)
    assert client.post("/api/models/tiny/encode", json={"image": img.tolist()}).json()["reconstructions"] is None


def test_encode_centres_input_and_reports_time(client: TestClient) -> None:
    r = client.post("/api/models/tiny/encode", json={"image": digit().tolist()})
    assert r.status_code == 200
    seen = np.array(r.json()["input"])
    rows = np.flatnonzero(seen.max(1) > 0.02)
    assert rows[-1] - rows[0] + 1 == 20  # scaled into the 20-pixel box
    cy = (seen.sum(1) @ np.arange(28)) / seen.sum()
    assert abs(cy - 14.0) <= 0.5
    assert float(r.headers["x-process-time"]) > 0 and r.headers["server-timing"].startswith("app;dur=")


def test_encode_accepts_a_png_data_url(client: TestClient) -> None:
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[40:200, 100:140] = (0, 0, 0, 255)  # a thick black '1' on a transparent canvas
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    r = client.post("/api/models/tiny/encode", json={"image": url})
    assert r.status_code == 200, r.text
    seen = np.array(r.json()["input"])
    assert seen.shape == (28, 28) and seen.max() == pytest.approx(1.0)
    assert (seen.max(1) > 0.5).sum() == 20  # 160 px tall -> 20


BAD_IMAGES = {
    "27 rows": [[0.5] * 28] * 27,
    "ragged": [[0.5] * 28] * 27 + [[0.5] * 27],
    "above 1": [[1.5] * 28] * 28,
    "negative": [[-0.1] * 28] * 28,
    "strings": [["0.5"] * 28] * 28,
    "not a list": 3,
    "jpeg url": "data:image/jpeg;base64,AAAA",
    "blank": [[0.0] * 28] * 28,
    "bad png": "data:image/png;base64,AAAA",
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_encode_rejects_bad_images_with_a_clear_422(client: TestClient, name: str) -> None:
    r = client.post("/api/models/tiny/encode", json={"image": BAD_IMAGES[name]})
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_encode_rejects_non_finite_values(client: TestClient, literal: str) -> None:
    rows = [[0.5] * 28 for _ in range(28)]
    body = json.dumps({"image": rows}).replace("0.5", literal, 1)
    r = client.post("/api/models/tiny/encode", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "finite" in r.json()["detail"]


def test_encode_rejects_unknown_fields_options_and_bad_json(client: TestClient) -> None:
    img = digit().tolist()
    for body in ({"image": img, "extra": 1}, {"image": img, "preprocess": "rotate"}, {}):
        assert client.post("/api/models/tiny/encode", json=body).status_code == 422
    r = client.post("/api/models/tiny/encode", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    assert client.post("/api/models/nope/encode", json={"image": img}).status_code == 404


@needs_mnist
def test_encode_by_reference_equals_encoding_the_pixels(client: TestClient) -> None:
    """A stored digit named by (dataset, split, index) is encoded exactly as its pixels would be."""
    pixels = data.load_arrays("mnist")["test_x"][7].reshape(28, 28).astype(np.float32) / 255.0
    common = {"preprocess": "none", "reconstructions": True}
    by_ref = client.post("/api/models/tiny/encode", json={"dataset": "mnist", "split": "test", "index": 7, **common})
    by_px = client.post("/api/models/tiny/encode", json={"image": pixels.tolist(), **common})
    assert by_ref.status_code == 200, by_ref.text
    a, b = by_ref.json(), by_px.json()
    np.testing.assert_allclose(a["input"], pixels, atol=1e-6)
    np.testing.assert_allclose(a["z"], b["z"], atol=1e-6)
    np.testing.assert_allclose(a["reconstructions"], b["reconstructions"], atol=1e-6)
    assert a["prediction"] == b["prediction"]
    assert a["label"] == int(data.load_arrays("mnist")["test_y"][7]) and b["label"] is None
    # split defaults to "test"
    r = client.post("/api/models/tiny/encode", json={"dataset": "mnist", "index": 7, "preprocess": "none"})
    np.testing.assert_allclose(r.json()["z"], b["z"], atol=1e-6)


@needs_mnist
def test_encode_names_outputs_with_the_models_classes_and_the_input_with_its_own(settings: Settings) -> None:
    """A Fashion-MNIST model shown an MNIST digit: its outputs carry its class names, the input its dataset's."""
    tiny_run(settings.models_dir, hidden=16, T=3, name="fashion", dataset="fashion-mnist")
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/models/fashion/encode", json={"dataset": "mnist", "index": 0, "preprocess": "none"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["dataset"] == "fashion-mnist" and body["class_names"] == list(data.CLASS_NAMES["fashion-mnist"])
        label = int(data.load_arrays("mnist")["test_y"][0])
        assert body["source"] == {"dataset": "mnist", "title": "MNIST", "split": "test", "index": 0,
                                  "item_noun": "digit", "label": label, "label_name": str(label)}
        drawn = c.post("/api/models/fashion/encode", json={"image": digit().tolist()}).json()
        assert drawn["source"] is None and drawn["class_names"][9] == "Ankle boot"
        assert c.get("/api/models/fashion").json()["dataset_title"] == "Fashion-MNIST"


@needs_mnist
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"image": digit().tolist(), "dataset": "mnist", "index": 0}, 422, "not both"),
        ({"dataset": "mnist"}, 422, "both dataset and index"),
        ({"index": 3}, 422, "both dataset and index"),
        ({"preprocess": "none"}, 422, "give an image"),
        ({"dataset": "mnist", "index": 10_000}, 404, "past the end"),  # no such digit
        ({"dataset": "mnist", "index": -1}, 422, ""),
        ({"dataset": "mnist", "index": "3"}, 422, ""),
        ({"dataset": "cifar", "index": 0}, 422, ""),
        ({"dataset": "mnist", "split": "holdout", "index": 0}, 422, ""),
    ],
)
def test_encode_by_reference_rejects_bad_references(client: TestClient, body: dict, status: int, message: str) -> None:
    r = client.post("/api/models/tiny/encode", json=body)
    assert r.status_code == status, r.text
    assert message in json.dumps(r.json()["detail"])


def test_encode_by_reference_to_an_unprepared_dataset_is_a_404(client: TestClient, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path / "no-data"))
    r = client.post("/api/models/tiny/encode", json={"dataset": "fashion-mnist", "index": 0})
    assert r.status_code == 404 and "fashion-mnist" in r.json()["detail"]


def test_oversize_bodies_get_413(client: TestClient) -> None:
    big = b'{"image": "' + b"A" * (3 * 1024 * 1024) + b'"}'
    r = client.post("/api/models/tiny/encode", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(40):
            yield b"A" * 100_000

    r = client.post("/api/models/tiny/encode", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_units_gallery(client: TestClient, settings: Settings) -> None:
    body = client.get("/api/models/tiny/units").json()
    assert body["count"] == 16 and body["thresholds"] == {"part": 0.5, "categorical": 0.7}
    assert body["roles"] == ["part", "intermediate", "categorical"]  # served, so the browser keeps no copy
    model = reference(settings)
    for i, u in enumerate(body["data"]):
        assert u["index"] == i and u["role"] in ("part", "intermediate", "categorical")
        assert 0 <= u["class"] < 10 and u["angle"] >= 0
        assert u["c_norm"] == pytest.approx(model.C[:, i].norm().item(), rel=1e-5)
        png = base64.b64decode(u["decoder_png"].split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).size == (28, 28)
        assert u["encoder_png"].startswith("data:image/png;base64,")


def test_weights_replaced_on_disk_invalidate_the_cache(client: TestClient, settings: Settings) -> None:
    first = client.get("/api/models/tiny/units").json()
    time.sleep(0.01)
    run = tiny_run(settings.models_dir, hidden=12, T=2, name="tiny", seed=1)
    os.utime(run / checkpoint.WEIGHTS, ns=(time.time_ns() + 10**9,) * 2)  # a distinct mtime on coarse clocks
    second = client.get("/api/models/tiny/units").json()
    assert first["count"] == 16 and second["count"] == 12
    assert client.get("/api/models/tiny").json()["hidden_units"] == 12


@needs_mnist
def test_unit_detail(client: TestClient, settings: Settings) -> None:
    k = 3
    r = client.get(f"/api/models/tiny/units/{k}")
    assert r.status_code == 200, r.text
    u = r.json()
    model = reference(settings)
    arrays = data.load_arrays("mnist")
    x = data.normalize(torch.from_numpy(arrays["test_x"].astype(np.float32) / 255.0))
    with torch.no_grad():
        acts = model.trajectory(x)[-1][:, k].numpy()
    active = acts[acts > 0]
    assert u["fraction_active"] == pytest.approx(len(active) / len(acts))
    assert sum(u["histogram"]["counts"]) == len(active)
    assert len(u["histogram"]["edges"]) == len(u["histogram"]["counts"]) + 1
    top = [d["activation"] for d in u["top_digits"]]
    assert len(top) == min(12, len(active)) and top == sorted(top, reverse=True)
    assert top[0] == pytest.approx(acts.max(), rel=1e-4)
    d0 = u["top_digits"][0]
    assert d0["label"] == int(arrays["test_y"][d0["index"]])
    np.testing.assert_allclose(np.array(d0["image"]).ravel(), arrays["test_x"][d0["index"]] / 255.0, atol=1e-6)
    sampled = [d["activation"] for d in u["sampled_digits"]]
    assert 1 <= len(sampled) <= 12 and sampled == sorted(sampled)
    assert np.array(u["decoder"]).shape == (28, 28) and len(u["classifier_weights"]) == 10
    S_minus_I = model.S.detach().double().numpy() - np.eye(16)
    aff = u["afferent"]
    assert len(aff) == 15 and all(c["unit"] != k for c in aff)  # 20 strongest, at most n - 1
    assert aff[0]["weight"] == pytest.approx(S_minus_I[k, aff[0]["unit"]])
    assert abs(aff[0]["weight"]) == pytest.approx(max(abs(S_minus_I[k, j]) for j in range(16) if j != k))
    eff = u["efferent"]
    assert eff[0]["weight"] == pytest.approx(S_minus_I[eff[0]["unit"], k])
    assert client.get("/api/models/tiny/units/16").status_code == 404
    assert client.get("/api/models/tiny/units/-1").status_code == 422


@needs_mnist
def test_evaluation_confusion_and_misclassified(client: TestClient) -> None:
    t0 = time.perf_counter()
    e = client.get("/api/models/tiny/evaluation").json()
    first = time.perf_counter() - t0
    conf = np.array(e["confusion"])
    labels = data.load_arrays("mnist")["test_y"]
    assert e["dataset"] == "mnist" and conf.shape == (10, 10) and conf.sum() == 10000
    np.testing.assert_array_equal(conf.sum(1), np.bincount(labels, minlength=10))
    assert len(e["misclassified"]) == 10000 - np.trace(conf)
    assert e["error"] == pytest.approx(len(e["misclassified"]) / 100)
    m = e["misclassified"][0]
    assert m["label"] == labels[m["index"]] and m["prediction"] != m["label"]
    t0 = time.perf_counter()
    assert client.get("/api/models/tiny/evaluation").json() == e
    assert time.perf_counter() - t0 < max(first, 0.5)  # cached


@needs_mnist
def test_datasets_and_samples(client: TestClient) -> None:
    names = {d["name"]: d["splits"] for d in client.get("/api/datasets").json()["data"]}
    assert names["mnist"] == {"train": 50000, "val": 10000, "test": 10000}
    r = client.get("/api/datasets/mnist/samples", params={"split": "test", "start": 9998, "count": 5})
    body = r.json()
    assert body["total"] == 10000 and body["count"] == 2 and [s["index"] for s in body["data"]] == [9998, 9999]
    arrays = data.load_arrays("mnist")
    np.testing.assert_allclose(np.array(body["data"][0]["image"]).ravel(), arrays["test_x"][9998] / 255.0, atol=1e-6)
    assert body["data"][1]["label"] == arrays["test_y"][9999]
    assert client.get("/api/datasets/mnist/samples", params={"count": 201}).status_code == 422
    assert client.get("/api/datasets/mnist/samples", params={"start": 10000}).status_code == 404
    assert client.get("/api/datasets/mnist/samples", params={"split": "dev"}).status_code == 422
    assert client.get("/api/datasets/kmnist/samples").status_code == 404
    # a scattered set in one request, in the order asked
    r = client.get("/api/datasets/mnist/samples", params={"indices": "3,0,9999"})
    assert r.status_code == 200 and [d["index"] for d in r.json()["data"]] == [3, 0, 9999]
    assert r.json()["data"][1]["label"] == 7  # the first MNIST test digit is a 7
    assert client.get("/api/datasets/mnist/samples", params={"indices": "1,10000"}).status_code == 404
    assert client.get("/api/datasets/mnist/samples", params={"indices": "1,,2"}).status_code == 422
    assert client.get("/api/datasets/mnist/samples", params={"indices": ",".join(["1"] * 201)}).status_code == 422


# ---- encode: interventions, drive decomposition, prototype + deformation split, decision iteration -------


def test_encode_ablation_and_clamp_change_the_dynamics(client: TestClient, settings: Settings) -> None:
    img = digit(3).tolist()
    url = "/api/models/tiny/encode"
    plain = client.post(url, json={"image": img, "preprocess": "none"}).json()
    assert plain["interventions"] == [] and 1 <= plain["decision_iteration"] <= 3
    k = int(np.argmax(plain["z"][-1]))
    body = {"image": img, "preprocess": "none", "interventions": [{"unit": k, "value": 0, "from_iteration": 2}]}
    r = client.post(url, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["interventions"] == [{"unit": k, "value": 0.0, "from_iteration": 2, "to_iteration": 3}]
    z = np.array(out["z"])
    assert z[1:, k].tolist() == [0.0, 0.0] and z[0, k] == pytest.approx(plain["z"][0][k], abs=1e-6)
    assert not np.allclose(z[2], plain["z"][2])  # the others felt the ablation
    # the same recurrence written out with torch, the unit set after the relu at t = 2, 3
    model = reference(settings)
    x = data.normalize(torch.from_numpy(digit(3).reshape(1, 784)))
    with torch.no_grad():
        drive, zt, steps = x @ model.E.T - model.b, torch.zeros(1, 16), []
        for t in range(1, 4):
            zt = torch.relu(drive + zt @ model.S.T)
            if t >= 2:
                zt[0, k] = 0.0
            steps.append(zt[0].clone())
        np.testing.assert_allclose(z, torch.stack(steps).numpy(), atol=1e-5)
        p = torch.softmax(model.classify(torch.stack(steps)), -1).numpy()
    np.testing.assert_allclose(out["probabilities"], p, atol=1e-5)
    clamp = {"image": img, "preprocess": "none", "interventions": [{"unit": 0, "value": 2.5, "to_iteration": 1}]}
    z = np.array(client.post(url, json=clamp).json()["z"])
    assert z[0, 0] == pytest.approx(2.5)


def test_encode_with_baseline_carries_the_run_without_interventions(client: TestClient) -> None:
    img, url = digit(3).tolist(), "/api/models/tiny/encode"
    plain = client.post(url, json={"image": img, "preprocess": "none"}).json()
    assert plain["baseline"] is None
    k = int(np.argmax(plain["z"][-1]))
    body = {"image": img, "preprocess": "none", "baseline": True, "interventions": [{"unit": k, "value": 0}]}
    out = client.post(url, json=body).json()
    assert out["baseline"] == {key: plain[key] for key in ("probabilities", "prediction", "decision_iteration")}
    assert out["probabilities"] != plain["probabilities"]
    # nothing to compare with: no interventions, no baseline
    assert client.post(url, json={**body, "interventions": []}).json()["baseline"] is None


def test_encode_decompose_and_split_reconstruction(client: TestClient) -> None:
    body = {"image": digit(4).tolist(), "preprocess": "none", "reconstructions": True, "decompose": True,
            "split_reconstruction": True, "interventions": [{"unit": 1, "value": 0.0}]}
    r = client.post("/api/models/tiny/encode", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    z, inp, rec = np.array(out["z"]), np.array(out["input_drive"]), np.array(out["recurrent_drive"])
    assert inp.shape == (16,) and rec.shape == (3, 16) and not rec[0].any()
    free = np.arange(16) != 1
    np.testing.assert_allclose(z[:, free], np.maximum(inp + rec, 0)[:, free], atol=1e-5)
    parts = {k: np.array(v) for k, v in out["recurrent_drive_by_role"].items()}
    assert set(parts) == {"part", "intermediate", "categorical", "self"}
    np.testing.assert_allclose(sum(parts.values()), rec, atol=1e-5)
    by_role = {k: np.array(v) for k, v in out["reconstructions_by_role"].items()}
    assert set(by_role) == {"part", "intermediate", "categorical"}
    assert all(v.shape == (3, 28, 28) for v in by_role.values())
    np.testing.assert_allclose(sum(by_role.values()), out["reconstructions"], atol=1e-5)
    plain = client.post("/api/models/tiny/encode", json={"image": digit(4).tolist()}).json()
    assert plain["input_drive"] is None and plain["reconstructions_by_role"] is None
    split_only = {"image": digit(4).tolist(), "split_reconstruction": True, "reconstructions": False}
    implied = client.post("/api/models/tiny/encode", json=split_only).json()  # what it splits comes too
    assert implied["reconstructions"] is not None and set(implied["reconstructions_by_role"]) == set(by_role)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"interventions": [{"unit": 16, "value": 0}]}, "unit 16 does not exist"),
        ({"interventions": [{"unit": -1, "value": 0}]}, "greater than or equal to 0"),
        ({"interventions": [{"unit": 0, "value": -0.5}]}, "greater than or equal to 0"),
        ({"interventions": [{"unit": 0, "value": 0, "from_iteration": 0}]}, "greater than or equal to 1"),
        ({"interventions": [{"unit": 0, "value": 0, "to_iteration": 4}]}, "within 1..3"),
        ({"interventions": [{"unit": 0, "value": 0, "from_iteration": 3, "to_iteration": 2}]}, "3..2 are not a range"),
        ({"interventions": [{"unit": 0}]}, "Field required"),
        ({"interventions": [{"unit": 0, "value": 0, "colour": 1}]}, "Extra inputs"),
        ({"interventions": [{"unit": 0.5, "value": 0}]}, "integer"),
        ({"interventions": {"unit": 0, "value": 0}}, "list"),
    ],
)
def test_encode_rejects_bad_interventions_with_a_422(client: TestClient, extra: dict, message: str) -> None:
    r = client.post("/api/models/tiny/encode", json={"image": digit().tolist(), **extra})
    assert r.status_code == 422, r.text
    assert message in r.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_encode_rejects_non_finite_intervention_values(client: TestClient, literal: str) -> None:
    image = json.dumps(digit().tolist())
    body = '{"image": ' + image + ', "interventions": [{"unit": 0, "value": ' + literal + "}]}"
    r = client.post("/api/models/tiny/encode", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


def test_models_list_says_which_model_shows_the_paper_structure(client: TestClient, settings: Settings) -> None:
    rows = {m["id"]: m for m in client.get("/api/models").json()["data"]}
    roles = rows["tiny"]["roles"]
    assert sum(roles.values()) == 16
    model = reference(settings)
    from model.analysis import unit_roles

    actual = unit_roles(model)["role"]
    assert roles == {r: int((actual == r).sum()) for r in ("part", "intermediate", "categorical")}
    # an untrained DrSAE has E = a D^T: every unit is a part-unit, so no categorical-units yet
    assert roles["part"] == 16 and rows["tiny"]["shows_paper_structure"] is None  # no model card
    assert client.get("/api/models/tiny").json()["roles"] == roles


def test_models_and_datasets_name_their_classes(tmp_path, client: TestClient, settings: Settings) -> None:
    tiny_run(settings.models_dir, hidden=8, T=2, name="fashion", dataset="fashion-mnist")
    rows = {m["id"]: m for m in client.get("/api/models").json()["data"]}
    assert rows["tiny"]["class_names"] == [str(i) for i in range(10)] and rows["tiny"]["item_noun"] == "digit"
    assert rows["fashion"]["class_names"][0] == "T-shirt/top" and rows["fashion"]["class_names"][9] == "Ankle boot"
    assert rows["fashion"]["item_noun"] == "item"
    for d in client.get("/api/datasets").json()["data"]:
        assert len(d["class_names"]) == 10 and d["item_noun"] in ("digit", "item")


def test_model_card_drives_the_structure_flag_and_detail(client: TestClient, settings: Settings) -> None:
    folder = settings.models_dir / "tiny"
    (folder / "card.json").write_text(json.dumps({"shows_paper_structure": True, "test_error": 1.5}))
    (folder / "README.md").write_text("# Model `tiny`\n")
    os.utime(folder / "model.safetensors")  # a new weights mtime: the registry re-reads the folder
    rows = {m["id"]: m for m in client.get("/api/models").json()["data"]}
    assert rows["tiny"]["shows_paper_structure"] is True
    detail = client.get("/api/models/tiny").json()
    assert detail["card"]["test_error"] == 1.5 and detail["card_markdown"].startswith("# Model `tiny`")
    (folder / "card.json").write_text("{not json")
    os.utime(folder / "model.safetensors")
    rows = {m["id"]: m for m in client.get("/api/models").json()["data"]}
    assert rows["tiny"]["shows_paper_structure"] is None  # an unreadable card is ignored, not a 500


def test_a_corrupt_dataset_is_listed_with_what_is_wrong(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist.npz").write_bytes(b"not a zip file")
    with TestClient(create_app(settings)) as c:
        items = {d["name"]: d for d in c.get("/api/datasets").json()["data"]}
    assert set(items) == {"mnist"}
    assert items["mnist"]["splits"] == {} and "mnist" in items["mnist"]["error"]


def test_the_default_model_is_listed_first(client: TestClient, settings: Settings) -> None:
    tiny_run(settings.models_dir, hidden=8, T=2, name="aaa")
    tiny_run(settings.models_dir, hidden=8, T=2, name="default")
    ids = [m["id"] for m in client.get("/api/models").json()["data"]]
    assert ids[0] == "default" and ids.index("aaa") < ids.index("tiny")  # then the rest by name
