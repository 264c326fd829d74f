"""A run folder's record, written as the loop goes: evaluation every epoch, the best-validation model and
config.json, the epoch rows (metrics.jsonl, or the caller's store), state.pt for --resume, and how the run
ended (finished, diverged, stopped). Only rank 0 writes.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from model import checkpoint, data, progress, snapshots
from model.analysis import role_metrics
from model.drsae import DrSAE
from model.members import Member, Run, TrainState
from model.optim import PopulationOptimizer

EVAL_BATCH_SIZE = 2000  # images per forward pass when evaluating: large enough to keep the device busy


@torch.no_grad()
def evaluate(model: DrSAE, split: data.Split, batch_size: int = EVAL_BATCH_SIZE) -> dict[str, float]:
    """Mean loss terms and classification error (%) of `model` on a split (fp32)."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64)
    device = next(model.parameters()).device
    for i in range(0, len(split), batch_size):
        x = split.x[i : i + batch_size].to(device, non_blocking=True)
        y = split.y[i : i + batch_size].to(device, non_blocking=True)
        out = model(x, y)
        n = len(y)
        L = out.losses
        errors = (out.logits.argmax(1) != y).sum()
        terms = torch.stack([L["reconstruction"] * n, L["sparsity"] * n, L["classification"] * n, errors])
        totals += terms.double().cpu()
    model.train(was_training)
    n = max(len(split), 1)
    return {
        "reconstruction": totals[0].item() / n,
        "sparsity": totals[1].item() / n,
        "classification": totals[2].item() / n,
        "error": 100.0 * totals[3].item() / n,
    }


def run_info(m: Member, run: Run, status: str) -> dict[str, Any]:
    """config.json's description of the run beside the model's own config."""
    return {
        "train": m.cfg.to_dict(),
        "status": status,
        "train_state": vars(m.state) | {},
        "device": str(run.device),
        "world_size": run.world_size,
        "torch": torch.__version__,
        "created": m.state.extra.get("created"),
    }


def prepare_out_dir(out_dir: Path, resume: bool) -> None:
    """Create the run folder; a fresh run over an old folder starts a new metrics.jsonl."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not resume and (out_dir / checkpoint.METRICS).exists():
        (out_dir / checkpoint.METRICS).unlink()
    if not resume:
        snapshots.clear(out_dir)


def save_resume_state(m: Member, run: Run, opt: PopulationOptimizer, index: int) -> None:
    """state.pt: what --resume needs to continue exactly from the last completed epoch (rank 0 writes)."""
    if run.rank != 0:
        return
    checkpoint.save_state(
        m.out_dir,
        {
            "model": {k: v.detach().cpu().clone() for k, v in m.model.state_dict().items()},
            "optimizer": opt.member_state(index),
            "train_state": {k: getattr(m.state, k) for k in (f.name for f in fields(TrainState))},
        },
    )


def restore(m: Member) -> dict[str, Any]:
    """Weights and counters from the member's state.pt; returns its optimizer state for after stacking."""
    saved = checkpoint.load_state(m.out_dir)
    if "kinds" not in saved.get("optimizer", {}):
        raise checkpoint.CheckpointError(
            f"{m.out_dir / checkpoint.STATE} was written by an older trainer and cannot be resumed by this one"
        )
    m.model.load_state_dict(saved["model"])
    m.state = TrainState(**{k: saved["train_state"][k] for k in (f.name for f in fields(TrainState))})
    return saved["optimizer"]


def evaluate_and_checkpoint(m: Member, run: Run) -> tuple[dict[str, float], dict[str, float]]:
    """Validation and test metrics of the member now. model.safetensors keeps the best-validation model of
    the supervised phase; before that (and in a run without one) the latest, so there is always one."""
    v, te = evaluate(m.model, run.val), evaluate(m.model, run.test)
    m.state.extra["val_error"] = v["error"]
    supervised = m.state.epoch > m.cfg.unsup_epochs  # the epoch just completed was supervised
    if supervised and v["error"] < m.state.best_val:
        m.state.best_val, m.state.best_epoch, m.state.bad_epochs = v["error"], m.state.epoch, 0
        checkpoint.save_run(m.out_dir, m.model, run_info(m, run, "running"))
    elif supervised:
        m.state.bad_epochs += 1
    if not supervised or m.cfg.epochs == 0:
        checkpoint.save_run(m.out_dir, m.model, run_info(m, run, "running"))
    return v, te


def epoch_row(
    m: Member, run: Run, phase: str, lr: float, train_m: dict[str, float], val_m: dict[str, float],
    test_m: dict[str, float], epoch_seconds: float,
) -> dict[str, Any]:
    """The epoch's line in metrics.jsonl and the row on_progress gets: losses, errors, roles, speed."""
    st, cfg = m.state, m.cfg
    return {
        "epoch": st.epoch,
        "phase": phase,
        "lr": lr,
        "step": st.step,
        "samples": st.samples,
        **{f"train_{k}": value for k, value in train_m.items()},
        **{f"val_{k}": value for k, value in val_m.items()},
        "test_error": test_m["error"],
        "best_val_error": st.best_val if phase == "supervised" else None,
        **role_metrics(m.model),
        "epoch_seconds": epoch_seconds,
        "seconds": st.seconds,
        **progress.speed_fields(
            images=run.steps_per_epoch * run.images_per_step,
            epoch_seconds=epoch_seconds,
            epochs_done=st.epoch,
            total_epochs=m.total_epochs,
            session_seconds=time.time() - m.session_start,
            session_epochs=st.epoch - m.session_epoch0,
            time_left=cfg.time_limit - st.seconds if cfg.time_limit else None,
        ),
    }


def print_epoch(row: dict[str, Any], total_epochs: int, label: str) -> None:
    print(
        f"{label}epoch {row['epoch']:4d}/{total_epochs} {row['phase']:12s} loss rec {row['train_reconstruction']:.4f} "
        f"l1 {row['train_sparsity']:.3f} ce {row['train_classification']:.4f} | train err "
        f"{row['train_error']:.2f}% val err {row['val_error']:.2f}% | {row['epoch_seconds']:.1f}s",
        flush=True,
    )


def diverged(train_m: dict[str, float], val_m: dict[str, float]) -> str | None:
    """Why a member cannot go on: its losses are no longer finite, or every unit is silent on validation."""
    if not all(math.isfinite(v) for v in (*train_m.values(), *val_m.values())):
        return "diverged: the losses are no longer finite"
    if val_m["sparsity"] == 0.0:
        return "diverged: every unit is silent (all codes zero on the validation split)"
    return None


def stop_reason_after(m: Member) -> str | None:
    """Why the member ends after this epoch, if it does: its last epoch, patience or the time limit."""
    cfg, st = m.cfg, m.state
    if st.epoch >= m.total_epochs:
        return "completed"
    if m.state.epoch > cfg.unsup_epochs and cfg.patience and st.bad_epochs >= cfg.patience:
        return "early stopping"
    if cfg.time_limit and st.seconds >= cfg.time_limit:
        return "time limit"
    return None


def record_stop(m: Member, run: Run, reason: str) -> dict[str, Any]:
    """Mark an interrupted run in config.json. state.pt keeps the last completed epoch: resuming replays the
    interrupted epoch exactly (same permutation, same starting weights), so the run ends where an
    uninterrupted one would."""
    if run.rank == 0:
        if not (m.out_dir / checkpoint.WEIGHTS).exists():
            checkpoint.save_run(m.out_dir, m.model, run_info(m, run, reason))
        cfg_json = checkpoint.read_config(m.out_dir)
        cfg_json["status"] = reason
        checkpoint.atomic_write_json(m.out_dir / checkpoint.CONFIG, cfg_json)
    return {"status": reason, "out": str(m.out_dir)}


def final_summary(m: Member, run: Run, stop_reason: str) -> dict[str, Any]:
    """Test and validation error of the kept (best) model, also written into config.json by rank 0."""
    summary: dict[str, Any] = {"status": "finished", "stop_reason": stop_reason, "out": str(m.out_dir)}
    if run.rank != 0:
        return summary
    best = checkpoint.load(m.out_dir, run.device)
    te, v = evaluate(best, run.test), evaluate(best, run.val)
    summary |= {
        "test_error": te["error"],
        "val_error": v["error"],
        "best_epoch": m.state.best_epoch,
        "epochs": m.state.epoch,
        "seconds": m.state.seconds,
    }
    final = run_info(m, run, "finished") | {"results": summary}
    checkpoint.atomic_write_json(m.out_dir / checkpoint.CONFIG, {"model": best.config.to_dict(), **final})
    print(
        f"done: best epoch {m.state.best_epoch}, val error {v['error']:.2f}%, test error {te['error']:.2f}% "
        f"({m.state.seconds:.0f}s) -> {m.out_dir}",
        flush=True,
    )
    return summary


def diverged_summary(m: Member, run: Run, reason: str) -> dict[str, Any]:
    """A member stopped for divergence: its folder says so; its best model so far (if any) stays."""
    summary = record_stop(m, run, "diverged")
    summary["stop_reason"] = reason
    if run.rank == 0:
        cfg_json = checkpoint.read_config(m.out_dir)
        cfg_json["results"] = summary
        checkpoint.atomic_write_json(m.out_dir / checkpoint.CONFIG, cfg_json)
        print(f"{m.out_dir}: {reason}; the other members go on", file=sys.stderr, flush=True)
    return summary

