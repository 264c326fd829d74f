"""Settings from the environment, read once per app instance so tests can build apps on temporary folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Settings:
    models_dir: Path
    var_dir: Path
    device: str = "auto"  # auto | cpu | cuda: where models are loaded for inference and jobs train
    token: str | None = None  # when set, starting, cancelling and resuming jobs needs "Bearer <token>"
    max_jobs: int = 1  # training processes at once; the rest wait queued (0: queue only, never start)
    kill_jobs_on_exit: bool = False  # stop worker processes when the server shuts down (tests)
    max_body_bytes: int = 2 * 1024 * 1024
    cancel_grace_s: float = 10.0  # SIGTERM -> SIGKILL
    heartbeat_s: float = 2.0  # a worker's heartbeat period
    stale_after_s: float = 30.0  # a running job whose heartbeat is older is taken as dead
    poll_s: float = 0.5  # scheduler and event-stream period
    torch_threads: int = 1  # the server's own torch threads: one core stays free for a training job

    @property
    def db_path(self) -> Path:
        return self.var_dir / "jobs.sqlite"

    @property
    def runs_dir(self) -> Path:
        return self.var_dir / "runs"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        device = env.get("DRSAE_DEVICE", "auto").strip().lower() or "auto"
        if device not in DEVICES:
            raise ValueError(f"DRSAE_DEVICE must be one of {DEVICES}, got {device!r}")
        return cls(
            # absolute: worker processes run from the repository root, not from the server's working directory
            models_dir=Path(env.get("DRSAE_MODELS_DIR") or REPO / "models").expanduser().absolute(),
            var_dir=Path(env.get("DRSAE_VAR_DIR") or REPO / "var").expanduser().absolute(),
            device=device,
            token=env.get("DRSAE_TOKEN") or None,
            max_jobs=max(0, int(env.get("DRSAE_MAX_JOBS", "1"))),
            kill_jobs_on_exit=env.get("DRSAE_KILL_JOBS_ON_EXIT") == "1",
            max_body_bytes=int(env.get("DRSAE_MAX_BODY_BYTES", str(2 * 1024 * 1024))),
            cancel_grace_s=float(env.get("DRSAE_CANCEL_GRACE_S", "10")),
            stale_after_s=float(env.get("DRSAE_STALE_AFTER_S", "30")),
            torch_threads=max(1, int(env.get("DRSAE_TORCH_THREADS", "1"))),
        )
