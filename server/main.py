"""The app: `uvicorn server.main:app --host 127.0.0.1` serves the JSON API under /api, the docs at /docs and
the dashboard at / (when app/dashboard.py is installed). This module only composes; see server/routes/."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI, HTTPException, Request, status

from server import web
from server.config import Settings
from server.deps import AppState
from server.jobs import JobManager
from server.registry import Datasets, Registry
from server.routes import ROUTERS
from server.store import Store

log = logging.getLogger("drsae")


def create_app(settings: Settings | None = None, *, dashboard: bool | None = None) -> FastAPI:
    """A new app. `dashboard=None` attaches the Dash dashboard unless DRSAE_NO_DASHBOARD=1; tests pass False
    (Dash allows one app per process, and they build many)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.torch_threads)
        store = Store(settings.db_path)
        datasets = Datasets()
        registry = Registry(settings, store, datasets)
        jobs = JobManager(settings, store)
        app.state.drsae = AppState(settings, store, datasets, registry, jobs)
        jobs.start_scheduler()
        n = await asyncio.to_thread(registry.preload)
        log.info("%d models loaded on %s", n, registry.device)
        warming = asyncio.create_task(asyncio.to_thread(registry.warm))
        try:
            yield
        finally:
            await jobs.stop()
            await warming

    app = FastAPI(
        title="DrSAE Explorer API",
        version="0.1.0",
        summary="Look inside discriminative recurrent sparse auto-encoders (Rolfe & LeCun, ICLR 2013).",
        lifespan=lifespan,
    )
    web.install(app, settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)

    @app.api_route("/api/{rest:path}", methods=web.METHODS, include_in_schema=False)
    def api_not_found(rest: str, request: Request) -> None:
        """Registered before the dashboard, whose GET catch-all would answer /api/typo with HTML and 200.
        Any method: an unknown /api path is a 404, a known path with the wrong method a 405."""
        allowed = web.allowed_methods(request.app, request.url.path)
        if allowed:
            raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED, "Method Not Allowed", {"Allow": ", ".join(allowed)})
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Not found: /api/{rest}")

    try:
        from app.dashboard import attach as attach_dashboard
    except ImportError:  # dashboard not installed
        attach_dashboard = None
    if dashboard is None:
        dashboard = os.environ.get("DRSAE_NO_DASHBOARD") != "1"
    if attach_dashboard is not None and dashboard:
        attach_dashboard(app)
    return app


def __getattr__(name: str) -> FastAPI:
    """`server.main.app`, built on first access (PEP 562) rather than at import: `uvicorn server.main:app`
    works as usual, while importing create_app (tests, scripts) builds no app and attaches no dashboard."""
    if name == "app":
        globals()["app"] = built = create_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
