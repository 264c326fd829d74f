"""Evaluation page callbacks: confusion matrix for the chosen model; a clicked cell lists its digits."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import Input, Output, State, callback, dcc, html, no_update

from app import api, figures, ids
from app.callbacks.dynamics import dataset_of

MAX_CELL_DIGITS = 60


@callback(
    Output(ids.CONFUSION, "figure"),
    Output(ids.EVAL_SUMMARY, "children"),
    Output(ids.EVAL_STORE, "data"),
    Input(ids.MODEL_PICKER, "value"),
)
async def load_evaluation(model_id: str | None) -> Any:
    if not model_id:
        return figures.empty_figure("Pick a model"), "", None
    try:
        ev = await api.evaluation(model_id)
    except api.ApiError as e:
        return figures.empty_figure(f"Could not evaluate: {e.detail}"), "", None
    n = sum(sum(r) for r in ev["confusion"])
    summary = (
        f"{ev['dataset']} test set: {n} digits, {len(ev['misclassified'])} misclassified, error {ev['error']:.2f}%"
    )
    return figures.confusion_figure(ev["confusion"]), summary, {"model_id": model_id, **ev}


def cell_members(ev: dict[str, Any], true: int, predicted: int) -> list[dict[str, Any]]:
    """Misclassified digits of one cell (the API lists only misclassified ones)."""
    return [d for d in ev["misclassified"] if d["label"] == true and d["prediction"] == predicted]


@callback(
    Output(ids.CELL_DIGITS, "children"),
    Input(ids.CONFUSION, "clickData"),
    State(ids.EVAL_STORE, "data"),
    State(ids.MODELS_STORE, "data"),
    prevent_initial_call=True,
)
async def show_cell(
    click: dict[str, Any] | None, ev: dict[str, Any] | None, models: list[dict[str, Any]] | None
) -> Any:
    if not click or not ev:
        return no_update
    pt = click["points"][0]
    true, predicted = int(pt["y"]), int(pt["x"])
    if true == predicted:
        return html.P(f"{ev['confusion'][true][true]} digits of class {true} were classified correctly.")
    members = cell_members(ev, true, predicted)
    if not members:
        return html.P(f"No test digit of class {true} was taken for a {predicted}.")
    shown = members[:MAX_CELL_DIGITS]
    try:
        rows = await api.samples_at(dataset_of(models, ev["model_id"]), [d["index"] for d in shown])
    except api.ApiError as e:
        return html.Div(f"Could not load digits: {e.detail}", className="error")
    more = f" (first {MAX_CELL_DIGITS} shown)" if len(members) > MAX_CELL_DIGITS else ""
    return [
        html.P(f"{len(members)} test digits of class {true} predicted as {predicted}{more}.", className="cell-title"),
        html.Div(
            [
                dcc.Link(
                    html.Img(src=figures.digit_png(r["image"]), alt=f"test digit {r['index']}"),
                    href=f"/?model={quote(ev['model_id'])}&digit=test:{r['index']}",
                    className="thumb",
                    title=f"test digit {r['index']}: open on the dynamics page",
                )
                for r in rows
            ],
            className="gallery",
        ),
    ]
