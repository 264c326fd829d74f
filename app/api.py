"""The dashboard's one client of the JSON API (docs/api.md); nothing else in app/ knows a URL.

In the server's own process, requests go straight to the FastAPI instance through `httpx.ASGITransport`
(no port, no network hop); with `DRSAE_API_URL` set they go over HTTP to that base URL instead.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

import fastapi
import httpx

_api: fastapi.FastAPI | None = None
# One client per event loop (httpx clients are bound to the loop they first ran on); weak, so a closed
# loop's client goes with it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


class ApiError(Exception):
    """A 4xx/5xx answer from the API, with its plain `detail` message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def configure(api: fastapi.FastAPI | None) -> None:
    """Remember the FastAPI instance to call in-process (set by app.dashboard.attach)."""
    global _api
    _api = api
    _clients.clear()


def _client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        base = os.environ.get("DRSAE_API_URL")
        if base:
            client = httpx.AsyncClient(base_url=base.rstrip("/"), timeout=60)
        elif _api is not None:
            # a loopback name: the server refuses Host headers outside its allowed list
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_api), base_url="http://localhost", timeout=60)
        else:
            raise RuntimeError("app.api is not configured: call configure(api) or set DRSAE_API_URL")
        _clients[loop] = client
    return client


async def _request(method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
    # The token is the visitor's own (typed into the training form): the dashboard never lends the
    # server's DRSAE_TOKEN to whoever opens it.
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method != "GET":  # the server takes changes only as JSON (a cross-site form cannot send that)
        headers["Content-Type"] = "application/json"
    try:
        r = await _client().request(method, "/api" + path, headers=headers, **kwargs)
    except httpx.HTTPError as e:  # connection refused, timeout
        raise ApiError(503, f"API unreachable: {e}") from e
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        if not isinstance(detail, str):  # FastAPI 422: a list of {loc, msg}
            detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
        raise ApiError(r.status_code, detail)
    return r.json()


async def health() -> dict[str, Any]:
    return await _request("GET", "/health")


async def models() -> list[dict[str, Any]]:
    """Every model, shipped and job-produced (ModelSummary rows)."""
    return (await _request("GET", "/models"))["data"]






async def units(model_id: str) -> dict[str, Any]:
    return await _request("GET", f"/models/{model_id}/units")


async def unit(model_id: str, k: int) -> dict[str, Any]:
    return await _request("GET", f"/models/{model_id}/units/{k}")


async def evaluation(model_id: str) -> dict[str, Any]:
    return await _request("GET", f"/models/{model_id}/evaluation")




async def samples(dataset: str, split: str = "test", start: int = 0, count: int = 24) -> dict[str, Any]:
    params = {"split": split, "start": start, "count": count}
    return await _request("GET", f"/datasets/{dataset}/samples", params=params)


async def samples_at(dataset: str, indices: list[int], split: str = "test") -> list[dict[str, Any]]:
    """Several digits by index, in one request (at most 200)."""
    if not indices:
        return []
    params = {"split": split, "indices": ",".join(str(i) for i in indices)}
    return (await _request("GET", f"/datasets/{dataset}/samples", params=params))["data"]


async def jobs(limit: int = 50) -> list[dict[str, Any]]:
    """The newest `limit` jobs (the list is paginated; at most 200 a page)."""
    return (await _request("GET", "/jobs", params={"limit": limit}))["data"]


async def job_options() -> dict[str, Any]:
    """The presets, datasets and field ranges a job may use (JobOptions)."""
    return await _request("GET", "/jobs/options")




async def job_metrics(job_id: int) -> list[dict[str, Any]]:
    return (await _request("GET", f"/jobs/{job_id}/metrics"))["data"]


async def create_job(body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    return await _request("POST", "/jobs", token=token, json=body)


async def cancel_job(job_id: int, token: str | None = None) -> dict[str, Any]:
    return await _request("POST", f"/jobs/{job_id}/cancel", token=token)


async def resume_job(job_id: int, token: str | None = None) -> dict[str, Any]:
    """Continue an interrupted or cancelled job from its last checkpoint."""
    return await _request("POST", f"/jobs/{job_id}/resume", token=token)


async def create_sweep(body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """Queue a sweep: {base: JobCreate, grid: {field: [values]}, name} (its members train as one population)."""
    return await _request("POST", "/sweeps", token=token, json=body)


async def cancel_sweep(sweep_id: int, token: str | None = None) -> dict[str, Any]:
    return await _request("POST", f"/sweeps/{sweep_id}/cancel", token=token)


async def job_snapshots(job_id: int) -> dict[str, Any]:
    """The epochs at which the job's trainer kept a snapshot of its units, and the role thresholds."""
    return await _request("GET", f"/jobs/{job_id}/snapshots")


async def job_snapshot(job_id: int, epoch: int) -> dict[str, Any]:
    """One epoch's snapshot: the kept units' decoder filters, every unit's angle, ||C_i|| and role."""
    return await _request("GET", f"/jobs/{job_id}/snapshots/{epoch}")
