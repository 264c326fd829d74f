"""Units page callbacks: galleries and scatter for the chosen model; one unit's detail on selection."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from app import api, figures, ids

DIGITS_SHOWN = 12


def _filter_img(u: dict[str, Any], kind: str) -> html.Img:
    cls = "" if u["role"] == "part" else f", class {u['class']}"
    return html.Img(
        src=u[f"{kind}_png"],
        className="filter-img",
        title=f"unit {u['index']}: {u['role']}{cls}, angle {u['angle']:.2f} rad",
        alt=f"unit {u['index']}",
        **{"data-unit": str(u["index"])},
    )


def galleries(units: list[dict[str, Any]], kind: str) -> list[html.Div]:
    """Sections of filters: categorical units by class, then intermediate, then part units."""
    by_index = {u["index"]: u for u in units}
    order, groups = figures.unit_order(units)
    out: list[html.Div] = []
    for g in groups:
        members = [by_index[i] for i in order[g["start"] : g["stop"]]]
        color = figures.CLASS_COLORS[g["cls"]] if g["cls"] is not None else figures.ROLE_COLORS[g["role"]]
        title = f"categorical units voting for {g['cls']}" if g["cls"] is not None else f"{g['role']} units"
        out.append(
            html.Div(
                className=f"gallery-group role-{g['role']}",
                children=[
                    html.H3([html.Span(className="swatch", style={"background": color}), f"{title} ({len(members)})"]),
                    html.Div([_filter_img(u, kind) for u in members], className="filter-grid"),
                ],
            )
        )
    return out


@callback(
    Output(ids.UNITS_PAGE_STORE, "data"),
    Output(ids.GALLERIES, "children"),
    Input(ids.MODEL_PICKER, "value"),
    Input(ids.FILTER_KIND, "value"),
)
async def load_units(model_id: str | None, kind: str) -> Any:
    if not model_id:
        return None, html.Div("Pick a model.")
    try:
        payload = await api.units(model_id)
    except api.ApiError as e:
        return None, html.Div(f"Could not load units: {e.detail}", className="error")
    keys = ("index", "role", "class", "angle", "c_norm", "s_norm", "decoder_png")
    slim = [{k: u[k] for k in keys} for u in payload["data"]]
    store = {"model_id": model_id, "units": slim, "thresholds": payload.get("thresholds", {})}
    return store, galleries(payload["data"], kind or "decoder")


@callback(
    Output(ids.SCATTER, "figure"),
    Input(ids.UNITS_PAGE_STORE, "data"),
    Input(ids.SELECTED_UNIT, "data"),
)
def scatter(store: dict[str, Any] | None, selected: int | None) -> Any:
    """Pure figure work on data already in the browser: no I/O, so a plain def is fine."""
    if not store:
        return figures.empty_figure("Pick a model")
    return figures.scatter_figure(store["units"], store["thresholds"], selected)


# Hovering a dot shows that unit's decoder filter, role and class beside the scatter.
clientside_callback(
    ClientsideFunction("drsae", "onScatterHover"),
    Output(ids.SCATTER_HOVER_IMG, "src"),
    Output(ids.SCATTER_HOVER_TEXT, "children"),
    Input(ids.SCATTER, "hoverData"),
    State(ids.UNITS_PAGE_STORE, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("drsae", "onScatterClick"),
    Output(ids.SELECTED_UNIT, "data"),
    Input(ids.SCATTER, "clickData"),
    prevent_initial_call=True,
)


def _digit_link(model_id: str, d: dict[str, Any], image: list[list[float]], note: str) -> dcc.Link:
    href = f"/?model={quote(model_id)}&digit=test:{d['index']}"
    return dcc.Link(
        [html.Img(src=figures.digit_png(image)), html.Span(note, className="thumb-note")],
        href=href,
        className="thumb",
        title=f"test digit {d['index']} (label {d['label']}): open on the dynamics page",
    )


def _connections(rows: list[dict[str, Any]], title: str) -> html.Div:
    peak = max((abs(r["weight"]) for r in rows), default=1.0) or 1.0
    items = []
    for r in rows:
        cls = "" if r["role"] == "part" else f" c{r['class']}"
        w = r["weight"]
        items.append(
            html.Div(
                className="conn",
                title=f"unit {r['unit']} ({r['role']}{cls}): weight {w:+.3f}",
                children=[
                    html.Img(src=r["decoder_png"], className="filter-img", **{"data-unit": str(r["unit"])}),
                    html.Div(
                        className=f"conn-bar {'pos' if w >= 0 else 'neg'}",
                        style={"width": f"{max(4, 100 * abs(w) / peak):.0f}%"},
                    ),
                    html.Span(f"{w:+.2f}", className="conn-w"),
                ],
            )
        )
    return html.Div([html.H3(title), html.Div(items, className="conn-grid")], className="conn-block")


@callback(
    Output(ids.UNIT_DETAIL, "children"),
    Input(ids.SELECTED_UNIT, "data"),
    Input(ids.MODEL_PICKER, "value"),
    State(ids.MODELS_STORE, "data"),
)
async def unit_detail(k: int | None, model_id: str | None, models: list[dict[str, Any]] | None) -> Any:
    """Everything about unit k: filters, histogram, driving digits, connections, classification weights."""
    if k is None or not model_id:
        return no_update
    try:
        u = await api.unit(model_id, int(k))
    except api.ApiError as e:
        return html.Div(f"Could not load unit {k}: {e.detail}", className="error")
    top, sampled = u["top_digits"][:DIGITS_SHOWN], u["sampled_digits"][:DIGITS_SHOWN]  # each with its image
    cls = "" if u["role"] == "part" else f" · votes for class {u['class']}"
    graph_cfg = {"displaylogo": False, "displayModeBar": False, "responsive": True}
    return html.Div(
        className="unit-detail",
        children=[
            html.Div(
                className="unit-head",
                children=[
                    html.Figure([html.Img(src=u["decoder_png"], className="filter-big"), html.Figcaption("decoder")]),
                    html.Figure([html.Img(src=u["encoder_png"], className="filter-big"), html.Figcaption("encoder")]),
                    html.Div(
                        [
                            html.H3(f"Unit {u['index']}"),
                            html.P(f"{u['role']}{cls}", className=f"role-badge role-{u['role']}"),
                            html.P(
                                f"angle {u['angle']:.2f} rad · ||C_i|| {u['c_norm']:.2f} · "
                                f"||(S-I)_i|| {u['s_norm']:.2f} · active on {u.get('fraction_active', 0):.1%}"
                            ),
                        ]
                    ),
                ],
            ),
            html.Div(
                className="detail-grid",
                children=[
                    html.Div(
                        [
                            html.H3("Final activity over the test set"),
                            dcc.Graph(
                                id=ids.UNIT_HIST,
                                figure=figures.histogram_figure(u.get("histogram", {}), u.get("fraction_active", 0)),
                                config=graph_cfg,
                                style={"height": "210px"},
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.H3("Classification weights C[:, k]"),
                            dcc.Graph(
                                id=ids.UNIT_WEIGHTS,
                                figure=figures.class_weights_figure(u["classifier_weights"]),
                                config=graph_cfg,
                                style={"height": "210px"},
                            ),
                        ]
                    ),
                ],
            ),
            html.H3("Test digits that drive it most"),
            html.Div(
                [
                    _digit_link(model_id, d, d["image"], f"{d['activation']:.2f}")
                    for d in top
                ]
                or html.P("No test digit activates this unit.", className="help"),
                className="gallery",
            ),
            html.H3("Digits sampled evenly over its active range"),
            html.Div(
                [
                    _digit_link(model_id, d, d["image"], f"{d['activation']:.2f}")
                    for d in sampled
                ],
                className="gallery",
            ),
            html.Div(
                className="detail-grid",
                children=[
                    _connections(u.get("afferent", []), "Strongest afferents (S - I into the unit)"),
                    _connections(u.get("efferent", []), "Strongest efferents (out of the unit)"),
                ],
            ),
        ],
    )
