"""Training page callbacks: validate and submit the form, list the jobs, cancel, plot live curves. An active
job's progress comes on the API's event stream (static/jobs.js), which refreshes the list and feeds the curves."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, html, no_update

from app import api, figures, ids
from app.training_form import form, range_hint


def is_running(job: dict[str, Any]) -> bool:
    """Active and started: the API names the states (server/lifecycle.py), each job says which kind it is."""
    return bool(job.get("active") and job.get("started"))


def _in_range(x: float, r: dict[str, Any]) -> bool:
    """The API's Range (GET /api/jobs/options) applied to one number, as the server applies it."""
    above = x > r["minimum"] if r["exclusive_minimum"] else x >= r["minimum"]
    high = r["maximum"]
    below = high is None or (x < high if r["exclusive_maximum"] else x <= high)
    return above and below


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # a JSON-like number: no nan, inf or 1_000


def parse_number(v: Any) -> float | None:
    """A form field's number, or None when the text is not one (as typed: '1e', '--5' and '1e-' are not)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    text = str(v).strip()
    x = float(text) if NUMBER.fullmatch(text) else None
    return x if x is not None and math.isfinite(x) else None  # 1e999 reads as inf


def validate_job(values: dict[str, Any], options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Form values -> (JobCreate body, {field: error}) with the API's served ranges, so that a body this
    accepts is not refused for range. Empty fields are left out (the preset decides)."""
    presets = {p["name"]: p for p in options["presets"]}
    chosen = presets.get(values.get("preset") or "") or presets[options["default_preset"]]
    datasets = [d["name"] for d in options["datasets"]]
    body: dict[str, Any] = {"preset": chosen["name"], "dataset": values.get("dataset") or datasets[0]}
    errors: dict[str, str] = {}
    for name, r in options["fields"].items():
        v = values.get(name)
        if v is None or v == "":
            continue
        x = parse_number(v)
        if x is None:
            errors[name] = "must be a number, such as 0.02 or 2e-3"
            continue
        if r["integer"] and x != int(x):
            errors[name] = "must be a whole number"
        elif not _in_range(x, r):
            errors[name] = f"must be {range_hint(r)}"
        else:
            body[name] = int(x) if r["integer"] else x
    effective = chosen["values"] | body
    if effective["epochs"] == 0 and effective["unsupervised_epochs"] == 0:
        errors["epochs"] = "train for at least one epoch"
    if "batch_size" in body and body["batch_size"] > chosen["train_images"]:
        errors["batch_size"] = f"at most {chosen['train_images']}: the training images of preset {chosen['name']}"
    name = (values.get("name") or "").strip()
    if name:
        if len(name) > options["name_max_length"] or not re.fullmatch(options["name_pattern"], name):
            errors["name"] = f"up to {options['name_max_length']} letters, digits, '-', '_' or '.'"
        else:
            body["name"] = name
    return body, errors


SEEDS = re.compile(r"seeds?\s*:\s*(\d+)", re.IGNORECASE)  # "seeds: 3" -> seeds 0, 1, 2


def sweep_values(name: str, text: Any) -> list[str] | None:
    """A field's several values (a comma list, or 'seeds: N' in the seed field) as texts; None for one value."""
    if not isinstance(text, str):
        return None
    seeds = SEEDS.fullmatch(text.strip())
    if seeds and name == "seed":
        return [str(i) for i in range(int(seeds.group(1)))]
    if "," not in text:
        return None
    return [t.strip() for t in text.split(",")]


def validate_form(
    values: dict[str, Any], options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[Any]], dict[str, str]]:
    """Form values -> (JobCreate body, sweep grid, {field: error}). A field with several values makes a
    sweep: each value is checked like a single one, the shape fields take one value (a sweep's runs train
    together), and the runs may number at most the API's max_sweep_members."""
    grid: dict[str, list[Any]] = {}
    errors: dict[str, str] = {}
    single = dict(values)
    sweepable = options.get("sweep_fields") or []
    for name in options["fields"]:
        several = sweep_values(name, values.get(name))
        if several is None:
            continue
        single[name] = None
        if name not in sweepable:
            errors[name] = "one value: a sweep's runs train side by side and share the model's shape"
            continue
        if not several or any(t == "" for t in several):
            errors[name] = "a value is missing between the commas" if several else "'seeds: N' needs N >= 1"
            continue
        checked = []
        for text in several:
            body, field_errors = validate_job({**values, name: text}, options)
            if name in field_errors:
                errors[name] = f"{text}: {field_errors[name]}"
                break
            checked.append(body[name])
        else:
            if len(set(checked)) != len(checked):
                errors[name] = "a value is given twice"
            else:
                grid[name] = checked
    body, base_errors = validate_job(single, options)
    errors = base_errors | errors
    count = math.prod(len(v) for v in grid.values()) if grid else 1
    cap = options.get("max_sweep_members") or 1
    if count > cap:
        errors[next(iter(grid))] = f"{count} runs: a sweep may have at most {cap}"
    return body, grid, errors


def count_text(grid: dict[str, list[Any]], errors: dict[str, str]) -> str:
    """What Start would start: one job, or a sweep of N runs (which fields make them)."""
    if errors or not grid:
        return "" if errors else "1 run"
    count = math.prod(len(v) for v in grid.values())
    return f"a sweep of {count} runs ({' x '.join(f'{len(v)} {k}' for k, v in grid.items())})"


@callback(
    Output(ids.JOB_OPTIONS, "data"),
    Output(ids.JOB_FORM, "children"),
    Input(ids.JOB_FORM, "id"),
)
async def load_options(_form: str) -> Any:
    """The form from the API's presets, datasets and ranges (once per visit to the page)."""
    try:
        options = await api.job_options()
    except api.ApiError as e:
        return None, html.P(f"Could not load the training options: {e.detail}", className="error", role="alert")
    return options, form(options)


@callback(
    Output({"type": ids.JOB_FIELD, "index": ALL}, "placeholder"),
    Input({"type": ids.JOB_FIELD, "index": "preset"}, "value"),
    State({"type": ids.JOB_FIELD, "index": ALL}, "id"),
    State(ids.JOB_OPTIONS, "data"),
)
def preset_placeholders(name: str | None, field_ids: list[dict[str, str]], options: dict[str, Any] | None) -> Any:
    """Each empty number field shows the chosen preset's value."""
    preset = next((p for p in (options or {}).get("presets", []) if p["name"] == name), None)
    if preset is None:
        return [no_update] * len(field_ids)
    values = preset["values"]
    return [f"{values[i['index']]:g} (preset)" if values.get(i["index"]) is not None else no_update for i in field_ids]


def _values(ids_: list[dict[str, str]], values: list[Any]) -> dict[str, Any]:
    return {i["index"]: v for i, v in zip(ids_, values, strict=True)}


@callback(
    Output({"type": ids.JOB_FIELD_ERROR, "index": ALL}, "children"),
    Output(ids.START_JOB, "disabled"),
    Output(ids.SWEEP_COUNT, "children"),
    Output(ids.START_JOB, "children"),
    Input({"type": ids.JOB_FIELD, "index": ALL}, "value"),
    State({"type": ids.JOB_FIELD, "index": ALL}, "id"),
    State({"type": ids.JOB_FIELD_ERROR, "index": ALL}, "id"),
    State(ids.JOB_OPTIONS, "data"),
)
def check_form(
    values: list[Any], field_ids: list[dict[str, str]], error_ids: list[dict[str, str]], options: dict[str, Any] | None
) -> Any:
    """Inline validation as the user types (pure: no I/O), with the number of runs Start would start; no
    options from the API, no start."""
    if not options:
        return [""] * len(error_ids), True, "", "Start training"
    _, grid, errors = validate_form(_values(field_ids, values), options)
    label = f"Start sweep ({math.prod(len(v) for v in grid.values())} runs)" if grid else "Start training"
    return [errors.get(e["index"], "") for e in error_ids], bool(errors), count_text(grid, errors), label


@callback(
    Output(ids.JOB_MESSAGE, "children"),
    Output(ids.SELECTED_JOB, "data"),
    Output(ids.JOBS_REFRESH, "data"),
    Output(ids.JOBS_INTERVAL, "disabled", allow_duplicate=True),
    Input(ids.START_JOB, "n_clicks"),
    State({"type": ids.JOB_FIELD, "index": ALL}, "value"),
    State({"type": ids.JOB_FIELD, "index": ALL}, "id"),
    State(ids.JOB_OPTIONS, "data"),
    prevent_initial_call=True,
)
async def start_job(_n: int, values: list[Any], field_ids: list[dict[str, str]], options: dict[str, Any] | None) -> Any:
    if not options:
        return "The training options are not loaded.", no_update, no_update, no_update
    form = _values(field_ids, values)
    body, grid, errors = validate_form(form, options)
    if errors:
        return "Fix the highlighted fields first.", no_update, no_update, no_update
    token = form.get("token") or None
    try:
        if grid:
            name = body.pop("name", None)
            sweep = await api.create_sweep({"base": body, "grid": grid, **({"name": name} if name else {})},
                                           token=token)
        else:
            job = await api.create_job(body, token=token)
    except api.ApiError as e:
        return html.Span(f"Not started: {e.detail}", className="error"), no_update, no_update, no_update
    if grid:
        first = sweep["members"][0]["id"]
        runs = len(sweep["members"])
        return f"Started sweep {sweep['id']} ({sweep['name']}): {runs} runs.", first, time.time(), False
    return f"Started job {job['id']} ({job['name']}).", job["id"], time.time(), False


@callback(
    Output(ids.JOBS_REFRESH, "data", allow_duplicate=True),
    Output(ids.JOB_MESSAGE, "children", allow_duplicate=True),
    Output(ids.JOBS_INTERVAL, "disabled", allow_duplicate=True),
    Output(ids.JOB_PENDING, "data"),
    Input({"type": ids.JOB_CANCEL, "index": ALL}, "n_clicks"),
    Input({"type": ids.JOB_RESUME, "index": ALL}, "n_clicks"),
    State({"type": ids.JOB_FIELD, "index": "token"}, "value"),
    prevent_initial_call=True,
)
async def cancel_or_resume(_cancel: list[int | None], _resume: list[int | None], token: str | None) -> Any:
    """Cancel a queued/running job, or resume a resumable one from its last checkpoint."""
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update, no_update
    job_id = int(ctx.triggered_id["index"])
    resume = ctx.triggered_id["type"] == ids.JOB_RESUME
    try:
        await (api.resume_job if resume else api.cancel_job)(job_id, token=token or None)
    except api.ApiError as e:
        verb = "resume" if resume else "cancel"
        msg = html.Span(f"Could not {verb} job {job_id}: {e.detail}", className="error")
        return no_update, msg, no_update, no_update
    verb = "resume" if resume else "cancel"
    return time.time(), f"{'Resuming' if resume else 'Cancelling'} job {job_id}…", False, {"id": job_id, "verb": verb}


def pending_message(pending: dict[str, Any] | None, jobs: list[dict[str, Any]]) -> str | None:
    """What to say once a cancel or resume has taken effect (None while it has not): the 'Cancelling job
    N…' line must not outlive the cancelling."""
    if not pending:
        return None
    job = next((j for j in jobs if j["id"] == pending["id"]), None)
    if job is None:
        return None
    status = job["status"]
    if pending["verb"] == "cancel" and not job["active"]:
        return f"Job {job['id']} {status}."
    if pending["verb"] == "resume" and (is_running(job) or job["final"]) and not job.get("resumable"):
        return f"Job {job['id']} resumed: {status}."
    return None


@callback(
    Output(ids.SELECTED_JOB, "data", allow_duplicate=True),
    Input({"type": ids.JOB_SELECT, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def select_job(_clicks: list[int | None]) -> Any:
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update
    return int(ctx.triggered_id["index"])


@callback(
    Output(ids.JOBS_STORE, "data"),
    Output(ids.JOBS_INTERVAL, "disabled"),
    Output(ids.MODELS_DIRTY, "data"),
    Output(ids.JOB_MESSAGE, "children", allow_duplicate=True),
    Output(ids.JOB_PENDING, "data", allow_duplicate=True),
    Input(ids.JOBS_INTERVAL, "n_intervals"),
    Input(ids.JOBS_REFRESH, "data"),
    State(ids.JOBS_STORE, "data"),
    State(ids.JOB_PENDING, "data"),
    prevent_initial_call="initial_duplicate",
)
async def poll_jobs(
    _n: int | None, _refresh: Any, previous: list[dict[str, Any]] | None, pending: dict[str, Any] | None
) -> Any:
    """Poll while a job is queued or running; a job that just produced a model refreshes the picker; a
    cancel or resume that has taken effect replaces its 'Cancelling…' line."""
    try:
        jobs = await api.jobs()
    except api.ApiError:
        return no_update, no_update, no_update, no_update, no_update
    before = {j["id"]: j.get("model_id") for j in previous or []}
    new_model = any(j.get("model_id") and before.get(j["id"]) != j["model_id"] for j in jobs)
    active = any(j["active"] for j in jobs)
    done = pending_message(pending, jobs)
    return (
        jobs if jobs != previous else no_update,
        not active and not (pending and done is None),
        time.time() if new_model else no_update,
        done if done is not None else no_update,
        None if done is not None else no_update,
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def job_detail(j: dict[str, Any]) -> str:
    """The job row's text: phase, epoch, speed and ETA while it runs (from the latest epoch row), errors."""
    latest = j.get("latest") or {}
    detail = f"epoch {j.get('epoch') or 0}/{j.get('total_epochs') or '?'}"
    if latest.get("phase"):
        detail = f"{latest['phase']} · {detail}"
    if latest.get("images_per_second"):
        detail += f" · {latest['images_per_second']:,.0f} images/s"
    if is_running(j) and latest.get("eta_seconds") is not None:
        detail += f" · ETA {_duration(latest['eta_seconds'])}"
    if latest.get("val_error") is not None:
        detail += f" · val error {latest['val_error']:.2f}%"
    if j.get("model_id"):
        detail += f" · model {j['model_id']}"
    if j.get("error"):
        detail += f" · {j['error']}"
    return detail


def _progress(j: dict[str, Any]) -> html.Div:
    pct = 100 * float(j.get("progress") or 0)
    return html.Div(
        className="progress",
        role="progressbar",
        **{"aria-valuenow": f"{pct:.0f}", "aria-valuemin": "0", "aria-valuemax": "100"},
        children=html.Div(className="progress-fill", style={"width": f"{pct:.1f}%"}),
    )


def _row_class(j: dict[str, Any], selected: bool) -> str:
    return f"job-row status-{j['status']}{' selected' if selected else ''}"


def _job_row(j: dict[str, Any], selected: bool) -> html.Div:
    return html.Div(
        id={"type": ids.JOB_ROW, "index": j["id"]},
        className=_row_class(j, selected),
        **{"data-job": str(j["id"]), "data-status": j["status"]},
        children=[
            html.Button(
                [
                    html.Span(f"#{j['id']} {j.get('name') or ''}", className="job-name"),
                    html.Span(j["status"], className=f"badge badge-{j['status']}"),
                ],
                id={"type": ids.JOB_SELECT, "index": j["id"]},
                className="job-select",
                title="Plot this job's curves",
            ),
            html.Div(_progress(j), id={"type": ids.JOB_PROGRESS, "index": j["id"]}),
            html.Span(job_detail(j), id={"type": ids.JOB_DETAIL, "index": j["id"]}, className="job-detail"),
            html.Button("Cancel", id={"type": ids.JOB_CANCEL, "index": j["id"]}, className="btn btn-small")
            if j["active"]
            else html.Button("Resume", id={"type": ids.JOB_RESUME, "index": j["id"]}, className="btn btn-small")
            if j.get("resumable")  # the API says (a failed job that saved a state resumes too)
            else html.Span(),
        ],
    )


def jobs_shape(jobs: list[dict[str, Any]] | None) -> list[list[Any]]:
    """What decides the rows and their buttons: each job's id and status, in order."""
    return [[j["id"], j["status"]] for j in jobs or []]


@callback(
    Output(ids.JOBS_SHAPE, "data"),
    Input(ids.JOBS_STORE, "data"),
    State(ids.JOBS_SHAPE, "data"),
)
def shape_of_jobs(jobs: list[dict[str, Any]] | None, shown: list[list[Any]] | None) -> Any:
    shape = jobs_shape(jobs)
    return shape if shape != shown else no_update


@callback(
    Output(ids.JOBS_TABLE, "children"),
    Input(ids.JOBS_SHAPE, "data"),
    State(ids.JOBS_STORE, "data"),
    State(ids.SELECTED_JOB, "data"),
)
def render_jobs(_shape: Any, jobs: list[dict[str, Any]] | None, selected: int | None) -> Any:
    """The rows, drawn again only when a job comes, goes or changes status: an epoch's progress updates the
    row in place (update_rows), so the Cancel button under the pointer stays the same element."""
    if not jobs:
        return html.P("No jobs yet.", className="help")
    chosen = selected if selected is not None else jobs[0]["id"]
    return [_job_row(j, j["id"] == chosen) for j in jobs]


@callback(
    Output({"type": ids.JOB_ROW, "index": ALL}, "className"),
    Output({"type": ids.JOB_PROGRESS, "index": ALL}, "children"),
    Output({"type": ids.JOB_DETAIL, "index": ALL}, "children"),
    Input(ids.JOBS_STORE, "data"),
    Input(ids.SELECTED_JOB, "data"),
    State({"type": ids.JOB_ROW, "index": ALL}, "id"),
)
def update_rows(jobs: list[dict[str, Any]] | None, selected: int | None, row_ids: list[dict[str, Any]]) -> Any:
    """Progress, detail and selection of the rows on the page, from the latest job list."""
    by_id = {j["id"]: j for j in jobs or []}
    chosen = selected if selected is not None else (jobs[0]["id"] if jobs else None)
    shown = [by_id.get(r["index"]) for r in row_ids]
    return (
        [_row_class(j, j["id"] == chosen) if j else no_update for j in shown],
        [_progress(j) if j else no_update for j in shown],
        [job_detail(j) if j else no_update for j in shown],
    )


# Follow the active jobs' event streams: static/jobs.js.
clientside_callback(
    ClientsideFunction("drsae", "followJobs"),
    Output(ids.JOBS_FOLLOW, "title"),
    Input(ids.JOBS_STORE, "data"),
    Input(ids.SELECTED_JOB, "data"),
)


@callback(
    Output(ids.TRAINING_CURVES, "figure"),
    Output(ids.ROLE_CURVES, "figure"),
    Input(ids.JOBS_STORE, "data"),
    Input(ids.SELECTED_JOB, "data"),
    Input(ids.CURVES_REFRESH, "data"),
    State(ids.TRAINING_CURVES, "figure"),
)
async def curves(
    jobs: list[dict[str, Any]] | None, selected: int | None, refresh: dict[str, Any] | None,
    shown: dict[str, Any] | None,
) -> Any:
    """Curves of the selected (else newest) job, drawn from its rows fetched once; afterwards the event
    stream's new rows extend them in the browser (static/jobs.js), which asks for a redraw here only when
    the figure cannot be extended (no curves yet, the switch to discriminative training to mark).
    uirevision = job id keeps zoom as epochs arrive."""
    job_id = selected if selected is not None else (jobs[0]["id"] if jobs else None)
    if job_id is None:
        return figures.training_figure([], None), figures.role_metrics_figure([], None)
    fired = triggers()  # a page's first call can carry several at once
    if fired == {ids.CURVES_REFRESH} and (refresh or {}).get("job_id") != job_id:
        return no_update, no_update  # another job's epoch
    if fired == {ids.JOBS_STORE} and plotted_job(shown) == str(job_id):
        return no_update, no_update  # the list changed; new rows reach the plotted curves from the stream
    try:
        rows = await api.job_metrics(int(job_id))
    except api.ApiError as e:
        msg = figures.empty_figure(f"No curves for job {job_id}: {e.detail}")
        return msg, msg
    return figures.training_figure(rows, job_id), figures.role_metrics_figure(rows, job_id)


def triggers() -> set[str]:
    """The ids whose change fired the running callback: all of them (ctx.triggered_id names only the first)."""
    return {t["prop_id"].split(".")[0] for t in ctx.triggered if t.get("prop_id") not in (None, ".")}


def plotted_job(figure: dict[str, Any] | None) -> str | None:
    """The job whose curves a training figure shows (its uirevision), None for an empty one."""
    layout = (figure or {}).get("layout") or {}
    return layout.get("uirevision") if (figure or {}).get("data") else None
