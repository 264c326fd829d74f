"""Verdicts on the paper's structure: measured on constructed models, and tested on cases that must fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model import report as R
from model import structure as St
from model.drsae import DrSAE


def measured(**over: float) -> dict:
    base = {
        "units": 400,
        "units_part": 100,
        "units_categorical": 60,
        "part_fraction": 0.25,
        "categorical_fraction": 0.15,
        "spearman_angle_c_norm": 0.6,
        "categorical_buildup": 1.5,
        "categorical_vote": 0.97,
        "ista_correlation": -0.7,
    }
    return base | over


def test_all_targets_met_and_each_can_fail() -> None:
    assert St.shows_structure(measured())
    failing = {
        "part_fraction": 0.19,
        "categorical_fraction": 0.09,
        "spearman_angle_c_norm": 0.49,
        "categorical_buildup": 1.29,
        "categorical_vote": 0.94,
        "ista_correlation": -0.49,
    }
    for key, value in failing.items():
        v = St.verdicts(measured(**{key: value}))
        assert v[key] == "missed" and not St.shows_structure(measured(**{key: value})), key


def test_groups_under_ten_units_get_no_verdict() -> None:
    v = St.verdicts(measured(units_categorical=9))
    assert v["categorical_buildup"] == v["categorical_vote"] == "not enough units"
    assert St.verdicts(measured(units_part=9))["ista_correlation"] == "not enough units"
    assert St.verdicts(measured(categorical_vote=math.nan))["categorical_vote"] == "not enough units"
    assert not St.shows_structure(measured(units_part=9))


def test_measure_on_an_ista_model_and_a_rotated_one() -> None:
    gen = torch.Generator().manual_seed(0)
    model = DrSAE(784, 40, 10, 5)
    model.reset_parameters(templates=torch.rand(100, 784, generator=gen), generator=gen)
    x = torch.rand(64, 784, generator=gen)
    x = x / x.norm(dim=1, keepdim=True)
    m = St.measure(model, x)
    # untrained: E = a D^T and S = I - a D^T D exactly, so every unit is a part-unit and r = -1
    assert m["units_part"] == 40 and m["units_categorical"] == 0
    assert m["ista_correlation"] == pytest.approx(-1.0, abs=1e-6)
    v = St.verdicts(m)
    assert v["part_fraction"] == "met" and v["ista_correlation"] == "met"
    assert v["categorical_fraction"] == "missed" and v["categorical_vote"] == "not enough units"
    with torch.no_grad():  # turn 12 encoder rows 1 rad away from their decoder columns
        for i in range(12):
            d = model.D[:, i] / model.D[:, i].norm()
            o = torch.randn(784, generator=gen)
            o -= (o @ d) * d
            model.E[i] = 0.1 * (math.cos(1.0) * d + math.sin(1.0) * o / o.norm())
    m = St.measure(model, x)
    assert (m["units_part"], m["units_categorical"]) == (28, 12)
    assert 0 <= m["categorical_vote"] <= 1 and math.isfinite(m["categorical_buildup"])


def analyses(n_part: int, n_cat: int, cat_c: float, part_c: float) -> dict:
    """The parts of compute_analyses' result that the claims read, built by hand."""
    roles = np.array(["part"] * n_part + ["categorical"] * n_cat + ["intermediate"] * 5)
    stats = {"c_norm": 0.5, "s_norm": 0.5, "p_first_active_t2": 0.1, "mean_final_active": 0.2, "buildup": 1.0}
    summary = {
        "roles": {"part": stats | {"c_norm": part_c}, "categorical": stats | {"c_norm": cat_c}},
        "spearman_angle": dict.fromkeys(stats, 0.5),
        "angle_quantiles": {"min": 0.1, "median": 0.6, "max": 1.2},
    }
    fit = {"correlation": -0.7, "slope": -0.1}
    return {
        "units": {"paper_role": roles, "angle": np.linspace(0, 1.2, len(roles))},
        "paper_summary": summary,
        "paper_overlap": {"part->part": fit, "categorical->part": fit},
        "paper_blocks": {"blocks": {"categorical->categorical": {"count": 9, "frac_positive": 0.3, "diag_mean": 0.1}}},
        "afferent_angle": np.linspace(0, 1, len(roles)),
    }


def test_claims_need_ten_units_and_can_be_refuted() -> None:
    few = R.claims(analyses(1, 144, cat_c=0.9, part_c=0.1))
    # one part-unit carries no claim; only the one about categorical-units alone gets a verdict
    assert [c.verdict for c in few if "Among categorical-units" not in c.claim] == ["not enough units"] * 8
    items = R.claims(analyses(20, 30, cat_c=0.9, part_c=0.1))
    c_norm = next(c for c in items if "‖C_i‖" in c.claim)
    assert c_norm.verdict == "consistent" and "30 categorical, 20 part units" in c_norm.measured
    refuted = next(c for c in R.claims(analyses(20, 30, cat_c=0.1, part_c=0.9)) if "‖C_i‖" in c.claim)
    assert refuted.verdict == "not observed"


def test_the_command_line_table_has_whole_headers_and_says_why_a_sign_has_no_number() -> None:
    ok = {"run": "runs/a", "error": 1.5, **measured()}
    no_part = {"run": "runs/adam", "error": 1.1, **measured(units_part=0, ista_correlation=math.nan)}
    results = [r | {"verdicts": St.verdicts(r)} for r in (ok, no_part)]
    lines = St.table(results)
    text = "\n".join(lines)
    assert "nan" not in text.lower().replace("n/a", "")
    for t in St.TARGETS[2:]:
        assert len(t.column) <= St.COLUMN and f" {t.column}" in lines[0] and t.text in text
    assert lines[2].rstrip().endswith("n/a?")  # no number, no verdict
    assert "n/a for 1 run: the model has no part-units" in text
    assert lines[1].split()[-1] == "-0.700*"
