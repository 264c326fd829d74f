"""Models: list, details, and the test-set evaluation (computed once per model, then cached)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import PlainTextResponse

from model import card as card_module
from model import checkpoint, data
from model.analysis import ROLES
from server.deps import MODEL_RESPONSES, ModelDep, RegistryDep, StoreDep
from server.registry import LoadedModel, ModelEntry, Registry
from server.schemas import Evaluation, Message, ModelDetail, ModelsPublic, ModelSummary, RoleCounts
from server.web import FastJSONResponse

router = APIRouter(prefix="/api/models", tags=["models"])
NOT_FOUND = MODEL_RESPONSES


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def _error(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and np.isfinite(value) else None


def shows_paper_structure(e: ModelEntry) -> bool | None:
    """From the model card: every sign of the paper's structure (model/structure.py) met on the test set.
    None when the model has no card (a job's model gets one when its training finishes)."""
    if e.card is None or not isinstance(e.card.get("shows_paper_structure"), bool):
        return None
    return e.card["shows_paper_structure"]


def class_names(dataset: str, n_classes: int) -> list[str]:
    names = data.CLASS_NAMES.get(dataset, ())
    return list(names) if len(names) == n_classes else [str(i) for i in range(n_classes)]


def summary(e: ModelEntry, roles: dict[str, int] | None = None, error: str | None = None) -> ModelSummary:
    """A listing row; a model whose config is broken (e.error) shows no sizes, only its error."""
    m = e.config.get("model", {}) if e.error is None else {}
    return ModelSummary(
        id=e.id,
        name=e.name,
        dataset=e.dataset if e.error is None else "",
        dataset_title=data.TITLES.get(e.dataset, e.dataset) if e.error is None else "",
        hidden_units=m.get("n_hidden"),
        iterations=m.get("T"),
        test_error=_error(e.results.get("test_error")),
        val_error=_error(e.results.get("val_error")),
        source="job" if e.source == "job" else "shipped",
        job_id=e.job_id,
        created=iso(e.created),
        class_names=class_names(e.dataset, int(m.get("n_classes", 10))),
        item_noun=data.ITEM_NOUN.get(e.dataset, "image"),
        roles=RoleCounts(**roles) if roles else None,
        shows_paper_structure=shows_paper_structure(e),
        error=error or e.error,
    )


@router.get("", response_model=ModelsPublic)
def list_models(registry: RegistryDep) -> ModelsPublic:
    items = [
        summary(e, registry.role_counts(e) if e.error is None else None, registry.error(e))
        for e in registry.entries()
    ]
    items.sort(key=lambda m: m.error is not None)  # weights found broken while counting roles go last too
    return ModelsPublic(data=items, count=len(items))


@router.get("/{model_id}", response_model=ModelDetail, responses=NOT_FOUND)
def model_detail(lm: ModelDep, store: StoreDep) -> ModelDetail:
    """A job's model reads its epoch rows from the job store, the record the job endpoints and the event
    stream read; a shipped model has only its run folder's metrics.jsonl."""
    roles = lm.roles["role"]
    counts = {r: int((roles == r).sum()) for r in ROLES}
    e = lm.entry
    metrics = store.metrics(job_id=e.job_id) if e.job_id is not None else checkpoint.read_metrics(e.path)
    card = lm.entry.card
    readme = lm.entry.path / card_module.README
    markdown = readme.read_text() if card is not None and readme.exists() else None
    return ModelDetail(
        **summary(lm.entry, counts).model_dump(),
        config=lm.entry.config,
        metrics=metrics,
        card=card,
        card_markdown=markdown,
    )


def evaluation(registry: Registry, lm: LoadedModel) -> dict[str, Any]:
    """Computed once per model (and weights file version), then served from memory."""

    def compute() -> dict[str, Any]:
        tp = registry.test_pass(lm)
        n_classes = lm.model.config.n_classes
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (tp.labels, tp.predictions), 1)
        wrong = np.flatnonzero(tp.predictions != tp.labels)
        return {
            "dataset": tp.dataset,
            "error": 100.0 * len(wrong) / max(len(tp.labels), 1),
            "confusion": confusion,
            "misclassified": [
                {"index": int(i), "label": int(tp.labels[i]), "prediction": int(tp.predictions[i])} for i in wrong
            ],
        }

    return registry.cached(lm, "evaluation", compute)


@router.get(
    "/{model_id}/card",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The model card (markdown, as README.md beside it)"},
        404: {  # JSON, like every error, although the route's own answer is text
            "description": "No such model, or it has no card",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
        },
    },
)
def model_card(model_id: Annotated[str, Path(max_length=200)], registry: RegistryDep) -> PlainTextResponse:
    """The model card people read (model/card.py's README.md), without loading the weights: the runs table
    links to it."""
    e = registry.entry(model_id)
    readme = e.path / card_module.README if e is not None else None
    if e is None or e.card is None or readme is None or not readme.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No model card for {model_id}")
    return PlainTextResponse(readme.read_text(), media_type="text/plain; charset=utf-8")


@router.get(
    "/{model_id}/evaluation",
    response_model=Evaluation,
    response_class=FastJSONResponse,
    responses={**NOT_FOUND, 409: {"model": Message, "description": "The model's dataset is not prepared"}},
)
def model_evaluation(lm: ModelDep, registry: RegistryDep) -> FastJSONResponse:
    """Confusion matrix and misclassified test digits; the first call runs the test set (sync route: in a
    worker thread, never on the event loop)."""
    try:
        return FastJSONResponse(evaluation(registry, lm))
    except data.DataError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e
