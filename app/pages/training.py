"""Training: start a job or a sweep, follow the job list, watch a job's curves live, and compare runs: a
sortable runs table, overlaid curves (grouped, smoothed) and parallel coordinates of settings and results."""

from __future__ import annotations

import dash
from dash import dash_table, dcc, html

from app import figures, ids

dash.register_page(__name__, path="/training", name="Training", title="DrSAE Explorer: training")
JOBS_POLL_MS = 10_000

def _ids(text: str | None) -> list[int]:
    """'3,4,7' from the URL -> [3, 4, 7]; anything else is left out."""
    return [int(t) for t in (text or "").split(",") if t.strip().isdigit()]


def _smoothing(text: str | None) -> float:
    try:
        value = float(text) if text is not None else 0.0
    except ValueError:
        return 0.0
    return min(max(value, 0.0), SMOOTH_MAX) if value == value else 0.0  # NaN -> 0


SMOOTH_MAX = 0.95


def layout(
    job: str | None = None, runs: str | None = None, group: str | None = None, smooth: str | None = None,
    metric: str | None = None, **_: object,
) -> html.Div:
    """The page; the URL's job (the plotted job), runs (compared), group, smooth and metric restore its state."""
    chosen = _ids(job)
    selected = chosen[0] if chosen else None
    group = group if group in figures.GROUP_FIELDS else ""
    metric = metric if metric in figures.COMPARE_METRICS else "val_error"
    return html.Div(
        className="training-page",
        children=[
            dcc.Store(id=ids.JOBS_STORE, data=[]),
            dcc.Store(id=ids.JOBS_SHAPE, data=None),
            dcc.Store(id=ids.SELECTED_JOB, data=selected),
            dcc.Store(id=ids.JOBS_REFRESH, data=0),
            dcc.Store(id=ids.JOB_PENDING, data=None),
            dcc.Store(id=ids.JOB_OPTIONS, data=None),
            dcc.Store(id=ids.CURVES_REFRESH, data=None),
            dcc.Store(id=ids.SELECTED_RUNS, data=_ids(runs)),
            html.Div(id=ids.JOBS_FOLLOW, hidden=True),
            html.Div(id=ids.TRAINING_URL, hidden=True),
            # Progress arrives on the event stream (static/jobs.js); this slow poll only notices jobs that
            # change elsewhere (another tab, the queue moving on).
            dcc.Interval(id=ids.JOBS_INTERVAL, interval=JOBS_POLL_MS, disabled=False),
            html.Section(
                className="panel",
                children=[
                    html.H2("Start a training job"),
                    html.P(
                        "A preset is a whole recipe; empty fields take its values. For a sweep, give a field several "
                        "values separated by commas (learning rate 0.01, 0.02), or several seeds as 'seeds: 3': "
                        "every combination trains, side by side in one process.",
                        className="help",
                    ),
                    html.Div(id=ids.JOB_FORM, className="form-grid", children=html.P("Loading the options…")),
                    html.Div(
                        className="toolbar",
                        children=[
                            html.Button("Start training", id=ids.START_JOB, className="btn btn-primary", disabled=True),
                            html.Span(id=ids.SWEEP_COUNT, className="sweep-count", role="status"),
                            html.Div(id=ids.JOB_MESSAGE, className="status", role="status"),
                        ],
                    ),
                ],
            ),
            html.Section(
                className="panel",
                children=[
                    html.H2("Jobs"),
                    html.P(
                        "Newest first. Click a job to plot its curves. Finished jobs add a model to the picker.",
                        className="help",
                    ),
                    html.Div(id=ids.JOBS_TABLE, className="jobs"),
                ],
            ),
            runs_panel(),
            compare_panel(group, _smoothing(smooth), metric),
            html.Section(
                className="panel span-all",
                children=[
                    html.H2("Live curves"),
                    html.P(
                        "Loss terms per epoch (log scale) and error rates. The dashed line marks the switch from "
                        "unsupervised (reconstruction + sparsity) to discriminative training (+ classification). "
                        "Zoom is kept while new epochs arrive.",
                        className="help",
                    ),
                    dcc.Graph(id=ids.TRAINING_CURVES, config={"displaylogo": False}, style={"height": "520px"}),
                ],
            ),
            html.Section(
                className="panel span-all",
                children=[
                    html.H2("Unit roles over epochs"),
                    html.P(
                        "How many units are part-units (encoder row close to the decoder column, angle < 0.5 rad) "
                        "and how many categorical (> 0.7 rad), the quartiles of that angle, and its rank "
                        "correlation with the classification weight ||C_i||: watch the two populations separate "
                        "once discriminative training starts. Shown when the job's epochs carry these metrics.",
                        className="help",
                    ),
                    dcc.Graph(id=ids.ROLE_CURVES, config={"displaylogo": False}, style={"height": "480px"}),
                ],
            ),
            roles_panel(),
        ],
    )


RUN_COLUMNS = (
    ("run", "run", "markdown"), ("sweep", "sweep", "numeric"), ("status", "status", "text"),
    ("lr", "learning rate", "numeric"), ("seed", "seed", "numeric"), ("hidden", "units", "numeric"),
    ("T", "T", "numeric"), ("epochs", "epochs", "text"), ("best_val", "best val %", "numeric"),
    ("last_val", "last val %", "numeric"), ("test_at_best", "test % at best", "numeric"),
    ("part", "part", "numeric"), ("categorical", "categorical", "numeric"), ("verdicts", "signs met", "text"),
    ("time", "time", "text"), ("links", "model", "markdown"),
)


def runs_panel() -> html.Section:
    return html.Section(
        className="panel span-all",
        children=[
            html.H2("Runs"),
            html.P(
                "Every job and sweep member with its settings and results: the best validation error, the test "
                "error of the checkpoint kept at it, unit counts and how many of the paper's six structure signs "
                "the model meets. Sort by a column header, filter under it (e.g. < 5), tick runs to compare them.",
                className="help",
            ),
            dash_table.DataTable(
                id=ids.RUNS_TABLE,
                columns=[{"id": c, "name": n, "type": "text" if t == "markdown" else t,
                          **({"presentation": "markdown"} if t == "markdown" else {})} for c, n, t in RUN_COLUMNS],
                data=[],
                row_selectable="multi",
                selected_rows=[],
                sort_action="native",
                filter_action="native",
                page_size=20,
                markdown_options={"link_target": "_self"},
                style_table={"overflowX": "auto"},
                style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 6px"},
                style_header={"fontWeight": "600"},
            ),
        ],
    )


def compare_panel(group: str, smooth: float, metric: str) -> html.Section:
    groups = [{"label": "each run", "value": ""}] + [
        {"label": f"by {name}", "value": key} for key, name in figures.GROUP_FIELDS.items()
    ]
    metrics = [{"label": name, "value": key} for key, name in figures.COMPARE_METRICS.items()]
    return html.Section(
        className="panel span-all",
        children=[
            html.H2("Compare runs"),
            html.P(
                "The ticked runs' curves of one metric, one colour per run; grouped by a setting, each value's "
                "mean with the band from its lowest to its highest run. Smoothing keeps the raw series, faint, "
                "beneath. Zoom is kept while epochs arrive.",
                className="help",
            ),
            html.Div(
                className="toolbar compare-controls",
                children=[
                    html.Label(["Metric", dcc.Dropdown(id=ids.COMPARE_METRIC, options=metrics, value=metric,
                                                       clearable=False, style={"minWidth": "240px"})]),
                    html.Label(["Group", dcc.Dropdown(id=ids.COMPARE_GROUP, options=groups, value=group,
                                                      clearable=False, style={"minWidth": "180px"})]),
                    html.Label(
                        ["Smoothing", dcc.Slider(id=ids.COMPARE_SMOOTH, min=0, max=SMOOTH_MAX, step=0.05, value=smooth,
                                                 marks={0: "0", 0.5: "0.5", SMOOTH_MAX: f"{SMOOTH_MAX:g}"},
                                                 tooltip={"placement": "bottom"})],
                        className="compare-smooth",
                    ),
                ],
            ),
            dcc.Graph(id=ids.COMPARE_CURVES, config={"displaylogo": False}, style={"height": "420px"}),
            html.H3("Settings against results"),
            html.P(
                "Parallel coordinates of the ticked runs (all runs with a validation error when fewer than two "
                "are ticked): the settings that differ, the best validation error and the part-unit count. "
                "Drag along an axis to pick a range.",
                className="help",
            ),
            dcc.Graph(id=ids.PARALLEL_COORDS, config={"displaylogo": False}, style={"height": "340px"}),
        ],
    )


def roles_panel() -> html.Section:
    return html.Section(
        className="panel span-all",
        children=[
            html.H2("Roles forming"),
            html.P(
                "The plotted job's units as the trainer saw them at several epochs (it keeps up to 64 units' "
                "decoder filters at the start and at up to 30 epochs): rows are units, grouped by the role they "
                "end with, so strokes (part-units) and whole-digit prototypes (categorical-units) can be watched "
                "appearing. Below, every unit's angle against ||C_i|| at the slider's epoch.",
                className="help",
            ),
            dcc.Store(id=ids.ROLES_SHOWN, data=None),
            html.Div(id=ids.ROLES_FILTERS, className="roles-filters"),
            html.Div(dcc.Slider(id=ids.ROLES_EPOCH, min=0, max=1, step=None, value=None, marks={}),
                     className="roles-epoch"),
            dcc.Graph(id=ids.ROLES_SCATTER, config={"displaylogo": False}, style={"height": "360px"}),
        ],
    )
