"""The Training form shows and checks the ranges the API enforces: at each end of each range, the form and
POST /api/jobs agree on what is accepted (a value the form accepts is never refused)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from dash import dcc, html
from fastapi.testclient import TestClient

from app.callbacks.training import validate_job
from app.training_form import NUMBERS, form, range_hint
from model.presets import BOUNDS, DEFAULT, PRESETS
from server.main import create_app
from server.schemas import JOB_FIELDS
from tests.server.conftest import make_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp: Path = tmp_path_factory.mktemp("form")
    settings = make_settings(tmp, max_jobs=0, max_queued=1000)  # max_jobs=0: jobs queue, none starts
    with TestClient(create_app(settings, dashboard=False)) as c:
        yield c


def shown_ranges(children: list[html.Div]) -> dict[str, str]:
    """Each number field's hint, by field name (a field is a Div of label, input, hint, error slot)."""
    found = {}
    for div in children:
        field = div.children[1]
        if isinstance(field, dcc.Input) and getattr(field, "inputMode", None) == "decimal":  # typed as text
            found[field.id["index"]] = div.children[2].children
    return found


def test_options_come_from_the_presets_table(client: TestClient) -> None:
    options = client.get("/api/jobs/options").json()
    assert [p["name"] for p in options["presets"]] == list(PRESETS) and options["default_preset"] == DEFAULT
    assert "fast" not in [p["name"] for p in options["presets"]]
    for api_name, r in options["fields"].items():
        b = BOUNDS[JOB_FIELDS[api_name]]
        assert (r["minimum"], r["maximum"], r["integer"]) == (b.low, b.high, b.integer)
    smoke = next(p for p in options["presets"] if p["name"] == "smoke")
    assert smoke["values"]["hidden_units"] == PRESETS["smoke"].hidden and smoke["train_images"] == 2000


def test_every_bound_the_form_shows_is_the_one_the_api_enforces(client: TestClient) -> None:
    options = client.get("/api/jobs/options").json()
    shown = shown_ranges(form(options))
    assert set(shown) == {name for name, *_ in NUMBERS}
    base = {"preset": "faithful", "dataset": "mnist"}
    checked = 0
    for name, hint in shown.items():
        r = options["fields"][name]
        assert hint.startswith(range_hint(r)), (name, hint)
        step = 1 if r["integer"] else 0
        low, high = r["minimum"], r["maximum"]
        cases = [
            (low, not r["exclusive_minimum"]),
            (low - step if step else math.nextafter(low, -math.inf), False),
            (high, not r["exclusive_maximum"]),
            (high + step if step else math.nextafter(high, math.inf), False),
        ]
        for value, ok in cases:
            value = int(value) if r["integer"] else value
            form_accepts = not validate_job({**base, name: repr(value)}, options)[1]  # the text the field holds
            assert form_accepts == ok, (name, value, "the form")
            status = client.post("/api/jobs", json={**base, name: value}).status_code
            assert status == (202 if ok else 422), (name, value, "the API")
            checked += 1
    assert checked == 4 * len(NUMBERS)


def test_form_refuses_a_batch_larger_than_the_presets_images(client: TestClient) -> None:
    options = client.get("/api/jobs/options").json()
    body = {"preset": "smoke", "dataset": "mnist", "batch_size": 2500}
    assert "batch_size" in validate_job(body, options)[1]
    assert client.post("/api/jobs", json=body).status_code == 422
