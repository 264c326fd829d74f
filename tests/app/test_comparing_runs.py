"""Comparing runs without a browser: the form's sweep parsing, the runs table's rows, and the comparison
figures (overlay, grouping with bands, smoothing that keeps the raw series, parallel coordinates)."""

from __future__ import annotations

import pytest

from app import figures
from app.callbacks.compare import run_rows
from app.callbacks.training import count_text, validate_form
from server.routes.jobs import job_options

OPTIONS = job_options().model_dump()  # what GET /api/jobs/options serves


def test_a_comma_list_or_seeds_n_makes_a_sweep_and_the_count_is_shown() -> None:
    body, grid, errors = validate_form({"preset": "smoke", "learning_rate": "0.01, 0.02", "seed": "seeds: 3"}, OPTIONS)
    assert not errors and grid == {"learning_rate": [0.01, 0.02], "seed": [0, 1, 2]}
    assert "learning_rate" not in body and "seed" not in body and body["preset"] == "smoke"
    assert count_text(grid, errors) == "a sweep of 6 runs (2 learning_rate x 3 seed)"
    _, grid, errors = validate_form({"preset": "smoke", "seed": "4"}, OPTIONS)
    assert grid == {} and count_text(grid, errors) == "1 run"


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"hidden_units": "8, 16"}, "hidden_units", "one value"),
        ({"learning_rate": "0.01, 2"}, "learning_rate", "2: must be"),
        ({"learning_rate": "0.01,,0.02"}, "learning_rate", "missing"),
        ({"seed": "1, 1"}, "seed", "twice"),
        ({"seed": "seeds: 0"}, "seed", "N >= 1"),
        ({"seed": f"seeds: {OPTIONS['max_sweep_members'] + 1}"}, "seed", f"at most {OPTIONS['max_sweep_members']}"),
    ],
)
def test_a_bad_sweep_field_says_why(values: dict, field: str, words: str) -> None:
    _, _, errors = validate_form({"preset": "smoke", **values}, OPTIONS)
    assert words in errors.get(field, ""), errors


def test_run_rows_carry_settings_results_and_links() -> None:
    job = {"id": 7, "name": "grid/seed=1", "sweep_id": 2, "status": "finished", "epoch": 4, "total_epochs": 4,
           "config": {"lr": 0.01, "seed": 1, "hidden": 8, "T": 3}, "best_val_error": 12.345,
           "last_val_error": 13.0, "test_error_at_best": 11.0, "units_part": 2, "units_categorical": 3,
           "verdicts": {"a": "met", "b": "missed", "c": "met"}, "seconds": 75.0, "model_id": "job-7"}
    (row,) = run_rows([job])
    assert row["run"] == "#7 grid/seed=1" and row["sweep"] == 2 and row["lr"] == 0.01 and row["best_val"] == 12.35
    assert row["verdicts"] == "2 of 3" and row["time"] == "1 min 15 s" and row["epochs"] == "4/4"
    assert "[Dynamics](/?model=job-7)" in row["links"] and "/api/models/job-7/card" in row["links"]
    (queued,) = run_rows([{"id": 8, "status": "queued", "config": {}}])
    assert queued["links"] == "" and queued["best_val"] is None and queued["verdicts"] == ""


def rows(values: list[float]) -> list[dict]:
    return [{"epoch": i + 1, "val_error": v, "phase": "supervised"} for i, v in enumerate(values)]


RUNS = [
    {"id": 1, "name": "a", "config": {"lr": 0.01}, "rows": rows([10.0, 8.0, 6.0])},
    {"id": 2, "name": "b", "config": {"lr": 0.01}, "rows": rows([12.0, 10.0, 8.0])},
    {"id": 3, "name": "c", "config": {"lr": 0.02}, "rows": rows([9.0, 7.0])},
]


def test_overlay_colours_each_run_and_keeps_zoom() -> None:
    fig = figures.compare_figure(RUNS, "val_error")
    assert [t.name for t in fig.data] == ["#1 a", "#2 b", "#3 c"]
    assert len({t.line.color for t in fig.data}) == 3 and fig.data[0].line.color == figures.RUN_COLORS[0]
    assert fig.layout.uirevision == "compare" and list(fig.data[2].y) == [9.0, 7.0]
    assert "Tick runs" in figures.compare_figure([], "val_error").layout.annotations[0].text
    assert "No test error" in figures.compare_figure(RUNS, "test_error").layout.annotations[0].text


def test_smoothing_keeps_the_raw_series_faint_beneath() -> None:
    fig = figures.compare_figure(RUNS[:1], "val_error", smoothing=0.5)
    raw, smoothed = fig.data
    assert list(raw.y) == [10.0, 8.0, 6.0] and raw.opacity < 1 and raw.showlegend is False
    assert smoothed.y[0] == 10.0 and 6.0 < smoothed.y[-1] < 8.0  # debiased: starts at the first value
    assert figures.smooth([1.0, None, 3.0], 0.0) == [1.0, None, 3.0]


def test_grouping_draws_each_values_mean_with_its_min_max_band() -> None:
    fig = figures.compare_figure(RUNS, "val_error", group_by="lr")
    means = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in means] == ["learning rate 0.01 (2 runs)", "learning rate 0.02 (1 run)"]
    assert list(means[0].y) == [11.0, 9.0, 7.0]
    top, bottom = fig.data[0], fig.data[1]
    assert list(top.y) == [12.0, 10.0, 8.0] and list(bottom.y) == [10.0, 8.0, 6.0] and bottom.fill == "tonexty"


def test_parallel_coordinates_show_the_settings_that_differ() -> None:
    jobs = [{"id": i, "config": {"lr": lr, "seed": 0, "preset": "smoke"}, "best_val_error": e, "units_part": p}
            for i, (lr, e, p) in enumerate([(0.01, 5.0, 3), (0.02, 4.0, 1)])]
    fig = figures.parallel_figure(jobs + [{"id": 9, "config": {}, "best_val_error": None}])
    labels = [d.label for d in fig.data[0].dimensions]
    assert labels == ["learning rate", "best validation error (%)", "part-units"]
    assert list(fig.data[0].dimensions[1].values) == [5.0, 4.0]
    assert "two runs" in figures.parallel_figure(jobs[:1]).layout.annotations[0].text
