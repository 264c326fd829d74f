"""Populations: many runs of one shape in one process, each member ending exactly where it would alone;
a diverging member stops without the others; the CLI's sweeps, folders and resume."""

from __future__ import annotations

import json

import pytest
import torch

from model import checkpoint
from model.cli import main as cli_main
from model.cli import parse_list
from model.presets import preset
from model.train import train, train_population

TINY = dict(hidden=16, T=3, train_limit=400, eval_limit=200, batch_size=50, threads=1, precision="fp32")


def _weights(folder) -> list[torch.Tensor]:
    return [p.detach() for p in checkpoint.load(folder).parameters()]


def _close(a, b) -> None:
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("recipe", ["faithful", "adam"])
def test_each_member_equals_the_same_run_trained_alone(tmp_path, recipe: str) -> None:
    """Members differ in seed, rate, momentum, warm-up, loss weight, bound and length (so the population
    shrinks as the short one ends); each one's kept model and epoch rows equal its solo run's."""
    base = preset(recipe, unsup_epochs=1, epochs=2, **TINY)
    cfgs = [
        base,
        preset(recipe, unsup_epochs=2, epochs=2, seed=1, lr=base.lr / 2, cls_weight=0.5, **TINY),
        preset(recipe, unsup_epochs=1, epochs=1, seed=2, warmup_steps=5, e_bound=0.2, **TINY),
    ]
    if recipe == "faithful":
        cfgs[1] = preset("faithful", unsup_epochs=2, epochs=2, seed=1, momentum=0.5, nesterov=False, **TINY)
    dirs = [tmp_path / f"pop{i}" for i in range(3)]
    summaries = train_population(cfgs, dirs, progress_bar=False)
    assert [s["status"] for s in summaries] == ["finished"] * 3
    for i, cfg in enumerate(cfgs):
        alone = train(cfg, tmp_path / f"alone{i}", progress_bar=False)
        assert summaries[i]["test_error"] == pytest.approx(alone["test_error"])
        _close(_weights(dirs[i]), _weights(tmp_path / f"alone{i}"))
        rows, solo = checkpoint.read_metrics(dirs[i]), checkpoint.read_metrics(tmp_path / f"alone{i}")
        assert len(rows) == cfg.unsup_epochs + cfg.epochs == len(solo)
        for r, s in zip(rows, solo, strict=True):
            assert r["train_reconstruction"] == pytest.approx(s["train_reconstruction"], rel=1e-5)
            assert r["val_error"] == pytest.approx(s["val_error"])


def test_a_diverging_member_stops_and_the_others_go_on(tmp_path) -> None:
    good = preset("faithful", unsup_epochs=1, epochs=2, **TINY)
    bad = preset("faithful", unsup_epochs=1, epochs=2, l1_weight=1000.0, **TINY)  # every unit silenced
    out = train_population([good, bad], [tmp_path / "good", tmp_path / "bad"], progress_bar=False)
    assert out[0]["status"] == "finished" and out[1]["status"] == "diverged"
    assert out[1]["stop_reason"].startswith("diverged")
    assert checkpoint.read_config(tmp_path / "bad")["status"] == "diverged"
    assert len(checkpoint.read_metrics(tmp_path / "good")) == 3
    assert len(checkpoint.read_metrics(tmp_path / "bad")) < 3
    alone = train(good, tmp_path / "alone", progress_bar=False)
    assert out[0]["test_error"] == pytest.approx(alone["test_error"])


def test_members_of_different_shapes_are_refused_in_one_population(tmp_path) -> None:
    with pytest.raises(ValueError, match="share"):
        train_population([preset("smoke"), preset("smoke", hidden=8)], [tmp_path / "a", tmp_path / "b"])


def test_list_parsing() -> None:
    assert parse_list("seed", "0-3") == [0, 1, 2, 3]
    assert parse_list("lr", "0.01,0.02") == [0.01, 0.02]
    assert parse_list("nesterov", "true,false") == [True, False]
    for raw, message in [("0.01,abc", "not a number"), ("1,,2", "empty"), ("3-1", "backwards"), ("1,1", "twice")]:
        with pytest.raises(ValueError, match=message):
            parse_list("lr" if "." in raw or "abc" in raw else "seed", raw)


SWEEP = ["--preset", "faithful", "--hidden", "16", "--T", "3", "--warmup-steps", "0", "--unsup-epochs", "1",
         "--epochs", "2", "--train-limit", "200", "--eval-limit", "100", "--threads", "1", "--no-progress"]


def test_cli_sweep_writes_member_folders_and_resumes_the_whole_population(tmp_path, capsys) -> None:
    out = tmp_path / "sweep"
    assert cli_main([*SWEEP, "--seeds", "0-1", "--lr", "0.01,0.02", "--out", str(out)]) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["varying"] == ["lr", "seed"] and len(sweep["members"]) == 4
    for m in sweep["members"]:
        cfg = checkpoint.read_config(out / m["folder"])
        assert cfg["status"] in ("finished", "diverged")
        assert cfg["train"]["lr"] == m["settings"]["lr"] and cfg["train"]["seed"] == m["settings"]["seed"]
    assert cli_main(["--resume", "--out", str(out)]) == 2  # everything ended
    assert "nothing to resume" in capsys.readouterr().err
    # a shape-changing list: two populations, one after the other
    assert cli_main([*SWEEP, "--hidden", "8,4", "--out", str(tmp_path / "shapes")]) == 0
    assert "population of 1 (8 units" in capsys.readouterr().err
    assert checkpoint.read_config(tmp_path / "shapes" / "hidden4")["model"]["n_hidden"] == 4


def test_cli_sweep_interrupted_then_resumed_ends_as_uninterrupted(tmp_path, monkeypatch) -> None:
    args = [*SWEEP, "--seeds", "0,1", "--out"]
    assert cli_main([*args, str(tmp_path / "full")]) == 0
    import model.train as trainer

    real = trainer.Step.__call__
    calls = {"n": 0}

    def ctrl_c_in_second_epoch(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 6:  # 4 steps an epoch
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(trainer.Step, "__call__", ctrl_c_in_second_epoch)
    assert cli_main([*args, str(tmp_path / "cut")]) == 0
    assert checkpoint.read_config(tmp_path / "cut" / "seed0")["status"] == "interrupted"
    monkeypatch.setattr(trainer.Step, "__call__", real)
    assert cli_main(["--resume", "--no-progress", "--out", str(tmp_path / "cut")]) == 0
    for seed in ("seed0", "seed1"):
        assert checkpoint.read_config(tmp_path / "cut" / seed)["status"] == "finished"
        _close(_weights(tmp_path / "cut" / seed), _weights(tmp_path / "full" / seed))


def test_cli_messages(tmp_path, capsys) -> None:
    assert cli_main([*SWEEP, "--lr", "0.01,abc", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --lr: 'abc' is not a number"
    assert cli_main([*SWEEP, "--seeds", "0-2"]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert cli_main(["--resume", "--out", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["--dataset"])
    assert capsys.readouterr().err.count("\n") == 1  # one line, not the usage first


def test_a_run_folder_being_trained_is_refused_to_a_second_trainer(tmp_path) -> None:
    held = checkpoint.lock_run(tmp_path / "busy")  # as a running trainer holds it
    with pytest.raises(checkpoint.CheckpointError, match="being trained by process"):
        train(preset("smoke", **TINY), tmp_path / "busy", progress_bar=False)
    held.close()
    assert train(preset("smoke", unsup_epochs=0, epochs=1, **TINY), tmp_path / "busy", progress_bar=False)[
        "status"] == "finished"


def test_every_flag_says_what_it_does_its_default_and_its_range() -> None:
    from dataclasses import fields

    from model.cli import build_parser
    from model.presets import BOUNDS, CHOICES, HELP, TrainConfig

    actions = {a.dest: a for a in build_parser()._actions}
    for f in fields(TrainConfig):
        if f.name == "preset":
            continue
        text = actions[f.name].help
        assert HELP[f.name] in text and "default:" in text, f.name
        if f.name in BOUNDS:
            assert BOUNDS[f.name].text() in text, f.name
        if f.name in CHOICES:
            assert ", ".join(CHOICES[f.name]) in text, f.name


def test_structure_card_and_curves_take_a_sweep_folder(tmp_path, capsys) -> None:
    from model import card, structure

    out = tmp_path / "sweep"
    assert cli_main([*SWEEP, "--seeds", "0,1", "--out", str(out)]) == 0
    assert checkpoint.run_folders([out]) == [out / "seed0", out / "seed1"]
    assert structure.main([str(out), "--split", "val"]) == 0
    table = capsys.readouterr().out
    assert "seed0" in table and "seed1" in table
    assert card.main([str(out)]) == 0
    assert (out / "seed1" / "README.md").exists()
    unfinished = tmp_path / "cut"
    train(preset("smoke", **TINY), unfinished, should_stop=lambda: True, progress_bar=False)
    assert card.main([str(unfinished)]) == 2
    assert "no final results" in capsys.readouterr().err


def test_a_resumed_sweep_groups_members_by_their_resume_epoch_not_their_best(tmp_path) -> None:
    """config.json's train_state is the best epoch's; the epoch a member resumes from is state.pt's."""
    from model import cli

    out = tmp_path / "r"
    train(preset("smoke", unsup_epochs=1, epochs=2, **TINY), out, progress_bar=False)
    cfg = checkpoint.read_config(out)
    cfg["train_state"]["epoch"] = 1  # as after a best epoch long ago
    checkpoint.atomic_write_json(out / checkpoint.CONFIG, cfg)
    assert cli._epoch_of(out) == 3


def test_a_dropped_member_stops_mid_epoch_and_the_others_end_as_alone(tmp_path) -> None:
    """drop_requested (a cancelled member of a sweep) stops one member between steps; the others end as if
    trained alone, and the dropped one resumes from its last completed epoch, beside a fresh member, to the
    same end."""
    cfgs = [preset("faithful", unsup_epochs=1, epochs=2, seed=s, **TINY) for s in (0, 1)]
    dirs = [tmp_path / "a", tmp_path / "b"]
    steps = [0]

    def drop() -> set[int]:
        steps[0] += 1
        return {1} if steps[0] > 10 else set()  # 8 steps an epoch: member 1 goes during its second epoch

    out = train_population(cfgs, dirs, drop_requested=drop, progress_bar=False)
    assert out[0]["status"] == "finished" and out[1]["status"] == "cancelled"
    assert len(checkpoint.read_metrics(dirs[1])) == 1 and checkpoint.read_config(dirs[1])["status"] == "cancelled"
    alone = train(cfgs[0], tmp_path / "alone0", progress_bar=False)
    assert out[0]["test_error"] == pytest.approx(alone["test_error"])
    _close(_weights(dirs[0]), _weights(tmp_path / "alone0"))
    # resumed at epoch 1 beside a fresh member at epoch 0, in one population: both end as alone
    fresh = preset("faithful", unsup_epochs=1, epochs=1, seed=2, **TINY)
    resumed, new = train_population(
        [cfgs[1], fresh], [dirs[1], tmp_path / "c"], resume=[True, False], progress_bar=False
    )
    whole = train(cfgs[1], tmp_path / "alone1", progress_bar=False)
    assert resumed["status"] == "finished" and resumed["test_error"] == pytest.approx(whole["test_error"])
    _close(_weights(dirs[1]), _weights(tmp_path / "alone1"))
    assert [r["epoch"] for r in checkpoint.read_metrics(dirs[1])] == [1, 2, 3]
    assert new["test_error"] == pytest.approx(train(fresh, tmp_path / "alone2", progress_bar=False)["test_error"])
