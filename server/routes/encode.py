"""POST /api/models/{id}/encode: one digit through every iteration, returned all at once so the dashboard
can animate z(t) in the browser without further requests.

The input is pixels (`image`: a drawing, an upload) or a reference to a stored digit (`dataset`, `split`,
`index`: the gallery), so a test digit is read here rather than sent back by the browser.

This is the hot path (the dashboard calls it on every stroke), so the body is parsed by pydantic-core's
JSON parser straight into EncodeRequest instead of FastAPI's stdlib json.loads + validation (784 floats:
about 0.8 ms saved; server/web.py `parse_json`), and the result is written by orjson from numpy arrays. The
OpenAPI schema of the body is declared with `json_body`, so /docs and the schemathesis test see the same contract.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import numpy as np
from fastapi import APIRouter, HTTPException, Request, status

from model import data
from model.inference import Intervention
from server import preprocess
from server.deps import MODEL_RESPONSES, ModelDep
from server.images import ImageError, decode_png_data_url
from server.registry import Datasets, encode
from server.routes.models import class_names
from server.schemas import EncodeRequest, EncodeResult, Message
from server.web import FastJSONResponse, json_body, parse_json

router = APIRouter(
    prefix="/api/models",
    tags=["encode"],
    responses={
        400: {"model": Message, "description": "The body cannot be parsed"},
        503: MODEL_RESPONSES[503],
    },
)


def stored_digit(datasets: Datasets, req: EncodeRequest) -> np.ndarray:
    """The referenced digit as 28x28 in [0, 1]; 404 for an unprepared dataset or an index past the end
    (no such digit, as for a unit past the last)."""
    if req.dataset is None or req.index is None:  # the schema asks for both; kept for the type checker
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a reference needs both dataset and index")
    try:
        x = datasets.arrays(req.dataset)[f"{req.split}_x"]
    except data.DataError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
    if req.index >= len(x):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"index {req.index} is past the end of {req.dataset}/{req.split} ({len(x)} digits)",
        )
    return x[req.index].reshape(28, 28).astype(np.float32) / 255.0


def stored_source(datasets: Datasets, req: EncodeRequest) -> dict | None:
    """The referenced input's dataset, index and label in that dataset's names (None for pixels): the
    dashboard's caption needs no second request, and says so when the input is not from the model's dataset."""
    if req.dataset is None or req.index is None:
        return None
    label = int(datasets.arrays(req.dataset)[f"{req.split}_y"][req.index])
    names = data.CLASS_NAMES.get(req.dataset, ())
    return {
        "dataset": req.dataset,
        "title": data.TITLES.get(req.dataset, req.dataset),
        "split": req.split,
        "index": req.index,
        "item_noun": data.ITEM_NOUN.get(req.dataset, "image"),
        "label": label,
        "label_name": names[label] if label < len(names) else str(label),
    }


def model_input(req: EncodeRequest, img: np.ndarray | str) -> np.ndarray:
    """The 28x28 image in [0, 1] the model will see (before L2 normalisation); ValueError says why not."""
    # an array is (28, 28) in [0, 1] already: the schema checked shape and range
    img = decode_png_data_url(img) if isinstance(img, str) else img
    if req.preprocess == "center":
        return preprocess.center_digit(preprocess.remove_background(img))
    if preprocess.bounding_box(img) is None:
        raise ValueError("the image is blank: draw a digit first")
    return preprocess.fit_canvas(img)


@router.post(
    "/{model_id}/encode",
    response_model=EncodeResult,
    response_class=FastJSONResponse,
    responses={404: MODEL_RESPONSES[404]},
    openapi_extra=json_body(EncodeRequest),
)
async def encode_digit(request: Request, lm: ModelDep) -> FastJSONResponse:
    """A few hundred microseconds of numpy and torch for one image: run inline (a thread hop would cost
    as much as the work)."""
    req = await parse_json(request, EncodeRequest)
    img = req.image if req.image is not None else stored_digit(request.app.state.drsae.datasets, req)
    try:
        # a PNG costs up to tens of milliseconds to decode: in a worker thread, so other requests go on
        x = await asyncio.to_thread(model_input, req, img) if isinstance(img, str) else model_input(req, img)
        xn = preprocess.l2_normalize(x)
    except (ValueError, ImageError) as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Invalid image: {e}") from e
    T = lm.model.T
    interventions = [
        Intervention(iv.unit, iv.value, iv.from_iteration, iv.to_iteration or T) for iv in req.interventions
    ]
    try:
        out = encode(lm, xn, req.reconstructions, interventions, req.decompose, req.split_reconstruction)
    except ValueError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Invalid intervention: {e}") from e
    source = stored_source(request.app.state.drsae.datasets, req)
    body = {
        "model_id": lm.id,
        "iterations": T,
        "dataset": lm.entry.dataset,
        "class_names": class_names(lm.entry.dataset, int(lm.entry.config["model"].get("n_classes", 10))),
        "source": source,
        "input": x,
        "z": out["z"],
        "probabilities": out["probabilities"],
        "prediction": int(out["probabilities"][-1].argmax()),
        "label": source["label"] if source else None,
        "reconstructions": out["reconstructions"].reshape(T, 28, 28) if req.reconstructions else None,
        "decision_iteration": out["decision_iteration"],
        "interventions": [asdict(iv) for iv in interventions],
    }
    for key in ("input_drive", "recurrent_drive", "recurrent_drive_by_role"):
        body[key] = out[key] if req.decompose else None
    by_role = out.get("reconstructions_by_role") if req.split_reconstruction else None
    body["reconstructions_by_role"] = {r: v.reshape(T, 28, 28) for r, v in by_role.items()} if by_role else None
    body["baseline"] = None
    if req.baseline and interventions:
        base = encode(lm, xn, False)
        body["baseline"] = {
            "probabilities": base["probabilities"],
            "prediction": int(base["probabilities"][-1].argmax()),
            "decision_iteration": base["decision_iteration"],
        }
    return FastJSONResponse(body)
