"""Hardening figures for docs/hardening.md, against a real server in its default configuration (no token,
loopback), with one tiny model and no training (DRSAE_MAX_JOBS=0: jobs queue but never start).

    python bench/hardening.py                         # all three parts, about 2 minutes
    python bench/hardening.py --examples 50 --skip-load

1. Hand-made bad inputs (the ones that once stalled the server, gave a 500 or acted cross-site): every one
   must get a 4xx with a JSON body.
2. schemathesis over the whole OpenAPI document (coverage, fuzzing and stateful phases): no 5xx, bodies
   match their schemas.
3. The PNG load of bench/png_load.py: /api/health median while 4 clients post 2048 px and 1024 px PNGs.

Loopback only, bounded. Figures go to stdout and bench/results/hardening.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
RESULTS = REPO / "bench" / "results" / "hardening.json"
SMOKE = {"preset": "smoke", "dataset": "mnist"}
JSON_CT = {"Content-Type": "application/json"}

from png_load import API_ONLY_CPU, start_server  # noqa: E402  (bench/ is on the path above)


def start(port: int, root: Path) -> subprocess.Popen[bytes]:
    """The server with no job slot (jobs stay queued) and a 2 s body timeout, logging to root/server.log."""
    extra = {**API_ONLY_CPU, "DRSAE_MAX_JOBS": "0", "DRSAE_BODY_TIMEOUT_S": "2"}
    with open(root / "server.log", "wb") as log:  # the child keeps its own copy of the descriptor
        return start_server(port, str(root / "models"), str(root / "var"), extra, log)


def stalled_body(port: int) -> tuple[int, str]:
    """Headers promise 100 bytes, 10 arrive, then nothing: the server must answer 408, not wait for ever."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"preset\":")
        data = s.recv(4096).decode(errors="replace")
    status = int(data.split(" ", 2)[1])
    return status, data.split("\r\n\r\n", 1)[-1]


def bad_inputs(base: str, port: int) -> list[dict[str, Any]]:
    from png_load import drawing

    c = httpx.Client(base_url=base, timeout=30)
    jid = c.post("/api/jobs", json=SMOKE).json()["id"]
    png_junk = "data:image/png;base64," + base64.b64encode(b"\x89PNG not really").decode()
    cases: list[tuple[str, Any]] = [
        ("2048x2048 RGBA PNG (over the pixel cap)",
         lambda: c.post("/api/models/tiny/encode", json={"image": drawing(2048)})),
        ("undecodable PNG", lambda: c.post("/api/models/tiny/encode", json={"image": png_junk})),
        ("Unicode digit in indices", lambda: c.get("/api/datasets/mnist/samples?indices=%F0%91%BD%90")),
        ("/api/jobs/1.0", lambda: c.get("/api/jobs/1.0")),
        ("hidden_units as a string", lambda: c.post("/api/jobs", json={**SMOKE, "hidden_units": "10"})),
        ("hidden_units as true", lambda: c.post("/api/jobs", json={**SMOKE, "hidden_units": True})),
        ("reconstructions as 'yes'",
         lambda: c.post("/api/models/tiny/encode", json={"image": [[0.0] * 28] * 28, "reconstructions": "yes"})),
        ("truncated JSON body", lambda: c.post("/api/jobs", content=b'{"preset": "smoke",', headers=JSON_CT)),
        ("cross-site text/plain cancel",
         lambda: c.post(f"/api/jobs/{jid}/cancel", headers={"Origin": "http://evil.example",
                                                            "Content-Type": "text/plain"})),
        ("text/plain resume without Origin", lambda: c.post(f"/api/jobs/{jid}/resume",
                                                             headers={"Content-Type": "text/plain"})),
        ("DNS-rebinding Host header", lambda: c.get("/api/jobs", headers={"Host": "evil.example:8000"})),
        ("time_limit over the server's", lambda: c.post("/api/jobs", json={**SMOKE, "time_limit": 1e9})),
        ("job page of 1000", lambda: c.get("/api/jobs?limit=1000")),
        ("3 MB body", lambda: c.post("/api/models/tiny/encode", content=b"{" + b" " * 3_000_000 + b"}",
                                     headers=JSON_CT)),
    ]
    out = []
    for name, call in cases:
        r = call()
        is_json = r.headers.get("content-type", "").startswith("application/json")
        out.append({"input": name, "status": r.status_code, "json": is_json, "detail": r.json().get("detail")
                    if is_json else r.text[:200]})
    status, body = stalled_body(port)
    out.append({"input": "body that never completes", "status": status, "json": body.startswith("{"),
                "detail": json.loads(body)["detail"] if body.startswith("{") else body[:200]})
    codes = []  # flood: queue jobs until refused
    for _ in range(100):
        codes.append(c.post("/api/jobs", json=SMOKE).status_code)
        if codes[-1] != 202:
            break
    r = c.post("/api/jobs", json=SMOKE)
    out.append({"input": f"job flood ({codes.count(202)} accepted, then refused)", "status": r.status_code,
                "json": True, "detail": r.json()["detail"]})
    still = c.get(f"/api/jobs/{jid}").json()["status"]
    out.append({"input": "the job the cross-site requests aimed at", "status": 200, "json": True,
                "detail": f"still {still}"})
    return out


def run_schemathesis(url: str, examples: int) -> dict[str, Any]:
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json", "--max-examples",
           str(examples), "--exclude-path-regex", "/events$", "--exclude-checks", "positive_data_acceptance",
           "--seed", "1", "--no-color"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    text = p.stdout + p.stderr
    m = re.search(r"(\d+) generated, (\d+) passed(?:, (\d+) failed)?", text)
    return {
        "command": " ".join(["schemathesis", *cmd[1:]]),
        "exit_code": p.returncode,
        "generated": int(m.group(1)) if m else None,
        "passed": int(m.group(2)) if m else None,
        "failed": int(m.group(3) or 0) if m else None,
        "seconds": round(time.monotonic() - t0, 1),
        "tail": text.strip().splitlines()[-12:],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8613)
    p.add_argument("--examples", type=int, default=300, help="schemathesis --max-examples per operation")
    p.add_argument("--skip-load", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    from tests.helpers import tiny_run

    record: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "machine": platform.machine(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="drsae-hardening-") as tmp:
        root = Path(tmp)
        tiny_run(root / "models", hidden=64, T=5, name="tiny")
        proc = start(args.port, root)
        base = f"http://127.0.0.1:{args.port}"
        try:
            record["bad_inputs"] = bad_inputs(base, args.port)
            record["schemathesis"] = run_schemathesis(base, args.examples)
            if not args.skip_load:
                from png_load import run as png_run

                record["load"] = [asyncio.run(png_run(base, "tiny", side, 4, 10.0)) for side in (2048, 1024)]
            record["server_alive"] = proc.poll() is None and httpx.get(f"{base}/api/health").status_code == 200
        finally:
            proc.terminate()
            proc.wait(15)
        log = (root / "server.log").read_text(errors="replace")
        record["tracebacks_in_log"] = log.count("Traceback")
    ok = True
    for row in record["bad_inputs"]:
        good = (400 <= row["status"] < 500 and row["json"]) or row["input"].startswith("the job")
        ok &= good
        print(f"{'ok ' if good else 'BAD'} {row['status']} {row['input']}: {row['detail']}")
    st = record["schemathesis"]
    print(f"schemathesis: {st['generated']} cases, {st['passed']} passed, {st['failed']} failed "
          f"(exit {st['exit_code']}, {st['seconds']} s)")
    ok &= st["exit_code"] == 0
    for r in record.get("load", []):
        print(f"load {r['side']} px x{r['clients']}: health median {r['health_median_ms']} ms, p95 "
              f"{r['health_p95_ms']} ms; encode {r['encode_statuses']}")
        ok &= r["health_median_ms"] < 100
    print(f"server alive at the end: {record['server_alive']}; tracebacks in its log: {record['tracebacks_in_log']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if ok and record["server_alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
