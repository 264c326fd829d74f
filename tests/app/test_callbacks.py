"""Pure helpers of the dashboard callbacks: form validation, model choice, evaluation cells, unit payloads."""

from __future__ import annotations

import pytest

from app.callbacks.dynamics import dataset_of, slim_units
from app.callbacks.evaluation import cell_members
from app.callbacks.shell import choose_model, model_label
from app.callbacks.training import job_detail, parse_number, validate_job
from model.analysis import ROLES
from server.routes.jobs import job_options

OPTIONS = job_options().model_dump()  # what GET /api/jobs/options serves

MODELS = [
    {"id": "a", "name": "a", "dataset": "mnist", "hidden_units": 400, "iterations": 11, "test_error": 1.2},
    {"id": "b", "name": "b", "dataset": "fashion-mnist", "hidden_units": 32, "iterations": 5, "test_error": None,
     "source": "job"},
]



def as_served(job: dict) -> dict:
    """A job dict as GET /api/jobs serves it: with its active/final flags and, while it runs, `started`."""
    status = job.get("status")
    active = status in ("queued", "running")
    return {"active": active, "final": not active, "started": "2026-12-02T00:00:00+00:00" if status == "running"
            else None, **job}

def test_validate_job_keeps_given_fields_and_leaves_empty_ones_to_the_preset():
    values = {"preset": "smoke", "dataset": "mnist", "hidden_units": 64, "learning_rate": "0.01", "epochs": None,
              "name": " my-run "}
    body, errors = validate_job(values, OPTIONS)
    assert errors == {}
    assert body == {"preset": "smoke", "dataset": "mnist", "hidden_units": 64, "learning_rate": 0.01, "name": "my-run"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hidden_units", 0, "1..1024"),
        ("hidden_units", 5000, "1..1024"),
        ("iterations", 2.5, "whole number"),
        ("learning_rate", 0, "(0, 1]"),
        ("learning_rate", "abc", "number"),
        ("batch_size", -1, "1..5000"),
        ("name", "no spaces please", "letters"),
    ],
)
def test_validate_job_reports_each_bad_field(field, value, message):
    _, errors = validate_job({"preset": "adam", field: value}, OPTIONS)
    assert list(errors) == [field] and message in errors[field]


def test_validate_job_needs_at_least_one_epoch():
    _, errors = validate_job({"epochs": 0, "unsupervised_epochs": 0}, OPTIONS)
    assert "at least one epoch" in errors["epochs"]


def test_choose_model_prefers_url_on_navigation_then_current_then_first():
    assert choose_model(MODELS, "b", "a", from_url=True) == "b"
    assert choose_model(MODELS, "b", "a", from_url=False) == "a"
    assert choose_model(MODELS, "zzz", None, from_url=True) == "a"
    assert choose_model(MODELS, None, "gone", from_url=False) == "a"
    assert choose_model([], "a", "a", from_url=True) is None


def test_model_label_and_dataset():
    assert model_label(MODELS[0]) == "a (400u, T=11 · 1.20% err)"
    assert model_label(MODELS[1]) == "b (32u, T=5 · job)"
    assert dataset_of(MODELS, "b") == "fashion-mnist" and dataset_of(MODELS, "nope") == "mnist"


def test_slim_units_keeps_order_and_groups():
    units = [
        {"index": 0, "role": "part", "class": 1, "angle": 0.1, "c_norm": 0.1, "s_norm": 0, "decoder_png": "p0",
         "encoder_png": "e0"},
        {"index": 1, "role": "categorical", "class": 4, "angle": 1.0, "c_norm": 2.0, "s_norm": 0, "decoder_png": "p1",
         "encoder_png": "e1"},
    ]
    slim = slim_units({"roles": ROLES, "data": units}, "m", 11)
    assert slim["order"] == [1, 0] and slim["curve_groups"] == [{"cls": 4, "units": [1]}]
    assert slim["units"]["1"]["decoder_png"] == "p1" and "encoder_png" not in slim["units"]["1"]


def test_cell_members_lists_one_cell():
    ev = {"misclassified": [{"index": 5, "label": 3, "prediction": 8}, {"index": 9, "label": 3, "prediction": 5},
                            {"index": 11, "label": 3, "prediction": 8}]}
    assert [d["index"] for d in cell_members(ev, 3, 8)] == [5, 11]
    assert cell_members(ev, 8, 3) == []


def test_every_callback_that_calls_the_api_is_async():
    """Dash runs plain `def` callbacks on the event loop: I/O callbacks must be `async def`."""
    import inspect
    import re

    from app.callbacks import dynamics, evaluation, shell, training, units

    checked = 0
    for module in (dynamics, evaluation, shell, training, units):
        for name, fn in vars(module).items():
            if not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            if re.search(r"\bapi\.[a-z_]+\(", inspect.getsource(fn)):  # calls app/api.py
                assert inspect.iscoroutinefunction(fn), f"{module.__name__}.{name} calls the API but is not async"
                checked += 1
    assert checked >= 10


def test_validate_job_never_puts_the_access_token_in_the_body():
    body, errors = validate_job({"preset": "smoke", "token": "s3cret"}, OPTIONS)
    assert errors == {} and "token" not in body and "s3cret" not in str(body)


def test_pending_cancel_message_is_replaced_once_the_job_is_cancelled():
    from app.callbacks.training import pending_message

    pending = {"id": 4, "verb": "cancel"}
    assert pending_message(pending, [as_served({"id": 4, "status": "running"})]) is None
    assert pending_message(pending, [as_served({"id": 4, "status": "cancelled"})]) == "Job 4 cancelled."
    resume = {"id": 4, "verb": "resume"}
    assert pending_message(resume, [as_served({"id": 4, "status": "queued"})]) is None
    assert pending_message(resume, [as_served({"id": 4, "status": "running"})]) == "Job 4 resumed: running."
    assert pending_message(None, [as_served({"id": 4, "status": "running"})]) is None


def test_slim_units_carry_the_palette_and_class_names():
    from app import figures
    from app.callbacks.dynamics import slim_units

    payload = {"roles": ROLES, "data": [{"index": 0, "role": "categorical", "class": 1, "angle": 1.0, "c_norm": 1.0,
                         "decoder_png": "data:image/png;base64,"}]}
    slim = slim_units(payload, "m", 3, ["a", "b"] + [str(i) for i in range(2, 10)], "item")
    assert slim["class_colors"] == list(figures.CLASS_COLORS)
    assert slim["class_names"][1] == "b" and slim["item_noun"] == "item"
    # the role names are the API's; their colours the dashboard's one palette
    assert slim["roles"] == list(ROLES) and slim["role_colors"] == figures.ROLE_COLORS


def test_model_label_marks_the_paper_structure():
    from app.callbacks.shell import model_label

    row = {"id": "m", "name": "m", "hidden_units": 400, "iterations": 11, "test_error": 1.5}
    assert model_label({**row, "shows_paper_structure": True}).startswith("★ m")
    assert model_label({**row, "shows_paper_structure": False}).startswith("m (")


def test_job_row_shows_phase_epoch_speed_and_eta() -> None:
    latest = {"phase": "supervised", "images_per_second": 23456.7, "eta_seconds": 125.2, "val_error": 1.5}
    raw = {"status": "running", "epoch": 7, "total_epochs": 105, "latest": latest}
    assert job_detail(as_served(raw)) == "supervised · epoch 7/105 · 23,457 images/s · ETA 2 min 05 s · val error 1.50%"
    done = job_detail(as_served(raw | {"status": "finished", "model_id": "job-3"}))
    assert "ETA" not in done and done.endswith("model job-3")  # no ETA once it has ended
    assert job_detail(as_served({"status": "queued"})) == "epoch 0/?"


def test_the_first_compare_list_selects_the_model_the_url_names():
    from dash import no_update

    from app.callbacks.dynamics import compare_options

    options, value, placeholder = compare_options(MODELS, "a", [], {"compare": "b"})
    assert [o["value"] for o in options] == ["b"] and value == "b" and placeholder is no_update
    # later lists (a refresh, another model shown) leave the choice to the user
    assert compare_options(MODELS, "a", options, {"compare": "b"})[1:] == (no_update, no_update)
    assert compare_options([], None, [], {"compare": "b"})[1] is no_update  # no list yet: wait for it
    assert compare_options(MODELS, "a", [], {"compare": ""})[1] is no_update
    # the shown model itself selects nothing; an unknown one selects nothing and says so
    assert compare_options(MODELS, "b", [], {"compare": "b"})[1:] == (None, no_update)
    _, value, placeholder = compare_options(MODELS, "a", [], {"compare": "gone"})
    assert value is None and "'gone'" in placeholder


def test_broken_models_are_left_out_of_the_picker_and_named():
    from app.callbacks.shell import usable

    rows = [*MODELS, {"id": "bad", "name": "bad", "error": "the weights cannot be loaded: truncated"}]
    kept, notice = usable(rows)
    assert [m["id"] for m in kept] == ["a", "b"]
    assert notice == "Model bad cannot be used: the weights cannot be loaded: truncated"
    assert usable(MODELS) == (MODELS, "")


def test_the_resume_button_follows_the_api():
    """A failed job that saved a state is resumable too: the API's `resumable` decides, not a status list."""
    from app import ids
    from app.callbacks.training import _job_row

    def buttons(job: dict) -> list[str]:
        row = _job_row(as_served({"id": 3, "name": "j", "epoch": 1, "total_epochs": 4, "progress": 0.25, "error": None,
                                  "config": {}, "latest": None, **job}), selected=False)
        return [c.id["type"] for c in row.children if isinstance(getattr(c, "id", None), dict)]

    assert ids.JOB_RESUME in buttons({"status": "failed", "resumable": True})
    assert ids.JOB_RESUME not in buttons({"status": "failed", "resumable": False})
    assert ids.JOB_CANCEL in buttons({"status": "running", "resumable": False})


def test_form_numbers_are_read_as_typed() -> None:
    for text, x in (("0.02", 0.02), (" 2e-3 ", 0.002), ("+5", 5.0), (".5", 0.5), ("7.", 7.0), (3, 3.0)):
        assert parse_number(text) == x, text
    for text in ("1e", "--5", "1e-", "nan", "inf", "1_000", "0x10", "", "1e999", True):
        assert parse_number(text) is None, text


def test_the_curves_help_tells_the_prototype_story_only_where_the_card_shows_it() -> None:
    from app.callbacks.dynamics import curves_help, intro_iterations

    story = "the right class's prototypes grow"
    assert story in curves_help({"shows_paper_structure": True, "roles": {"part": 104}})
    assert story not in curves_help({"shows_paper_structure": False, "roles": {"part": 0, "categorical": 400}})
    assert "no part-units" in curves_help({"shows_paper_structure": False, "roles": {"part": 0}})
    assert "not measured" in curves_help({"shows_paper_structure": None, "roles": {"part": 3}})
    assert intro_iterations({"iterations": 5}) == "T = 5 for this model"
