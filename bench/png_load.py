"""PNG load benchmark: /api/health latency while clients keep posting large PNG drawings to encode.

    python bench/png_load.py                        # starts uvicorn on a free loopback port, tiny model
    python bench/png_load.py --side 1024 --seconds 10
    python bench/png_load.py --url http://127.0.0.1:8611 --model tiny

Each of --clients clients sends a --side x --side RGBA PNG (a few strokes on a transparent background,
about 20 KB at 2048 px) to POST /api/models/{id}/encode in a loop for --seconds; meanwhile one probe
asks GET /api/health every 50 ms. Target (docs/hardening.md): the probe's median under 100 ms with 4
clients. Loopback only and bounded in time. Figures go to stdout and bench/results/png_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "png_load.json"
TARGET_MS = 100.0


def write_record(out: Path, runs: list[dict]) -> int:
    """The figures of a health-under-load bench, written atomically; exit status 0 when every run kept
    /api/health under the target."""
    record = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpus": os.cpu_count(), "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out)
    return 0 if all(r["health_median_ms"] < TARGET_MS for r in runs) else 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drawing(side: int) -> str:
    """A digit-like stroke on a transparent RGBA canvas, as a PNG data URL."""
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    w = max(2, side // 40)
    d.ellipse([side * 0.3, side * 0.15, side * 0.7, side * 0.5], outline=(0, 0, 0, 255), width=w)
    d.line([side * 0.7, side * 0.33, side * 0.55, side * 0.85], fill=(0, 0, 0, 255), width=w)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# The benches that load the server measure the API alone, on the CPU, whatever the machine has.
API_ONLY_CPU = {"DRSAE_NO_DASHBOARD": "1", "DRSAE_DEVICE": "cpu"}


def start_server(
    port: int,
    models_dir: str | None = None,
    var_dir: str | None = None,
    extra_env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """`uvicorn server.main:app` on a loopback port (the given folders, else the server's defaults, and any
    extra environment); returns once /api/health answers. The one server starter of bench/."""
    env = os.environ | {"PYTHONPATH": str(REPO)}
    if models_dir:
        env["DRSAE_MODELS_DIR"] = models_dir
    if var_dir:
        env["DRSAE_VAR_DIR"] = var_dir
    env |= extra_env or {}
    cmd = [sys.executable, "-m", "uvicorn", "server.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True, stderr=log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
    proc.kill()
    raise SystemExit("the server did not start within 90 s")


async def run(url: str, model: str, side: int, clients: int, seconds: float) -> dict:
    body = json.dumps({"image": drawing(side), "preprocess": "center"})
    statuses: Counter[int] = Counter()
    probes: list[float] = []
    stop = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        assert (await client.get("/api/health")).status_code == 200  # warm up the connection pool

        async def sender() -> None:
            while time.monotonic() < stop:
                r = await client.post(f"/api/models/{model}/encode", content=body, headers=headers)
                statuses[r.status_code] += 1

        async def probe() -> None:
            await asyncio.sleep(0.5)  # let the senders get going
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await client.get("/api/health")
                probes.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
                await asyncio.sleep(0.05)

        await asyncio.gather(probe(), *(sender() for _ in range(clients)))
    probes.sort()
    return {
        "side": side,
        "png_bytes": len(body),
        "clients": clients,
        "seconds": seconds,
        "encode_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "health_probes": len(probes),
        "health_median_ms": round(statistics.median(probes), 1),
        "health_p95_ms": round(probes[max(0, math.ceil(0.95 * len(probes)) - 1)], 1),
        "health_max_ms": round(probes[-1], 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="a running server (default: start one on a free loopback port)")
    p.add_argument("--model", default="tiny")
    p.add_argument("--side", type=int, nargs="+", default=[2048, 1024])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--port", type=int, default=0, help="port for the started server (default: a free one)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()

    proc = None
    with tempfile.TemporaryDirectory(prefix="drsae-png-load-") as tmp:
        url = args.url
        if url is None:
            from tests.helpers import tiny_run

            tiny_run(Path(tmp) / "models", hidden=64, T=5, name=args.model)
            port = args.port or free_port()
            proc = start_server(port, str(Path(tmp) / "models"), str(Path(tmp) / "var"), API_ONLY_CPU)
            url = f"http://127.0.0.1:{port}"
        try:
            runs = [asyncio.run(run(url, args.model, side, args.clients, args.seconds)) for side in args.side]
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(15)
    for r in runs:
        ok = r["health_median_ms"] < TARGET_MS
        print(f"{r['side']}x{r['side']} RGBA PNG ({r['png_bytes'] / 1024:.0f} KB body), {r['clients']} clients, "
              f"{r['seconds']:g} s: encode answers {r['encode_statuses']}; /api/health median "
              f"{r['health_median_ms']} ms, p95 {r['health_p95_ms']} ms, max {r['health_max_ms']} ms over "
              f"{r['health_probes']} probes [{'ok' if ok else 'over'} the {TARGET_MS:g} ms target]")
    return write_record(args.out, runs)


if __name__ == "__main__":
    sys.exit(main())
