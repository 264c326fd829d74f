"""API load benchmark: encode one digit with a 400-unit model, sequentially and with 16 concurrent clients.

    python bench/api_load.py                       # starts `uvicorn server.main:app` on a free loopback port
    python bench/api_load.py --url http://127.0.0.1:8000 --model default

Targets: median server time (the X-Process-Time header) <= 5 ms, and >= 200 requests/s with 16
concurrent clients and no errors. Loopback only, a bounded number of requests. Figures go to
bench/results/api_load.json and stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "api_load.json"
TARGET_SERVER_MS, TARGET_RPS = 5.0, 200.0

from png_load import free_port, start_server  # noqa: E402  (bench/ is on the path, as for every script)


def pick_model(url: str, wanted: str | None) -> dict:
    models = httpx.get(f"{url}/api/models", timeout=10).json()["data"]
    if wanted:
        found = [m for m in models if m["id"] == wanted]
        if not found:
            raise SystemExit(f"model {wanted!r} not found; have {[m['id'] for m in models]}")
        return found[0]
    for m in sorted(models, key=lambda m: (m["source"] != "shipped", m["id"] != "default")):
        if m["hidden_units"] == 400:
            return m
    raise SystemExit(f"no 400-unit model among {[m['id'] for m in models]}; pass --model")


def test_digit() -> list[list[float]]:
    """MNIST test digit 0 when prepared, else a drawn-looking stroke; sent with preprocess=center."""
    try:
        from model import data

        return (data.load_arrays("mnist")["test_x"][0].reshape(28, 28) / 255.0).round(4).tolist()
    except Exception:
        img = np.zeros((28, 28))
        img[5:23, 12:16] = 1.0
        return img.tolist()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default), from /proc (Linux)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(values: list[float]) -> dict[str, float]:
    q = np.percentile(values, [50, 90, 99])
    return {"median": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "mean": float(statistics.fmean(values))}


def sequential(url: str, path: str, body: dict, n: int) -> dict:
    server, client = [], []
    with httpx.Client(base_url=url, timeout=10) as c:
        for _ in range(20):  # warm-up
            c.post(path, json=body)
        for _ in range(n):
            t0 = time.perf_counter()
            r = c.post(path, json=body)
            client.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            server.append(float(r.headers["x-process-time"]))
    return {"requests": n, "server_ms": summary(server), "round_trip_ms": summary(client)}


async def concurrent(url: str, path: str, body: dict, n: int, clients: int, server_pid: int | None) -> dict:
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    server: list[float] = []
    errors: list[str] = []
    remaining = iter(range(n))
    # 16 clients = 16 AsyncClients with one keep-alive connection each: one shared pool of 16 connections
    # spends more CPU in httpx's pool bookkeeping than the server spends answering
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [httpx.AsyncClient(base_url=url, timeout=30, limits=limits, trust_env=False) for _ in range(clients)]
    try:

        async def one_client(c: httpx.AsyncClient) -> None:
            request = c.build_request("POST", path, content=payload, headers=headers)  # built once, sent n times
            for _ in remaining:
                try:
                    r = await c.send(request)
                except httpx.HTTPError as e:
                    errors.append(type(e).__name__)
                    continue
                if r.status_code != 200:
                    errors.append(str(r.status_code))
                else:
                    server.append(float(r.headers["x-process-time"]))

        await asyncio.gather(*(c.post(path, content=payload, headers=headers) for c in pool))  # warm-up
        t0, c0 = time.perf_counter(), cpu_seconds()
        s0 = cpu_seconds(server_pid) if server_pid else None
        await asyncio.gather(*(one_client(c) for c in pool))
        wall, client_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        server_cpu = cpu_seconds(server_pid) - s0 if s0 is not None else None
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    out = {
        "requests": n,
        "clients": clients,
        "seconds": wall,
        "requests_per_s": n / wall,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "server_ms": summary(server) if server else None,
        # where the two cores went: CPU ms per request in the client (httpx) and the server process
        "client_cpu_ms_per_request": 1000 * client_cpu / n,
        "server_cpu_ms_per_request": 1000 * server_cpu / n if server_cpu is not None else None,
        "load_average_1min": os.getloadavg()[0],
    }
    if server_cpu is not None:
        # What the same CPU costs allow with both cores free of other work: the server and the client are one
        # thread each, so each is capped at one core, and together at two.
        c_ms, s_ms = 1000 * client_cpu / n, 1000 * server_cpu / n
        out["cpu_bound_estimate_requests_per_s"] = min(1000 / c_ms, 1000 / s_ms, 2000 / (c_ms + s_ms))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="a running server (default: start one on a free loopback port)")
    p.add_argument("--model", help="model id (default: the first 400-unit model, shipped first)")
    p.add_argument("--models-dir", help="DRSAE_MODELS_DIR for the started server")
    p.add_argument("--var-dir", help="DRSAE_VAR_DIR for the started server")
    p.add_argument("--sequential", type=int, default=300, help="requests in the latency run (default 300)")
    p.add_argument("--requests", type=int, default=2000, help="requests in the concurrent run (default 2000)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("loopback URLs only")

    proc = None
    url = args.url
    if url is None:
        port = free_port()
        proc = start_server(port, args.models_dir, args.var_dir)  # the server's own device and dashboard
        url = f"http://127.0.0.1:{port}"
    try:
        model = pick_model(url, args.model)
        path = f"/api/models/{model['id']}/encode"
        body = {"image": test_digit(), "preprocess": "center"}
        seq = sequential(url, path, body, args.sequential)
        conc = asyncio.run(concurrent(url, path, body, args.requests, args.clients, proc.pid if proc else None))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "server": "started by the benchmark" if proc is not None else args.url,
        "model": {"id": model["id"], "hidden_units": model["hidden_units"], "iterations": model["iterations"]},
        "request": "POST encode, one MNIST test digit, preprocess=center, no reconstructions",
        "sequential": seq,
        "concurrent": conc,
        "targets": {"server_median_ms_max": TARGET_SERVER_MS, "requests_per_s_min": TARGET_RPS, "errors": 0},
        "met": {
            "server_median": seq["server_ms"]["median"] <= TARGET_SERVER_MS,
            "throughput": conc["requests_per_s"] >= TARGET_RPS,
            "no_errors": conc["errors"] == 0,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"model {model['id']} ({model['hidden_units']} units, T={model['iterations']}) at {url}\n"
        f"sequential {seq['requests']}: server median {seq['server_ms']['median']:.2f} ms "
        f"(p90 {seq['server_ms']['p90']:.2f}), round trip median {seq['round_trip_ms']['median']:.2f} ms\n"
        f"concurrent {conc['requests']} x {conc['clients']} clients: {conc['requests_per_s']:.0f} req/s, "
        f"{conc['errors']} errors; CPU per request: client {conc['client_cpu_ms_per_request']:.2f} ms, "
        f"server {conc['server_cpu_ms_per_request'] or float('nan'):.2f} ms; load {conc['load_average_1min']:.1f}; "
        f"CPU-bound estimate on 2 free cores {conc.get('cpu_bound_estimate_requests_per_s', float('nan')):.0f} req/s\n"
        f"targets met: {result['met']} -> {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}"
    )
    return 0 if all(result["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
