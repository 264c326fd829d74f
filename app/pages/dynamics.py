"""Dynamics (home): draw or pick a digit and watch the recurrent encoder settle over its T iterations."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import ids

dash.register_page(__name__, path="/", name="Dynamics", title="DrSAE Explorer: dynamics")


def _panel(title: str, help_text: str, *body: object, class_name: str = "") -> html.Section:
    return html.Section(
        className=f"panel {class_name}".strip(),
        children=[html.H2(title), html.P(help_text, className="help"), *body],
    )


def _graph(graph_id: str, height: int, config: dict[str, object], row_marker: bool = False) -> html.Div:
    """A graph plus the overlays static/animate.js moves each frame (a band or a line at t, fog over t' > t)."""
    overlays = [html.Div(id=f"{graph_id}-cursor", className="t-band" if row_marker else "t-line")]
    overlays.append(html.Div(id=f"{graph_id}-row", className="row-marker") if row_marker else
                    html.Div(id=f"{graph_id}-fog", className="t-fog"))  # fmt: skip
    return html.Div(
        className="graph-wrap",
        children=[dcc.Graph(id=graph_id, config=config, style={"height": f"{height}px"}), *overlays],
    )


def layout(model: str | None = None, digit: str | None = None, t: str | None = None, **_: object) -> html.Div:
    """Page state (model, digit, t) comes from the URL query, so a view can be shared."""
    try:
        t0 = int(t) if t is not None else None
    except ValueError:
        t0 = None
    graph_cfg = {"displaylogo": False, "displayModeBar": False, "responsive": True}
    return html.Div(
        className="dynamics",
        children=[
            dcc.Store(id=ids.UNITS_STORE),
            dcc.Store(id=ids.DIGIT_REF, data=digit or "test:0"),
            dcc.Store(id=ids.DIGIT_STORE),
            dcc.Store(id=ids.ENCODE_STORE, data={"initial_t": t0}),
            html.Div(
                className="col-input",
                children=[
                    _panel(
                        "Draw a digit",
                        "Draw with mouse, pen or finger. When you lift the pen the model encodes it "
                        "and plays its T iterations.",
                        html.Canvas(id=ids.DRAW_CANVAS, width=280, height=280, className="draw-canvas"),
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
                    _panel(
                        "Test digits",
                        "Click a test digit to load it instead of drawing.",
                        html.Div(id=ids.GALLERY, className="gallery"),
                        html.Div(
                            className="toolbar",
                            children=[
                                html.Button("More digits", id=ids.GALLERY_MORE, className="btn"),
                                html.Button("Random misclassified", id=ids.MISCLASSIFIED_BUTTON, className="btn"),
                            ],
                        ),
                        html.Div(id=ids.STATUS, className="status", role="status"),
                        class_name="panel-gallery",
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
                                ),  # fmt: skip
                            ),
                            html.Div("t = 11 / 11", id=ids.ITERATION_LABEL, className="iteration-label"),
                        ],
                    ),
                    html.Div(
                        className="views-grid",
                        children=[
                            _panel(
                                "Units x iterations",
                                "Activity z_i(t) of every hidden unit (rows) at each iteration (columns). "
                                "Rows: categorical units by class, then intermediate, then part units. "
                                "The red box marks the current t. Hover a row to see the unit.",
                                _graph(ids.HEATMAP, 740, graph_cfg, row_marker=True),
                                html.Div(
                                    className="scale",
                                    children=[
                                        html.Span("activity z: 0"),
                                        html.Div(className="scale-bar"),
                                        html.Span("1", id=ids.HEATMAP_ZMAX),
                                    ],
                                ),
                            ),
                            html.Div(
                                className="views-stack",
                                children=[
                                    _panel(
                                        "Categorical units build up",
                                        "Activity of each categorical unit over t, coloured by the class it votes for: "
                                        "the right class's prototypes grow while the others are suppressed. "
                                        "Click a class in the legend to isolate it. "
                                        "The fog covers iterations still to come.",
                                        _graph(ids.CURVES, 240, graph_cfg),
                                    ),
                                    _panel(
                                        "Class probabilities",
                                        "softmax(C z(t)) at every iteration: the decision firms up "
                                        "as the code settles.",
                                        html.Div(id=ids.PROB_AT_T, className="prob-at-t"),
                                        _graph(ids.PROBS, 220, graph_cfg),
                                    ),
                                    _panel(
                                        "Reconstruction D z(t)",
                                        "What the current code draws, at the current t (same scale as the input).",
                                        html.Div(
                                            className="recon-row",
                                            children=[
                                                html.Canvas(
                                                    id=ids.RECON_CANVAS, width=28, height=28, className="pixel-canvas"
                                                ),
                                                html.Div(
                                                    id=ids.UNIT_CARD,
                                                    className="unit-card",
                                                    children=[
                                                        html.Div("hovered unit", className="kicker"),
                                                        html.Img(id=ids.UNIT_CARD_IMG, className="filter-img", alt=""),
                                                        html.Div(
                                                            "Hover a unit in the heat map or the curves to see its "
                                                            "decoder filter, role and class.",
                                                            id=ids.UNIT_CARD_TEXT,
                                                            className="caption",
                                                        ),  # fmt: skip
                                                        dcc.Link(
                                                            "open unit page",
                                                            id=ids.UNIT_CARD_LINK,
                                                            href="/units",
                                                            className="small-link",
                                                        ),  # fmt: skip
                                                    ],
                                                ),
                                            ],
                                        ),
                                    ),
                                ],
                            ),
                        ],
                    ),
                ],
            ),
        ],
    )
