"""The hook the server calls: build the single Dash app on the FastAPI instance (docs/api.md).

`server/main.py` registers every /api route first, then calls `attach(api)`. One Dash app per process.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import fastapi
from dash import Dash
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import api as api_client
from app import ids
from app.layout import shell

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("drsae.dashboard")


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


UPDATE = "/_dash-update-component"
SUITES = "/_dash-component-suites/"


async def _answer(send: Send, code: int, detail: str) -> None:
    """The API's error shape, `{"detail": ...}`, for the dashboard's routes too."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _DashErrors:
    """Inside Dash's middleware, which would answer any exception with its own 500: a file Dash does not serve
    (`/_dash-component-suites/dash/x.js`, `..` paths) is a 404; any other failure a logged JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as e:
            if started or type(e).__name__ == "PreventUpdate":  # Dash's own "no change": its 204
                raise
            if scope["path"].startswith(SUITES):
                await _answer(send, 404, f"Not found: {scope['path'][:200]}")
                return
            log.error("%s %s failed", scope.get("method"), scope["path"], exc_info=e)
            await _answer(send, 500, f"Internal server error ({type(e).__name__}); the server log has details")


class _DashBodyCheck:
    """A callback request must be a JSON object naming its output: anything else is a 4xx here, before Dash
    (which answered a text/plain or malformed body with a 500). The body is bounded by the server's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != UPDATE or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype != b"application/json":
            await _answer(send, 415, "Dashboard callbacks must be sent as JSON (Content-Type: application/json)")
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError as e:
            await _answer(send, 400, f"The callback body is not valid JSON ({e})")
            return
        if not isinstance(parsed, dict) or not isinstance(parsed.get("output"), str):
            await _answer(send, 400, "The callback body must be a JSON object with an 'output' string")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def attach(api: fastapi.FastAPI) -> None:
    """Create the Dash app at "/" on `api`; the API client (app/api.py) calls `api` in-process."""
    api_client.configure(api)
    api.add_middleware(_DashErrors)  # before Dash adds its middleware: inside it
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
    api.add_middleware(_DashBodyCheck)
