"""The hook the server calls: build the single Dash app on the FastAPI instance (docs/api.md).

`server/main.py` registers every /api route first, then calls `attach(api)`. One Dash app per process.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from pathlib import Path
from typing import Any

import fastapi
from dash import Dash
from starlette.types import ASGIApp, Receive, Scope, Send

from app import api as api_client
from app import ids
from app.layout import shell

REPO = Path(__file__).resolve().parent.parent


class _DashFirstRequest:
    """Run Dash's first-request setup (assets, inline scripts, callbacks, the pages router) before the first
    page is served, whatever its path.

    Dash 4.4.1's FastAPI middleware runs that setup only for "/" and "/_dash-*" requests, so a first visit
    to e.g. /units got an index page without the assets and the clientside functions (console errors)."""

    def __init__(self, app: ASGIApp, dash_app: Dash) -> None:
        self.app = app
        self.dash_app = dash_app
        self.done = False
        self.lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.done and scope["type"] == "http" and not scope["path"].startswith("/api"):
            async with self.lock:
                if not self.done:
                    for func in self.dash_app.backend._before_request_funcs:  # noqa: SLF001
                        result: Any = func()
                        if inspect.isawaitable(result):
                            await result
                    self.done = True
        await self.app(scope, receive, send)


def attach(api: fastapi.FastAPI) -> None:
    """Create the Dash app at "/" on `api`; the API client (app/api.py) calls `api` in-process."""
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
    # The element ids static/*.js needs, from app/ids.py, ahead of the scripts that use them.
    dash_app.index_string = dash_app.index_string.replace("{%scripts%}", ids.browser_script() + "{%scripts%}", 1)
    # Registers every page's dash.callback functions (Dash collects them when the first request comes in).
    # Dash keeps pages and callbacks in globals: one Dash app per process (a second attach gets no callbacks).
    importlib.import_module("app.callbacks.all")
    api.add_middleware(_DashFirstRequest, dash_app=dash_app)
