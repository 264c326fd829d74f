"""Evaluation page callbacks: confusion matrix for the chosen model; a clicked cell lists its digits."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

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
    Output(ids.EVAL_CELL, "data"),
    Input(ids.CONFUSION, "clickData"),
    prevent_initial_call=True,
)
def pick_cell(click: dict[str, Any] | None) -> Any:
    if not click:
        return no_update
    pt = click["points"][0]
    return [int(pt["y"]), int(pt["x"])]


# The chosen cell goes into the URL without a navigation, so Back from a digit's Dynamics page restores it.
# No output: it acts on the browser's history only.
clientside_callback(
    """function (cell) {
        if (!cell || window.location.pathname !== "/evaluation") return;
        const q = new URLSearchParams(window.location.search);
        q.set("cell", `${cell[0]}-${cell[1]}`);
        window.history.replaceState(window.history.state, "", `${window.location.pathname}?${q}`);
    }""",
    Input(ids.EVAL_CELL, "data"),
)


@callback(
    Output(ids.CELL_DIGITS, "children"),
    Input(ids.EVAL_CELL, "data"),
    Input(ids.EVAL_STORE, "data"),
    State(ids.MODELS_STORE, "data"),
)
async def show_cell(cell: list[int] | None, ev: dict[str, Any] | None, models: list[dict[str, Any]] | None) -> Any:
    if not cell or not ev:
        return no_update
    true, predicted = int(cell[0]), int(cell[1])
    n = len(ev["confusion"])
    if not (0 <= true < n and 0 <= predicted < n):
        return html.P("Click a cell of the matrix.")
    if true == predicted:
        return html.P(
            f"{ev['confusion'][true][true]} digits of class {true} were classified correctly; only misclassified "
            "digits are listed: click a cell off the diagonal."
        )
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
