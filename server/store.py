"""All SQL: jobs and their per-epoch metrics in one SQLite file (stdlib sqlite3, WAL mode).

The server and the worker processes share the file: WAL lets the API read while a worker writes its
progress, and every write is one short autocommitted statement, so a killed process leaves no half-done
transaction behind. Times are unix seconds (REAL); JSON columns hold the training config and epoch rows.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from server.lifecycle import FINAL, Status, sources

BUSY_MS = 15000  # how long a statement waits for another process's lock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    total_epochs INTEGER NOT NULL,
    pid INTEGER,
    heartbeat REAL,
    cancel INTEGER NOT NULL DEFAULT 0,
    resume INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    base TEXT NOT NULL,
    grid TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    epoch INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
"""
# Columns added after the first release: a database made before them gets them at open (ALTER TABLE).
_ADDED_COLUMNS = {"jobs": {"sweep_id": "INTEGER REFERENCES sweeps(id)", "settings": "TEXT"}}


@dataclass(frozen=True)
class JobRow:
    id: int
    name: str
    status: str
    config: dict[str, Any]
    epoch: int
    total_epochs: int
    pid: int | None
    heartbeat: float | None
    cancel: bool
    resume: bool
    error: str | None
    created: float
    started: float | None
    finished: float | None
    sweep_id: int | None = None  # the sweep the job is a member of
    settings: dict[str, Any] | None = None  # a member's values of its sweep's grid (API field names)

    @classmethod
    def from_sql(cls, r: sqlite3.Row) -> JobRow:
        d = dict(r)
        d["config"] = json.loads(d["config"])
        d["settings"] = json.loads(d["settings"]) if d.get("settings") else None
        d["cancel"], d["resume"] = bool(d["cancel"]), bool(d["resume"])
        return cls(**d)


@dataclass(frozen=True)
class SweepRow:
    id: int
    name: str
    base: dict[str, Any]  # the JobCreate-like body every member starts from
    grid: dict[str, list[Any]]  # API field -> the values swept
    created: float

    @classmethod
    def from_sql(cls, r: sqlite3.Row) -> SweepRow:
        d = dict(r)
        d["base"], d["grid"] = json.loads(d["base"]), json.loads(d["grid"])
        return cls(**d)


def finite(value: Any) -> Any:
    """NaN and infinities become None, so rows stay strict JSON (a diverging run can produce them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class StorageError(RuntimeError):
    """The job database cannot be read or written (disk full, read-only or missing folder); names the path.
    The API answers it with a 503 and health reports it."""

    def __init__(self, cause: str, path: Path) -> None:
        super().__init__(f"{cause} ({path})")
        self.cause = cause
        self.path = path


P = ParamSpec("P")
R = TypeVar("R")


def _guarded(write: bool) -> Callable[[Callable[Concatenate[Store, P], R]], Callable[Concatenate[Store, P], R]]:
    """sqlite3 and OS errors become StorageError; a failure is remembered until a write succeeds."""

    def wrap(fn: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
        @functools.wraps(fn)
        def guarded(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
            held = getattr(self._local, "db", None)  # a call made inside another call keeps its connection
            try:
                if held is None:
                    self._local.db = self._checkout()
                try:
                    result = fn(self, *args, **kwargs)
                finally:
                    if held is None and getattr(self._local, "db", None) is not None:
                        self._checkin(self._local.db)
                        self._local.db = None
            except StorageError as e:
                self.failure = str(e)
                raise
            except (sqlite3.Error, OSError) as e:
                err = StorageError(_cause(e), self.path)
                self.failure = str(err)
                self.locked = getattr(e, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                raise err from e
            if write:
                self.failure = None
                self.locked = False
            return result

        return guarded

    return wrap


def _cause(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}" + (f": {e.filename}" if e.filename else "")
    return str(e) or type(e).__name__


def _add_columns(db: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}
        for name, kind in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


POOL_SIZE = 8  # open connections at most, whatever the number of threads (each holds three files)


class Store:
    """One SQLite database. Each call takes a connection from a pool of at most POOL_SIZE and gives it back:
    with one per thread, the 40 threads of the server's pool and those that came and went each kept theirs
    (240 open files after bursts of requests). A connection is used by one thread at a time.

    A database that cannot be opened (read-only or missing folder) does not stop the server: every call
    raises StorageError naming the path until the folder is fixed, and `failure` says what went wrong."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._ready = False
        self.failure: str | None = None  # the last storage error, until a write succeeds
        self.locked = False  # that error was another process's lock: it may be gone (see recheck)
        self._idle: list[sqlite3.Connection] = []
        self._opened = 0
        self._cv = threading.Condition()
        try:
            self._checkin(self._checkout())
        except StorageError as e:
            self.failure = str(e)

    def _open(self) -> sqlite3.Connection:
        # autocommit (isolation_level=None): each statement is its own transaction
        db = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        return db

    def _conn(self) -> sqlite3.Connection:
        """The connection of the current call; outside one (scripts, tests) this thread keeps one."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._checkout()
        return db

    def _checkout(self) -> sqlite3.Connection:
        with self._cv:
            if not self._cv.wait_for(lambda: self._idle or self._opened < POOL_SIZE, BUSY_MS / 1000):
                raise StorageError(f"all {POOL_SIZE} database connections stayed busy", self.path)
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        db = None
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._open()
            if not self._ready:
                db.executescript(_SCHEMA)
                _add_columns(db)
                self._ready = True
            return db
        except (sqlite3.Error, OSError) as e:
            if db is not None:
                db.close()
            with self._cv:
                self._opened -= 1
                self._cv.notify()
            raise StorageError(f"cannot open the job database: {_cause(e)}", self.path) from e

    def _checkin(self, db: sqlite3.Connection) -> None:
        if db.in_transaction:  # a statement that failed halfway must not leave the next caller in its transaction
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        with self._cv:
            self._idle.append(db)
            self._cv.notify()

    def reset(self) -> None:
        """Close the idle connections: the next calls open new ones (after the database was replaced)."""
        with self._cv:
            for db in self._idle:
                db.close()
            self._opened -= len(self._idle)
            self._idle.clear()
            self._cv.notify_all()

    # ------------------------------------------------------------------------------------ jobs
    @_guarded(write=True)
    def create_job(self, *, name: str, config: dict[str, Any], total_epochs: int) -> int:
        cur = self._conn().execute(
            "INSERT INTO jobs (name, status, config, total_epochs, created) VALUES (?, ?, ?, ?, ?)",
            (name, Status.QUEUED, json.dumps(config), total_epochs, time.time()),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    @_guarded(write=True)
    def create_sweep(
        self, *, name: str, base: dict[str, Any], grid: dict[str, list[Any]],
        members: list[tuple[str, dict[str, Any], dict[str, Any], int]],
    ) -> int:
        """The sweep and its member jobs (name, config, settings, total epochs), queued, in one transaction."""
        db = self._conn()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT INTO sweeps (name, base, grid, created) VALUES (?, ?, ?, ?)",
                (name, json.dumps(base), json.dumps(grid), now),
            )
            sweep_id = cur.lastrowid
            assert sweep_id is not None
            db.executemany(
                "INSERT INTO jobs (name, status, config, total_epochs, created, sweep_id, settings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(n, Status.QUEUED, json.dumps(c), total, now, sweep_id, json.dumps(s)) for n, c, s, total in members],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return sweep_id

    @_guarded(write=False)
    def get_sweep(self, *, sweep_id: int) -> SweepRow | None:
        r = self._conn().execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return SweepRow.from_sql(r) if r else None

    @_guarded(write=False)
    def list_sweeps(self) -> list[SweepRow]:
        """Newest first."""
        rows = self._conn().execute("SELECT * FROM sweeps ORDER BY id DESC").fetchall()
        return [SweepRow.from_sql(r) for r in rows]

    @_guarded(write=False)
    def get_job(self, *, job_id: int) -> JobRow | None:
        r = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobRow.from_sql(r) if r else None

    @_guarded(write=False)
    def list_jobs(
        self, *, statuses: tuple[str, ...] | None = None, offset: int = 0, limit: int | None = None,
        sweep_id: int | None = None,
    ) -> list[JobRow]:
        """Newest first; all jobs, or those in `statuses` (and of sweep `sweep_id`); `limit` rows from `offset`."""
        conditions, args = [], []
        if statuses:
            conditions.append(f"status IN ({','.join('?' * len(statuses))})")
            args = list(statuses)
        if sweep_id is not None:
            conditions.append("sweep_id = ?")
            args.append(sweep_id)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        page = ""
        if limit is not None:
            page = " LIMIT ? OFFSET ?"
            args += [limit, offset]
        rows = self._conn().execute(f"SELECT * FROM jobs {where} ORDER BY id DESC{page}", args)
        return [JobRow.from_sql(r) for r in rows.fetchall()]

    @_guarded(write=False)
    def count_jobs(self, *, status: str | None = None) -> int:
        """How many jobs have `status` (all jobs when None)."""
        if status is None:
            return self._conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        return self._conn().execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]

    def _move(
        self, job_id: int, target: Status, sets: str, params: tuple[Any, ...], only: tuple[Status, ...] | None = None
    ) -> bool:
        """Move the job to `target` only from the states server/lifecycle.py allows (or the subset `only`), in
        one statement: of two processes racing (a cancel and the scheduler's claim), exactly one wins."""
        allowed = only or sources(target)
        assert set(allowed) <= set(sources(target)), (target, allowed)
        marks = ", ".join("?" * len(allowed))
        sql = f"UPDATE jobs SET status = ?, {sets} WHERE id = ? AND status IN ({marks})"
        return self._conn().execute(sql, (target, *params, job_id, *allowed)).rowcount > 0

    @_guarded(write=True)
    def claim(self, *, job_id: int) -> bool:
        """queued -> running, so a cancel that lands first wins and the job never starts."""
        now = time.time()
        sets = "pid = NULL, heartbeat = ?, started = ?, finished = NULL, error = NULL"
        return self._move(job_id, Status.RUNNING, sets, (now, now), only=(Status.QUEUED,))

    @_guarded(write=True)
    def mark_started(self, *, job_id: int, pid: int) -> None:
        now = time.time()
        sets = "pid = ?, heartbeat = ?, started = ?, finished = NULL, error = NULL"
        self._move(job_id, Status.RUNNING, sets, (pid, now, now))

    @_guarded(write=True)
    def cancel_queued(self, *, job_id: int) -> bool:
        """queued (or interrupted) -> cancelled, only if the scheduler has not claimed it meanwhile."""
        only = (Status.QUEUED, Status.INTERRUPTED)
        return self._move(job_id, Status.CANCELLED, "error = NULL, finished = ?", (time.time(),), only=only)

    @_guarded(write=True)
    def beat(self, *, job_id: int) -> None:
        self._conn().execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time(), job_id))

    @_guarded(write=True)
    def finish(self, *, job_id: int, status: Status, error: str | None = None) -> bool:
        """Set a final status, only on a running job: a final status another process wrote first stays."""
        assert status in FINAL, status
        return self._move(job_id, status, "error = ?, finished = ?", (error, time.time()), only=(Status.RUNNING,))

    @_guarded(write=True)
    def request_cancel(self, *, job_id: int) -> None:
        self._conn().execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))

    @_guarded(write=False)
    def cancel_requested(self, *, job_id: int) -> bool:
        r = self._conn().execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(r and r[0])

    @_guarded(write=True)
    def requeue(self, *, job_id: int, resume: bool) -> bool:
        """An ended job back in the queue (resume); server/lifecycle.py says which may come back."""
        sets = "resume = ?, cancel = 0, error = NULL, started = NULL, finished = NULL, pid = NULL"
        return self._move(job_id, Status.QUEUED, sets, (int(resume),))

    @_guarded(write=True)
    def requeue_many(self, resume: dict[int, bool]) -> None:
        """requeue() for several jobs at once (job id -> resume), in one transaction."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            allowed = sources(Status.QUEUED)  # the moves of server/lifecycle.py, as in _move
            marks = ", ".join("?" * len(allowed))
            db.executemany(
                "UPDATE jobs SET status = ?, resume = ?, cancel = 0, error = NULL, started = NULL, finished = NULL, "
                f"pid = NULL WHERE id = ? AND status IN ({marks})",
                [(Status.QUEUED, int(again), job_id, *allowed) for job_id, again in resume.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @_guarded(write=True)
    def recheck(self) -> None:
        """Take the write lock, waiting at most 0.1 s: success clears a remembered "database is locked"
        once the lock is gone, without waiting for the next real write."""
        db = self._conn()
        db.execute("PRAGMA busy_timeout=100")
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        finally:
            db.execute(f"PRAGMA busy_timeout={BUSY_MS}")

    # --------------------------------------------------------------------------------- metrics
    @_guarded(write=True)
    def add_metrics(self, *, job_id: int, row: dict[str, Any]) -> None:
        """One epoch row (a resumed run may write an epoch again: the newer row wins)."""
        epoch = int(row["epoch"])
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO metrics (job_id, epoch, row) VALUES (?, ?, ?)",
                (job_id, epoch, json.dumps(finite(row))),
            )
            db.execute("UPDATE jobs SET epoch = ?, heartbeat = ? WHERE id = ?", (epoch, time.time(), job_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @_guarded(write=False)
    def metrics(self, *, job_id: int, after_epoch: int = 0) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT row FROM metrics WHERE job_id = ? AND epoch > ? ORDER BY epoch", (job_id, after_epoch)
        )
        return [json.loads(r[0]) for r in rows.fetchall()]

    @_guarded(write=False)
    def best_metrics(self, *, job_id: int) -> dict[str, Any] | None:
        """The supervised epoch row with the lowest validation error (the first of equal ones: the trainer
        keeps a checkpoint only on a strict improvement), None before the supervised phase."""
        r = (
            self._conn()
            .execute(
                "SELECT row FROM metrics WHERE job_id = ? AND json_extract(row, '$.phase') = 'supervised' "
                "AND json_extract(row, '$.val_error') IS NOT NULL "
                "ORDER BY json_extract(row, '$.val_error'), epoch LIMIT 1",
                (job_id,),
            )
            .fetchone()
        )
        return json.loads(r[0]) if r else None

    @_guarded(write=False)
    def latest_metrics(self, *, job_id: int) -> dict[str, Any] | None:
        r = (
            self._conn()
            .execute("SELECT row FROM metrics WHERE job_id = ? ORDER BY epoch DESC LIMIT 1", (job_id,))
            .fetchone()
        )
        return json.loads(r[0]) if r else None
