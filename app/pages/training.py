"""Training: start a job, follow the job list, and watch its loss terms and error rates live."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import ids

dash.register_page(__name__, path="/training", name="Training", title="DrSAE Explorer: training")
JOBS_POLL_MS = 10_000

def layout(job: str | None = None, **_: object) -> html.Div:
    try:
        selected = int(job) if job is not None else None
    except ValueError:
        selected = None
    return html.Div(
        className="training-page",
        children=[
            dcc.Store(id=ids.JOBS_STORE, data=[]),
            dcc.Store(id=ids.JOBS_SHAPE, data=None),
            dcc.Store(id=ids.SELECTED_JOB, data=selected),
            dcc.Store(id=ids.JOBS_REFRESH, data=0),
            dcc.Store(id=ids.JOB_PENDING, data=None),
            dcc.Store(id=ids.JOB_OPTIONS, data=None),
            dcc.Store(id=ids.JOB_LIVE, data=None),
            html.Div(id=ids.JOBS_FOLLOW, hidden=True),
            # Progress arrives on the event stream (static/jobs.js); this slow poll only notices jobs that
            # change elsewhere (another tab, the queue moving on).
            dcc.Interval(id=ids.JOBS_INTERVAL, interval=JOBS_POLL_MS, disabled=False),
            html.Section(
                className="panel",
                children=[
                    html.H2("Start a training job"),
                    html.P("A preset is a whole recipe; empty fields take its values.", className="help"),
                    html.Div(id=ids.JOB_FORM, className="form-grid", children=html.P("Loading the options…")),
                    html.Div(
                        className="toolbar",
                        children=[
                            html.Button("Start training", id=ids.START_JOB, className="btn btn-primary", disabled=True),
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
        ],
    )
