"""Per-epoch unit snapshots: which epochs and units, what a trained run leaves, and that they agree with
the epoch rows' role counts."""

from __future__ import annotations

import numpy as np

from model import checkpoint, snapshots
from model.analysis import PART_MAX_ANGLE
from model.presets import preset
from model.train import train


def test_epochs_and_units_are_spread_and_bounded() -> None:
    assert snapshots.snapshot_epochs(3) == {1, 2, 3}
    many = snapshots.snapshot_epochs(400)
    assert len(many) == snapshots.MAX_SNAPSHOTS and {1, 400} <= many
    assert list(snapshots.kept_units(5)) == [0, 1, 2, 3, 4]
    wide = snapshots.kept_units(400)
    assert len(wide) == snapshots.MAX_UNITS and wide[0] == 0 and wide[-1] == 399


def test_a_run_leaves_a_snapshot_per_epoch_that_matches_its_rows(tmp_path) -> None:
    cfg = preset("smoke", hidden=8, T=3, unsup_epochs=1, epochs=2, train_limit=400, eval_limit=200, threads=1)
    train(cfg, tmp_path, progress_bar=False)
    assert snapshots.epochs(tmp_path) == [0, 1, 2, 3]
    rows = checkpoint.read_metrics(tmp_path)
    last = snapshots.load_snapshot(tmp_path, 3)
    assert last["D"].shape == (784, 8) and list(last["units"]) == list(range(8))
    assert int((last["angle"] < PART_MAX_ANGLE).sum()) == rows[-1]["units_part"]
    first = snapshots.load_snapshot(tmp_path, 0)
    assert not np.allclose(first["D"], last["D"])  # the filters moved
    shorter = preset("smoke", hidden=8, T=3, unsup_epochs=1, epochs=0, train_limit=400, eval_limit=200, threads=1)
    train(shorter, tmp_path, progress_bar=False)  # a fresh run over the folder: the old snapshots go
    assert snapshots.epochs(tmp_path) == [0, 1]
