"""Shared dependencies as Annotated aliases (ModelDep, JobDep, StoreDep, ...): routes declare what they
need and get a 404 or 401 before their body runs. The trivial ones are `async def`: a sync dependency
costs a worker-thread round trip per request, which on the encode path was as much as the model itself."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.config import Settings
from server.jobs import JobManager
from server.registry import Datasets, LoadedModel, ModelError, Registry
from server.schemas import Message, WholeNumber
from server.store import JobRow, Store, SweepRow


@dataclass
class AppState:
    """Everything the lifespan builds, kept on app.state.drsae."""

    settings: Settings
    store: Store
    datasets: Datasets
    registry: Registry
    jobs: JobManager


async def get_state(request: Request) -> AppState:
    return request.app.state.drsae


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_store(state: StateDep) -> Store:
    return state.store


async def get_registry(request: Request) -> Registry:
    return request.app.state.drsae.registry  # not through StateDep: one level less on the encode path


async def get_jobs(state: StateDep) -> JobManager:
    return state.jobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]


async def get_model(model_id: Annotated[str, Path(max_length=200)], registry: RegistryDep) -> LoadedModel:
    """The loaded model; loading (first use of a new job's model) happens off the event loop."""
    lm = registry.loaded(model_id)
    if lm is None:
        try:
            lm = await asyncio.to_thread(registry.get, model_id)
        except ModelError as e:  # listed, but its files are broken: the folder needs fixing, not the request
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(e)) from e
    if lm is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Model not found: {model_id}")
    return lm


ModelDep = Annotated[LoadedModel, Depends(get_model)]
# the answers of get_model besides the route's own, for the OpenAPI document
MODEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": "No such model"},
    503: {"model": Message, "description": "The model's config.json or weights are broken (which, in detail)"},
}


def get_job(job_id: Annotated[int, Path(ge=1, le=2**62), WholeNumber], store: StoreDep) -> JobRow:
    job = store.get_job(job_id=job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Job not found: {job_id}")
    return job


JobDep = Annotated[JobRow, Depends(get_job)]


def get_sweep(sweep_id: Annotated[int, Path(ge=1, le=2**62), WholeNumber], store: StoreDep) -> SweepRow:
    sweep = store.get_sweep(sweep_id=sweep_id)
    if sweep is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Sweep not found: {sweep_id}")
    return sweep


SweepDep = Annotated[SweepRow, Depends(get_sweep)]

_bearer = HTTPBearer(auto_error=False, description="needed when DRSAE_TOKEN is set")


async def require_token(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Starting, cancelling and resuming jobs spends CPU: with DRSAE_TOKEN set they need the token. Without
    one they need a JSON content type, even with no body: a page on another site can make a browser send
    a form or text/plain POST, but JSON needs a CORS preflight, which this server never grants."""
    if settings.token is None:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                "Job actions must be sent as JSON (Content-Type: application/json, even without a body)",
            )
        return
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), settings.token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "A valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )


TokenDep = Depends(require_token)
