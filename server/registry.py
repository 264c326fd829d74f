"""Models the server knows: every run folder under DRSAE_MODELS_DIR plus every finished job's run folder.

Listing reads only small config files; weights are loaded on first use onto the inference device. Anything
derived from a model (unit roles, filter images, a pass over the test set) is computed once and cached in
memory under the model id and the weights file's mtime, so a checkpoint replaced on disk is picked up and
stale results are dropped. At most `cached_models` models stay loaded (tens of MB each with their test
pass): the least recently used one is dropped first. Computations run in worker threads (sync routes),
never on the event loop; a per-key lock makes concurrent first requests compute a result once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from model import analysis, checkpoint, data, inference
from model import card as card_module
from model import device as devices
from model.drsae import DrSAE, DrSAEConfig
from server.config import Settings
from server.lifecycle import Status
from server.store import StorageError, Store

log = logging.getLogger("drsae.registry")
DEFAULT_MODEL = "default"  # the shipped model the dashboard opens with (models/default)
T_ = TypeVar("T_")


def resolve_device(name: str) -> torch.device:
    """The serving device: model/device.py's rule, but a server with a wrong DRSAE_DEVICE still starts."""
    try:
        return devices.resolve(name)
    except ValueError as e:
        log.warning("DRSAE_DEVICE=%s: %s; using the CPU", name, e)
        return torch.device("cpu")


class ModelError(RuntimeError):
    """A listed model that cannot be used: its config.json or its weights are broken; says which (a 503)."""


def job_model_id(job_id: int) -> str:
    return f"job-{job_id}"


@dataclass(frozen=True)
class ModelEntry:
    """Where a model lives and what its config.json says; cheap to build (no weights read)."""

    id: str
    path: Path  # run folder with model.safetensors + config.json
    source: str  # "shipped" | "job"
    job_id: int | None
    name: str
    created: float | None  # unix seconds: when the weights were saved (their header), or the job's finish time
    mtime_ns: int  # of the weights file: the cache key
    config: dict[str, Any]
    card: dict[str, Any] | None = None  # card.json (model/card.py) when the folder has one
    error: str | None = None  # why config.json cannot be used; the model is listed, marked, not loaded

    @property
    def dataset(self) -> str:
        train = self.config.get("train")
        return str(train.get("dataset", "mnist")) if isinstance(train, dict) else "mnist"

    @property
    def results(self) -> dict[str, Any]:
        return self.config.get("results") or {}


@dataclass
class TestPass:
    """z(T) of every test digit and the predictions: what histograms, top digits and evaluation need."""

    dataset: str
    codes: np.ndarray  # (N, n_hidden) float32, final activity z(T)
    predictions: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64


@dataclass
class LoadedModel:
    entry: ModelEntry
    model: DrSAE
    roles: dict[str, np.ndarray]  # analysis.unit_roles
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.entry.id


class Datasets:
    """Prepared datasets, loaded (and checksummed) once per process."""

    def __init__(self) -> None:
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def available() -> list[str]:
        return [name for name in data.DATASETS if data.dataset_path(name).exists()]

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """uint8 images (N, 784) and labels; raises data.DataError when unknown or not prepared."""
        with self._lock:
            if name not in self._arrays:
                self._arrays[name] = data.load_arrays(name)
            return self._arrays[name]


class Registry:
    def __init__(self, settings: Settings, store: Store, datasets: Datasets) -> None:
        self.settings = settings
        self.store = store
        self.datasets = datasets
        self.device = resolve_device(settings.device)
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()  # least recently used first
        self._entries: dict[str, ModelEntry] = {}
        self._configs: dict[Path, tuple[int, dict[str, Any]]] = {}  # config.json cache by mtime
        self._lock = threading.RLock()
        self._key_locks: dict[tuple[str, int, str], threading.Lock] = {}
        self._role_counts: dict[tuple[Path, int], dict[str, int]] = {}  # by run folder and weights mtime
        self._broken: dict[tuple[Path, int], str] = {}  # weights that failed to load, by folder and mtime

    # ---------------------------------------------------------------------------- discovery
    def _read_config(self, run_dir: Path) -> tuple[dict[str, Any], str | None] | None:
        """config.json and what is wrong with it (None when fine; the model section is checked by
        DrSAEConfig); None when the folder has none."""
        p = run_dir / checkpoint.CONFIG
        try:
            mtime = p.stat().st_mtime_ns
        except OSError:
            return None
        hit = self._configs.get(p)
        if hit and hit[0] == mtime:
            return hit[1]
        cfg: dict[str, Any] = {}
        try:
            found = json.loads(p.read_text())
            if not isinstance(found, dict) or not isinstance(found.get("model"), dict):
                raise ValueError("no 'model' section")
            cfg = found
            DrSAEConfig.from_dict(cfg["model"])
            error = None
        except (OSError, ValueError, TypeError) as e:
            error = f"{checkpoint.CONFIG} cannot be used: {e}"
            log.warning("model %s: %s", run_dir, error)
        self._configs[p] = (mtime, (cfg, error))
        return cfg, error

    def _entry(
        self, run_dir: Path, mid: str, source: str, job_id: int | None, name: str | None, created: float | None
    ) -> ModelEntry | None:
        weights = run_dir / checkpoint.WEIGHTS
        try:
            st = weights.stat()
        except OSError:
            return None
        read = self._read_config(run_dir)
        if read is None:
            return None
        cfg, error = read
        card = self._read_card(run_dir)
        return ModelEntry(
            id=mid,
            path=run_dir,
            source=source,
            job_id=job_id,
            name=name or str(cfg.get("name") or mid),
            created=created if created is not None else checkpoint.saved_at(weights),  # never the file's mtime
            mtime_ns=st.st_mtime_ns,
            config=cfg,
            card=card,
            error=error,
        )

    def _read_card(self, run_dir: Path) -> dict[str, Any] | None:
        """The model card, if the folder has one; an unreadable card is reported and treated as absent."""
        p = run_dir / card_module.CARD
        if not p.exists():
            return None
        try:
            found = json.loads(p.read_text())
            if not isinstance(found, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            log.warning("ignoring the model card of %s: %s", run_dir, e)
            return None
        return found

    def scan(self) -> dict[str, ModelEntry]:
        """Re-read the models folder and the finished jobs (stat calls and small JSON files only)."""
        found: dict[str, ModelEntry] = {}
        root = self.settings.models_dir
        if root.is_dir():
            for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                e = self._entry(run_dir, run_dir.name, "shipped", None, None, None)
                if e:
                    found[e.id] = e
        try:
            finished = self.store.list_jobs(statuses=(Status.FINISHED,))
        except StorageError as err:  # the shipped models stay available; health reports the problem
            log.warning("job models not listed: %s", err)
            finished = []
        for job in reversed(finished):
            mid = job_model_id(job.id)
            if mid in found:
                log.warning("models folder %s shadows the model of job %d", mid, job.id)
                continue
            e = self._entry(self.settings.runs_dir / str(job.id), mid, "job", job.id, job.name, job.finished)
            if e:
                found[mid] = e
        with self._lock:
            self._entries = found
            for mid in list(self._loaded):
                if mid not in found or found[mid].mtime_ns != self._loaded[mid].entry.mtime_ns:
                    self._drop(mid)
        return found

    def entries(self) -> list[ModelEntry]:
        """Shipped models first, the one named DEFAULT_MODEL ahead of them (the dashboard opens the first),
        then jobs' models, newest job first; models that cannot be used last."""
        return sorted(
            self.scan().values(),
            key=lambda e: (self.error(e) is not None, e.source != "shipped", e.id != DEFAULT_MODEL,
                           -(e.job_id or 0), e.id),
        )

    def error(self, e: ModelEntry) -> str | None:
        """Why the model cannot be used (its config, or weights that failed to load); None when fine."""
        return e.error or self._broken.get((e.path, e.mtime_ns))

    def _load(self, e: ModelEntry, device: torch.device | str) -> DrSAE:
        """The weights, or ModelError naming what is wrong; a failure is remembered for the listing."""
        problem = self.error(e)
        if problem is None:
            try:
                return checkpoint.load(e.path, device)
            except (checkpoint.CheckpointError, ValueError, OSError) as err:
                problem = self._broken[(e.path, e.mtime_ns)] = f"the weights cannot be loaded: {err}"
                log.warning("model %s: %s", e.id, problem)
        raise ModelError(f"Model {e.id} cannot be used: {problem}")

    def entry(self, model_id: str) -> ModelEntry | None:
        with self._lock:
            e = self._entries.get(model_id)
        if e is None or not self._fresh(e):
            e = self.scan().get(model_id)
        return e

    @staticmethod
    def _fresh(e: ModelEntry) -> bool:
        try:
            return (e.path / checkpoint.WEIGHTS).stat().st_mtime_ns == e.mtime_ns
        except OSError:
            return False

    # -------------------------------------------------------------------------------- loading
    def loaded(self, model_id: str) -> LoadedModel | None:
        """The model if already loaded and its weights unchanged (one stat call), else None."""
        with self._lock:
            lm = self._loaded.get(model_id)
            if lm is not None:
                self._loaded.move_to_end(model_id)
        return lm if lm is not None and self._fresh(lm.entry) else None

    def get(self, model_id: str) -> LoadedModel | None:
        """The loaded model, or None if there is no such model. One stat call when already loaded; loading
        one more than `cached_models` drops the least recently used."""
        lm = self.loaded(model_id)
        if lm is not None:
            return lm
        e = self.entry(model_id)
        if e is None:
            return None
        with self._lock:
            lm = self._loaded.get(model_id)
            if lm is not None and lm.entry.mtime_ns == e.mtime_ns:
                return lm
            model = self._load(e, self.device)
            model.requires_grad_(False)
            lm = LoadedModel(e, model, analysis.unit_roles(model))
            self._loaded[model_id] = lm
            self._loaded.move_to_end(model_id)
            while len(self._loaded) > self.settings.cached_models:
                evicted = next(iter(self._loaded))
                log.info("model %s dropped from memory (least recently used)", evicted)
                self._drop(evicted)
            return lm

    def _drop(self, model_id: str) -> None:
        """Forget a loaded model and its results (callers hold self._lock); requests using it finish."""
        self._loaded.pop(model_id, None)
        for key in [k for k in self._key_locks if k[0] == model_id]:
            del self._key_locks[key]

    def loaded_ids(self) -> list[str]:
        """Loaded models, least recently used first."""
        with self._lock:
            return list(self._loaded)

    def warm_default(self) -> str | None:
        """Load the model the dashboard opens with (the first listed) and run its test-set pass, so the first
        page is quick; others load when asked for. Called in a background thread after startup; a request
        that arrives first computes it, and the other caller waits for that result. It never raises: the
        lifespan awaits it at shutdown, and a failed warm-up only costs the first request its speed."""
        first = None
        try:
            entries = self.entries()
            if not entries:
                return None
            first = entries[0].id
            lm = self.get(first)
            if lm is not None:
                self.test_pass(lm)
        except (ModelError, checkpoint.CheckpointError, data.DataError, ValueError, OSError) as err:
            log.warning("cannot warm model %s: %s", first, err)
            return None
        except Exception:
            log.exception("warming model %s failed", first)
            return None
        return first

    def cached(self, lm: LoadedModel, kind: str, compute: Callable[[], T_]) -> T_:
        """compute() once per (model, weights mtime, kind); concurrent callers wait for the first."""
        key = (lm.id, lm.entry.mtime_ns, kind)
        if kind in lm.cache:
            return lm.cache[kind]
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if kind not in lm.cache:
                lm.cache[kind] = compute()
            return lm.cache[kind]

    def role_counts(self, e: ModelEntry) -> dict[str, int] | None:
        """How many part-, intermediate- and categorical-units a model has (None when its weights cannot
        be read). Cached per weights file; reads the weights on the CPU without keeping the model loaded,
        so listing models does not load every one of them."""
        key = (e.path, e.mtime_ns)
        hit = self._role_counts.get(key)
        if hit is None:
            lm = self.loaded(e.id)
            try:
                roles = lm.roles["role"] if lm else analysis.unit_roles(self._load(e, "cpu"))["role"]
            except (ModelError, ValueError) as err:
                log.warning("cannot read the unit roles of %s: %s", e.id, err)
                return None
            hit = self._role_counts[key] = {r: int((roles == r).sum()) for r in analysis.ROLES}
        return hit

    # --------------------------------------------------------------------------- computations
    def test_pass(self, lm: LoadedModel) -> TestPass:
        return self.cached(lm, "test_pass", lambda: self._test_pass(lm))

    @torch.inference_mode()
    def _test_pass(self, lm: LoadedModel, batch: int = 1000) -> TestPass:
        arrays = self.datasets.arrays(lm.entry.dataset)
        x_all, labels = arrays["test_x"], arrays["test_y"]
        codes, preds = [], []
        for i in range(0, len(x_all), batch):
            x = torch.from_numpy(x_all[i : i + batch].astype(np.float32) / 255.0)
            x = data.normalize(x).to(self.device)
            z = lm.model.trajectory(x)[-1]  # (B, n_hidden): z(T)
            codes.append(z.float().cpu().numpy())
            preds.append(lm.model.classify(z).argmax(-1).cpu().numpy())
        return TestPass(lm.entry.dataset, np.concatenate(codes), np.concatenate(preds), labels.astype(np.int64))


def encode(
    lm: LoadedModel,
    x: np.ndarray,
    reconstructions: bool,
    interventions: Sequence[inference.Intervention] = (),
    decompose: bool = False,
    split_reconstruction: bool = False,
) -> dict[str, Any]:
    """Every iteration for one L2-normalised input (784,), by model/inference.py (the model's own
    equations). ValueError when an intervention does not fit the model."""
    roles = lm.roles["role"] if (decompose or split_reconstruction) else None
    out = inference.run(
        lm.model, x, interventions, decompose=decompose, reconstructions=reconstructions, roles=roles
    )
    if not split_reconstruction:
        out.pop("reconstructions_by_role", None)
    return out
