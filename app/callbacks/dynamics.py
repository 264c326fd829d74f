"""Dynamics page callbacks. Python loads units, galleries and digits; static/animate.js encodes and animates
(one API call returns all T iterations; frames never come back to the server)."""

from __future__ import annotations

import random
from typing import Any

from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, html, no_update

from app import api, figures, ids

GALLERY_SIZE = 24


def dataset_of(models: list[dict[str, Any]] | None, model_id: str | None) -> str:
    """The dataset a model was trained on ('mnist' when unknown)."""
    for m in models or []:
        if m["id"] == model_id:
            return m.get("dataset") or "mnist"
    return "mnist"


def iterations_of(models: list[dict[str, Any]] | None, model_id: str | None) -> int:
    for m in models or []:
        if m["id"] == model_id:
            return int(m.get("iterations") or 11)
    return 11


def slim_units(payload: dict[str, Any], model_id: str, T: int) -> dict[str, Any]:
    """What the browser needs to animate and to show hovered units: per-unit facts, row and trace order."""
    units = payload["data"]
    order, _ = figures.unit_order(units)
    return {
        "model_id": model_id,
        "T": T,
        "units": {
            str(u["index"]): {k: u[k] for k in ("index", "role", "class", "angle", "c_norm", "decoder_png")}
            for u in units
        },
        "order": order,
        "curve_groups": figures.curve_groups(units),
    }


@callback(
    Output(ids.UNITS_STORE, "data"),
    Output(ids.HEATMAP, "figure"),
    Output(ids.CURVES, "figure"),
    Output(ids.PROBS, "figure"),
    Output(ids.ITERATION_SLIDER, "max"),
    Output(ids.ITERATION_SLIDER, "marks"),
    Input(ids.MODEL_PICKER, "value"),
    State(ids.MODELS_STORE, "data"),
)
async def load_units(model_id: str | None, models: list[dict[str, Any]] | None) -> Any:
    """Figure templates for the chosen model; the browser fills in each digit's data."""
    if not model_id:
        msg = figures.empty_figure("Pick a model")
        return None, msg, msg, msg, no_update, no_update
    T = iterations_of(models, model_id)
    try:
        payload = await api.units(model_id)
    except api.ApiError as e:
        msg = figures.empty_figure(f"Could not load units: {e.detail}")
        return None, msg, msg, msg, no_update, no_update
    units = payload["data"]
    return (
        slim_units(payload, model_id, T),
        figures.heatmap_figure(units, None, T),
        figures.curves_figure(units, None, T),
        figures.probabilities_figure(None, T),
        T,
        {i: str(i) for i in range(1, T + 1)},
    )


@callback(
    Output(ids.GALLERY, "children"),
    Input(ids.MODEL_PICKER, "value"),
    Input(ids.GALLERY_MORE, "n_clicks"),
    State(ids.MODELS_STORE, "data"),
)
async def load_gallery(model_id: str | None, more: int | None, models: list[dict[str, Any]] | None) -> Any:
    """A page of test digits from the model's dataset; 'More digits' shows a random other page."""
    dataset = dataset_of(models, model_id)
    try:
        total = (await api.samples(dataset, "test", 0, 1))["total"] if more else 0
        start = random.randrange(0, max(1, total - GALLERY_SIZE)) if more else 0
        rows = (await api.samples(dataset, "test", start, GALLERY_SIZE))["data"]
    except api.ApiError as e:
        return html.Div(f"Could not load test digits: {e.detail}", className="error")
    return [
        html.Button(
            html.Img(src=figures.digit_png(r["image"]), alt=f"test digit {r['index']}"),
            id={"type": ids.GALLERY_DIGIT, "index": r["index"]},
            className="thumb",
            title=f"test digit {r['index']} (label {r['label']})",
        )
        for r in rows
    ]


@callback(
    Output(ids.DIGIT_REF, "data"),
    Output(ids.STATUS, "children"),
    Input({"type": ids.GALLERY_DIGIT, "index": ALL}, "n_clicks"),
    Input(ids.MISCLASSIFIED_BUTTON, "n_clicks"),
    State(ids.MODEL_PICKER, "value"),
    prevent_initial_call=True,
)
async def pick_digit(_clicks: list[int | None], _mis: int | None, model_id: str | None) -> Any:
    """A gallery click or 'random misclassified' names the digit to load ('test:<index>')."""
    trig = ctx.triggered_id
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update  # components appearing, not a click
    if trig == ids.MISCLASSIFIED_BUTTON:
        if not model_id:
            return no_update, "Pick a model first."
        try:
            ev = await api.evaluation(model_id)
        except api.ApiError as e:
            return no_update, f"Could not evaluate: {e.detail}"
        if not ev["misclassified"]:
            return no_update, "This model classifies every test digit correctly."
        d = random.choice(ev["misclassified"])
        return f"test:{d['index']}", f"Test digit {d['index']}: true {d['label']}, predicted {d['prediction']}."
    return f"test:{trig['index']}", ""


@callback(
    Output(ids.DIGIT_STORE, "data"),
    Output(ids.STATUS, "children", allow_duplicate=True),
    Input(ids.DIGIT_REF, "data"),
    Input(ids.MODELS_STORE, "data"),
    State(ids.MODEL_PICKER, "value"),
    State(ids.DIGIT_STORE, "data"),
    prevent_initial_call="initial_duplicate",
)
async def fetch_digit(ref: str | None, models: list[dict[str, Any]] | None, model_id: str | None, have: Any) -> Any:
    """Fetch the named test digit; the browser encodes it (preprocess 'none') and animates."""
    index = figures.parse_digit_ref(ref)
    if index is None or not models:
        return no_update, no_update
    dataset = dataset_of(models, model_id)
    if have and have.get("ref") == ref and have.get("dataset") == dataset:
        return no_update, no_update
    try:
        row = await api.sample(dataset, index)
    except api.ApiError as e:
        return no_update, f"Could not load test digit {index}: {e.detail}"
    return {"ref": ref, "dataset": dataset, "index": index, "label": row["label"], "image": row["image"]}, no_update


# Encode the current digit (on a new digit or a new model) and animate it: static/animate.js.
clientside_callback(
    ClientsideFunction("drsae", "onData"),
    Output(ids.ENCODE_STORE, "data"),
    Input(ids.DIGIT_STORE, "data"),
    Input(ids.UNITS_STORE, "data"),
    State(ids.ENCODE_STORE, "data"),
)

# Scrubbing the slider pauses and shows that iteration.
clientside_callback(
    ClientsideFunction("drsae", "onSlider"),
    Output(ids.ITERATION_LABEL, "title"),
    Input(ids.ITERATION_SLIDER, "value"),
    prevent_initial_call=True,
)

# Linked hover: a unit under the pointer in either view shows its decoder filter, role and class.
clientside_callback(
    ClientsideFunction("drsae", "onHoverUnit"),
    Output(ids.UNIT_CARD_IMG, "src"),
    Output(ids.UNIT_CARD_TEXT, "children"),
    Output(ids.UNIT_CARD_LINK, "href"),
    Input(ids.HEATMAP, "hoverData"),
    Input(ids.CURVES, "hoverData"),
    prevent_initial_call=True,
)
