"""Data-parallel training under torchrun: 2 CPU processes (gloo) keep identical parameters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_keeps_ranks_identical(tmp_path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", str(ROOT / "tests" / "model" / "ddp_worker.py"), str(tmp_path)]
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict == {"world": 2, "identical": True, "status": "finished", "moved": 2}
    # only rank 0 wrote the run folder, and it holds a finished run
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["world_size"] == 2 and config["status"] == "finished"


def test_torchrun_splits_a_sweeps_members_over_the_ranks(tmp_path) -> None:
    """Three members on two ranks: rank 0 trains two as a population, rank 1 the third; no gradient
    exchange, every member's folder finished, one sweep.json."""
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "model.train", "--preset", "faithful", "--hidden", "8", "--T", "2",
           "--warmup-steps", "0", "--unsup-epochs", "1", "--epochs", "1", "--train-limit", "200", "--eval-limit",
           "100", "--threads", "1", "--no-progress", "--seeds", "0-2", "--out", str(out)]
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "population of 2" in proc.stderr and "population of 1" in proc.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert [m["folder"] for m in sweep["members"]] == ["seed0", "seed1", "seed2"]
    for m in sweep["members"]:
        config = json.loads((out / m["folder"] / "config.json").read_text())
        assert config["status"] == "finished" and config["world_size"] == 1
