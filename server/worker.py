"""Training jobs in their own process: `python -m server.worker --job-id N --out DIR --db DB --heartbeat-s S`.

Several `--job-id N --out DIR` pairs (a sweep's members of one shape) train as one population
(model.train.train_population): each member writes its own rows and final status, a cancelled member is
dropped while the others go on, and members resuming from different epochs still train together.

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.store import Store

CANCEL_POLL_S = 0.25  # should_stop() is called every step; the database is read at most this often


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--job-id", type=int, action="append", required=True,
                        help="a job to train; several (a sweep's members of one shape) train as one population")
    parser.add_argument("--out", type=Path, action="append", required=True,
                        help="each job's run folder (server.jobs.run_dir), in the order of --job-id")
    parser.add_argument("--db", type=Path, required=True, help="the job database (Settings.db_path)")
    parser.add_argument("--heartbeat-s", type=float, required=True, help="Settings.heartbeat_s")
    args = parser.parse_args(argv)
    if len(args.out) != len(args.job_id):
        parser.error("give one --out per --job-id")

    with contextlib.suppress(OSError):
        os.nice(10)
    import torch  # after nice(): importing torch is a good share of a short job

    torch.set_num_threads(1)

    from model import checkpoint, data
    from model.presets import TrainConfig
    from server.lifecycle import Status
    from server.store import Store

    store = Store(args.db)
    jobs = [store.get_job(job_id=i) for i in args.job_id]
    missing = [i for i, j in zip(args.job_id, jobs, strict=True) if j is None]
    if missing:
        print(f"error: no job {', '.join(map(str, missing))} in {args.db}", file=sys.stderr)
        return 2
    ids: list[int] = list(args.job_id)
    outs: dict[int, Path] = dict(zip(ids, args.out, strict=True))
    for out in outs.values():
        out.mkdir(parents=True, exist_ok=True)

    # SIGTERM before train() installs its own handler (while data loads): stop at the first step
    term = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: term.set())

    stop_beating = threading.Event()
    ended: set[int] = set()  # jobs whose final status is written (a member can end before its population)

    def beat() -> None:
        while not stop_beating.wait(args.heartbeat_s):
            for job_id in ids:
                if job_id in ended:
                    continue
                try:
                    store.beat(job_id=job_id)
                except Exception as e:  # a locked database must not kill training; the next beat retries
                    print(f"heartbeat failed: {e}", file=sys.stderr)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()

    cancels = CancelFlags(store, ids)
    resume = {j.id: j.resume and (outs[j.id] / checkpoint.STATE).exists() for j in jobs if j}
    for job_id in ids:
        how = "resuming" if resume[job_id] else "starting"
        print(f"job {job_id}: {how} in {outs[job_id]} (pid {os.getpid()})", flush=True)
    try:
        cfgs = {j.id: TrainConfig.from_dict(j.config) for j in jobs if j}
        train_jobs(store, ids, cfgs, outs, resume, term, cancels, ended)
    except (ValueError, data.DataError, checkpoint.CheckpointError, RuntimeError, OSError) as e:
        traceback.print_exc()
        stop_beating.set()
        for job_id in ids:
            if job_id not in ended:
                store.finish(job_id=job_id, status=Status.FAILED, error=f"{type(e).__name__}: {e}")
        return 1
    stop_beating.set()
    return 0


class CancelFlags:
    """Which jobs have a cancel request: the database is read at most every CANCEL_POLL_S (should_stop and
    drop_requested are called every step)."""

    def __init__(self, store: Store, ids: list[int]) -> None:
        self.store, self.ids = store, ids
        self.last, self.flags = 0.0, set[int]()

    def __call__(self) -> set[int]:
        now = time.monotonic()
        if now - self.last >= CANCEL_POLL_S:
            self.last = now
            self.flags = {i for i in self.ids if self.store.cancel_requested(job_id=i)}
        return self.flags


def train_jobs(
    store: Store, group: list[int], cfgs: dict[int, Any], outs: dict[int, Path], resume: dict[int, bool],
    term: threading.Event, cancels: CancelFlags, ended: set[int],
) -> None:
    """Train the jobs of `group` as one population (one job: a population of one), writing each one's rows
    and final status."""
    from model.train import train_population

    def on_progress(i: int, row: dict) -> None:
        store.add_metrics(job_id=group[i], row=row)

    def should_stop() -> bool:  # the whole population: a signal, or every member cancelled
        return term.is_set() or all(j in cancels() for j in group if j not in ended)

    def drop_requested() -> set[int]:  # some members cancelled while others go on
        flags = cancels()
        return {i for i, j in enumerate(group) if j in flags}

    def on_member_end(i: int, summary: dict) -> None:
        settle(store, group[i], summary, outs[group[i]], cfgs[group[i]])
        ended.add(group[i])

    summaries = train_population(
        [cfgs[j] for j in group], [outs[j] for j in group], resume=[resume[j] for j in group], on_progress=on_progress,
        should_stop=should_stop, drop_requested=drop_requested if len(group) > 1 else None,
        on_member_end=on_member_end, progress_bar=False,
    )
    for job_id, summary in zip(group, summaries, strict=True):
        if job_id not in ended:
            settle(store, job_id, summary, outs[job_id], cfgs[job_id])
            ended.add(job_id)


def settle(store: Store, job_id: int, summary: dict, out_dir: Path, cfg: Any) -> None:
    """A job's final status from its summary (server/lifecycle.py `outcome`), with its model card when it
    finished."""
    from model import card, checkpoint, data
    from server.lifecycle import Status, outcome

    final, error = outcome(summary, store.cancel_requested(job_id=job_id))
    if final == Status.FINISHED:
        try:  # the model card says whether the job's model shows the paper's structure (model/card.py)
            card.write(out_dir, machine=f"a DrSAE Explorer training job on {platform.node()} ({cfg.device})")
        except (ValueError, KeyError, data.DataError, checkpoint.CheckpointError, OSError) as e:
            print(f"job {job_id}: no model card ({type(e).__name__}: {e})", file=sys.stderr)
    store.finish(job_id=job_id, status=final, error=error)
    print(f"job {job_id}: {summary.get('status')}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
