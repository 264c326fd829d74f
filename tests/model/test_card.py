"""Model cards: the reproducing command, and a card written for a tiny trained model."""

from __future__ import annotations

import json

import pytest

from model import card
from model.presets import preset
from model.train import train


def test_command_names_the_preset_and_what_differs() -> None:
    cfg = preset("faithful", seed=3, hidden=200, device="cuda", threads=1).to_dict()
    assert card.command(cfg) == "python -m model.train --preset faithful --hidden 200 --seed 3"
    old = preset("adam", epochs=45).to_dict() | {"preset": "fast"}  # the Adam preset's earlier name
    assert card.command(old) == "python -m model.train --preset adam --epochs 45 --seed 0"
    with pytest.raises(ValueError, match="unknown preset"):
        card.command(old | {"preset": "turbo"})


def test_card_for_a_trained_model(tmp_path) -> None:
    cfg = preset("smoke", hidden=16, T=3, train_limit=300, eval_limit=100, unsup_epochs=1, epochs=1, threads=1)
    train(cfg, tmp_path / "m", progress_bar=False)
    made = card.write(tmp_path / "m", machine="this test's CPU")
    saved = json.loads((tmp_path / "m" / card.CARD).read_text())
    assert saved == json.loads(json.dumps(made, allow_nan=True))
    assert saved["architecture"] == "784-16^3-10" and "1301.3775" in saved["paper"]
    assert saved["shows_paper_structure"] is False  # an untrained-looking tiny model has no categorical units
    text = (tmp_path / "m" / card.README).read_text()
    assert "python -m model.train --preset smoke" in text and "this test's CPU" in text
    assert "| at least 20% part-units (angle < 0.5 rad) |" in text


def test_a_card_without_machine_takes_it_from_the_record_and_counts_the_images_it_was_measured_on(
    tmp_path, capsys
) -> None:
    """The smoke preset evaluates on the first 500 images: its card says so. --machine is optional: the
    machine the card already names is kept, else the device recorded in config.json is written."""
    from model import data
    from tests.helpers import tiny_run

    if not data.dataset_path("mnist").exists():
        pytest.skip("MNIST is not prepared")
    run = tiny_run(tmp_path, hidden=16, T=3, results={"test_error": 80.0, "val_error": 81.0, "best_epoch": 1,
                                                       "epochs": 1})
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(cfg | {"device": "cpu", "world_size": 1}))
    assert card.main([str(run)]) == 0, capsys.readouterr().err
    saved = json.loads((run / card.CARD).read_text())
    assert saved["machine"] == "cpu, 1 process (from config.json)"
    assert (saved["test_images"], saved["val_images"], saved["structure_images"]) == (500, 500, 10_000)
    text = (run / card.README).read_text()
    assert "(500 test images)" in text and "the 500 images the checkpoint" in text and "10,000 test" not in text
    assert "measured on the test set (10,000 images)" in text
    # written again: the card's own machine, once named by hand, is kept
    (run / card.CARD).write_text(json.dumps(saved | {"machine": "one H100"}))
    assert card.main([str(run)]) == 0
    assert json.loads((run / card.CARD).read_text())["machine"] == "one H100"
