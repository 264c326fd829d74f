"""One training job in its own process: `python -m server.worker --job-id N --db DB --out DIR --heartbeat-s S`.

Started by the scheduler (server/jobs.py) in a new session, so a signal to the server does not reach
it and a cancel can signal its whole process group. It lowers its priority and uses one torch thread, so
the API keeps a core. It writes its heartbeat, every epoch's metrics row and its final status into
SQLite itself: progress survives a server restart. The scheduler passes the job database, the run folder
and the heartbeat period from its Settings (server/config.py), so the worker computes none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

CANCEL_POLL_S = 0.25  # should_stop() is called every step; the database is read at most this often


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True, help="the job database (Settings.db_path)")
    parser.add_argument("--out", type=Path, required=True, help="the job's run folder (server.jobs.run_dir)")
    parser.add_argument("--heartbeat-s", type=float, required=True, help="Settings.heartbeat_s")
    args = parser.parse_args(argv)

    with contextlib.suppress(OSError):
        os.nice(10)
    import torch  # after nice(): importing torch is a good share of a short job

    torch.set_num_threads(1)

    from model import card, checkpoint, data
    from model.presets import TrainConfig
    from model.train import train
    from server.lifecycle import Status, outcome
    from server.store import Store

    store = Store(args.db)
    job = store.get_job(job_id=args.job_id)
    if job is None:
        print(f"error: no job {args.job_id} in {args.db}", file=sys.stderr)
        return 2
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    # SIGTERM before train() installs its own handler (while data loads): stop at the first step
    term = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: term.set())

    stop_beating = threading.Event()

    def beat() -> None:
        while not stop_beating.wait(args.heartbeat_s):
            try:
                store.beat(job_id=job.id)
            except Exception as e:  # a locked database must not kill training; the next beat retries
                print(f"heartbeat failed: {e}", file=sys.stderr)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()

    last_poll = [0.0, False]

    def should_stop() -> bool:
        if term.is_set():
            return True
        now = time.monotonic()
        if now - last_poll[0] >= CANCEL_POLL_S:
            last_poll[0], last_poll[1] = now, store.cancel_requested(job_id=job.id)
        return bool(last_poll[1])

    def on_progress(row: dict) -> None:
        store.add_metrics(job_id=job.id, row=row)

    resume = job.resume and (out_dir / checkpoint.STATE).exists()
    print(f"job {job.id}: {'resuming' if resume else 'starting'} in {out_dir} (pid {os.getpid()})", flush=True)
    try:
        cfg = TrainConfig.from_dict(job.config)
        summary = train(cfg, out_dir, on_progress=on_progress, should_stop=should_stop, resume=resume,
                        progress_bar=False)
    except (ValueError, data.DataError, checkpoint.CheckpointError, RuntimeError, OSError) as e:
        traceback.print_exc()
        stop_beating.set()
        store.finish(job_id=job.id, status=Status.FAILED, error=f"{type(e).__name__}: {e}")
        return 1
    stop_beating.set()
    final, error = outcome(summary, store.cancel_requested(job_id=job.id))
    if final == Status.FINISHED:
        try:  # the model card says whether the job's model shows the paper's structure (model/card.py)
            card.write(out_dir, machine=f"a DrSAE Explorer training job on {platform.node()} ({cfg.device})")
        except (ValueError, KeyError, data.DataError, checkpoint.CheckpointError, OSError) as e:
            print(f"job {job.id}: no model card ({type(e).__name__}: {e})", file=sys.stderr)
    store.finish(job_id=job.id, status=final, error=error)
    print(f"job {job.id}: {summary['status']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
