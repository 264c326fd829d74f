"""Training page, comparing runs: the runs table (every job and sweep member with settings and results),
its ticked rows as the compared runs, their overlaid curves and the parallel-coordinates view, and the
page's state in the URL (static/compare.js)."""

from __future__ import annotations

import asyncio
from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, no_update

from app import api, figures, ids
from app.callbacks.training import triggers

MAX_COMPARED = 24  # curves fetched at once; the runs table ticks more only with a message


def _num(value: Any, digits: int = 2) -> float | None:
    return round(value, digits) if isinstance(value, int | float) else None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def run_rows(jobs: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The runs table's rows from the job list (JobPublic): settings from each job's config, results from
    its best and last epochs and its model card; links to its model on the Dynamics page and to its card."""
    out = []
    for j in jobs or []:
        cfg = j.get("config") or {}
        verdicts = j.get("verdicts") or {}
        met = sum(v == "met" for v in verdicts.values())
        model = j.get("model_id")
        links = f"[Dynamics](/?model={model}) · [card](/api/models/{model}/card)" if model else ""
        out.append({
            "id": j["id"],
            "run": f"#{j['id']} {j.get('name') or ''}".strip(),
            "sweep": j.get("sweep_id"),
            "status": j["status"],
            "lr": cfg.get("lr"),
            "seed": cfg.get("seed"),
            "hidden": cfg.get("hidden"),
            "T": cfg.get("T"),
            "epochs": f"{j.get('epoch') or 0}/{j.get('total_epochs') or '?'}",
            "best_val": _num(j.get("best_val_error")),
            "last_val": _num(j.get("last_val_error")),
            "test_at_best": _num(j.get("test_error_at_best")),
            "part": j.get("units_part"),
            "categorical": j.get("units_categorical"),
            "verdicts": f"{met} of {len(verdicts)}" if verdicts else "",
            "time": _duration(j.get("seconds")),
            "links": links,
        })
    return out


@callback(
    Output(ids.RUNS_TABLE, "data"),
    Output(ids.RUNS_TABLE, "selected_rows"),
    Output(ids.SELECTED_RUNS, "data"),
    Input(ids.JOBS_STORE, "data"),
    Input(ids.RUNS_TABLE, "selected_row_ids"),
    State(ids.SELECTED_RUNS, "data"),
    State(ids.RUNS_TABLE, "data"),
)
def runs_table(
    jobs: list[dict[str, Any]] | None, ticked: list[int] | None, selected: list[int] | None,
    shown: list[dict[str, Any]] | None,
) -> Any:
    """The rows follow the job list; the ticked rows are the compared runs (kept in the URL). A tick
    changes the selection; a new list keeps it, ticking the same runs in the new rows."""
    rows = run_rows(jobs)
    if triggers() == {ids.RUNS_TABLE}:
        chosen = [int(i) for i in ticked or []]
        if sorted(chosen) == sorted(selected or []):
            return no_update, no_update, no_update
        return no_update, no_update, chosen
    chosen = [i for i in selected or [] if any(r["id"] == i for r in rows)] if rows else list(selected or [])
    ticks = [k for k, r in enumerate(rows) if r["id"] in chosen]
    return (rows if rows != shown else no_update), ticks, no_update


def _epochs(jobs: list[dict[str, Any]] | None, chosen: list[int]) -> dict[str, int]:
    by_id = {j["id"]: j for j in jobs or []}
    return {str(i): int((by_id.get(i) or {}).get("epoch") or 0) for i in chosen}


@callback(
    Output(ids.COMPARE_CURVES, "figure"),
    Input(ids.SELECTED_RUNS, "data"),
    Input(ids.COMPARE_METRIC, "value"),
    Input(ids.COMPARE_GROUP, "value"),
    Input(ids.COMPARE_SMOOTH, "value"),
    Input(ids.JOBS_STORE, "data"),
    State(ids.COMPARE_CURVES, "figure"),
)
async def compare_curves(
    selected: list[int] | None, metric: str, group: str | None, smoothing: float | None,
    jobs: list[dict[str, Any]] | None, shown: dict[str, Any] | None,
) -> Any:
    """The compared runs' curves, drawn from their rows (fetched together); a new job list redraws only when
    a compared run gained an epoch."""
    chosen = list(selected or [])[:MAX_COMPARED]
    epochs = _epochs(jobs, chosen)
    drawn = ((shown or {}).get("layout") or {}).get("meta") or {}
    if triggers() == {ids.JOBS_STORE} and drawn.get("epochs") == epochs:
        return no_update
    by_id = {j["id"]: j for j in jobs or []}
    try:
        rows = await asyncio.gather(*(api.job_metrics(i) for i in chosen))
    except api.ApiError as e:
        return figures.empty_figure(f"No curves: {e.detail}")
    runs = [
        {"id": i, "name": (by_id.get(i) or {}).get("name"), "config": (by_id.get(i) or {}).get("config"), "rows": r}
        for i, r in zip(chosen, rows, strict=True)
    ]
    fig = figures.compare_figure(runs, metric, group or None, float(smoothing or 0))
    fig.update_layout(meta={"epochs": epochs})
    return fig


@callback(
    Output(ids.PARALLEL_COORDS, "figure"),
    Input(ids.SELECTED_RUNS, "data"),
    Input(ids.JOBS_STORE, "data"),
    State(ids.PARALLEL_COORDS, "figure"),
)
def parallel(selected: list[int] | None, jobs: list[dict[str, Any]] | None, shown: dict[str, Any] | None) -> Any:
    """The ticked runs (all runs when fewer than two are ticked); drawn again only when what it shows changed."""
    chosen = set(selected or [])
    ticked = [j for j in jobs or [] if j["id"] in chosen]
    runs = ticked if len(ticked) >= 2 else list(jobs or [])
    key = [[j["id"], j.get("best_val_error"), j.get("units_part")] for j in runs]
    if (((shown or {}).get("layout") or {}).get("meta") or {}).get("key") == key:
        return no_update
    fig = figures.parallel_figure(runs)
    fig.update_layout(meta={"key": key})
    return fig


# The plotted job, compared runs, grouping, smoothing and metric in the URL: static/compare.js.
clientside_callback(
    ClientsideFunction("drsae", "syncTrainingUrl"),
    Output(ids.TRAINING_URL, "title"),
    Input(ids.SELECTED_JOB, "data"),
    Input(ids.SELECTED_RUNS, "data"),
    Input(ids.COMPARE_GROUP, "value"),
    Input(ids.COMPARE_SMOOTH, "value"),
    Input(ids.COMPARE_METRIC, "value"),
)
