"""Evaluation: the test-set confusion matrix; a cell lists its digits, a digit opens on the dynamics page."""

from __future__ import annotations

import dash
from dash import dcc, html

from app import ids

dash.register_page(__name__, path="/evaluation", name="Evaluation", title="DrSAE Explorer: evaluation")


def parse_cell(cell: str | None) -> list[int] | None:
    """'3-5' (true 3, predicted 5) from the URL -> [3, 5]; anything else -> None."""
    try:
        true, predicted = (int(v) for v in (cell or "").split("-"))
    except ValueError:
        return None
    return [true, predicted] if 0 <= true < 100 and 0 <= predicted < 100 else None


def layout(cell: str | None = None, **_: object) -> html.Div:
    """The selected cell lives in the URL (?cell=true-predicted), so Back from the Dynamics page keeps it."""
    return html.Div(
        className="evaluation-page",
        children=[
            dcc.Store(id=ids.EVAL_STORE),
            dcc.Store(id=ids.EVAL_CELL, data=parse_cell(cell)),
            html.Section(
                className="panel",
                children=[
                    html.H2("Confusion matrix (test set)"),
                    html.P(
                        "Rows: true class; columns: predicted class at the last iteration. Colour is on a log "
                        "scale so that rare errors show. Click an off-diagonal cell to list those digits.",
                        className="help",
                    ),
                    html.Div(id=ids.EVAL_SUMMARY, className="summary"),
                    dcc.Loading(dcc.Graph(id=ids.CONFUSION, config={"displaylogo": False}, style={"height": "480px"})),
                ],
            ),
            html.Section(
                className="panel",
                children=[
                    html.H2("Digits in the cell"),
                    html.P("Click a digit to watch the model's dynamics on it.", className="help"),
                    html.Div(html.P("Click a cell off the diagonal."), id=ids.CELL_DIGITS, className="cell-digits"),
                ],
            ),
        ],
    )
