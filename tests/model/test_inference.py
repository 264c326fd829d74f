"""model/inference.py against the model's plain recurrence: the same trajectory, interventions that really replace
activity, drives that add up to z(t), and role pieces that add up to the reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import analysis
from model.drsae import DrSAE
from model.inference import Intervention, check_interventions, decision_iteration, run


@pytest.fixture
def model() -> DrSAE:
    torch.manual_seed(0)
    m = DrSAE(784, 24, 10, 5)
    m.reset_parameters(generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # an untrained S is I - a D^T D; perturb it so every unit's row matters
        m.S.add_(0.05 * torch.randn_like(m.S))
        m.C.copy_(torch.randn_like(m.C))
    return m


def image(seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).random(784).astype(np.float32)
    return x / np.linalg.norm(x)


def clamped_reference(model: DrSAE, x: np.ndarray, clamp: dict[int, float], t0: int, t1: int) -> np.ndarray:
    """The recurrence written out in torch, with units set after the relu at iterations t0..t1."""
    with torch.no_grad():
        xt = torch.from_numpy(x).unsqueeze(0)
        drive = xt @ model.E.T - model.b
        z = torch.zeros_like(drive)
        steps = []
        for t in range(1, model.T + 1):
            z = torch.relu(drive + z @ model.S.T)
            if t0 <= t <= t1:
                for k, v in clamp.items():
                    z[0, k] = v
            steps.append(z[0].clone())
        return torch.stack(steps).numpy()


def test_plain_run_matches_drsae_trajectory_classify_and_decode(model: DrSAE) -> None:
    x = image()
    out = run(model, x, reconstructions=True)
    with torch.no_grad():
        traj = model.trajectory(torch.from_numpy(x).unsqueeze(0))[:, 0]
        probs = torch.softmax(model.classify(traj), -1)
        recon = model.decode(traj)
    np.testing.assert_allclose(out["z"], traj.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["probabilities"], probs.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["reconstructions"], recon.numpy(), atol=1e-5)


def test_interventions_replace_activity_where_and_when_asked(model: DrSAE) -> None:
    x = image(1)
    w = model
    plain = run(w, x)["z"]
    k = int(plain[-1].argmax())  # an active unit, so ablating it changes the others
    out = run(w, x, [Intervention(k, 0.0, 2, 4)])
    np.testing.assert_allclose(out["z"], clamped_reference(model, x, {k: 0.0}, 2, 4), atol=1e-5)
    assert out["z"][1:4, k].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(out["z"][0], plain[0], atol=1e-6)  # before the range: untouched
    assert not np.allclose(out["z"][2], plain[2])  # after an ablation the other units move
    clamp = run(w, x, [Intervention(3, 0.7, 1, model.T)])
    np.testing.assert_allclose(clamp["z"], clamped_reference(model, x, {3: 0.7}, 1, model.T), atol=1e-5)
    # the classifier sees the clamped code
    zT = torch.from_numpy(clamp["z"][-1])
    expected = torch.softmax(model.classify(zT), -1).detach().numpy()
    np.testing.assert_allclose(clamp["probabilities"][-1], expected, atol=1e-5)


def test_drives_add_up_to_z_and_split_by_role(model: DrSAE) -> None:
    x = image(2)
    w = model
    roles = analysis.unit_roles(model)["role"]
    out = run(w, x, [Intervention(5, 0.0, 1, 5)], decompose=True, roles=roles)
    z, inp, rec = out["z"], out["input_drive"], out["recurrent_drive"]
    free = np.ones(model.config.n_hidden, bool)
    free[5] = False
    np.testing.assert_allclose(z[:, free], np.maximum(inp + rec, 0)[:, free], atol=1e-5)
    assert not rec[0].any()  # z(0) = 0
    np.testing.assert_allclose(inp, (model.E @ torch.from_numpy(x) - model.b).detach().numpy(), atol=1e-5)
    parts = out["recurrent_drive_by_role"]
    assert set(parts) == {"part", "intermediate", "categorical", "self"}
    np.testing.assert_allclose(sum(parts.values()), rec, atol=1e-5)
    k = 7
    np.testing.assert_allclose(parts["self"][2, k], model.S[k, k].item() * z[1, k], atol=1e-6)


def test_reconstruction_split_adds_up(model: DrSAE) -> None:
    w = model
    roles = np.array(["part"] * 8 + ["intermediate"] * 8 + ["categorical"] * 8)
    out = run(w, image(3), reconstructions=True, roles=roles)
    by = out["reconstructions_by_role"]
    np.testing.assert_allclose(by["part"] + by["intermediate"] + by["categorical"], out["reconstructions"], atol=1e-5)
    np.testing.assert_allclose(by["part"], out["z"][:, :8] @ w.D[:, :8].detach().numpy().T, atol=1e-5)


def test_decision_iteration() -> None:
    p = np.eye(3)[[0, 1, 1, 2, 2]]  # top class 0, 1, 1, 2, 2
    assert decision_iteration(p) == 4
    assert decision_iteration(np.eye(3)[[2, 2, 2]]) == 1
    assert decision_iteration(np.eye(3)[[2, 1, 2]]) == 3


@pytest.mark.parametrize(
    ("iv", "message"),
    [
        (Intervention(24, 0.0, 1, 5), "does not exist"),
        (Intervention(-1, 0.0, 1, 5), "does not exist"),
        (Intervention(0, -0.1, 1, 5), ">= 0"),
        (Intervention(0, float("nan"), 1, 5), ">= 0"),
        (Intervention(0, 1.0, 0, 5), "within 1..5"),
        (Intervention(0, 1.0, 4, 3), "within 1..5"),
        (Intervention(0, 1.0, 1, 6), "within 1..5"),
    ],
)
def test_bad_interventions_are_refused(iv: Intervention, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_interventions([iv], 24, 5)
