"""The app: `uvicorn server.main:app --host 127.0.0.1` serves the JSON API under /api, the docs at /docs and
the dashboard at / (when app/dashboard.py is installed). This module only composes; see server/routes/."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI, HTTPException, Request, status

from server import docs, web
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
        if store.failure:
            log.error("jobs cannot be stored: %s; the API answers 503 for them until this is fixed", store.failure)
        warn_if_exposed(settings)
        jobs.start_scheduler()
        # models load when first asked for; only the one the dashboard opens with is warmed, in the background
        warming = asyncio.create_task(asyncio.to_thread(registry.warm_default))
        try:
            yield
        finally:
            await jobs.stop()
            await warming

    app = FastAPI(
        docs_url=None,  # /docs and /redoc are served by server/docs.py from local files, not a CDN
        redoc_url=None,
        title="DrSAE Explorer API",
        version="0.1.0",
        summary="Look inside discriminative recurrent sparse auto-encoders (Rolfe & LeCun, ICLR 2013).",
        lifespan=lifespan,
    )
    web.install(app, settings)
    docs.install(app)
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

    if dashboard is None:
        dashboard = os.environ.get("DRSAE_NO_DASHBOARD") != "1"
    if dashboard:  # an error in app/ stops the server with its traceback, not a server without a dashboard
        from app.dashboard import attach as attach_dashboard

        attach_dashboard(app)
    web.guard(app, settings)  # outside the dashboard's middlewares: every route gets the same limits
    return app


def bind_host(argv: list[str] | None = None, env: dict[str, str] | None = None) -> str | None:
    """The address uvicorn was told to bind (--host or UVICORN_HOST), when the command line says; else None."""
    argv = sys.argv if argv is None else argv
    env = dict(os.environ) if env is None else env
    for i, arg in enumerate(argv):
        if arg == "--host" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    return env.get("UVICORN_HOST")


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: may resolve to anything


def warn_if_exposed(settings: Settings, host: str | None = None) -> bool:
    """Log a warning when the server listens beyond loopback while anyone reaching it may start jobs."""
    host = host if host is not None else bind_host()
    if host is None or is_loopback(host) or settings.token:
        return False
    log.warning(
        "listening on %s without DRSAE_TOKEN: anyone who can reach this address can start and cancel "
        "training jobs; set DRSAE_TOKEN (and DRSAE_ALLOWED_HOSTS to the names clients use)",
        host,
    )
    return True


def __getattr__(name: str) -> FastAPI:
    """`server.main.app`, built on first access (PEP 562) rather than at import: `uvicorn server.main:app`
    works as usual, while importing create_app (tests, scripts) builds no app and attaches no dashboard."""
    if name == "app":
        globals()["app"] = built = create_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
