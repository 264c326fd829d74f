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
