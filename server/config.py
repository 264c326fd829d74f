"""Settings from the environment, read once per app instance so tests can build apps on temporary folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVICES = ("auto", "cpu", "cuda")
# Host headers accepted by default: loopback names only, so a DNS-rebinding page (whose Host is its own
# name) cannot reach the API. Add names with DRSAE_ALLOWED_HOSTS ("*" accepts any).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _int(env: dict[str, str] | os._Environ[str], name: str, default: int, lo: int = 0) -> int:
    raw = env.get(name, "").strip()
    try:
        return max(lo, int(raw)) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: dict[str, str] | os._Environ[str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    return value if value > 0 else None  # 0: no limit


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
    heartbeat_s: float = 2.0  # a worker's heartbeat period (passed to each worker)
    stale_after_s: float = 30.0  # a running job whose heartbeat is older is taken as dead
    poll_s: float = 0.5  # scheduler and event-stream period
    torch_threads: int = 1  # the server's own torch threads: one core stays free for a training job
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host header names accepted; "*" accepts any
    max_queued: int = 20  # jobs waiting at once; more is a 429
    max_job_seconds: float | None = 6 * 3600.0  # a job's training time limit, default and ceiling; None: none
    cached_models: int = 4  # models kept loaded (weights and derived results), least recently used dropped
    body_timeout_s: float = 30.0  # a request body must arrive within this; else 408
    min_free_bytes: int = 64 * 1024 * 1024  # health reports storage trouble below this much free disk

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
            max_jobs=_int(env, "DRSAE_MAX_JOBS", 1),
            kill_jobs_on_exit=env.get("DRSAE_KILL_JOBS_ON_EXIT") == "1",
            max_body_bytes=_int(env, "DRSAE_MAX_BODY_BYTES", 2 * 1024 * 1024, lo=1),
            cancel_grace_s=_float(env, "DRSAE_CANCEL_GRACE_S", 10.0) or 0.0,
            stale_after_s=_float(env, "DRSAE_STALE_AFTER_S", 30.0) or 30.0,
            torch_threads=_int(env, "DRSAE_TORCH_THREADS", 1, lo=1),
            allowed_hosts=allowed_hosts(env.get("DRSAE_ALLOWED_HOSTS", "")),
            max_queued=_int(env, "DRSAE_MAX_QUEUED", 20),
            max_job_seconds=_float(env, "DRSAE_MAX_JOB_SECONDS", 6 * 3600.0),
            cached_models=_int(env, "DRSAE_CACHED_MODELS", 4, lo=1),
            body_timeout_s=_float(env, "DRSAE_BODY_TIMEOUT_S", 30.0) or 30.0,
        )


def allowed_hosts(extra: str) -> tuple[str, ...]:
    """The loopback names plus a comma-separated list (lower-cased, ports dropped: any port is fine)."""
    names = [n.strip().lower() for n in extra.split(",") if n.strip()]
    return LOOPBACK_HOSTS + tuple(host_name(n) if n != "*" else n for n in names if n not in LOOPBACK_HOSTS)


def host_name(host: str) -> str:
    """'Example.org:8000' -> 'example.org', '[::1]:80' -> '[::1]': the name part of a Host header."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
