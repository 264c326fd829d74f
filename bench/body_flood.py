"""Body flood benchmark: /api/health latency while clients post JSON bodies of many unknown keys.

    python bench/body_flood.py                    # starts uvicorn on a free loopback port, tiny model
    python bench/body_flood.py --port 8137 --seconds 10

Each of --clients clients posts, in a loop for --seconds, a body of --keys unknown keys (plus a valid
preset and dataset) to POST /api/jobs, then one of --encode-keys keys to POST /api/models/{id}/encode;
meanwhile one probe asks GET /api/health every 50 ms. Target (docs/hardening.md): the probe's median under
100 ms. Loopback only and bounded in time. Figures go to stdout and bench/results/body_flood.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from png_load import API_ONLY_CPU, TARGET_MS, free_port, start_server, write_record  # noqa: E402

RESULTS = REPO / "bench" / "results" / "body_flood.json"


def flood(keys: int) -> bytes:
    return json.dumps({"preset": "smoke", "dataset": "mnist", **{f"k{i}": 0 for i in range(keys)}}).encode()


async def run(url: str, path: str, keys: int, clients: int, seconds: float) -> dict:
    body = flood(keys)
    statuses: Counter[int] = Counter()
    sizes: list[int] = []
    probes: list[float] = []
    stop = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        assert (await client.get("/api/health")).status_code == 200

        async def sender() -> None:
            while time.monotonic() < stop:
                r = await client.post(path, content=body, headers=headers)
                statuses[r.status_code] += 1
                sizes.append(len(r.content))

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
        "path": path,
        "keys": keys,
        "body_bytes": len(body),
        "clients": clients,
        "seconds": seconds,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "answer_bytes_max": max(sizes, default=0),
        "health_probes": len(probes),
        "health_median_ms": round(statistics.median(probes), 1),
        "health_p95_ms": round(probes[max(0, math.ceil(0.95 * len(probes)) - 1)], 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keys", type=int, default=100_000, help="unknown keys in a job body")
    p.add_argument("--encode-keys", type=int, default=30_000, help="unknown keys in an encode body")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--port", type=int, default=0, help="port for the started server (default: a free one)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="drsae-body-flood-") as tmp:
        from tests.helpers import tiny_run

        tiny_run(Path(tmp) / "models", hidden=64, T=5, name="tiny")
        port = args.port or free_port()
        env = API_ONLY_CPU | {"DRSAE_MAX_JOBS": "0"}
        proc = start_server(port, str(Path(tmp) / "models"), str(Path(tmp) / "var"), env)
        url = f"http://127.0.0.1:{port}"
        try:
            runs = [asyncio.run(run(url, "/api/jobs", args.keys, args.clients, args.seconds)),
                    asyncio.run(run(url, "/api/models/tiny/encode", args.encode_keys, args.clients, args.seconds))]
        finally:
            proc.terminate()
            proc.wait(15)
    for r in runs:
        ok = r["health_median_ms"] < TARGET_MS
        print(f"{r['path']}: {r['keys']} unknown keys ({r['body_bytes'] / 1e6:.2f} MB), {r['clients']} clients, "
              f"{r['seconds']:g} s: answers {r['statuses']} (largest {r['answer_bytes_max']} bytes); /api/health "
              f"median {r['health_median_ms']} ms, p95 {r['health_p95_ms']} ms over {r['health_probes']} probes "
              f"[{'ok' if ok else 'over'} the {TARGET_MS:g} ms target]")
    return write_record(args.out, runs)


if __name__ == "__main__":
    sys.exit(main())
