"""The hook the server calls: build the single Dash app on the FastAPI instance (docs/api.md, spec stack.md).

`server/main.py` registers every /api route first, then calls `attach(api)`. One Dash app per process.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import fastapi
from dash import Dash

from app import api as api_client
from app.layout import shell

REPO = Path(__file__).resolve().parent.parent
_APP: Dash | None = None


def attach(api: fastapi.FastAPI) -> None:
    """Create the Dash app at "/" on `api`; the API client (app/api.py) calls `api` in-process."""
    global _APP
    api_client.configure(api)
    dash_app = Dash(
        __name__,
        server=api,
        url_base_pathname="/",
        use_pages=True,
        pages_folder=str(REPO / "app" / "pages"),
        assets_folder=str(REPO / "static"),
        title="DrSAE Explorer",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    dash_app.layout = shell
    # Registers every page's dash.callback functions (Dash collects them when the first request comes in).
    # Dash keeps pages and callbacks in globals: one Dash app per process (a second attach gets no callbacks).
    importlib.import_module("app.callbacks.all")
    _APP = dash_app
