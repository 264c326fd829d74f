"""POST /api/models/{id}/encode: one digit through every iteration, returned all at once so the dashboard
can animate z(t) in the browser without further requests."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, HTTPException, status

from server import preprocess
from server.deps import ModelDep
from server.images import ImageError, decode_png_data_url
from server.registry import encode
from server.schemas import EncodeRequest, EncodeResult, Message
from server.web import FastJSONResponse

router = APIRouter(
    prefix="/api/models",
    tags=["encode"],
    responses={400: {"model": Message, "description": "The body cannot be parsed"}},
)


def model_input(req: EncodeRequest) -> np.ndarray:
    """The 28x28 image in [0, 1] the model will see (before L2 normalisation); ValueError says why not."""
    # an array is (28, 28) in [0, 1] already: the schema checked shape and range
    img = decode_png_data_url(req.image) if isinstance(req.image, str) else req.image
    if req.preprocess == "center":
        return preprocess.center_digit(img)
    if preprocess.bounding_box(img) is None:
        raise ValueError("the image is blank: draw a digit first")
    return preprocess.fit_canvas(img)


@router.post(
    "/{model_id}/encode",
    response_model=EncodeResult,
    response_class=FastJSONResponse,
    responses={404: {"model": Message, "description": "No such model"}},
)
async def encode_digit(req: EncodeRequest, lm: ModelDep) -> FastJSONResponse:
    """A few hundred microseconds of numpy and torch for one image: run inline (a thread hop would cost
    as much as the work)."""
    try:
        x = model_input(req)
        xn = preprocess.l2_normalize(x)
    except (ValueError, ImageError) as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Invalid image: {e}") from e
    reg = lm.model
    out = encode(reg, xn, next(reg.parameters()).device, req.reconstructions)
    T = out["z"].shape[0]
    return FastJSONResponse(
        {
            "model_id": lm.id,
            "iterations": T,
            "input": x,
            "z": out["z"],
            "probabilities": out["probabilities"],
            "prediction": int(out["probabilities"][-1].argmax()),
            "reconstructions": out["reconstructions"].reshape(T, 28, 28) if req.reconstructions else None,
        }
    )
