"""Hostile and careless input, answered with a clear 4xx and never a stall or a stack trace: PNG decoding off
the event loop, ASCII-only integers, strict body types, Host and Origin checks, the body time limit, JSON
5xx bodies, the OpenAPI document telling the truth, and /docs working offline."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server import main as server_main
from server import web
from server.config import LOOPBACK_HOSTS, Settings
from server.images import MAX_PNG_SIDE, ImageError, decode_png_data_url
from server.routes import encode as encode_route
from tests.server.conftest import JSON, assert_health_answers_during, create_app, make_settings, stalled_request

SMOKE = {"preset": "smoke", "dataset": "mnist"}


def png_url(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def stroke(side: int) -> Image.Image:
    rgba = np.zeros((side, side, 4), dtype=np.uint8)
    rgba[side // 4 : 3 * side // 4, side // 2 - side // 20 : side // 2 + side // 20] = (0, 0, 0, 255)
    return Image.fromarray(rgba, "RGBA")


# ------------------------------------------------------------------------------------------ PNG
def test_png_decoding_does_not_hold_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow decode (as a large PNG is) must leave /api/health answering meanwhile."""
    real = encode_route.decode_png_data_url

    def slow(url: str) -> np.ndarray:
        time.sleep(1.5)
        return real(url)

    monkeypatch.setattr(encode_route, "decode_png_data_url", slow)
    body = {"image": png_url(stroke(64))}
    r = assert_health_answers_during(client, lambda: client.post("/api/models/tiny/encode", json=body), 0.3)
    assert r.status_code == 200


def test_png_decodes_to_float32_with_a_lower_size_cap() -> None:
    out = decode_png_data_url(png_url(stroke(MAX_PNG_SIDE)))
    assert out.dtype == np.float32 and out.shape == (MAX_PNG_SIDE, MAX_PNG_SIDE)
    assert out.max() == 1.0 and out.min() == 0.0
    assert MAX_PNG_SIDE <= 1024
    with pytest.raises(ImageError, match="between"):
        decode_png_data_url(png_url(stroke(2048)))  # refused from the header, before decompression


def test_png_errors_do_not_leak_internal_objects(client: TestClient) -> None:
    url = "data:image/png;base64," + base64.b64encode(b"\x89PNG but not really").decode()
    r = client.post("/api/models/tiny/encode", json={"image": url})
    assert r.status_code == 422
    assert "cannot be decoded" in r.json()["detail"]
    assert "0x" not in r.json()["detail"] and "BytesIO" not in r.json()["detail"]


# ---------------------------------------------------------------------------------- integers
@pytest.mark.parametrize(
    "path",
    [
        "/api/datasets/mnist/samples?indices=%F0%91%BD%90",  # a digit of another script: \d, not int()
        "/api/datasets/mnist/samples?indices=1,%D9%A3",
        "/api/datasets/mnist/samples?start=1.0",
        "/api/datasets/mnist/samples?count=%2B3",
        "/api/jobs/1.0",
        "/api/jobs/1_0",
        "/api/jobs/%201",
        "/api/models/tiny/units/1.0",
        "/api/jobs?limit=1.0",
    ],
)
def test_integers_take_ascii_digits_only(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/json" and isinstance(r.json()["detail"], str)


# ------------------------------------------------------------------------------------- bodies
@pytest.mark.parametrize(
    "body",
    [
        {**SMOKE, "hidden_units": "10"},
        {**SMOKE, "hidden_units": True},
        {**SMOKE, "epochs": 2.5},
        {**SMOKE, "learning_rate": "0.1"},
        {**SMOKE, "name": 5},
        {**SMOKE, "time_limit": "60"},
    ],
)
def test_job_bodies_are_strictly_typed(tmp_path: Path, body: dict) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0))) as c:
        r = c.post("/api/jobs", json=body)
        assert r.status_code == 422, r.text
        assert c.get("/api/jobs").json()["count"] == 0
        assert c.post("/api/jobs", json={**SMOKE, "learning_rate": 1}).status_code == 202  # a whole float is fine
        # and so is an integer written with a zero fraction: JSON Schema's "integer" is the number, not its spelling
        r = c.post("/api/jobs", json={**SMOKE, "epochs": 2.0})
        epochs = r.json()["config"]["epochs"]
        assert r.status_code == 202 and epochs == 2 and isinstance(epochs, int)


def test_encode_body_is_strictly_typed(client: TestClient) -> None:
    img = [[0.0] * 28 for _ in range(28)]
    img[10][10] = 1.0
    assert client.post("/api/models/tiny/encode", json={"image": img, "reconstructions": "yes"}).status_code == 422
    assert client.post("/api/models/tiny/encode", json={"image": img, "reconstructions": 1}).status_code == 422
    assert client.post("/api/models/tiny/encode", json={"image": img, "reconstructions": True}).status_code == 200


def test_body_parse_errors_say_where(client: TestClient) -> None:
    r = client.post("/api/jobs", content=b'{"preset": "smoke", "dataset": ', headers=JSON)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "not valid JSON at character 31" in detail, detail
    r = client.post("/api/models/tiny/encode", content=b'{"image": [1,}', headers=JSON)
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"], r.text


def test_a_body_that_never_completes_is_timed_out(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, body_timeout_s=0.3))
    sent, seconds = stalled_request(app, "/api/jobs", b'{"preset": ')
    assert seconds < 3
    assert sent[0]["status"] == 408
    assert "not received within" in json.loads(sent[1]["body"])["detail"]


# ----------------------------------------------------------------------------- Host, Origin
def test_unknown_host_headers_are_refused(client: TestClient) -> None:
    r = client.get("/api/health", headers={"Host": "evil.example"})
    assert r.status_code == 400 and "Unknown Host header" in r.json()["detail"]
    assert client.get("/docs", headers={"Host": "rebind.attacker.test:8000"}).status_code == 400
    for host in ("localhost:8611", "127.0.0.1", "[::1]:8000", "LOCALHOST"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRSAE_ALLOWED_HOSTS", "Lab.Example.org:8000, box.local")
    s = Settings.from_env()
    assert s.allowed_hosts == (*LOOPBACK_HOSTS, "lab.example.org", "box.local")
    monkeypatch.delenv("DRSAE_ALLOWED_HOSTS")
    assert Settings.from_env().allowed_hosts == ("localhost", "127.0.0.1", "[::1]")


def test_cross_site_job_actions_are_refused(tmp_path: Path) -> None:
    """No token (the default): a page elsewhere must not be able to cancel, resume or start jobs."""
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0))) as c:
        jid = c.post("/api/jobs", json=SMOKE).json()["id"]
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        r = c.post(f"/api/jobs/{jid}/cancel", headers=evil)  # a body-less text/plain POST from elsewhere
        assert r.status_code == 403 and "Cross-origin" in r.json()["detail"]
        assert c.post(f"/api/jobs/{jid}/cancel", headers={**JSON, "Origin": "http://evil.example"}).status_code == 403
        assert c.post(f"/api/jobs/{jid}/cancel", headers={**JSON, "Origin": "null"}).status_code == 403
        r = c.post(f"/api/jobs/{jid}/cancel", headers={"Content-Type": "text/plain"})  # a browser sending no Origin
        assert r.status_code == 415 and "JSON" in r.json()["detail"]
        r = c.post("/api/jobs", content=json.dumps(SMOKE), headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        assert c.post(f"/api/jobs/{jid}/cancel").status_code == 415  # no content type at all
        assert c.get(f"/api/jobs/{jid}").json()["status"] == "queued"
        assert c.get("/api/jobs").json()["count"] == 1
        r = c.post(f"/api/jobs/{jid}/cancel", headers={**JSON, "Origin": "http://testserver"})  # same origin
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_token_replaces_the_json_rule(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0, token="t0k"))) as c:
        jid = c.post("/api/jobs", json=SMOKE, headers={"Authorization": "Bearer t0k"}).json()["id"]
        assert c.post(f"/api/jobs/{jid}/cancel").status_code == 401
        r = c.post(f"/api/jobs/{jid}/cancel", headers={"Authorization": "Bearer t0k", "Content-Type": "text/plain"})
        assert r.status_code == 200
        r = c.post(f"/api/jobs/{jid}/resume", headers={"Authorization": "Bearer t0k", "Origin": "http://evil.example"})
        assert r.status_code == 403  # the Origin rule holds with a token too


def test_warns_when_listening_beyond_loopback_without_a_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert server_main.bind_host(["uvicorn", "server.main:app", "--host", "0.0.0.0"], {}) == "0.0.0.0"
    assert server_main.bind_host(["uvicorn", "--host=::", "server.main:app"], {}) == "::"
    assert server_main.bind_host(["uvicorn"], {"UVICORN_HOST": "10.1.2.3"}) == "10.1.2.3"
    assert server_main.bind_host(["uvicorn"], {}) is None
    open_settings = make_settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="drsae"):
        assert server_main.warn_if_exposed(open_settings, "0.0.0.0")
        assert "without DRSAE_TOKEN" in caplog.text
        caplog.clear()
        for host in ("127.0.0.1", "localhost", "::1", "[::1]"):
            assert not server_main.warn_if_exposed(open_settings, host)
        assert not server_main.warn_if_exposed(make_settings(tmp_path, token="t"), "0.0.0.0")
        assert caplog.text == ""


# ------------------------------------------------------------------------------ errors, docs
def test_every_5xx_body_is_json(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> list:
        raise KeyError("a bug")

    monkeypatch.setattr(type(client.app.state.drsae.registry), "entries", broken)
    r = TestClient(client.app, raise_server_exceptions=False).get("/api/models")  # no second lifespan
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["detail"].startswith("Internal server error (KeyError)")


def test_a_failed_warm_up_does_not_fail_the_shutdown(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The start-up warm-up runs in a thread and the lifespan awaits it at shutdown: a bug there (the 5xx test
    above patches the registry while the warm-up may still be running) is logged, not raised at exit."""
    from server.registry import Registry

    def broken(self: object) -> list:
        raise KeyError("a bug")

    monkeypatch.setattr(Registry, "entries", broken)
    with caplog.at_level(logging.ERROR, logger="drsae"), TestClient(create_app(settings)):
        pass  # the exit awaits the warm-up
    assert "warming model" in caplog.text and "KeyError" in caplog.text


def test_openapi_asks_for_the_token_only_when_one_is_set(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path / "a"))) as c:
        schema = c.get("/openapi.json").json()
    post = schema["paths"]["/api/jobs"]["post"]
    assert "security" not in post and "401" not in post["responses"]
    assert "securitySchemes" not in schema.get("components", {})
    events_404 = schema["paths"]["/api/jobs/{job_id}/events"]["get"]["responses"]["404"]
    assert list(events_404["content"]) == ["application/json"]
    assert "429" in post["responses"] and "503" in post["responses"]
    with TestClient(create_app(make_settings(tmp_path / "b", token="t"))) as c:
        schema = c.get("/openapi.json").json()
    post = schema["paths"]["/api/jobs"]["post"]
    assert post["security"] == [{"HTTPBearer": []}] and "401" in post["responses"]


def test_docs_pages_use_local_assets(client: TestClient) -> None:
    for page, assets in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")), ("/redoc", ("redoc.standalone.js",))):
        html = client.get(page).text
        assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
        for name in assets:
            url = f"/docs-assets/{name}"
            assert url in html, (page, name)
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 10_000, url


def test_a_job_for_an_unprepared_dataset_is_refused(client: TestClient, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path / "no-data"))
    r = client.post("/api/jobs", json=SMOKE)
    assert r.status_code == 409 and "python -m model.data fetch mnist" in r.json()["detail"], r.text
    assert client.get("/api/jobs").json()["count"] == 0


# ------------------------------------------------------------------------------ large bodies
def _unknown_keys(n: int, **fields: object) -> bytes:
    return json.dumps({**fields, **{f"k{i}": 0 for i in range(n)}}).encode()


@pytest.mark.parametrize("path", ["/api/jobs", "/api/models/tiny/encode"])
def test_a_body_of_many_unknown_keys_gets_a_short_422(client: TestClient, path: str) -> None:
    """100k unknown keys (1.3 MB) used to cost seconds on the event loop and answer 9 MB."""
    r = client.post(path, content=_unknown_keys(100_000, **SMOKE), headers=JSON)
    assert r.status_code == 422 and len(r.content) < 2000, len(r.content)
    assert "more than 5000 object members" in r.json()["detail"]
    r = client.post(path, content=_unknown_keys(3000, **SMOKE), headers=JSON)  # under the cap: listed, capped
    assert r.status_code == 422 and len(r.json()["errors"]) == web.MAX_ERRORS and "and more" in r.json()["detail"]
    assert len(r.content) < 5000


def test_large_bodies_are_validated_off_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    real = web._validate

    def slow(model: type, body: bytes) -> object:
        time.sleep(1.5)
        return real(model, body)

    monkeypatch.setattr(web, "_validate", slow)
    body = _unknown_keys(3000, **SMOKE)
    post = lambda: client.post("/api/jobs", content=body, headers=JSON)  # noqa: E731
    assert assert_health_answers_during(client, post, 0.3).status_code == 422


# -------------------------------------------------------------------------------- bad models
def _break(run: Path, how: str) -> None:
    weights = run / "model.safetensors"
    if how == "config":
        cfg = json.loads((run / "config.json").read_text())
        cfg["model"]["n_hidden"] = "x"
        (run / "config.json").write_text(json.dumps(cfg))
    elif how == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif how == "empty":
        weights.write_bytes(b"")
    else:
        weights.write_bytes(b"not a safetensors file at all, just garbage" * 10)


BROKEN = ("config", "truncated", "empty", "garbage")


def test_broken_model_folders_are_listed_with_their_error(tmp_path: Path) -> None:
    """One bad folder used to make GET /api/models a 500 for every model, and a bad weights file a 500 on
    every endpoint of its model: the good ones are listed first, each bad one marked, its endpoints 503."""
    from tests.helpers import tiny_run

    tiny_run(tmp_path / "models", hidden=8, T=2, name="good")
    for how in BROKEN:
        _break(tiny_run(tmp_path / "models", hidden=8, T=2, name=f"bad-{how}"), how)
    with TestClient(create_app(make_settings(tmp_path, max_jobs=0))) as c:
        r = c.get("/api/models")
        assert r.status_code == 200, r.text
        rows = {m["id"]: m for m in r.json()["data"]}
        assert r.json()["data"][0]["id"] == "good" and rows["good"]["error"] is None
        assert "n_hidden must be a positive integer" in rows["bad-config"]["error"]
        assert rows["bad-config"]["hidden_units"] is None
        assert "truncated" in rows["bad-truncated"]["error"]
        for how in BROKEN:
            mid = f"bad-{how}"
            assert rows[mid]["error"], mid
            img = [[0.0] * 28 for _ in range(28)]
            for r in (c.get(f"/api/models/{mid}"), c.get(f"/api/models/{mid}/units"),
                      c.post(f"/api/models/{mid}/encode", json={"image": img})):
                assert r.status_code == 503, (mid, r.status_code, r.text)
                assert r.json()["detail"].startswith(f"Model {mid} cannot be used"), r.text
        assert c.get("/api/models/good/units").status_code == 200


def test_every_openapi_reference_resolves_at_the_document_root(client: TestClient) -> None:
    """The encode body referred to `#/$defs/InterventionIn`, which fuzzers cannot resolve: they skipped it."""
    schema = client.get("/openapi.json").json()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert "#/components/schemas/InterventionIn" in refs and "#/components/schemas/EncodeRequest" in refs
    for ref in refs:
        node: object = schema
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, ref
            node = node[part]


# ------------------------------------------------------------------------ the schema's own rules
def test_the_schema_states_the_cross_field_rules_the_api_applies(tmp_path: Path) -> None:
    """What a schema-valid body may be, the API accepts: the server's time ceiling, the preset's training
    images, some epoch in total, cancel/resume taking no fields; and a body that breaks them is refused."""
    settings = make_settings(tmp_path, max_jobs=0, max_job_seconds=600.0)
    with TestClient(create_app(settings)) as c:
        doc = c.get("/openapi.json").json()
        job = doc["components"]["schemas"]["JobCreate"]
        assert {"type": "number", "maximum": 600.0}.items() <= job["properties"]["time_limit"]["anyOf"][0].items()
        rules = {r["if"]["properties"]["preset"]["const"]: r["then"] for r in job["allOf"] if "if" in r}
        assert set(rules) == {"smoke"}  # the only preset with fewer training images than batch_size's bound
        assert rules["smoke"]["properties"]["batch_size"]["anyOf"][1] == {"maximum": 2000}
        cancel = doc["paths"]["/api/jobs/{job_id}/cancel"]["post"]["requestBody"]
        assert cancel["content"]["application/json"]["schema"] == {"type": "object", "maxProperties": 0}
        assert c.post("/api/jobs", json={**SMOKE, "batch_size": 2001}).status_code == 422
        assert c.post("/api/jobs", json={**SMOKE, "epochs": 0, "unsupervised_epochs": 0}).status_code == 422
        assert c.post("/api/jobs", json={**SMOKE, "time_limit": 601}).status_code == 422
        jid = c.post("/api/jobs", json={**SMOKE, "batch_size": 2000}).json()["id"]
        assert c.post(f"/api/jobs/{jid}/cancel").status_code == 415  # no token: JSON even without a body
        assert c.post(f"/api/jobs/{jid}/cancel", content="[1]", headers=JSON).status_code == 422
        assert c.post(f"/api/jobs/{jid}/cancel", content="{", headers=JSON).status_code == 400
        assert c.post(f"/api/jobs/{jid}/cancel", json={}).json()["status"] == "cancelled"
        assert c.post(f"/api/jobs/{jid}/resume", headers=JSON).json()["status"] == "queued"
