"""Datasets: which are prepared, and their digits by index range (galleries, test digits to encode)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, status

from model import data
from server.deps import StateDep
from server.schemas import DatasetInfo, DatasetsPublic, Message, SamplesPublic, Split, WholeNumber
from server.web import FastJSONResponse

router = APIRouter(prefix="/api/datasets", tags=["datasets"])
MAX_SAMPLES = 200


@router.get("", response_model=DatasetsPublic, responses={409: {"model": Message}})
def list_datasets(state: StateDep) -> DatasetsPublic:
    items = []
    for name in state.datasets.available():
        names, noun = list(data.CLASS_NAMES[name]), data.ITEM_NOUN[name]
        try:
            arrays = state.datasets.arrays(name)
        except data.DataError as e:  # present but corrupt: listed with what is wrong, so it is not a mystery
            items.append(DatasetInfo(name=name, splits={}, class_names=names, item_noun=noun, error=str(e)))
            continue
        splits = {s: int(len(arrays[f"{s}_y"])) for s in data.SPLITS}
        items.append(DatasetInfo(name=name, splits=splits, class_names=names, item_noun=noun))
    return DatasetsPublic(data=items, count=len(items))


@router.get(
    "/{name}/samples",
    response_model=SamplesPublic,
    response_class=FastJSONResponse,
    responses={404: {"model": Message, "description": "Unknown or unprepared dataset"}},
)
def samples(
    state: StateDep,
    name: str,
    split: Split = "test",
    start: Annotated[int, Query(ge=0, le=10_000_000), WholeNumber] = 0,
    count: Annotated[int, Query(ge=1, le=MAX_SAMPLES), WholeNumber] = 24,
    indices: Annotated[
        str | None,
        Query(
            max_length=2000,
            pattern=r"^[0-9]{1,7}(,[0-9]{1,7}){0,199}$",
            description="e.g. 3,42,7: these digits, in order",
        ),
    ] = None,
) -> FastJSONResponse:
    if name not in data.DATASETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Dataset not found: {name} (known: {', '.join(data.DATASETS)})")
    try:
        arrays = state.datasets.arrays(name)
    except data.DataError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
    x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
    total = len(y)
    if indices is not None:  # one request for a scattered set (evaluation cells, a unit's digits)
        picked = [int(i) for i in indices.split(",")]
        bad = [i for i in picked if i >= total]
        if bad:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"indices {bad[:5]} are past the end of {name}/{split} ({total})"
            )
        rows = [
            {"index": i, "label": int(y[i]), "image": x[i].reshape(28, 28).astype(np.float32) / 255.0} for i in picked
        ]
        return FastJSONResponse({"data": rows, "count": len(rows), "total": total})
    if start >= total:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"start {start} is past the end of {name}/{split} ({total} digits)"
        )
    stop = min(start + count, total)
    images = x[start:stop].reshape(-1, 28, 28).astype(np.float32) / 255.0
    rows = [{"index": i, "label": int(y[i]), "image": images[i - start]} for i in range(start, stop)]
    return FastJSONResponse({"data": rows, "count": len(rows), "total": total})
