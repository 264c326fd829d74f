"""Fixtures for the server tests: an app per test on temporary models/var folders, tiny models, and the
MNIST test set when it is prepared (data/mnist.npz; `python -m model.data fetch mnist`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from model import data
from server.config import LOOPBACK_HOSTS, Settings
from server.main import create_app as _create_app
from tests.helpers import tiny_run

REPO = Path(__file__).resolve().parents[2]
HAS_MNIST = data.dataset_path("mnist").exists()
needs_mnist = pytest.mark.skipif(not HAS_MNIST, reason="MNIST is not prepared: python -m model.data fetch mnist")


def create_app(settings: Settings) -> FastAPI:
    """An app without the dashboard: Dash allows one app per process and these tests build many."""
    return _create_app(settings, dashboard=False)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict = {
        "models_dir": tmp_path / "models",
        "var_dir": tmp_path / "var",
        "device": "cpu",
        "kill_jobs_on_exit": True,
        "poll_s": 0.1,
        "cancel_grace_s": 5.0,
        "allowed_hosts": (*LOOPBACK_HOSTS, "testserver"),  # TestClient's Host header
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    tiny_run(tmp_path / "models", hidden=16, T=3, name="tiny")
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


JSON = {"Content-Type": "application/json"}  # what a body-less POST (cancel, resume) needs without a token


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> object:
    """Poll until predicate() is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def assert_health_answers_during(
    client: TestClient, slow_request: Callable[[], object], started_after: float
) -> object:
    """Run `slow_request` (which blocks for a while) in a thread and check that /api/health answers within
    0.5 s meanwhile: the slow work must not hold the event loop. Returns the slow request's result."""
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(r=slow_request()))
    worker.start()
    time.sleep(started_after)  # the slow part is now running
    t0 = time.perf_counter()
    assert client.get("/api/health").status_code == 200
    assert time.perf_counter() - t0 < 0.5
    assert worker.is_alive()
    worker.join()
    return done["r"]


def _tolerate_cpython_ast_bug() -> None:
    """CPython 3.11.7's ast.parse now and then raises "SystemError: AST constructor recursion depth
    mismatch" on a large source file (fixed in later 3.11 releases). Hypothesis parses schemathesis's own
    source only to print a lambda in a strategy's repr, and that error then aborts the collection of the
    schemathesis test. Such a repr needs no source: fall back to hypothesis's plain description."""
    from hypothesis.internal import lambda_sources

    describe = lambda_sources._lambda_description

    def tolerant(f, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return describe(f, *args, **kwargs)
        except SystemError:
            return "lambda: <unknown>"

    lambda_sources._lambda_description = tolerant


_tolerate_cpython_ast_bug()


def stalled_request(app, path: str, first_bytes: bytes, host: bytes = b"localhost") -> tuple[list[dict], float]:
    """POST `first_bytes` of a JSON body to `path` straight through the ASGI app, then stall for ever, as a
    slow client does; returns the messages the app sent and how long it took to answer. Runs in a thread of
    its own: browser-test plugins may leave an event loop running in this one."""
    import asyncio
    import threading
    import time

    sent: list[dict] = []

    async def run() -> None:
        first = True

        async def receive() -> dict:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": first_bytes, "more_body": True}
            await asyncio.sleep(3600)  # the client stalls
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", host), (b"content-type", b"application/json"), (b"content-length", b"99")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {},
        }
        await asyncio.wait_for(app(scope, receive, send), 5)

    t0 = time.monotonic()
    worker = threading.Thread(target=lambda: asyncio.run(run()))
    worker.start()
    worker.join(10)
    return sent, time.monotonic() - t0
