"""Units: every hidden unit's filters (part and categorical units apart), the angle vs ||C_i|| scatter, and
one unit's detail (activity histogram, digits that drive it, strongest connections, classification weights)."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import ids

dash.register_page(__name__, path="/units", name="Units", title="DrSAE Explorer: units")


def layout(model: str | None = None, unit: str | None = None, **_: object) -> html.Div:
    try:
        selected = int(unit) if unit is not None else None
    except ValueError:
        selected = None
    cfg = {"displaylogo": False, "responsive": True}
    return html.Div(
        className="units-page",
        children=[
            dcc.Store(id=ids.UNITS_PAGE_STORE),
            dcc.Store(id=ids.SELECTED_UNIT, data=selected),
            html.Section(
                className="panel",
                children=[
                    html.H2("Two kinds of unit"),
                    html.P(
                        "Each dot is a hidden unit; x is the angle between its encoder row E_i and decoder "
                        "column D_i. Part-units (small angle) behave like ISTA and draw pen strokes; "
                        "categorical-units (angle above 0.7 rad) have strong classification weights and draw "
                        "whole-digit prototypes. Click a dot or a filter to open the unit.",
                        className="help",
                    ),
                    dcc.Graph(id=ids.SCATTER, config=cfg, style={"height": "440px"}),
                    html.Div(
                        className="hover-card",
                        children=[
                            html.Img(id=ids.SCATTER_HOVER_IMG, className="filter-img"),
                            html.Span("Hover a dot to see the unit's decoder filter.", id=ids.SCATTER_HOVER_TEXT),
                        ],
                    ),
                ],
            ),
            html.Section(
                className="panel",
                children=[
                    html.H2("Unit detail"),
                    html.Div(
                        "Click a unit in the scatter or in the galleries below.", id=ids.UNIT_DETAIL, className="detail"
                    ),
                ],
            ),
            html.Section(
                className="panel span-all",
                children=[
                    html.Div(
                        className="panel-head",
                        children=[
                            html.H2("Filters"),
                            dcc.RadioItems(
                                id=ids.FILTER_KIND,
                                options=[
                                    {"label": " decoder columns D_i", "value": "decoder"},
                                    {"label": " encoder rows E_i", "value": "encoder"},
                                ],
                                value="decoder",
                                inline=True,
                                className="radio",
                            ),
                        ],
                    ),
                    html.P(
                        "Grey is zero, white positive, black negative (each filter scaled to its own range). "
                        "Categorical units are grouped by the class they vote for, strongest ||C_i|| first.",
                        className="help",
                    ),
                    html.Div(id=ids.GALLERIES, className="galleries"),
                ],
            ),
        ],
    )
