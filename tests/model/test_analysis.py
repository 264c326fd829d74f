"""The paper's analyses (model/analysis.py) on tiny hand-built and ISTA-initialised models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model import analysis as A
from model.drsae import DrSAE


def ista_model(n_hidden: int = 16, T: int = 3, seed: int = 0) -> DrSAE:
    """An untrained DrSAE: E = a0 D^T, S = I - a0 D^T D (docs/model.md), with D from random 'templates'."""
    gen = torch.Generator().manual_seed(seed)
    model = DrSAE(784, n_hidden, 10, T)
    model.reset_parameters(templates=torch.rand(50, 784, generator=gen), generator=gen)
    return model.eval()


def inputs(n: int = 300, seed: int = 1) -> torch.Tensor:
    x = torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=1, keepdim=True)


# ------------------------------------------------------------------------------------- roles
def test_ista_initialised_model_has_only_part_units() -> None:
    model = ista_model()
    roles = A.unit_roles(model)
    assert np.allclose(roles["angle"], 0.0, atol=1e-3)
    assert set(roles["role"]) == {"part"}


def test_orthogonal_encoder_makes_a_categorical_unit_and_0_6_rad_an_intermediate_one() -> None:
    model = ista_model()
    with torch.no_grad():
        d0, d1 = model.D[:, 0] / model.D[:, 0].norm(), model.D[:, 1] / model.D[:, 1].norm()
        o = torch.randn(784, generator=torch.Generator().manual_seed(3))
        o0 = o - (o @ d0) * d0
        o1 = o - (o @ d1) * d1
        model.E[0] = 0.1 * o0 / o0.norm()  # orthogonal to D_0
        model.E[1] = 0.1 * (math.cos(0.6) * d1 + math.sin(0.6) * o1 / o1.norm())
    roles = A.unit_roles(model)
    assert roles["angle"][0] == pytest.approx(math.pi / 2, abs=1e-6)
    assert roles["angle"][1] == pytest.approx(0.6, abs=1e-6)
    assert list(roles["role"][:3]) == ["categorical", "intermediate", "part"]


def test_relative_roles_split_by_angle_rank() -> None:
    angles = np.array([1.2, 0.9, 1.0, 1.5, 0.8, 1.1])
    roles = ["categorical", "part", "intermediate", "categorical", "part", "intermediate"]
    assert list(A.relative_roles(angles)) == roles  # 0.8, 0.9 lowest; 1.2, 1.5 highest
    assert set(A.relative_roles(angles, fraction=0.5)) == {"part", "categorical"}
    with pytest.raises(ValueError):
        A.relative_roles(angles, fraction=0.7)


def test_unit_roles_class_and_norms() -> None:
    model = ista_model(n_hidden=4)
    with torch.no_grad():
        model.C.zero_()
        model.C[7, 2] = 3.0
        model.C[1, 2] = -4.0  # the strongest *positive* projection decides the class
        model.S.copy_(torch.eye(4))
        model.S[2, 0] = 2.0
    roles = A.unit_roles(model)
    assert roles["class"][2] == 7
    assert roles["c_norm"][2] == pytest.approx(5.0)
    assert np.allclose(roles["s_norm"], [0, 0, 2, 0])


# ----------------------------------------------------------------------------------- dynamics
def two_unit_model() -> DrSAE:
    """Unit 0 copies x_0; unit 1 has no input drive and is switched on at t = 2 by unit 0 (S_10 = 1)."""
    model = DrSAE(4, 2, 2, 3)
    with torch.no_grad():
        model.E.zero_()
        model.E[0, 0] = 1.0
        model.b.copy_(torch.tensor([0.0, 0.1]))
        model.S.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    return model.eval()


def test_activity_dynamics_on_a_hand_built_model() -> None:
    model = two_unit_model()
    x = torch.tensor([[0.5, 0, 0, 0], [0.05, 0, 0, 0]])
    dyn = A.activity_dynamics(model, x, roles=np.array(["part", "categorical"]))
    assert np.allclose(dyn["p_first_active_t2"], [0.0, 0.5])
    # unit 0 is active from t = 1 on both inputs; unit 1 first at t = 2 on one input and never on the other
    assert np.allclose(dyn["first_active"][:, 0], [0, 1, 0, 0])
    assert np.allclose(dyn["first_active"][:, 1], [0.5, 0, 0.5, 0])
    assert np.allclose(dyn["mean_final_active"], [0.275, 0.4])
    assert np.allclose(dyn["p_active"][:, 1], [0, 0.5, 0.5])
    assert np.allclose(dyn["role_activity"]["categorical"], dyn["mean_activity"][:, 1])
    assert np.allclose(dyn["role_activity"]["part"], [0.275] * 3)
    assert np.isnan(dyn["role_activity"]["intermediate"]).all()
    assert dyn["role_count"] == {"part": 1, "intermediate": 0, "categorical": 1}


def test_never_active_unit_has_nan_mean_final_activity() -> None:
    model = two_unit_model()
    dyn = A.activity_dynamics(model, torch.zeros(3, 4))
    assert np.isnan(dyn["mean_final_active"]).all()
    assert np.allclose(dyn["first_active"][0], 1.0)


# --------------------------------------------------------------------------- optimal decoders
def test_least_squares_decoder_recovers_a_generating_dictionary() -> None:
    gen = torch.Generator().manual_seed(0)
    D = torch.randn(30, 8, generator=gen, dtype=torch.float64)
    Z = torch.rand(200, 8, generator=gen, dtype=torch.float64)
    assert np.allclose(A.least_squares_decoder(Z, Z @ D.T, ridge=1e-12), D.numpy(), atol=1e-6)


def test_optimal_decoder_at_T_recovers_D_when_X_equals_D_z_T() -> None:
    model = ista_model(n_hidden=16, T=3)
    x = inputs(400)
    with torch.no_grad():
        z = model.trajectory(x)[-1]
        target = model.decode(z)  # data generated exactly as X = D Z(T)
    assert torch.linalg.matrix_rank(z.double()) == 16
    od = A.optimal_decoders(model, x, units=[0, 3, 5], target=target, ridge=1e-12)
    assert od["decoders"].shape == (3, 3, 784)
    assert np.allclose(od["decoders"][-1], model.D.detach().numpy()[:, [0, 3, 5]].T, atol=1e-4)
    assert np.allclose(od["cosine_to_final"][-1], 1.0, atol=1e-6)
    assert od["relative_error"][-1] < 1e-5
    assert np.allclose(od["encoders"], model.E.detach().numpy()[[0, 3, 5]])


# ----------------------------------------------------------------------- connection structure
def test_connection_block_sums_add_up_to_the_total_of_S_minus_I() -> None:
    model = ista_model(n_hidden=12)
    with torch.no_grad():
        model.S.add_(0.05 * torch.randn(12, 12, generator=torch.Generator().manual_seed(2)))
    roles = np.array(["part", "intermediate", "categorical"] * 4)
    cb = A.connection_blocks(model, roles)
    S_minus_I = model.S.detach().double().numpy() - np.eye(12)
    assert cb["total"] == pytest.approx(S_minus_I.sum())
    assert sum(b["sum"] for b in cb["blocks"].values()) == pytest.approx(cb["total"])
    assert sum(b["count"] for b in cb["blocks"].values()) == 144
    pc = cb["blocks"]["part->categorical"]
    block = S_minus_I[np.ix_(roles == "categorical", roles == "part")]  # rows: recipients, columns: sources
    assert pc["sum"] == pytest.approx(block.sum())
    assert pc["frac_positive"] == pytest.approx((block > 0).mean())
    assert pc["sum_positive"] + pc["sum_negative"] == pytest.approx(pc["sum"])
    m = cb["matrices"]["part->categorical"]
    assert np.all(np.diff(m["row_class"]) >= 0) and np.all(np.diff(m["col_class"]) >= 0)  # sorted by class
    assert np.allclose(m["matrix"], S_minus_I[np.ix_(m["rows"], m["cols"])])
    assert set(cb["matrices"]) == {"part->part", "part->categorical", "categorical->part", "categorical->categorical"}


def test_ista_model_connections_are_minus_alpha_times_decoder_overlap() -> None:
    model = ista_model(n_hidden=16, T=3)
    ov = A.connections_vs_overlap(model)
    pp = ov["part->part"]
    assert len(pp["weight"]) == 16 * 15  # self-connections left out
    assert pp["correlation"] == pytest.approx(-1.0, abs=1e-6)
    assert pp["slope"] == pytest.approx(-1.25 / 3, rel=1e-5)  # S - I = -a0 D^T D with a0 = 1.25/T
    assert math.isnan(ov["categorical->part"]["correlation"])  # no categorical-units: no pairs


def test_afferent_weighted_angle() -> None:
    model = ista_model(n_hidden=3)
    with torch.no_grad():
        model.S.copy_(torch.eye(3))
        model.S[0, 1] = -2.0  # unit 0 hears only from unit 1 ...
        model.S[2, 0] = 1.0  # ... and unit 2 from units 0 and 1, equally
        model.S[2, 1] = -1.0
        o = torch.randn(784, generator=torch.Generator().manual_seed(5))
        d1 = model.D[:, 1] / model.D[:, 1].norm()
        model.E[1] = 0.1 * (o - (o @ d1) * d1) / (o - (o @ d1) * d1).norm()  # unit 1: angle pi/2
    aw = A.afferent_weighted_angle(model)
    angles = A.encoder_decoder_angles(model)
    assert aw[0] == pytest.approx(math.pi / 2)
    assert np.isnan(aw[1])  # no afferents
    assert aw[2] == pytest.approx((angles[0] + angles[1]) / 2)


# ---------------------------------------------------------------------- progressive reconstruction
def test_progressive_reconstruction_ends_at_D_z_T() -> None:
    model = ista_model(n_hidden=16)
    x = inputs(1)[0]
    pr = A.progressive_reconstruction(model, x)
    with torch.no_grad():
        z = model.trajectory(x[None])[-1, 0]
    assert set(pr["units"]) == set(torch.nonzero(z > 0).flatten().tolist())
    assert len(pr["units"]) > 1
    assert np.all(np.diff(pr["sizes"]) <= 0)  # decreasing contributions
    assert np.allclose(pr["partials"][-1], model.decode(z).detach().numpy(), atol=1e-6)
    assert np.allclose(pr["partials"][-1], pr["reconstruction"])
    D = model.D.detach().double().numpy()
    first = pr["units"][0]
    assert np.allclose(pr["partials"][0], D[:, first] * pr["z"][0])
    assert pr["errors"][-1] == pytest.approx(np.linalg.norm(x.numpy() - pr["reconstruction"]), rel=1e-5)
    assert pr["classes"].shape == pr["units"].shape
    short = A.progressive_reconstruction(model, x, max_steps=2)
    assert np.allclose(short["partials"], pr["partials"][:2])


# -------------------------------------------------------------------------- class-specific units
def test_class_specific_units_and_class_averages() -> None:
    model = ista_model(n_hidden=16)
    x = inputs(40)
    y = torch.arange(40) % 10
    y[y == 9] = 8  # class 9 absent
    cs = A.class_specific_units(model, x, y, k=3)
    C = model.C.detach().double().numpy()
    for cls in range(10):
        assert set(cs["units"][cls]) == set(np.argsort(C[cls])[-3:])
        assert np.all(np.diff(cs["weights"][cls]) <= 0)
    assert cs["decoders"].shape == (10, 3, 784)
    assert np.allclose(cs["decoders"][4, 0], model.D.detach().numpy()[:, cs["units"][4, 0]])
    assert np.allclose(cs["class_means"][2], x[y == 2].double().mean(0).numpy())
    assert np.isnan(cs["class_means"][9]).all() and cs["class_counts"][9] == 0


# -------------------------------------------------------------------------------- summaries
def test_role_summary_and_spearman() -> None:
    model = ista_model(n_hidden=16)
    units = A.unit_roles(model)
    dyn = A.activity_dynamics(model, inputs(100))
    s = A.role_summary(units, dyn)
    assert s["roles"]["part"]["count"] == 16 and s["roles"]["categorical"]["count"] == 0
    assert math.isnan(s["roles"]["categorical"]["c_norm"])
    assert s["roles"]["part"]["c_norm"] == pytest.approx(units["c_norm"].mean())
    assert A.spearman(np.arange(5.0), np.arange(5.0) ** 3) == pytest.approx(1.0)
    assert math.isnan(A.spearman(np.arange(2.0), np.arange(2.0)))
