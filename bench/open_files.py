"""Open files of the server after bursts of concurrent job reads (each SQLite connection holds the database
and its WAL open).

    python bench/open_files.py --port 8139          # starts uvicorn on a loopback port, one queued job

--bursts bursts of --clients concurrent GET /api/jobs/1; then the server's open files (/proc/PID/fd), all of
them and those on jobs.sqlite, and its live threads. Figures go to stdout and bench/results/open_files.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from png_load import API_ONLY_CPU, free_port, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "open_files.json"


def files(pid: int, db: Path) -> tuple[int, int]:
    """(all open files, those on the job database and its -wal/-shm) of process `pid`."""
    total = on_db = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        total += 1
        on_db += target.startswith(str(db))
    return total, on_db


async def bursts(url: str, clients: int, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=clients)) as c:
        for _ in range(count):
            answers = await asyncio.gather(*(c.get("/api/jobs/1") for _ in range(clients)))
            assert all(r.status_code == 200 for r in answers)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=40)
    p.add_argument("--bursts", type=int, default=20)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="drsae-open-files-") as tmp:
        from server.store import Store
        from tests.helpers import tiny_run

        tiny_run(Path(tmp) / "models", hidden=8, T=2, name="tiny")
        db = Path(tmp) / "var" / "jobs.sqlite"
        Store(db).create_job(name="queued", config={"preset": "smoke"}, total_epochs=4)
        port = args.port or free_port()
        env = API_ONLY_CPU | {"DRSAE_MAX_JOBS": "0"}
        proc = start_server(port, str(Path(tmp) / "models"), str(Path(tmp) / "var"), env)
        try:
            before = files(proc.pid, db)
            asyncio.run(bursts(f"http://127.0.0.1:{port}", args.clients, args.bursts))
            after = files(proc.pid, db)
            threads = len(list(Path(f"/proc/{proc.pid}/task").iterdir()))
        finally:
            proc.terminate()
            proc.wait(15)
    record = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpus": os.cpu_count(), "clients": args.clients, "bursts": args.bursts,
              "open_files_before": before[0], "open_files_after": after[0], "on_jobs_sqlite_after": after[1],
              "threads_after": threads}
    print(f"{args.bursts} bursts of {args.clients} concurrent GET /api/jobs/1: open files {before[0]} -> {after[0]} "
          f"({after[1]} on jobs.sqlite), {threads} threads alive")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
