"""GET /api/health: liveness plus what a status bar shows."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import StateDep
from server.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(state: StateDep) -> Health:
    return Health(
        status="ok",
        device=str(state.registry.device),
        models=len(state.registry.entries()),
        jobs_running=state.store.count_jobs(status="running"),
    )
