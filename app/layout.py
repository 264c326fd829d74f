"""The shell around every page: header (brand, navigation, model picker) and the shared stores."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import ids

NAV_PAGES = (("/", "Dynamics"), ("/units", "Units"), ("/training", "Training"), ("/evaluation", "Evaluation"))


def shell() -> html.Div:
    """Header + page container; evaluated per page load (a function, so each visitor gets fresh stores)."""
    return html.Div(
        className="shell",
        children=[
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.MODELS_STORE, data=[]),
            dcc.Store(id=ids.MODELS_DIRTY, data=0),
            dcc.Interval(id=ids.MODELS_INTERVAL, interval=10_000),
            html.Header(
                className="topbar",
                children=[
                    html.A(
                        className="brand",
                        href="/",
                        children=[html.Span("DrSAE", className="brand-mark"), html.Span(" Explorer")],
                        title="Discriminative recurrent sparse auto-encoders (Rolfe & LeCun, ICLR 2013)",
                    ),
                    html.Nav(
                        id=ids.NAV,
                        className="nav",
                        children=[
                            dcc.Link(label, href=href, id=f"nav-{label.lower()}", className="nav-link")
                            for href, label in NAV_PAGES
                        ],
                    ),
                    html.Div(
                        className="picker",
                        children=[
                            html.Label("Model", htmlFor=ids.MODEL_PICKER, className="picker-label"),
                            dcc.Dropdown(
                                id=ids.MODEL_PICKER,
                                options=[],
                                clearable=False,
                                searchable=True,
                                placeholder="loading models…",
                                className="model-dropdown",
                            ),
                            html.Span(id=ids.MODEL_INFO, className="model-info"),
                            html.Span(id=ids.MODELS_NOTICE, className="error", role="alert"),
                        ],
                    ),
                ],
            ),
            html.Main(dash.page_container, className="page"),
        ],
    )
