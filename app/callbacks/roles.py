"""Training page, roles forming: the plotted job's per-epoch unit snapshots (GET /api/jobs/{id}/snapshots):
decoder filters of the kept units over epochs, grouped by the role they end with, and the angle vs ||C_i||
scatter at a chosen epoch."""

from __future__ import annotations

import asyncio
from typing import Any

from dash import Input, Output, State, callback, html, no_update

from app import api, figures, ids

COLUMNS = 7  # epochs shown side by side
PER_ROLE = 6  # units shown for each final role


def spread(values: list[int], count: int) -> list[int]:
    """`count` of the values spread evenly, the first and the last included."""
    if len(values) <= count:
        return list(values)
    return sorted({values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)})


def filter_rows(snaps: list[dict[str, Any]]) -> list[tuple[str, int, list[str]]]:
    """(final role, unit, [decoder PNG per shown epoch]) for up to PER_ROLE units of each final role, part-
    and categorical-units first: the role a unit has at the last snapshot."""
    last = snaps[-1]
    out = []
    for role in ("part", "categorical", "intermediate"):
        kept = [(j, u) for j, u in enumerate(last["units"]) if last["roles"][u] == role][:PER_ROLE]
        out += [(role, u, [s["decoder_png"][j] for s in snaps]) for j, u in kept]
    return out


def filters_table(snaps: list[dict[str, Any]]) -> html.Table:
    head = html.Tr([html.Th("unit (ends as)"), *[html.Th(f"epoch {s['epoch']}") for s in snaps]])
    body = [
        html.Tr([html.Th(f"{u} ({role})", className=f"role-{role}"),
                 *[html.Td(html.Img(src=png, className="filter-img", alt=f"unit {u}")) for png in pngs]],
                **{"data-unit": str(u), "data-role": role})
        for role, u, pngs in filter_rows(snaps)
    ]
    return html.Table([html.Thead(head), html.Tbody(body)], className="roles-table")


def _job(selected: int | None, jobs: list[dict[str, Any]] | None) -> int | None:
    return selected if selected is not None else (jobs[0]["id"] if jobs else None)


@callback(
    Output(ids.ROLES_FILTERS, "children"),
    Output(ids.ROLES_EPOCH, "min"),
    Output(ids.ROLES_EPOCH, "max"),
    Output(ids.ROLES_EPOCH, "marks"),
    Output(ids.ROLES_EPOCH, "value"),
    Output(ids.ROLES_SHOWN, "data"),
    Input(ids.SELECTED_JOB, "data"),
    Input(ids.JOBS_STORE, "data"),
    State(ids.ROLES_SHOWN, "data"),
    State(ids.ROLES_EPOCH, "value"),
)
async def roles_filters(
    selected: int | None, jobs: list[dict[str, Any]] | None, shown: dict[str, Any] | None, value: int | None
) -> Any:
    """The filter grid and the slider's epochs (a step per snapshot), drawn again when the plotted job or
    its snapshots change; the slider stays where it was while that epoch exists."""
    job_id = _job(selected, jobs)
    none = (0, 1, {}, None, None)
    if job_id is None:
        return html.P("No job yet.", className="help"), *none
    epoch = next((j.get("epoch") for j in jobs or [] if j["id"] == job_id), None)
    if shown and shown.get("job") == job_id and shown.get("at") == epoch:
        return (no_update,) * 6  # the list changed, not the plotted job: no request
    try:
        epochs = (await api.job_snapshots(job_id))["epochs"]
    except api.ApiError as e:
        return html.P(f"No snapshots for job {job_id}: {e.detail}", className="help"), *none
    if not epochs:
        return html.P(f"Job {job_id} has no unit snapshots yet.", className="help"), *none
    now = {"job": job_id, "epochs": epochs, "at": epoch}
    if shown and {**shown, "at": epoch} == now:
        return (no_update,) * 5 + (now,)
    try:
        snaps = await asyncio.gather(*(api.job_snapshot(job_id, e) for e in spread(epochs, COLUMNS)))
    except api.ApiError as e:
        return html.P(f"No snapshots for job {job_id}: {e.detail}", className="help"), *none
    labelled = {str(e) for e in spread(epochs, 12)}
    marks = {str(e): str(e) if str(e) in labelled else "" for e in epochs}
    same_job = (shown or {}).get("job") == job_id
    keep = value if same_job and value in epochs else epochs[-1]
    return filters_table(list(snaps)), epochs[0], epochs[-1], marks, keep, now


@callback(
    Output(ids.ROLES_SCATTER, "figure"),
    Input(ids.ROLES_EPOCH, "value"),
    State(ids.SELECTED_JOB, "data"),
    State(ids.JOBS_STORE, "data"),
)
async def roles_scatter(epoch: int | None, selected: int | None, jobs: list[dict[str, Any]] | None) -> Any:
    job_id = _job(selected, jobs)
    if job_id is None or epoch is None:
        return figures.empty_figure("Angle vs ||C_i|| over epochs: pick a job with unit snapshots")
    try:
        snaps, snap = await asyncio.gather(api.job_snapshots(job_id), api.job_snapshot(job_id, int(epoch)))
    except api.ApiError as e:
        return figures.empty_figure(f"No snapshot: {e.detail}")
    return figures.snapshot_scatter_figure(snap, snaps["thresholds"])
