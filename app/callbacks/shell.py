"""Header callbacks: the model picker (every model, refreshed so freshly trained ones appear) and its info."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, no_update

from app import api, ids
from app.layout import NAV_PAGES


def choose_model(
    models: list[dict[str, Any]], url_model: str | None, current: str | None, from_url: bool
) -> str | None:
    """The picker's value: the URL's model on navigation, else the current one, else the first model."""
    known = {m["id"] for m in models}
    if from_url and url_model in known:
        return url_model
    if current in known:
        return current
    if url_model in known:
        return url_model
    return models[0]["id"] if models else None


PAPER_MARK = "★ "  # models whose units split into part- and categorical-units, as in the paper


def model_label(m: dict[str, Any]) -> str:
    err = f" · {m['test_error']:.2f}% err" if m.get("test_error") is not None else ""
    src = " · job" if m.get("source") == "job" else ""
    mark = PAPER_MARK if m.get("shows_paper_structure") else ""
    return f"{mark}{m.get('name') or m['id']} ({m.get('hidden_units')}u, T={m.get('iterations')}{err}{src})"


@callback(
    Output(ids.MODEL_PICKER, "options"),
    Output(ids.MODEL_PICKER, "value"),
    Output(ids.MODELS_STORE, "data"),
    Output(ids.MODEL_PICKER, "placeholder"),
    Output(ids.MODELS_NOTICE, "children"),
    Input(ids.MODELS_INTERVAL, "n_intervals"),
    Input(ids.MODELS_DIRTY, "data"),
    Input(ids.URL, "search"),
    State(ids.MODEL_PICKER, "value"),
    State(ids.MODELS_STORE, "data"),
)
async def refresh_models(_n: int | None, _dirty: Any, search: str | None, current: str | None, known: Any) -> Any:
    """List every model (shipped and job-produced); keep the selection unless the URL names another. When the
    API fails, the picker says so instead of 'loading' (the next refresh tries again)."""
    try:
        models = await api.models()
    except api.ApiError as e:
        return no_update, no_update, no_update, "models unavailable", f"Could not load the models: {e.detail}"
    models, notice = usable(models)
    url_model = (parse_qs((search or "").lstrip("?")).get("model") or [None])[0]
    value = choose_model(models, url_model, current, from_url=ctx.triggered_id == ids.URL)
    placeholder = "choose a model" if models else "no models yet"
    if models == known and value == current:
        return no_update, no_update, no_update, placeholder, notice
    options = [{"label": model_label(m), "value": m["id"]} for m in models]
    return options, value, models, placeholder, notice


def usable(models: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The models that can be opened, and a line naming those the API marks as broken (and why)."""
    broken = [m for m in models if m.get("error")]
    notice = "; ".join(f"Model {m['id']} cannot be used: {m['error']}" for m in broken)
    return [m for m in models if not m.get("error")], notice


clientside_callback(
    ClientsideFunction("drsae", "navLinks"),
    [Output(f"nav-{label.lower()}", "href") for _, label in NAV_PAGES] + [Output(ids.MODEL_INFO, "children")],
    Input(ids.MODEL_PICKER, "value"),
    Input(ids.MODELS_STORE, "data"),
)
