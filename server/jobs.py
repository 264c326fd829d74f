"""Training jobs: a small scheduler that starts queued jobs as worker processes and watches them.

Each job runs in its own process (`python -m server.worker --job-id N`, new session, niced, one torch
thread), so training never competes with the API for the GIL or the event loop. The worker writes its own
progress and final status into SQLite; the scheduler only starts processes, escalates cancels
(flag + SIGTERM, SIGKILL after a grace period) and notices processes that died without a final status.

A restart loses nothing: at startup a job left 'running' is adopted if its worker is still alive (the pid
runs `server.worker --job-id N` and the heartbeat is fresh: pids are reused), otherwise it becomes
'interrupted' and can be resumed from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from model import checkpoint
from model.presets import TrainConfig
from model.train import population_key
from server.config import REPO, Settings
from server.lifecycle import JobStateError, Status, check_cancel, check_resume
from server.lifecycle import resumable as _resumable
from server.store import JobRow, StorageError, Store, SweepRow

log = logging.getLogger("drsae.jobs")
LOG_NAME = "worker.log"


class QueueFullError(RuntimeError):
    """Too many jobs are waiting already (a 429)."""


def run_dir(settings: Settings, job_id: int) -> Path:
    return settings.runs_dir / str(job_id)


def has_state(settings: Settings, job_id: int) -> bool:
    """The job saved a resume state (state.pt) in its run folder."""
    return (run_dir(settings, job_id) / checkpoint.STATE).exists()


def resumable(settings: Settings, job: JobRow) -> bool:
    return _resumable(job.status, has_state(settings, job.id))


def log_tail(path: Path, chars: int = 1500) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:].strip()


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")


def worker_alive(job: JobRow, stale_after_s: float) -> bool:
    """Is the job's recorded worker process still running? pid alive, running our worker for this job (where
    /proc tells), and a heartbeat newer than `stale_after_s`."""
    if not job.pid:
        return False
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: the cmdline check decides
    cmd = _cmdline(job.pid)
    if cmd is not None and not ("server.worker" in cmd and str(job.id) in cmd):
        return False  # the pid was reused by another program
    return beating(job, stale_after_s)


def beating(job: JobRow, stale_after_s: float) -> bool:
    """Has the job's worker written a heartbeat within `stale_after_s`? A stopped or hung one has not."""
    return job.heartbeat is not None and time.time() - job.heartbeat < stale_after_s


class JobManager:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.procs: dict[int, subprocess.Popen[bytes]] = {}  # workers this server started
        self.kill_at: dict[int, float] = {}  # job id -> when a cancelled worker gets SIGKILL
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------- actions
    def _check_queue(self, adding: int = 1) -> None:
        """A sweep's members count as jobs: `adding` of them must fit in the queue."""
        queued = self.store.count_jobs(status=Status.QUEUED)
        if queued + adding > self.settings.max_queued:
            what = "jobs are already waiting" if adding == 1 else f"jobs are waiting and this adds {adding}"
            raise QueueFullError(
                f"{queued} {what} (the limit is {self.settings.max_queued}): "
                "wait for one to start or cancel one, then try again"
            )

    def create_sweep(
        self, name: str, base: dict[str, Any], grid: dict[str, list[Any]],
        members: list[tuple[TrainConfig, dict[str, Any]]],
    ) -> SweepRow:
        """Queue every member (a config and its grid values) as a job of one new sweep."""
        self._check_queue(len(members))
        rows = []
        for cfg, values in members:
            label = "-".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
            rows.append((f"{name}/{label}", cfg.to_dict(), values, cfg.unsup_epochs + cfg.epochs))
        sweep_id = self.store.create_sweep(name=name, base=base, grid=grid, members=rows)
        sweep = self.store.get_sweep(sweep_id=sweep_id)
        assert sweep is not None
        return sweep

    def cancel_sweep(self, sweep: SweepRow) -> None:
        """Cancel every member that is still queued, running or interrupted."""
        waiting = (Status.QUEUED, Status.RUNNING, Status.INTERRUPTED)
        members = self.store.list_jobs(sweep_id=sweep.id, statuses=waiting)
        if not members:
            raise JobStateError(f"Sweep {sweep.id} has no queued, running or interrupted member to cancel")
        for job in members:
            with contextlib.suppress(JobStateError):
                self.cancel(job)

    def resume_sweep(self, sweep: SweepRow) -> list[JobRow]:
        """Queue again every resumable member; they train as populations again (server.worker)."""
        members = [j for j in self.store.list_jobs(sweep_id=sweep.id) if resumable(self.settings, j)]
        if not members:
            raise JobStateError(f"Sweep {sweep.id} has no interrupted, cancelled or failed member to resume")
        self._check_queue(len(members))
        # in one transaction, so that the scheduler never starts part of them as a population of their own
        self.store.requeue_many({j.id: has_state(self.settings, j.id) for j in members})
        return [self._reload(j.id) for j in members]

    def create(self, cfg: TrainConfig, name: str | None) -> JobRow:
        self._check_queue()
        name = name or f"{cfg.preset}-{cfg.dataset}-{cfg.hidden}x{cfg.T}"
        job_id = self.store.create_job(name=name, config=cfg.to_dict(), total_epochs=cfg.unsup_epochs + cfg.epochs)
        job = self.store.get_job(job_id=job_id)
        assert job is not None
        return job

    def cancel(self, job: JobRow) -> JobRow:
        check_cancel(job.id, job.status)
        if job.status != Status.RUNNING and self.store.cancel_queued(job_id=job.id):
            return self._reload(job.id)
        # running (perhaps claimed by the scheduler since we read it): the worker sees the flag within a step,
        # and SIGTERM covers a busy or stuck one
        self.store.request_cancel(job_id=job.id)
        if self._siblings_go_on(job):  # the worker drops this member alone (train_population's drop_requested)
            return self._reload(job.id)
        self._signal(job, signal.SIGTERM)
        self.kill_at[job.id] = time.monotonic() + self.settings.cancel_grace_s
        return self._reload(job.id)

    def resume(self, job: JobRow) -> JobRow:
        saved = has_state(self.settings, job.id)
        check_resume(job.id, job.status, saved)
        self._check_queue()
        if not self.store.requeue(job_id=job.id, resume=saved):
            raise JobStateError(f"Job {job.id} changed state meanwhile; reload it")
        return self._reload(job.id)

    def _siblings_go_on(self, job: JobRow) -> bool:
        """Does the job's worker train other members that are not being cancelled? (a sweep's population)"""
        if job.sweep_id is None:
            return False
        pid = self._reload(job.id).pid
        return pid is not None and any(
            j.pid == pid and j.id != job.id and not j.cancel
            for j in self.store.list_jobs(sweep_id=job.sweep_id, statuses=(Status.RUNNING,))
        )

    def _reload(self, job_id: int) -> JobRow:
        job = self.store.get_job(job_id=job_id)
        assert job is not None
        return job

    def _signal(self, job: JobRow, sig: signal.Signals) -> None:
        """Signal the worker's process group, only if the pid is verifiably our worker."""
        proc = self.procs.get(job.id)
        if proc is not None:
            if proc.poll() is None:
                _killpg(proc.pid, sig)
        elif job.pid and worker_alive(job, float("inf")):
            _killpg(job.pid, sig)

    # ----------------------------------------------------------------------------- scheduling
    def recover(self) -> None:
        """At startup: adopt live workers left by a previous server, mark the others interrupted."""
        if self.store.failure:
            log.error("cannot recover jobs: %s", self.store.failure)
            return
        try:
            running = self.store.list_jobs(statuses=(Status.RUNNING,))
        except StorageError as e:  # a database whose header reads but whose pages do not: start anyway
            log.error("cannot recover jobs: %s; the job endpoints answer 503 until the file is fixed", e)
            return
        for job in running:
            if worker_alive(job, self.settings.stale_after_s):
                log.info("job %d: worker %d still alive, adopted", job.id, job.pid)
            else:
                self.store.finish(
                    job_id=job.id, status=Status.INTERRUPTED, error="the server stopped while it ran"
                )

    def running_count(self) -> int:
        return self.store.count_jobs(status=Status.RUNNING)

    def tick(self) -> None:
        """One scheduler pass: reap exited workers, escalate cancels, drop dead adopted ones, start queued."""
        for job_id, proc in list(self.procs.items()):
            rc = proc.poll()
            if rc is None:
                self._forget_ended_member(job_id, proc)
                continue
            del self.procs[job_id]
            self.kill_at.pop(job_id, None)
            job = self.store.get_job(job_id=job_id)
            if job and job.status == Status.RUNNING:  # died without writing a final status
                self._died(job, rc)
        now = time.monotonic()
        for job_id, deadline in list(self.kill_at.items()):
            if now < deadline:
                continue
            job = self.store.get_job(job_id=job_id)
            if job and job.status == Status.RUNNING:
                log.warning("job %d ignored SIGTERM for %.0fs: SIGKILL", job_id, self.settings.cancel_grace_s)
                self._signal(job, signal.SIGKILL)
                if job_id not in self.procs:  # adopted: nobody will reap it
                    self.store.finish(job_id=job_id, status=Status.CANCELLED)
            self.kill_at.pop(job_id, None)
        stale = self.settings.stale_after_s
        running = self.store.list_jobs(statuses=(Status.RUNNING,))
        for job in running:
            if job.id in self.procs:
                if job.id not in self.kill_at and not beating(job, stale):
                    self._hung(job)
            elif not worker_alive(job, stale):
                self.store.finish(
                    job_id=job.id, status=Status.INTERRUPTED, error="the worker process disappeared"
                )
        # DRSAE_MAX_JOBS counts processes: a sweep's population is one
        processes = len({j.pid or -j.id for j in self.store.list_jobs(statuses=(Status.RUNNING,))})
        free = self.settings.max_jobs - processes
        if free > 0:
            # a resumed job whose previous worker is still exiting waits for the next pass
            queued = list(reversed(self.store.list_jobs(statuses=(Status.QUEUED,))))
            seen: set[int] = set()
            for job in queued:
                if free <= 0:
                    break
                if job.id in seen:
                    continue
                group = population_of(job, queued)
                seen.update(j.id for j in group)
                if any(j.id in self.procs for j in group):  # a member's previous worker is still exiting:
                    continue  # the whole population starts on a later pass, together
                self.start_group(group)
                free -= 1

    def _forget_ended_member(self, job_id: int, proc: subprocess.Popen[bytes]) -> None:
        """A sweep member that ended while its population goes on (finished, failed, dropped when cancelled)
        no longer belongs to that process: it may be resumed in another one (the trainer freed its folder
        before its status was written)."""
        if sum(p is proc for p in self.procs.values()) < 2:
            return
        job = self.store.get_job(job_id=job_id)
        if job is not None and job.status != Status.RUNNING:
            del self.procs[job_id]
            self.kill_at.pop(job_id, None)

    def _died(self, job: JobRow, rc: int) -> None:
        """A worker we started exited without a final status (killed outright, the OOM killer, a crash).
        With a resume checkpoint the job is 'interrupted' and can go on, as when an adopted worker dies."""
        if job.cancel:
            self.store.finish(job_id=job.id, status=Status.CANCELLED)
            return
        how = f"killed by {signal.Signals(-rc).name}" if rc < 0 and -rc in signal.valid_signals() else f"code {rc}"
        out = run_dir(self.settings, job.id)
        tail = log_tail(out / LOG_NAME)
        if has_state(self.settings, job.id):
            error = f"the worker died ({how}); resume goes on from the last saved epoch. {tail}"
            self.store.finish(job_id=job.id, status=Status.INTERRUPTED, error=error.strip())
        else:
            error = f"the worker exited with {how} before saving a checkpoint: {tail}"
            self.store.finish(job_id=job.id, status=Status.FAILED, error=error.strip())

    def _hung(self, job: JobRow) -> None:
        """A worker we started that is alive but sends no heartbeat (stopped, deadlocked, swapping): killed,
        and its job interrupted, so it can be resumed and the queue moves on (reaped on a later pass)."""
        log.warning("job %d: no heartbeat for %.0f s: killing its worker", job.id, self.settings.stale_after_s)
        self._signal(job, signal.SIGKILL)
        saved = has_state(self.settings, job.id)
        then = "resume goes on from the last saved epoch" if saved else "resume starts it again"
        error = f"no heartbeat for {self.settings.stale_after_s:.0f} s (hung or stopped): the worker was killed; {then}"
        self.store.finish(job_id=job.id, status=Status.INTERRUPTED, error=error)

    def start(self, job: JobRow) -> None:
        self.start_group([job])

    def start_group(self, group: list[JobRow]) -> None:
        """One worker process for the jobs of `group` (one job, or a sweep's members of one shape)."""
        group = [j for j in group if self.store.claim(job_id=j.id)]  # not those cancelled since they were listed
        if not group:
            return
        job = group[0]
        out = run_dir(self.settings, job.id)
        env = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        if env.get("DRSAE_DATA_DIR"):  # relative to the server's working directory, not the worker's
            env["DRSAE_DATA_DIR"] = os.path.abspath(env["DRSAE_DATA_DIR"])
        # Everything the worker needs from the settings, as absolute paths (its working directory is the repository)
        cmd = [
            *(sys.executable, "-m", "server.worker"),
            *(a for j in group for a in ("--job-id", str(j.id), "--out", str(run_dir(self.settings, j.id).absolute()))),
            *("--db", str(self.settings.db_path.absolute()), "--heartbeat-s", str(self.settings.heartbeat_s)),
        ]
        try:
            for j in group:
                run_dir(self.settings, j.id).mkdir(parents=True, exist_ok=True)
            with open(out / LOG_NAME, "ab") as logf:
                proc = subprocess.Popen(
                    cmd,
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as e:  # a full or read-only disk: say so on the job instead of retrying forever
            for j in group:
                self.store.finish(job_id=j.id, status=Status.FAILED, error=f"cannot start the worker in {out}: {e}")
            return
        for j in group:
            self.procs[j.id] = proc
            self.store.mark_started(job_id=j.id, pid=proc.pid)
        log.info("job(s) %s started as pid %d", ", ".join(str(j.id) for j in group), proc.pid)

    # ------------------------------------------------------------------------------ lifecycle
    async def run_forever(self) -> None:
        reported = None
        while True:
            try:
                await asyncio.to_thread(self.tick)
                reported = None
            except StorageError as e:  # once per new problem, not twice a second; health shows it meanwhile
                if str(e) != reported:
                    log.error("scheduler paused: %s", e)
                    reported = str(e)
            except Exception:  # a scheduler that dies silently would strand every queued job
                log.exception("scheduler pass failed")
            await asyncio.sleep(self.settings.poll_s)

    def start_scheduler(self) -> None:
        self.recover()
        self._task = asyncio.get_running_loop().create_task(self.run_forever(), name="drsae-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.settings.kill_jobs_on_exit:
            await asyncio.to_thread(self.kill_children)

    def kill_children(self) -> None:
        """SIGTERM every worker we started (they save a resumable checkpoint), SIGKILL after the grace period."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.cancel_grace_s
        for job_id, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self.store.finish(
                job_id=job_id, status=Status.INTERRUPTED, error="the server stopped while it ran"
            )
        self.procs.clear()


def population_of(job: JobRow, queued: list[JobRow]) -> list[JobRow]:
    """The queued jobs that train in one process with `job`: itself, and for a sweep's member the sweep's
    other queued members of the same shape (model/train.py POPULATION_KEYS), at most MAX_SWEEP_MEMBERS."""
    if job.sweep_id is None:
        return [job]
    key = population_key(TrainConfig.from_dict(job.config))
    return [
        j for j in queued
        if j.sweep_id == job.sweep_id and population_key(TrainConfig.from_dict(j.config)) == key
    ]


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the worker leads its own session, so pgid == pid
        os.killpg(pid, sig)

