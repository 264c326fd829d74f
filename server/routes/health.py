"""GET /api/health: liveness plus what a status bar shows, storage trouble included (a full disk or a
read-only var folder leaves the API up but jobs unstorable: status 'degraded', with cause and path)."""

from __future__ import annotations

import contextlib
import os
import shutil

from fastapi import APIRouter

from server.config import Settings
from server.deps import StateDep
from server.lifecycle import Status
from server.schemas import Health
from server.store import StorageError, Store

router = APIRouter(prefix="/api", tags=["health"])


def storage_problem(settings: Settings, store: Store) -> str | None:
    """What is wrong with the job storage now, naming the path; None when it looks fine."""
    if store.failure and store.locked:  # a lock may be gone since: look again (still locked: still reported)
        with contextlib.suppress(StorageError):
            store.recheck()
    if store.failure:
        return store.failure
    var = settings.var_dir
    if not os.access(var, os.W_OK):
        return f"the var folder is not writable ({var})"
    try:
        free = shutil.disk_usage(var).free
    except OSError as e:
        return f"cannot read the free disk space: {e.strerror} ({var})"
    if free < settings.min_free_bytes:
        return f"only {free / 2**20:.0f} MB free on the disk ({var})"
    return None


@router.get("/health", response_model=Health)
def health(state: StateDep) -> Health:
    try:
        running: int | None = state.store.count_jobs(status=Status.RUNNING)
        queued: int | None = state.store.count_jobs(status=Status.QUEUED)
    except StorageError:
        running, queued = 0, None
    problem = storage_problem(state.settings, state.store)
    return Health(
        status="degraded" if problem else "ok",
        device=str(state.registry.device),
        models=len(state.registry.entries()),
        jobs_running=running or 0,
        jobs_queued=queued,
        storage=problem,
    )
