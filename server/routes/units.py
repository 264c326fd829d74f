"""Hidden units: the gallery (roles and filter images of every unit) and one unit's close-up (activity on
the test set, digits that drive it, its strongest recurrent connections through S - I)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Path, status

from model import data
from model.analysis import CATEGORICAL_MIN_ANGLE, PART_MAX_ANGLE, ROLES
from server.deps import MODEL_RESPONSES, ModelDep, RegistryDep
from server.images import filter_png
from server.registry import LoadedModel, Registry
from server.schemas import Message, UnitDetail, UnitsPublic, WholeNumber
from server.web import FastJSONResponse

router = APIRouter(prefix="/api/models", tags=["units"], responses={503: MODEL_RESPONSES[503]})
N_DIGITS = 12
N_CONNECTIONS = 20
HIST_BINS = 30


def units(registry: Registry, lm: LoadedModel) -> list[dict[str, Any]]:
    """Every unit's row of the gallery, PNGs included; built once per model (800 PNGs for 400 units)."""

    def compute() -> list[dict[str, Any]]:
        E = lm.model.E.detach().float().cpu().numpy()  # (n_hidden, 784)
        D = lm.model.D.detach().float().cpu().numpy()  # (784, n_hidden)
        r = lm.roles
        return [
            {
                "index": i,
                "role": str(r["role"][i]),
                "angle": float(r["angle"][i]),
                "class": int(r["class"][i]),
                "c_norm": float(r["c_norm"][i]),
                "s_norm": float(r["s_norm"][i]),
                "decoder_png": filter_png(D[:, i]),
                "encoder_png": filter_png(E[i]),
            }
            for i in range(E.shape[0])
        ]

    return registry.cached(lm, "units", compute)


@router.get(
    "/{model_id}/units",
    response_model=UnitsPublic,
    response_class=FastJSONResponse,
    responses={404: {"model": Message, "description": "No such model"}},
)
def list_units(lm: ModelDep, registry: RegistryDep) -> FastJSONResponse:
    rows = units(registry, lm)
    thresholds = {"part": PART_MAX_ANGLE, "categorical": CATEGORICAL_MIN_ANGLE}
    return FastJSONResponse({"count": len(rows), "roles": ROLES, "thresholds": thresholds, "data": rows})


def _digits(idx: np.ndarray, acts: np.ndarray, images: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    return [
        {
            "index": int(i),
            "label": int(labels[i]),
            "activation": float(acts[i]),
            "image": images[i].reshape(28, 28).astype(np.float32) / 255.0,
        }
        for i in idx
    ]


def sampled(acts: np.ndarray, n: int = N_DIGITS) -> np.ndarray:
    """Up to n test indices whose activations lie closest to n evenly spaced levels over the active range."""
    active = np.flatnonzero(acts > 0)
    if len(active) == 0:
        return active
    order = active[np.argsort(acts[active], kind="stable")]
    values = acts[order]
    targets = np.linspace(values[0], values[-1], min(n, len(order)))
    pos = np.clip(np.searchsorted(values, targets), 0, len(order) - 1)
    left = np.clip(pos - 1, 0, len(order) - 1)
    pos = np.where(np.abs(values[left] - targets) < np.abs(values[pos] - targets), left, pos)
    _, first = np.unique(pos, return_index=True)
    return order[pos[np.sort(first)]]


def connections(weights: np.ndarray, k: int, gallery: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The N_CONNECTIONS largest |weight| other than k's own, strongest first."""
    w = weights.copy()
    w[k] = 0.0
    top = np.argsort(-np.abs(w), kind="stable")[:N_CONNECTIONS]
    return [
        {
            "unit": int(j),
            "weight": float(weights[j]),
            "role": gallery[j]["role"],
            "class": gallery[j]["class"],
            "decoder_png": gallery[j]["decoder_png"],
        }
        for j in top
        if j != k
    ]


@router.get(
    "/{model_id}/units/{k}",
    response_model=UnitDetail,
    response_class=FastJSONResponse,
    responses={
        404: {"model": Message, "description": "No such model or unit"},
        409: {"model": Message, "description": "The model's dataset is not prepared"},
    },
)
def unit_detail(
    lm: ModelDep, registry: RegistryDep, k: Annotated[int, Path(ge=0, le=1_000_000), WholeNumber]
) -> FastJSONResponse:
    gallery = units(registry, lm)
    if k >= len(gallery):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unit not found: {k} (the model has {len(gallery)} units)")
    try:
        tp = registry.test_pass(lm)
        arrays = registry.datasets.arrays(tp.dataset)
    except data.DataError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
    m = lm.model
    S_minus_I = registry.cached(
        lm, "s_minus_i", lambda: m.S.detach().double().cpu().numpy() - np.eye(m.config.n_hidden)
    )  # (n_hidden, n_hidden): row k = into k, column k = out of k
    acts = tp.codes[:, k]
    active = acts[acts > 0]
    if len(active):
        counts, edges = np.histogram(active, bins=HIST_BINS)
    else:
        counts, edges = np.zeros(0, dtype=np.int64), np.zeros(0)
    top = np.argsort(-acts, kind="stable")[:N_DIGITS]
    top = top[acts[top] > 0]
    images, labels = arrays["test_x"], tp.labels
    return FastJSONResponse(
        {
            **gallery[k],
            "decoder": m.D[:, k].detach().float().cpu().numpy().reshape(28, 28),
            "encoder": m.E[k].detach().float().cpu().numpy().reshape(28, 28),
            "classifier_weights": m.C[:, k].detach().float().cpu().numpy(),
            "histogram": {"edges": edges, "counts": counts},
            "fraction_active": float(len(active)) / max(len(acts), 1),
            "top_digits": _digits(top, acts, images, labels),
            "sampled_digits": _digits(sampled(acts), acts, images, labels),
            "afferent": connections(S_minus_I[k], k, gallery),
            "efferent": connections(S_minus_I[:, k], k, gallery),
        }
    )
