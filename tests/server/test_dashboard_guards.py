"""The dashboard's routes get what the API's get: the body limits, the Host check, the security headers, and
JSON 4xx for requests Dash cannot serve. One app with the dashboard for the module (Dash allows one per
process)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server.main import create_app
from tests.helpers import tiny_run
from tests.server.conftest import JSON, make_settings, stalled_request

UPDATE = "/_dash-update-component"


@pytest.fixture(scope="module")
def dash_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("dashboard")
    tiny_run(root / "models", hidden=8, T=2, name="tiny")
    settings = make_settings(root, max_jobs=0, max_body_bytes=64 * 1024, body_timeout_s=0.3)
    with TestClient(create_app(settings, dashboard=True), raise_server_exceptions=False) as c:
        assert c.get("/").status_code == 200  # Dash's first-request setup
        yield c


def test_a_large_body_to_the_dashboard_is_a_413_before_dash_reads_it(dash_client: TestClient) -> None:
    r = dash_client.post(UPDATE, content=b"[" + b"1," * 100_000 + b"1]", headers=JSON)
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_the_dashboard_checks_the_host_header(dash_client: TestClient) -> None:
    for method, path in (("GET", "/"), ("GET", "/training"), ("POST", UPDATE)):
        r = dash_client.request(method, path, headers={**JSON, "Host": "evil.example"}, content=b"{}")
        assert r.status_code == 400 and "Unknown Host header" in r.json()["detail"], (path, r.text)


@pytest.mark.parametrize(("host", "code"), [(b"localhost", 408), (b"evil.example", 400)])
def test_a_slow_body_to_the_dashboard_is_answered(dash_client: TestClient, host: bytes, code: int) -> None:
    """A body that stalls: a 408 after the body timeout (0.3 s here), and a foreign Host is refused before
    anything reads the body (Dash's middleware used to wait for it for ever)."""
    sent, seconds = stalled_request(dash_client.app, UPDATE, b'{"output": ', host)
    assert seconds < 3
    assert sent and sent[0]["status"] == code, sent[:1]


@pytest.mark.parametrize("path", ["/", "/training", "/api/health", "/docs", "/_dash-layout", "/no-such-page"])
def test_every_response_forbids_framing_by_other_sites(dash_client: TestClient, path: str) -> None:
    h = dash_client.get(path).headers
    assert h["x-frame-options"] == "SAMEORIGIN" and h["content-security-policy"] == "frame-ancestors 'self'"
    assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    "path", ["/_dash-component-suites/dash/x.js", "/_dash-component-suites/dash/..%2f..%2fserver%2fconfig.py",
             "/_dash-component-suites/nope/x.js"],
)
def test_files_dash_does_not_serve_are_404(dash_client: TestClient, path: str) -> None:
    r = dash_client.get(path)
    assert r.status_code == 404 and r.json()["detail"].startswith("Not found"), r.text


@pytest.mark.parametrize(
    ("body", "ctype", "code"),
    [(b'{"output": ', "application/json", 400), (b"[1, 2]", "application/json", 400),
     (b'{"inputs": []}', "application/json", 400), (b'{"output": "x"}', "text/plain", 415)],
)
def test_malformed_callback_requests_are_4xx(dash_client: TestClient, body: bytes, ctype: str, code: int) -> None:
    r = dash_client.post(UPDATE, content=body, headers={"Content-Type": ctype})
    assert r.status_code == code and isinstance(r.json()["detail"], str), r.text


def test_a_failing_callback_is_a_logged_json_500(dash_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="drsae.dashboard"):
        r = dash_client.post(UPDATE, content=json.dumps({"output": "no-such.children", "outputs": {}}), headers=JSON)
    assert r.status_code == 500 and r.json()["detail"].startswith("Internal server error"), r.text
    assert UPDATE in caplog.text
