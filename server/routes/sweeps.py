"""Sweeps: a grid of settings over a base job, trained as one population (one worker process), its members
ordinary jobs (their own rows, status, run folder and model). Create (202), list, inspect, cancel, resume.

A member is cancelled or resumed alone through /api/jobs/{id}; these routes act on every member at once.
"""

from __future__ import annotations

import itertools
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import ValidationError

from model.presets import BOUNDS, TrainConfig
from server.config import Settings
from server.deps import JobsDep, SettingsDep, StoreDep, SweepDep, TokenDep
from server.jobs import QueueFullError
from server.lifecycle import JobStateError, sweep_status
from server.routes.jobs import (
    AUTH,
    CONFLICT,
    GUARD,
    NO_FIELDS,
    QUEUE_FULL,
    STORAGE,
    iso_time,
    job_config,
    no_fields,
    public,
)
from server.schemas import (
    JOB_FIELDS,
    MAX_SWEEP_MEMBERS,
    SHAPE_FIELDS,
    SWEEP_FIELDS,
    JobCreate,
    Message,
    SweepCreate,
    SweepPublic,
    SweepsPublic,
)
from server.store import Store, SweepRow
from server.web import json_body, parse_json

BAD_BODY = {400: {"model": Message, "description": "The body cannot be parsed"}}
router = APIRouter(prefix="/api/sweeps", tags=["sweeps"], responses=BAD_BODY)
NOT_FOUND = {404: {"model": Message, "description": "No such sweep"}}


def unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def member_bodies(body: SweepCreate) -> list[tuple[JobCreate, dict[str, Any]]]:
    """The cross product of the grid over the base, each member as a checked JobCreate and its grid values;
    an empty grid, an unknown or shape field, a repeated value or too many members is a 422."""
    if not body.grid:
        raise unprocessable("The grid is empty: give at least one field and its values, e.g. {\"seed\": [0, 1, 2]}")
    for name, values in body.grid.items():
        if name in SHAPE_FIELDS:
            raise unprocessable(
                f"{name} cannot be swept: a sweep's members train as one population and share "
                f"{', '.join(SHAPE_FIELDS)}; set it in the base, or start one sweep per value"
            )
        if name not in SWEEP_FIELDS:
            raise unprocessable(f"Unknown grid field {name!r}: a grid may vary {', '.join(SWEEP_FIELDS)}")
        if not values:
            raise unprocessable(f"The grid's {name} has no values")
        if len(set(values)) != len(values):
            raise unprocessable(f"The grid's {name} repeats a value: {values}")
    count = 1
    for values in body.grid.values():
        count *= len(values)
    if count > MAX_SWEEP_MEMBERS:
        raise unprocessable(f"The grid makes {count} members; a sweep may have at most {MAX_SWEEP_MEMBERS}")
    if body.base.name is not None:
        raise unprocessable("Name the sweep at the top level ('name'), not in its base")
    out = []
    base = body.base.model_dump(exclude_none=True)
    names = list(body.grid)
    for combo in itertools.product(*body.grid.values()):
        values = dict(zip(names, combo, strict=True))
        for name, v in values.items():  # integer fields arrive as whole floats (the grid's type)
            if BOUNDS[JOB_FIELDS[name]].integer:
                if v != int(v):
                    raise unprocessable(f"The grid's {name} must hold whole numbers, not {v:g}")
                values[name] = int(v)
        try:
            member = JobCreate.model_validate(base | values)
        except ValidationError as e:
            first = e.errors()[0]
            raise unprocessable(f"The member {json.dumps(values)} is invalid: {first['msg']}") from e
        out.append((member, values))
    return out


async def sweep_body(request: Request) -> SweepCreate:
    return await parse_json(request, SweepCreate)


SweepBody = Annotated[SweepCreate, Depends(sweep_body)]


def sweep_public(sweep: SweepRow, store: Store, settings: Settings) -> SweepPublic:
    members = [public(j, store, settings) for j in reversed(store.list_jobs(sweep_id=sweep.id))]
    statuses = [m.status for m in members]
    return SweepPublic(
        id=sweep.id,
        name=sweep.name,
        status=sweep_status(statuses),  # type: ignore[arg-type]
        base=sweep.base,
        grid=sweep.grid,
        created=iso_time(sweep.created) or "",
        counts={s: statuses.count(s) for s in sorted(set(statuses))},
        members=members,
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SweepPublic,
    dependencies=[TokenDep],
    openapi_extra=json_body(SweepCreate),
    responses={
        **AUTH,
        **GUARD,
        **QUEUE_FULL,
        **STORAGE,
        409: {"model": Message, "description": "The dataset is not prepared (the command that prepares it in detail)"},
        422: {"model": Message, "description": "An empty grid, an unknown or shape field, too many members, or a "
              "member's invalid hyperparameters"},
    },
)
def create_sweep(body: SweepBody, jobs: JobsDep, store: StoreDep, settings: SettingsDep) -> SweepPublic:
    """Queue every member of the grid; they start together, as one population, when a training slot is free."""
    members: list[tuple[TrainConfig, dict[str, Any]]] = [
        (job_config(member, settings), values) for member, values in member_bodies(body)
    ]
    cfg0 = members[0][0]
    name = body.name or f"sweep-{cfg0.preset}-{cfg0.dataset}-{cfg0.hidden}x{cfg0.T}"
    base = body.base.model_dump(exclude_none=True)
    try:
        sweep = jobs.create_sweep(name, base, body.grid, members)
    except QueueFullError as e:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(e), headers={"Retry-After": "60"}) from e
    return sweep_public(sweep, store, settings)


@router.get("", response_model=SweepsPublic, responses=STORAGE)
def list_sweeps(store: StoreDep, settings: SettingsDep) -> SweepsPublic:
    """Newest first, each with its members."""
    items = [sweep_public(s, store, settings) for s in store.list_sweeps()]
    return SweepsPublic(data=items, count=len(items))


@router.get("/{sweep_id}", response_model=SweepPublic, responses=NOT_FOUND)
def get_sweep(sweep: SweepDep, store: StoreDep, settings: SettingsDep) -> SweepPublic:
    return sweep_public(sweep, store, settings)


@router.post(
    "/{sweep_id}/cancel",
    openapi_extra=NO_FIELDS,
    response_model=SweepPublic,
    dependencies=[TokenDep, Depends(no_fields)],
    responses={**NOT_FOUND, **AUTH, **GUARD, **CONFLICT, **STORAGE},
)
def cancel_sweep(sweep: SweepDep, jobs: JobsDep, store: StoreDep, settings: SettingsDep) -> SweepPublic:
    """Cancel every queued, running or interrupted member (each keeps its last checkpoint)."""
    try:
        jobs.cancel_sweep(sweep)
    except JobStateError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    return sweep_public(sweep, store, settings)


@router.post(
    "/{sweep_id}/resume",
    openapi_extra=NO_FIELDS,
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SweepPublic,
    dependencies=[TokenDep, Depends(no_fields)],
    responses={**NOT_FOUND, **AUTH, **GUARD, **CONFLICT, **QUEUE_FULL, **STORAGE},
)
def resume_sweep(sweep: SweepDep, jobs: JobsDep, store: StoreDep, settings: SettingsDep) -> SweepPublic:
    """Queue every resumable member again; each goes on from its last checkpoint."""
    try:
        jobs.resume_sweep(sweep)
    except JobStateError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    except QueueFullError as e:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(e), headers={"Retry-After": "60"}) from e
    return sweep_public(sweep, store, settings)
