"""Dynamics (home): draw or pick a digit and watch the recurrent encoder settle over its T iterations."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import figures, ids

dash.register_page(__name__, path="/", name="Dynamics", title="DrSAE Explorer: dynamics")


def _panel(title: str, help_text: str, *body: object, class_name: str = "", help_id: str | None = None) -> html.Section:
    help_props = {"id": help_id} if help_id else {}
    return html.Section(
        className=f"panel {class_name}".strip(),
        children=[html.H2(title), html.P(help_text, className="help", **help_props), *body],
    )


def _graph(
    graph_id: str, height: int, config: dict[str, object], label: str, row_marker: bool = False, decision: bool = False
) -> html.Div:
    """A graph plus the overlays static/animate.js moves each frame (a band or a line at t, fog over t' > t,
    the decision iteration)."""
    overlays = [html.Div(id=graph_id + ids.CURSOR_SUFFIX, className="t-band" if row_marker else "t-line")]
    overlays.append(html.Div(id=graph_id + ids.ROW_SUFFIX, className="row-marker") if row_marker else
                    html.Div(id=graph_id + ids.FOG_SUFFIX, className="t-fog"))
    if decision:
        overlays.append(html.Div(html.Span(className="decision-label"), id=ids.DECISION_MARK,
                                 className="t-decision"))
    return html.Div(
        className="graph-wrap",
        role="img",
        **{"aria-label": label},
        children=[dcc.Graph(id=graph_id, config=config, style={"height": f"{height}px"}), *overlays],
    )


PAPER_URL = "https://arxiv.org/abs/1301.3775"


def intro() -> html.Details:
    """What a visitor needs on the first visit: what a DrSAE is, what to do here, where the paper is. Closed
    once, it stays closed on later visits (the choice is kept in the browser); its summary line opens it again."""
    return html.Details(
        id=ids.INTRO,
        open=True,
        className="panel intro span-all",
        children=[
            html.Summary("What is this?"),
            html.P(
                [
                    "A discriminative recurrent sparse auto-encoder (DrSAE; Rolfe & LeCun, ",
                    html.A("ICLR 2013", href=PAPER_URL, target="_blank", rel="noopener"),
                    ") encodes an image by running one recurrent ReLU layer T times (",
                    html.Span("T depends on the model", id=ids.INTRO_ITERATIONS),
                    "), z(t) = max(0, E x + S z(t-1) - b), then classifies z(T) and reconstructs the image from it. "
                    "Trained well, its units split into part-units (pen strokes, driven by the input) and "
                    "categorical-units (whole-class prototypes that build up over the iterations).",
                ]
            ),
            html.P(
                "Draw in the black box, drop a PNG on it, or pick a test image; press Play to watch the "
                "iterations. Hover or click a unit (heat map, curves) to see its filter and what drives it, "
                "then ablate or clamp it and compare the run with the original. The model picker marks with "
                "★ the models that show the paper's part/categorical structure."
            ),
        ],
    )


def field_error(field_id: str) -> html.Span:
    """The message slot beside a steering field (static/steer.js writes into it)."""
    return html.Span(id=field_id + ids.ERROR_SUFFIX, className="field-error inline-error", role="alert")


def layout(
    model: str | None = None, digit: str | None = None, t: str | None = None, iv: str | None = None,
    compare: str | None = None, draw: str | None = None, **_: object,
) -> html.Div:
    """Page state (model, digit or drawing, t, interventions, compared model) comes from the URL query, so a
    view can be shared. A drawing is packed by static/animate.js (packDrawing) and only read there."""
    try:
        t0 = int(t) if t is not None else None
    except ValueError:
        t0 = None
    graph_cfg = {"displaylogo": False, "displayModeBar": False, "responsive": True}
    return html.Div(
        className="dynamics",
        children=[
            dcc.Store(id=ids.UNITS_STORE),
            dcc.Store(id=ids.DIGIT_REF, data=digit or (None if draw else "test:0")),
            dcc.Store(id=ids.DIGIT_STORE),
            dcc.Store(
                id=ids.ENCODE_STORE,
                data={"initial_t": t0, "iv": iv or "", "compare": compare or "", "draw": "" if digit else draw or ""},
            ),
            dcc.Store(id=ids.DYNAMICS_CHOICES),
            dcc.Store(id=ids.INTRO_CLOSED, storage_type="local"),
            intro(),
            html.Div(
                className="col-input",
                children=[
                    html.Section(
                        className="panel",
                        children=[
                            html.H2("Draw a digit", id=ids.DRAW_TITLE),
                            html.P(
                                "Draw with mouse, pen or finger, or drop a PNG on the box. When you lift the pen "
                                "the model encodes it and plays its T iterations.",
                                id=ids.DRAW_HELP,
                                className="help",
                            ),
                            html.Canvas(
                                id=ids.DRAW_CANVAS,
                                width=280,
                                height=280,
                                className="draw-canvas",
                                tabIndex="0",
                                role="img",
                                **{"aria-label": "Drawing area: draw here, or drop a PNG file"},
                            ),
                            html.Div(
                                className="toolbar",
                                children=[
                                    html.Button("Clear", id=ids.CLEAR_BUTTON, className="btn"),
                                    html.Button("Undo", id=ids.UNDO_BUTTON, className="btn"),
                                    html.Label("pen", htmlFor=ids.PEN_SIZE, className="pen-label"),
                                    dcc.Input(
                                        id=ids.PEN_SIZE, type="range", min=8, max=36, step=1, value=20, className="pen"
                                    ),
                                ],
                            ),
                            html.Div(
                                className="toolbar",
                                children=[
                                    dcc.Upload(
                                        id=ids.UPLOAD,
                                        accept="image/png",
                                        multiple=False,
                                        className="btn upload",
                                        children=html.Span("Upload a PNG"),
                                    ),
                                ],
                            ),
                        ],
                    ),
                    _panel(
                        "What the model sees",
                        "The 28x28 input after MNIST-style centring, returned by the API.",
                        html.Div(
                            className="seen-row",
                            children=[
                                html.Canvas(id=ids.INPUT_CANVAS, width=28, height=28, className="pixel-canvas"),
                                html.Div(
                                    className="prediction-box",
                                    children=[
                                        html.Div("prediction", className="kicker"),
                                        html.Div("–", id=ids.PREDICTION, className="prediction"),
                                        html.Div(id=ids.DIGIT_CAPTION, className="caption"),
                                    ],
                                ),
                            ],
                        ),
                    ),
                    html.Section(
                        className="panel panel-gallery",
                        children=[
                            html.H2("Test digits", id=ids.GALLERY_TITLE),
                            html.P("Click one to load it instead of drawing.", className="help"),
                            html.Div(id=ids.GALLERY, className="gallery"),
                            html.Div(
                                className="toolbar",
                                children=[
                                    html.Button("More digits", id=ids.GALLERY_MORE, className="btn"),
                                    html.Button("Random misclassified", id=ids.MISCLASSIFIED_BUTTON, className="btn"),
                                ],
                            ),
                            html.Div(id=ids.STATUS, className="status", role="status"),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="col-views",
                children=[
                    html.Div(
                        className="player panel",
                        children=[
                            html.Button(
                                "▶ Play", id=ids.PLAY_BUTTON, className="btn btn-primary", title="Play / pause"
                            ),
                            html.Button("◀", id=ids.STEP_BACK_BUTTON, className="btn", title="Step back"),
                            html.Button("▶|", id=ids.STEP_BUTTON, className="btn", title="Step forward"),
                            html.Div(
                                className="slider-wrap",
                                children=dcc.Slider(
                                    id=ids.ITERATION_SLIDER,
                                    min=1,
                                    max=11,
                                    step=1,
                                    value=t0 or 11,
                                    marks={i: str(i) for i in range(1, 12)},
                                    updatemode="drag",
                                ),
                            ),
                            html.Div("t = 11 / 11", id=ids.ITERATION_LABEL, className="iteration-label"),
                            html.Div(
                                ["prediction ", html.B("–", id=ids.PLAYER_PREDICTION)],
                                className="player-prediction",
                                title="the model's answer at t = T",
                            ),
                            html.Div(id=ids.BUSY, className="busy", role="status", **{"aria-live": "polite"}),
                            html.Div(
                                [
                                    "keys: ", html.Kbd("Space"), " play / pause · ", html.Kbd("←"), " ",
                                    html.Kbd("→"), " step",
                                ],
                                id=ids.KEYS_HINT,
                                className="keys-hint",
                            ),
                        ],
                    ),
                    html.Div(
                        className="views-grid",
                        children=[
                            _panel(
                                "Units x iterations",
                                "Activity z_i(t) of every hidden unit (rows) at each iteration (columns). "
                                "Rows: categorical units by class, then intermediate, then part units. "
                                "The red box marks the current t. Hover a row to see the unit, click it to steer it.",
                                _graph(
                                    ids.HEATMAP,
                                    740,
                                    graph_cfg,
                                    "Heat map of every unit's activity over the iterations",
                                    row_marker=True,
                                ),
                                html.Div(
                                    className="scale",
                                    children=[
                                        html.Span("activity z: 0"),
                                        html.Div(className="scale-bar"),
                                        html.Span("1", id=ids.HEATMAP_ZMAX),
                                    ],
                                ),
                                html.Div(
                                    className="toolbar scale-controls",
                                    children=[
                                        dcc.Checklist(
                                            id=ids.FIXED_SCALE,
                                            options=[{"label": " fixed scale, top at", "value": "fixed"}],
                                            value=[],
                                            className="inline-check",
                                        ),
                                        html.Label(
                                            [
                                                html.Span("top of the fixed scale", className="sr-only"),
                                                dcc.Input(
                                                    id=ids.FIXED_SCALE_MAX,
                                                    type="number",
                                                    min=0,
                                                    step=0.05,
                                                    value=1.0,
                                                    className="input input-narrow",
                                                ),
                                            ]
                                        ),
                                    ],
                                ),
                            ),
                            html.Div(
                                className="views-stack",
                                children=[
                                    _panel(
                                        "Categorical units build up",
                                        "Activity of each categorical unit over t, coloured by the class it votes for.",
                                        _graph(ids.CURVES, 240, graph_cfg, "Activity of the categorical units over t"),
                                        help_id=ids.CURVES_HELP,
                                    ),
                                    _panel(
                                        "Class probabilities",
                                        "softmax(C z(t)) at every iteration: the decision firms up as the code "
                                        "settles. The dashed mark is the decision iteration, from which the top "
                                        "class stays the final one; dotted lines are the run before an intervention.",
                                        html.Div(id=ids.PROB_AT_T, className="prob-at-t"),
                                        _graph(ids.PROBS, 220, graph_cfg, "Class probabilities over t", decision=True),
                                    ),
                                    _panel(
                                        "Reconstruction D z(t)",
                                        "What the current code draws at the current t, and the same split by unit "
                                        "role: a prototype from the categorical-units plus deformations from the "
                                        "part-units (intermediate units in between); the parts add up to the whole.",
                                        html.Div(
                                            id=ids.RECON_PARTS,
                                            className="recon-row recon-parts",
                                            children=[
                                                _pixels(ids.RECON_CANVAS, "D z(t)"),
                                                html.Span("=", className="op"),
                                                _pixels(ids.RECON_CATEGORICAL, "categorical"),
                                                html.Span("+", className="op"),
                                                _pixels(ids.RECON_INTERMEDIATE, "intermediate"),
                                                html.Span("+", className="op"),
                                                _pixels(ids.RECON_PART, "part"),
                                            ],
                                        ),
                                    ),
                                ],
                            ),
                        ],
                    ),
                    html.Div(className="views-grid", children=[unit_card(), compare_panel()]),
                    export_panel(),
                ],
            ),
        ],
    )


def _pixels(canvas_id: str, caption: str) -> html.Figure:
    return html.Figure(
        className="pixels",
        children=[
            html.Canvas(
                id=canvas_id,
                width=28,
                height=28,
                className="pixel-canvas",
                role="img",
                **{"aria-label": f"reconstruction: {caption}"},
            ),
            html.Figcaption(caption),
        ],
    )


def unit_card() -> html.Section:
    """The unit under the pointer (or chosen by number, for the keyboard): filter, role, what drives it over
    t, and the buttons that steer it."""
    return html.Section(
        id=ids.UNIT_CARD,
        className="panel unit-card",
        children=[
            html.H2("Steer a unit"),
            html.P(
                "Hover a unit in the heat map or the curves to see it; click it (or type its number) to choose it. "
                "Ablate sets its activity to 0, clamp to a value, from an iteration on; the re-run is shown "
                "against the original (dotted lines) and the interventions go into the URL.",
                className="help",
            ),
            html.Div(
                className="unit-head",
                children=[
                    html.Img(id=ids.UNIT_CARD_IMG, className="filter-img", alt="decoder filter of the unit"),
                    html.Div(
                        className="unit-text",
                        children=[
                            html.Label(
                                [
                                    "unit ",
                                    dcc.Input(
                                        id=ids.UNIT_INPUT,
                                        type="text",  # read as typed: static/steer.js refuses "1.5" and says why
                                        inputMode="numeric",
                                        className="input input-narrow",
                                        debounce=False,
                                        autoComplete="off",
                                    ),
                                ],
                            ),
                            field_error(ids.UNIT_INPUT),
                            html.Div(
                                "Hover a unit in the heat map or the curves to see its decoder filter, role and class.",
                                id=ids.UNIT_CARD_TEXT,
                                className="caption",
                            ),
                            dcc.Link("open unit page", id=ids.UNIT_CARD_LINK, href="/units", className="small-link"),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="toolbar",
                children=[
                    html.Label(
                        [
                            "from iteration ",
                            dcc.Input(
                                id=ids.FROM_ITERATION,
                                type="text",
                                inputMode="numeric",
                                value="1",
                                className="input input-narrow",
                                autoComplete="off",
                            ),
                            field_error(ids.FROM_ITERATION),
                        ]
                    ),
                    html.Button("Ablate", id=ids.ABLATE_BUTTON, className="btn", disabled=True),
                    html.Button("Clamp to", id=ids.CLAMP_BUTTON, className="btn", disabled=True),
                    html.Label(
                        [
                            html.Span("clamp value", className="sr-only"),
                            dcc.Input(
                                id=ids.CLAMP_VALUE,
                                type="text",
                                inputMode="decimal",
                                value="0.5",
                                className="input input-narrow",
                                autoComplete="off",
                            ),
                            field_error(ids.CLAMP_VALUE),
                        ]
                    ),
                ],
            ),
            html.Div(
                className="toolbar",
                children=[
                    html.Button("Ablate all categorical units of class", id=ids.ABLATE_CLASS_BUTTON, className="btn"),
                    dcc.Dropdown(
                        id=ids.ABLATE_CLASS,
                        options=[],
                        value="0",
                        clearable=False,
                        searchable=False,
                        className="class-dropdown",
                    ),
                ],
            ),
            html.Div(
                className="toolbar",
                children=[
                    html.Ul(id=ids.INTERVENTIONS, className="interventions", **{"aria-live": "polite"}),
                    html.Button("Clear interventions", id=ids.CLEAR_INTERVENTIONS, className="btn btn-small"),
                ],
            ),
            html.H3("What drives this unit"),
            html.P(
                "Its input over t, split as the paper explains it: the input drive E x - b, the recurrent drive from "
                "part-, intermediate- and categorical-units, and its self-connection; z(t) is the ReLU of the sum.",
                className="help",
            ),
            html.Div(
                role="img",
                **{"aria-label": "The selected unit's input over the iterations, by source"},
                children=dcc.Graph(
                    id=ids.DRIVE_GRAPH,
                    config={"displaylogo": False, "displayModeBar": False},
                    style={"height": "260px"},
                ),
            ),
        ],
    )


def compare_panel() -> html.Section:
    """The picker starts empty: its options come from a callback, which also selects the URL's compared model
    (a dropdown drops a value its options lack)."""
    return html.Section(
        id=ids.COMPARE_PANEL,
        className="panel compare",
        children=[
            html.H2("Compare with another model"),
            html.P("The same input through a second model, on the same iteration control.", className="help"),
            dcc.Dropdown(
                id=ids.COMPARE_PICKER,
                options=[],
                placeholder="pick a model to compare",
                className="compare-dropdown",
            ),
            html.Div(
                className="recon-row",
                children=[
                    _pixels(ids.COMPARE_RECON, "its D z(t)"),
                    html.Div(
                        className="prediction-box",
                        children=[
                            html.Div("its prediction", className="kicker"),
                            html.Div("–", id=ids.COMPARE_PREDICTION, className="prediction prediction-small"),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="graph-wrap",
                role="img",
                **{"aria-label": "Class probabilities of the compared model over t"},
                children=[
                    dcc.Graph(
                        id=ids.COMPARE_PROBS,
                        figure=figures.empty_figure("Pick a model to compare"),
                        config={"displaylogo": False, "displayModeBar": False},
                        style={"height": "200px"},
                    ),
                    html.Div(id=ids.COMPARE_PROBS + ids.CURSOR_SUFFIX, className="t-line"),
                    html.Div(id=ids.COMPARE_PROBS + ids.FOG_SUFFIX, className="t-fog"),
                ],
            ),
        ],
    )


def export_panel() -> html.Section:
    return html.Section(
        className="panel export",
        children=[
            html.H2("Export"),
            html.Div(
                className="toolbar",
                children=[
                    html.Span("this input's z(t), probabilities and interventions:", className="caption"),
                    html.Button("JSON", id=ids.EXPORT_JSON, className="btn btn-small"),
                    html.Button("CSV", id=ids.EXPORT_CSV, className="btn btn-small"),
                    html.Span("figure:", className="caption"),
                    dcc.Dropdown(
                        id=ids.EXPORT_FIGURE,
                        options=[
                            {"label": "units x iterations", "value": ids.HEATMAP},
                            {"label": "categorical units", "value": ids.CURVES},
                            {"label": "class probabilities", "value": ids.PROBS},
                            {"label": "unit drive", "value": ids.DRIVE_GRAPH},
                            {"label": "compared model", "value": ids.COMPARE_PROBS},
                        ],
                        value=ids.PROBS,
                        clearable=False,
                        searchable=False,
                        className="export-dropdown",
                    ),
                    html.Button("PNG", id=ids.EXPORT_PNG, className="btn btn-small"),
                    html.Button("SVG", id=ids.EXPORT_SVG, className="btn btn-small"),
                ],
            ),
        ],
    )
