"""Dynamics page callbacks. Python loads units, galleries and digits; static/animate.js encodes and animates
(one API call returns all T iterations; frames never come back to the server)."""

from __future__ import annotations

import random
from typing import Any

from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, html, no_update

from app import api, figures, ids
from app.callbacks.shell import model_label as shell_label

GALLERY_SIZE = 24


def dataset_of(models: list[dict[str, Any]] | None, model_id: str | None) -> str:
    """The dataset a model was trained on ('mnist' when unknown)."""
    for m in models or []:
        if m["id"] == model_id:
            return m.get("dataset") or "mnist"
    return "mnist"


def model_of(models: list[dict[str, Any]] | None, model_id: str | None) -> dict[str, Any]:
    """The model's summary row (ModelSummary), or {} when unknown."""
    return next((m for m in models or [] if m["id"] == model_id), {})


def class_names_of(models: list[dict[str, Any]] | None, model_id: str | None) -> list[str]:
    """What the model's classes are called (the API serves the names per dataset)."""
    return list(model_of(models, model_id).get("class_names") or figures.DIGIT_NAMES)


def noun_of(models: list[dict[str, Any]] | None, model_id: str | None) -> str:
    return str(model_of(models, model_id).get("item_noun") or "digit")


def iterations_of(models: list[dict[str, Any]] | None, model_id: str | None) -> int:
    for m in models or []:
        if m["id"] == model_id:
            return int(m.get("iterations") or 11)
    return 11


def slim_units(
    payload: dict[str, Any],
    model_id: str,
    T: int,
    class_names: list[str] | None = None,
    item_noun: str = "digit",
    dataset_title: str = "MNIST",
) -> dict[str, Any]:
    """What the browser needs to animate and to show hovered units: per-unit facts, row and trace order,
    the class names, and the role names (the API's) with the class and role colours (app/figures.py holds the
    palettes; the browser gets them from here)."""
    units = payload["data"]
    order, _ = figures.unit_order(units)
    return {
        "model_id": model_id,
        "T": T,
        "class_names": class_names or list(figures.DIGIT_NAMES),
        "class_colors": list(figures.CLASS_COLORS),
        "roles": list(payload["roles"]),
        "role_colors": {r: figures.ROLE_COLORS[r] for r in payload["roles"]},
        "item_noun": item_noun,
        "dataset_title": dataset_title,
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
    Output(ids.ABLATE_CLASS, "options"),
    Output(ids.ABLATE_CLASS, "value"),
    Output(ids.DRAW_TITLE, "children"),
    Output(ids.GALLERY_TITLE, "children"),
    Output(ids.MISCLASSIFIED_BUTTON, "children"),
    Input(ids.MODEL_PICKER, "value"),
    State(ids.MODELS_STORE, "data"),
)
async def load_units(model_id: str | None, models: list[dict[str, Any]] | None) -> Any:
    """Figure templates for the chosen model; the browser fills in each digit's data."""
    keep = (no_update,) * 5
    if not model_id:
        msg = figures.empty_figure("Pick a model")
        return None, msg, msg, msg, no_update, no_update, *keep
    T = iterations_of(models, model_id)
    names, noun = class_names_of(models, model_id), noun_of(models, model_id)
    wording = (
        [{"label": n, "value": str(i)} for i, n in enumerate(names)],
        "0",
        f"Draw {'a digit' if noun == 'digit' else 'an ' + noun}",
        f"Test {noun}s",
        "Random misclassified",
    )
    try:
        payload = await api.units(model_id)
    except api.ApiError as e:
        msg = figures.empty_figure(f"Could not load units: {e.detail}")
        return None, msg, msg, msg, no_update, no_update, *wording
    units = payload["data"]
    return (
        slim_units(payload, model_id, T, names, noun, str(model_of(models, model_id).get("dataset_title") or "")),
        figures.heatmap_figure(units, None, T, names),
        figures.curves_figure(units, None, T, names),
        figures.probabilities_figure(None, T, names),
        T,
        {i: str(i) for i in range(1, T + 1)},
        *wording,
    )


def intro_iterations(model: dict[str, Any]) -> str:
    """The intro's words on T: the model's own (models differ; the paper's is 11, docs/model.md)."""
    T = model.get("iterations")
    return f"T = {T} for this model" if T else "T depends on the model"


def curves_help(model: dict[str, Any]) -> str:
    """What the categorical-unit curves show: the paper's prototype story only for a model whose card says it
    shows the paper's structure (the API's shows_paper_structure)."""
    head = "Activity of each categorical unit over t, coloured by the class it votes for: "
    shows, roles = model.get("shows_paper_structure"), model.get("roles") or {}
    if shows:
        story = "the right class's prototypes grow while the others are suppressed. "
    elif roles and not roles.get("part"):
        story = ("this model has no part-units, so it lacks the paper's part/categorical split: its units need not "
                 "act as class prototypes. ")
    elif shows is False:
        story = ("this model does not show all of the paper's structure (see its card), so these need not be "
                 "prototypes. ")
    else:
        story = "whether this model shows the paper's structure is not measured (it has no model card). "
    return head + story + "Click a class in the legend to isolate it. The fog covers iterations still to come."


@callback(
    Output(ids.INTRO_ITERATIONS, "children"),
    Output(ids.CURVES_HELP, "children"),
    Input(ids.MODEL_PICKER, "value"),
    Input(ids.MODELS_STORE, "data"),
)
def model_wording(model_id: str | None, models: list[dict[str, Any]] | None) -> Any:
    model = model_of(models, model_id)
    return intro_iterations(model), curves_help(model)


@callback(
    Output(ids.COMPARE_PICKER, "options"),
    Output(ids.COMPARE_PICKER, "value"),
    Output(ids.COMPARE_PICKER, "placeholder"),
    Input(ids.MODELS_STORE, "data"),
    Input(ids.MODEL_PICKER, "value"),
    State(ids.COMPARE_PICKER, "options"),
    State(ids.ENCODE_STORE, "data"),
)
def compare_options(
    models: list[dict[str, Any]] | None, model_id: str | None, shown: list[Any] | None, page: dict[str, Any] | None
) -> Any:
    """Every other model, the ones showing the paper's structure marked. The first list selects the model the
    URL compares with: the dropdown clears a value its options lack, so the layout cannot set it before the list
    has come. A model the URL names that does not exist selects nothing and says so."""
    options = [{"label": shell_label(m), "value": m["id"]} for m in models or [] if m["id"] != model_id]
    wanted = (page or {}).get("compare")
    if shown or not options or not wanted:
        return options, no_update, no_update
    if any(o["value"] == wanted for o in options):
        return options, wanted, no_update
    known = any(m["id"] == wanted for m in models or [])  # else it is the model shown
    return options, None, no_update if known else f"no model '{wanted}': pick one to compare"


@callback(
    Output(ids.GALLERY, "children"),
    Input(ids.MODEL_PICKER, "value"),
    Input(ids.GALLERY_MORE, "n_clicks"),
    State(ids.MODELS_STORE, "data"),
)
async def load_gallery(model_id: str | None, more: int | None, models: list[dict[str, Any]] | None) -> Any:
    """A page of test digits from the model's dataset; 'More digits' shows a random other page."""
    dataset = dataset_of(models, model_id)
    names, noun = class_names_of(models, model_id), noun_of(models, model_id)
    try:
        total = (await api.samples(dataset, "test", 0, 1))["total"] if more else 0
        start = random.randrange(0, max(1, total - GALLERY_SIZE)) if more else 0
        rows = (await api.samples(dataset, "test", start, GALLERY_SIZE))["data"]
    except api.ApiError as e:
        return html.Div(f"Could not load test digits: {e.detail}", className="error")
    return [
        html.Button(
            html.Img(src=figures.digit_png(r["image"]), alt=f"test {noun} {r['index']}, {names[r['label']]}"),
            id={"type": ids.GALLERY_DIGIT, "index": r["index"]},
            className="thumb",
            title=f"test {noun} {r['index']} (label {names[r['label']]})",
        )
        for r in rows
    ]


@callback(
    Output(ids.DIGIT_REF, "data"),
    Output(ids.STATUS, "children"),
    Input({"type": ids.GALLERY_DIGIT, "index": ALL}, "n_clicks"),
    Input(ids.MISCLASSIFIED_BUTTON, "n_clicks"),
    State(ids.MODEL_PICKER, "value"),
    State(ids.MODELS_STORE, "data"),
    prevent_initial_call=True,
)
async def pick_digit(
    _clicks: list[int | None], _mis: int | None, model_id: str | None, models: list[dict[str, Any]] | None
) -> Any:
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
        names, noun = class_names_of(models, model_id), noun_of(models, model_id)
        if not ev["misclassified"]:
            return no_update, f"This model classifies every test {noun} correctly."
        d = random.choice(ev["misclassified"])
        msg = f"Test {noun} {d['index']}: true {names[d['label']]}, predicted {names[d['prediction']]}."
        return f"test:{d['index']}", msg
    return f"test:{trig['index']}", ""


@callback(
    Output(ids.DIGIT_STORE, "data"),
    Input(ids.DIGIT_REF, "data"),
    Input(ids.MODELS_STORE, "data"),
    State(ids.MODEL_PICKER, "value"),
    State(ids.DIGIT_STORE, "data"),
)
def digit_of(ref: str | None, models: list[dict[str, Any]] | None, model_id: str | None, have: Any) -> Any:
    """The named test digit as a reference ({ref, dataset, index}): the browser asks the API to encode it by
    reference, so its pixels never pass through here."""
    index = figures.parse_digit_ref(ref)
    if index is None or not models:
        return no_update
    digit = {"ref": ref, "dataset": dataset_of(models, model_id), "index": index}
    if ctx.triggered_id != ids.DIGIT_REF and have == digit:
        return no_update  # the model list refreshed: the same digit, not a new one
    return digit


# Encode the current digit (on a new digit or a new model) and animate it: static/animate.js. It, the
# slider's and the model picker's hooks have no output: they act in the browser (Dash's output-less callbacks).
clientside_callback(
    ClientsideFunction("drsae", "onData"),
    Input(ids.DIGIT_STORE, "data"),
    Input(ids.UNITS_STORE, "data"),
    State(ids.ENCODE_STORE, "data"),
)

# Scrubbing the slider pauses and shows that iteration.
clientside_callback(
    ClientsideFunction("drsae", "onSlider"),
    Input(ids.ITERATION_SLIDER, "value"),
    prevent_initial_call=True,
)

# Units: hover shows one in the card, a click (or its number typed in the card) chooses it: static/steer.js.
clientside_callback(
    ClientsideFunction("drsae", "onUnit"),
    Output(ids.UNIT_CARD_IMG, "src"),
    Output(ids.UNIT_CARD_TEXT, "children"),
    Output(ids.UNIT_CARD_LINK, "href"),
    Output(ids.ABLATE_BUTTON, "disabled"),
    Output(ids.CLAMP_BUTTON, "disabled"),
    Output(ids.UNIT_INPUT, "value"),
    Input(ids.HEATMAP, "hoverData"),
    Input(ids.CURVES, "hoverData"),
    Input(ids.HEATMAP, "clickData"),
    Input(ids.CURVES, "clickData"),
    Input(ids.UNIT_INPUT, "value"),
    prevent_initial_call=True,
)
# The intro follows the visitor's stored choice; its summary line flips that choice (static/intro.js).
clientside_callback("(closed) => !closed", Output(ids.INTRO, "open"), Input(ids.INTRO_CLOSED, "data"))
# A new model: say so until its first encode is shown (static/animate.js).
clientside_callback(
    ClientsideFunction("drsae", "onModelPick"),
    Input(ids.MODEL_PICKER, "value"),
    prevent_initial_call=True,
)
# What the compare picker, the class to ablate, the figure to export and the fixed scale are set to, as one
# store; static/steer.js copies it into the browser's state, whose readers follow it (a new compared model is
# encoded, a new scale re-encodes).
clientside_callback(
    ClientsideFunction("drsae", "onChoices"),
    Output(ids.DYNAMICS_CHOICES, "data"),
    Input(ids.COMPARE_PICKER, "value"),
    Input(ids.ABLATE_CLASS, "value"),
    Input(ids.EXPORT_FIGURE, "value"),
    Input(ids.FIXED_SCALE, "value"),
    Input(ids.FIXED_SCALE_MAX, "value"),
)
# A chosen PNG is encoded, then the upload forgets it, so choosing the same file again encodes it again.
clientside_callback(
    ClientsideFunction("drsae", "onUpload"),
    Output(ids.UPLOAD, "contents"),
    Input(ids.UPLOAD, "contents"),
    prevent_initial_call=True,
)
