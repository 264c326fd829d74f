"""Training jobs: create (queued, 202), list, inspect, follow live (server-sent events), cancel, resume.

Starting, cancelling and resuming need the bearer token when DRSAE_TOKEN is set. The work itself happens in
worker processes (server/jobs.py); these routes only read and write job rows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.sse import EventSourceResponse, ServerSentEvent

from model import card, checkpoint, data, preflight, snapshots
from model.analysis import CATEGORICAL_MIN_ANGLE, PART_MAX_ANGLE, roles_from_angles
from model.presets import BOUNDS, DEFAULT, PRESETS, SUMMARIES, TrainConfig, preset
from server.config import Settings
from server.deps import JobDep, JobsDep, SettingsDep, StoreDep, TokenDep
from server.images import filter_png
from server.jobs import QueueFullError, resumable, run_dir
from server.lifecycle import ACTIVE, FINAL, JobStateError, Status, is_final
from server.registry import job_model_id
from server.schemas import (
    JOB_FIELDS,
    JOB_NAME_MAX,
    JOB_NAME_PATTERN,
    MAX_SWEEP_MEMBERS,
    SWEEP_FIELDS,
    DatasetChoice,
    JobCreate,
    JobOptions,
    JobPublic,
    JobsPublic,
    Message,
    MetricsPublic,
    PresetChoice,
    Range,
    Snapshot,
    SnapshotsPublic,
    StatusChoice,
    WholeNumber,
)
from server.store import JobRow, Store
from server.web import json_body, parse_json

router = APIRouter(
    prefix="/api/jobs", tags=["jobs"], responses={400: {"model": Message, "description": "The body cannot be parsed"}}
)
NOT_FOUND = {404: {"model": Message, "description": "No such job"}}
AUTH = {401: {"model": Message, "description": "DRSAE_TOKEN is set and the bearer token is missing or wrong"}}
CONFLICT = {409: {"model": Message, "description": "The job's state does not allow this"}}
QUEUE_FULL = {429: {"model": Message, "description": "Too many jobs are waiting (DRSAE_MAX_QUEUED)"}}
STORAGE = {503: {"model": Message, "description": "The job database cannot be written (cause and path in detail)"}}
GUARD = {
    403: {"model": Message, "description": "An Origin header that is not this server"},
    415: {"model": Message, "description": "No token is set and the request is not JSON"},
}
MAX_PAGE = 200
# cancel and resume: sent as JSON (see require_token), with no body or an empty object; the schema says so
NO_FIELDS = {
    "requestBody": {
        "required": False,
        "description": "none, or {}; without DRSAE_TOKEN the request still needs Content-Type: application/json",
        "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
    }
}


async def no_fields(request: Request) -> None:
    """The action takes no fields: an empty body or {} (anything else is a mistake worth a 422)."""
    body = await request.body()
    if not body.strip():
        return
    try:
        value = json.loads(body)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "The body is not valid JSON") from None
    if value != {}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "This action takes no body fields: send none or {}")


def iso_time(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def job_options() -> JobOptions:
    """The presets (with their values), datasets and ranges a JobCreate accepts, from model/presets.py."""
    fields = {}
    for api_name, name in JOB_FIELDS.items():
        b = BOUNDS[name]
        fields[api_name] = Range(
            minimum=b.low,
            maximum=b.high,
            exclusive_minimum=b.low_open,
            exclusive_maximum=b.high_open,
            integer=b.integer,
            text=b.text(),
        )
    presets = [
        PresetChoice(
            name=name,
            description=SUMMARIES[name],
            values={api_name: getattr(cfg, field) for api_name, field in JOB_FIELDS.items()},
            train_images=preflight.train_images(cfg),
        )
        for name, cfg in PRESETS.items()
    ]
    datasets = [DatasetChoice(name=d, title=data.TITLES[d]) for d in data.DATASETS]
    return JobOptions(
        presets=presets,
        default_preset=DEFAULT,
        datasets=datasets,
        fields=fields,
        name_pattern=JOB_NAME_PATTERN,
        name_max_length=JOB_NAME_MAX,
        statuses=[StatusChoice(name=s, active=s in ACTIVE, final=s in FINAL) for s in Status],
        max_sweep_members=MAX_SWEEP_MEMBERS,
        sweep_fields=list(SWEEP_FIELDS),
    )


def public(job: JobRow, store: Store, settings: Settings) -> JobPublic:
    """A job as the API shows it, with what a runs table compares: best and last validation error, the
    test error of the kept checkpoint, unit counts and the structure verdicts (its model card's once
    finished, else the latest epoch's counts)."""
    has_model = job.status == Status.FINISHED and (run_dir(settings, job.id) / checkpoint.WEIGHTS).exists()
    latest = store.latest_metrics(job_id=job.id)
    best = store.best_metrics(job_id=job.id) or {}
    found = read_card(run_dir(settings, job.id)) if has_model else None
    signs = (found or {}).get("structure") or {}
    return JobPublic(
        id=job.id,
        name=job.name,
        status=job.status,  # type: ignore[arg-type]
        active=job.status in ACTIVE,
        final=is_final(job.status),
        config=job.config,
        epoch=job.epoch,
        total_epochs=job.total_epochs,
        progress=min(1.0, job.epoch / job.total_epochs) if job.total_epochs else 0.0,
        latest=latest,
        model_id=job_model_id(job.id) if has_model else None,
        error=job.error,
        resumable=resumable(settings, job),
        created=iso_time(job.created) or "",
        started=iso_time(job.started),
        finished=iso_time(job.finished),
        sweep_id=job.sweep_id,
        settings=job.settings,
        best_val_error=best.get("val_error"),
        test_error_at_best=best.get("test_error"),
        last_val_error=(latest or {}).get("val_error"),
        units_part=signs.get("units_part", (latest or {}).get("units_part")),
        units_categorical=signs.get("units_categorical", (latest or {}).get("units_categorical")),
        verdicts=(found or {}).get("structure_verdicts"),
        seconds=(latest or {}).get("seconds"),
    )


def read_card(folder: Path) -> dict[str, Any] | None:
    """The run's model card (model/card.py), None when it has none or it cannot be read."""
    try:
        found = json.loads((folder / card.CARD).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


async def job_body(request: Request) -> JobCreate:
    """The body, parsed by server/web.py (large ones off the event loop) rather than by FastAPI on it."""
    return await parse_json(request, JobCreate)


JobBody = Annotated[JobCreate, Depends(job_body)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    dependencies=[TokenDep],
    openapi_extra=json_body(JobCreate),
    responses={
        **AUTH,
        **GUARD,
        **QUEUE_FULL,
        **STORAGE,
        409: {"model": Message, "description": "The dataset is not prepared (the command that prepares it in detail)"},
        422: {"model": Message, "description": "Invalid hyperparameters"},
    },
)
def create_job(body: JobBody, jobs: JobsDep, store: StoreDep, settings: SettingsDep) -> JobPublic:
    cfg = job_config(body, settings)
    try:
        return public(jobs.create(cfg, body.name), store, settings)
    except QueueFullError as e:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(e), headers={"Retry-After": "60"}) from e


def job_config(body: JobCreate, settings: Settings) -> TrainConfig:
    """The training configuration of a job body (a sweep's member too), or the 4xx that refuses it: the
    preset with the body's overrides, the server's time limit, a prepared dataset, a batch that fits."""
    overrides: dict[str, Any] = {
        JOB_FIELDS[k]: v for k, v in body.model_dump(exclude={"preset", "dataset", "name"}).items() if v is not None
    }
    ceiling = settings.max_job_seconds
    if ceiling is not None:
        if body.time_limit is not None and body.time_limit > ceiling:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"time_limit {body.time_limit:g} s is over this server's limit of {ceiling:g} s",
            )
        overrides.setdefault("time_limit", ceiling)
    try:
        cfg = preset(body.preset, dataset=body.dataset, device=settings.device, threads=1, **overrides)
    except ValueError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Invalid training configuration: {e}") from e
    try:  # refused now, not accepted and then failed in the worker
        data.prepared_path(cfg.dataset)
    except data.DataError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    if (problem := preflight.batch_problem(cfg)) is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    return cfg


@router.get("", response_model=JobsPublic, responses=STORAGE)
def list_jobs(
    store: StoreDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=2**62), WholeNumber] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE), WholeNumber] = 50,
) -> JobsPublic:
    """Newest first, `limit` jobs from `offset`; `count` is the number of all jobs."""
    items = [public(j, store, settings) for j in store.list_jobs(offset=offset, limit=limit)]
    return JobsPublic(data=items, count=store.count_jobs(), offset=offset, limit=limit)


@router.get("/options", response_model=JobOptions)
def options() -> JobOptions:
    """What a job may ask for: the presets with a line and the values each sets, the datasets, and the range of
    every numeric field. A body within them passes validation (the server's time limit still applies)."""
    return job_options()


@router.get("/{job_id}", response_model=JobPublic, responses=NOT_FOUND)
def get_job(job: JobDep, store: StoreDep, settings: SettingsDep) -> JobPublic:
    return public(job, store, settings)


@router.get("/{job_id}/metrics", response_model=MetricsPublic, responses=NOT_FOUND)
def job_metrics(job: JobDep, store: StoreDep) -> MetricsPublic:
    rows = store.metrics(job_id=job.id)
    return MetricsPublic(data=rows, count=len(rows))


@router.get("/{job_id}/snapshots", response_model=SnapshotsPublic, responses=NOT_FOUND)
def job_snapshots(job: JobDep, settings: SettingsDep) -> SnapshotsPublic:
    """The epochs at which the trainer kept a snapshot of the units (model/snapshots.py)."""
    return SnapshotsPublic(
        epochs=snapshots.epochs(run_dir(settings, job.id)),
        thresholds={"part": PART_MAX_ANGLE, "categorical": CATEGORICAL_MIN_ANGLE},
    )


@router.get(
    "/{job_id}/snapshots/{epoch}",
    response_model=Snapshot,
    responses={404: {"model": Message, "description": "No such job, or no snapshot at that epoch"}},
)
def job_snapshot(
    job: JobDep, settings: SettingsDep, epoch: Annotated[int, PathParam(ge=0, le=100_000), WholeNumber]
) -> Snapshot:
    """One epoch's snapshot: the kept units' decoder filters as images, every unit's angle, ||C_i|| and role."""
    folder = run_dir(settings, job.id)
    if epoch not in snapshots.epochs(folder):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Job {job.id} has no snapshot at epoch {epoch}")
    try:
        snap = snapshots.load_snapshot(folder, epoch)
    except checkpoint.CheckpointError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
    return Snapshot(
        epoch=epoch,
        units=[int(u) for u in snap["units"]],
        decoder_png=[filter_png(snap["D"][:, j]) for j in range(snap["D"].shape[1])],
        angle=[float(a) for a in snap["angle"]],
        c_norm=[float(c) for c in snap["c_norm"]],
        roles=[str(r) for r in roles_from_angles(snap["angle"])],  # type: ignore[misc]
    )


# FastAPI would document the 404 as text/event-stream (the route's class); it is the usual JSON message
EVENTS_NOT_FOUND = {
    404: {
        "description": "No such job",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
    }
}


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=EVENTS_NOT_FOUND)
async def job_events(
    job: JobDep, store: StoreDep, settings: SettingsDep, request: Request
) -> AsyncIterator[ServerSentEvent]:
    """`event: metrics` per epoch row, `event: status` with the job on every status change; ends after a final
    status. Polls the database (the worker writes it from another process)."""
    last_epoch, last_status = 0, None
    job_id = job.id
    while True:
        current = await asyncio.to_thread(store.get_job, job_id=job_id)
        rows = await asyncio.to_thread(store.metrics, job_id=job_id, after_epoch=last_epoch)
        if current is None:
            return
        for row in rows:
            last_epoch = max(last_epoch, int(row.get("epoch", last_epoch)))
            yield ServerSentEvent(event="metrics", data=row, id=str(row.get("epoch")))
        if current.status != last_status:
            last_status = current.status
            snapshot = await asyncio.to_thread(public, current, store, settings)
            yield ServerSentEvent(event="status", data=snapshot)
        if is_final(current.status) or await request.is_disconnected():
            return
        await asyncio.sleep(settings.poll_s)


@router.post(
    "/{job_id}/cancel",
    openapi_extra=NO_FIELDS,
    response_model=JobPublic,
    dependencies=[TokenDep, Depends(no_fields)],
    responses={**NOT_FOUND, **AUTH, **GUARD, **CONFLICT, **STORAGE},
)
def cancel_job(job: JobDep, jobs: JobsDep, store: StoreDep, settings: SettingsDep) -> JobPublic:
    try:
        return public(jobs.cancel(job), store, settings)
    except JobStateError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e


@router.post(
    "/{job_id}/resume",
    openapi_extra=NO_FIELDS,
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    dependencies=[TokenDep, Depends(no_fields)],
    responses={**NOT_FOUND, **AUTH, **GUARD, **CONFLICT, **QUEUE_FULL, **STORAGE},
)
def resume_job(job: JobDep, jobs: JobsDep, store: StoreDep, settings: SettingsDep) -> JobPublic:
    try:
        return public(jobs.resume(job), store, settings)
    except JobStateError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    except QueueFullError as e:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(e), headers={"Retry-After": "60"}) from e
