"""app/api.py against a small in-process FastAPI app shaped like docs/api.md (no server, no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import fastapi
import pytest
from pydantic import BaseModel, Field

from app import api

T = TypeVar("T")


class JobCreate(BaseModel):
    preset: str
    hidden_units: int | None = Field(default=None, ge=1, le=4096)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own: Playwright's sync API (the browser tests, when they run first in
    the same process) leaves an event loop running on the main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def fake_api() -> fastapi.FastAPI:
    app = fastapi.FastAPI()
    seen: dict[str, str | None] = {}

    @app.get("/api/models")
    def models() -> dict:
        return {"data": [{"id": "m1", "name": "m1"}], "count": 1}

    @app.get("/api/models/{model_id}/units")
    def units(model_id: str) -> dict:
        raise fastapi.HTTPException(404, "Checkpoint not found")

    @app.post("/api/jobs", status_code=202)
    def create(job: JobCreate, authorization: str | None = fastapi.Header(default=None)) -> dict:
        seen["auth"] = authorization
        return {"id": 1, "name": "j", "config": job.model_dump()}

    @app.get("/api/datasets/{name}/samples")
    def samples(name: str, start: int = 0, count: int = 1, indices: str | None = None) -> dict:
        seen["samples_calls"] = seen.get("samples_calls", 0) + 1
        picked = [int(i) for i in indices.split(",")] if indices else range(start, min(start + count, 100))
        rows = [{"index": i, "label": i % 10, "image": [[0.0]]} for i in picked]
        return {"data": rows, "count": len(rows), "total": 100}

    app.state.seen = seen
    return app


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> fastapi.FastAPI:
    monkeypatch.delenv("DRSAE_API_URL", raising=False)
    app = fake_api()
    api.configure(app)
    yield app
    api.configure(None)


def test_lists_come_back_as_their_data(fake):
    assert run(api.models()) == [{"id": "m1", "name": "m1"}]


def test_errors_carry_the_plain_detail(fake):
    with pytest.raises(api.ApiError) as e:
        run(api.units("nope"))
    assert e.value.status == 404 and e.value.detail == "Checkpoint not found"


def test_validation_errors_name_the_field(fake):
    with pytest.raises(api.ApiError) as e:
        run(api.create_job({"preset": "smoke", "hidden_units": 0}))
    assert e.value.status == 422 and e.value.detail.startswith("hidden_units:")


def test_token_is_sent_only_when_given(fake):
    run(api.create_job({"preset": "smoke"}))
    assert fake.state.seen["auth"] is None
    run(api.create_job({"preset": "smoke"}, token="s3cret"))
    assert fake.state.seen["auth"] == "Bearer s3cret"


def test_samples_by_index(fake):
    rows = run(api.samples_at("mnist", [3, 42, 7]))
    assert [r["index"] for r in rows] == [3, 42, 7] and rows[1]["label"] == 2
    assert fake.state.seen["samples_calls"] == 1  # one request, not one per digit


def test_unreachable_api_is_a_503(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DRSAE_API_URL", "http://127.0.0.1:9")  # discard port: connection refused
    api.configure(None)
    with pytest.raises(api.ApiError) as e:
        run(api.health())
    assert e.value.status == 503 and "unreachable" in e.value.detail


def test_model_picker_says_when_the_api_fails(monkeypatch: pytest.MonkeyPatch):
    from app.callbacks.shell import refresh_models

    monkeypatch.setenv("DRSAE_API_URL", "http://127.0.0.1:9")  # connection refused
    api.configure(None)
    *_, placeholder, notice = run(refresh_models(1, None, "", None, None))
    assert placeholder == "models unavailable" and notice.startswith("Could not load the models: API unreachable")
