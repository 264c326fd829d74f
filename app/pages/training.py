"""Training: start a job, follow the job list, and watch its loss terms and error rates live."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import ids

dash.register_page(__name__, path="/training", name="Training", title="DrSAE Explorer: training")

# (field, label, kind, help). Empty numeric fields take the preset's values.
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("hidden_units", "Hidden units", "number", "1 to 4096 (paper: 400)"),
    ("iterations", "Iterations T", "number", "1 to 50 (paper: 11)"),
    ("unsupervised_epochs", "Unsupervised epochs", "number", "reconstruction + sparsity only"),
    ("epochs", "Discriminative epochs", "number", "after the unsupervised ones"),
    ("learning_rate", "Learning rate", "number", "in (0, 1]"),
    ("batch_size", "Batch size", "number", "1 to 50000"),
    ("seed", "Seed", "number", "integer"),
    ("name", "Name", "text", "optional; names the model"),
    ("token", "Access token", "password", "only if the server sets DRSAE_TOKEN"),
)


def _field(name: str, label: str, kind: str, help_text: str) -> html.Div:
    return html.Div(
        className="field",
        children=[
            html.Label(label, htmlFor=f"job-{name}"),
            dcc.Input(
                id={"type": ids.JOB_FIELD, "index": name},
                type=kind,
                placeholder="preset default" if kind == "number" else "",
                autoComplete="off",
                debounce=False,
                className="input",
            ),
            html.Div(help_text, className="hint"),
            html.Div(id={"type": ids.JOB_FIELD_ERROR, "index": name}, className="field-error", role="alert"),
        ],
    )


def _choice(name: str, label: str, options: list, value: str) -> html.Div:
    """A dropdown field with its error slot, like _field for the fixed-choice options."""
    return html.Div(
        className="field",
        children=[
            html.Label(label, htmlFor=f"job-{name}"),
            dcc.Dropdown(id={"type": ids.JOB_FIELD, "index": name}, options=options, value=value, clearable=False),
            html.Div(id={"type": ids.JOB_FIELD_ERROR, "index": name}, className="field-error"),
        ],
    )


def layout(job: str | None = None, **_: object) -> html.Div:
    try:
        selected = int(job) if job is not None else None
    except ValueError:
        selected = None
    return html.Div(
        className="training-page",
        children=[
            dcc.Store(id=ids.JOBS_STORE, data=[]),
            dcc.Store(id=ids.SELECTED_JOB, data=selected),
            dcc.Store(id=ids.JOBS_REFRESH, data=0),
            dcc.Store(id=ids.JOB_PENDING, data=None),
            dcc.Interval(id=ids.JOBS_INTERVAL, interval=1000, disabled=False),
            html.Section(
                className="panel",
                children=[
                    html.H2("Start a training job"),
                    html.P(
                        "Presets: smoke (a tiny model in seconds, for checks), fast (Adam, about an hour on a CPU "
                        "for 400 units), paper (the authors' SGD recipe: days). Empty fields take the preset's values.",
                        className="help",
                    ),
                    html.Div(
                        id=ids.JOB_FORM,
                        className="form-grid",
                        children=[
                            _choice("preset", "Preset", ["smoke", "fast", "paper"], "smoke"),
                            _choice(
                                "dataset",
                                "Dataset",
                                [
                                    {"label": "MNIST", "value": "mnist"},
                                    {"label": "Fashion-MNIST", "value": "fashion-mnist"},
                                ],
                                "mnist",
                            ),
                            *[_field(*f) for f in FIELDS],
                        ],
                    ),
                    html.Div(
                        className="toolbar",
                        children=[
                            html.Button("Start training", id=ids.START_JOB, className="btn btn-primary"),
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
                    ),  # fmt: skip
                    html.Div(id=ids.JOBS_TABLE, className="jobs"),
                ],
            ),
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
                        "How many units are part-units (encoder row close to the decoder column, angle < 0.5 rad), "
                        "categorical (> 0.7 rad) or in between, the quartiles of that angle, and its rank "
                        "correlation with the classification weight ||C_i||: watch the two populations separate "
                        "once discriminative training starts. Shown when the job's epochs carry these metrics.",
                        className="help",
                    ),
                    dcc.Graph(id=ids.ROLE_CURVES, config={"displaylogo": False}, style={"height": "480px"}),
                ],
            ),
        ],
    )
