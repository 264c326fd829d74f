"""The paper's figures as interactive Plotly figures, and reports/paper.html, drawn from model/report.py's
analyses and claims. `write_html` writes one page that opens offline (plotly.js written once beside it)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from model import analysis as A
from model.report import SIDE, claims, claims_markdown, fmt, mosaic

ROLE_COLORS = {"part": "#1f77b4", "intermediate": "#9e9e9e", "categorical": "#d62728"}
PLOTLY_JS = "plotly.min.js"  # written beside the HTML reports, which load it by this relative name


def _image_figure(tiles: np.ndarray, row_labels: list[str], col_labels: list[str], title: str) -> go.Figure:
    z = mosaic(tiles)
    rows, cols = tiles.shape[:2]
    fig = go.Figure(go.Heatmap(z=z.astype(np.float32), colorscale="RdBu_r", zmid=0, zmin=-1, zmax=1, showscale=False))
    step = SIDE + 1
    fig.update_xaxes(
        tickvals=[c * step + SIDE / 2 for c in range(cols)], ticktext=col_labels, side="top", showgrid=False
    )
    fig.update_yaxes(
        tickvals=[r * step + SIDE / 2 for r in range(rows)],
        ticktext=row_labels,
        autorange="reversed",
        scaleanchor="x",
        showgrid=False,
    )
    fig.update_layout(
        title=title,
        height=min(160 + 62 * rows, 1000),
        width=min(
            max(140 + 62 * cols + 7 * max(len(line) for lbl in row_labels for line in lbl.split("<br>")), 500), 1300
        ),
        margin={"t": 110},
        plot_bgcolor="white",
    )
    return fig


def fig_dictionary(an: dict[str, Any]) -> go.Figure:
    """Figure 2: rows of E and columns of D for units across the angle range, and C's columns for them."""
    d, u = an["dictionary"], an["units"]
    units = d["units"]
    tiles = np.stack([d["E"], d["D"]])  # (2, k, 784)
    labels = [f"#{i}<br>{u['angle'][i]:.2f} rad<br>{u['role'][i][:4]}" for i in units]
    fig = make_subplots(rows=2, cols=1, row_heights=[0.6, 0.4], vertical_spacing=0.04)
    z = mosaic(tiles)
    fig.add_trace(go.Heatmap(z=z.astype(np.float32), colorscale="RdBu_r", zmid=0, showscale=False), 1, 1)
    C = d["C"]  # (l, k)
    fig.add_trace(
        go.Heatmap(
            z=C.astype(np.float32),
            x=[f"#{i}" for i in units],
            y=[str(c) for c in range(C.shape[0])],
            colorscale="RdBu_r",
            zmid=0,
            colorbar={"title": "C[k, i]", "len": 0.4, "y": 0.2},
            hovertemplate="unit %{x}, class %{y}: %{z:.3f}<extra></extra>",
        ),
        2,
        1,
    )
    step = SIDE + 1
    fig.update_xaxes(
        tickvals=[c * step + SIDE / 2 for c in range(len(units))], ticktext=labels, side="top", row=1, col=1
    )
    fig.update_yaxes(tickvals=[SIDE / 2, step + SIDE / 2], ticktext=["E_i", "D_i"], autorange="reversed", row=1, col=1)
    fig.update_yaxes(title="class", row=2, col=1)
    fig.update_layout(
        title="Dictionary: encoder rows E_i, decoder columns D_i, classifier columns C[:, i] (units sorted by angle)",
        height=560,
        width=1250,
        margin={"t": 150},
    )
    return fig


def fig_roles_scatter(an: dict[str, Any]) -> go.Figure:
    """Appendix scatter: ||(S - I)_i|| and ||C_i|| against the encoder-decoder angle, thresholds marked."""
    u = an["units"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("||(S - I)_i|| vs angle", "||C_i|| vs angle"))
    for col, key in ((1, "s_norm"), (2, "c_norm")):
        for role in A.ROLES:
            m = u["role"] == role
            fig.add_trace(
                go.Scattergl(
                    x=u["angle"][m],
                    y=u[key][m],
                    mode="markers",
                    name=f"{role} ({int(m.sum())})",
                    legendgroup=role,
                    showlegend=col == 1,
                    marker={"color": ROLE_COLORS[role], "size": 5},
                    text=[f"unit {i}, class {c}" for i, c in zip(np.flatnonzero(m), u["class"][m], strict=True)],
                ),
                1,
                col,
            )
        for thr in (A.PART_MAX_ANGLE, A.CATEGORICAL_MIN_ANGLE):
            fig.add_vline(x=thr, line_dash="dash", line_color="black", row=1, col=col)
    fig.update_xaxes(title="angle between E_i and D_i (rad)")
    fig.update_layout(
        title=f"Unit roles: ‖(S - I)_i‖ and ‖C_i‖ against the angle (colours: {an['role_basis_short']})", height=450
    )
    return fig


def _empty(fig: go.Figure, row: int, col: int, text: str) -> None:
    """Say so in a subplot that has nothing to show (a role can be empty at the paper's thresholds)."""
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="x domain", yref="y domain", row=row, col=col)


def fig_blocks(an: dict[str, Any]) -> go.Figure:
    """Figure 4: S - I blocks between part- and categorical-units, units sorted by class then ||C_i||."""
    mats = an["blocks"]["matrices"]
    names = ["part->part", "part->categorical", "categorical->part", "categorical->categorical"]
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[f"{n} ({mats[n]['matrix'].shape[0]}x{mats[n]['matrix'].shape[1]})" for n in names],
    )
    # the colour range is the 99th percentile of |S - I|, so strong self-connections do not wash out the rest
    values = [np.abs(mats[n]["matrix"]).ravel() for n in names if mats[n]["matrix"].size]
    vmax = max(float(np.quantile(np.concatenate(values), 0.99)) if values else 0.0, 1e-6)
    for k, name in enumerate(names):
        m = mats[name]
        if not m["matrix"].size:
            _empty(fig, k // 2 + 1, k % 2 + 1, "no units of this role pair")
            continue
        fig.add_trace(
            go.Heatmap(
                z=m["matrix"].astype(np.float32),
                x=[f"{j} (class {c})" for j, c in zip(m["cols"], m["col_class"], strict=True)],
                y=[f"{i} (class {c})" for i, c in zip(m["rows"], m["row_class"], strict=True)],
                colorscale="RdBu_r",
                zmid=0,
                zmin=-vmax,
                zmax=vmax,
                showscale=k == 0,
                colorbar={"title": "S - I"},
                hovertemplate="from %{x}<br>to %{y}<br>%{z:.4f}<extra></extra>",
            ),
            k // 2 + 1,
            k % 2 + 1,
        )
    fig.update_xaxes(title="source unit (sorted by class)", showticklabels=False)
    fig.update_yaxes(title="recipient unit", showticklabels=False, autorange="reversed")
    fig.update_layout(title="Explaining-away connections S - I by role, sorted by class", height=900, width=1000)
    return fig


def fig_overlap(an: dict[str, Any], max_points: int = 4000, seed: int = 0) -> go.Figure:
    """Appendix: S - I against D^T D (ISTA predicts a line of slope -alpha into part-units), and the
    part->categorical "V"; a random subset of pairs is drawn."""
    rng = np.random.default_rng(seed)
    names = ["part->part", "categorical->part", "part->categorical", "categorical->categorical"]
    ov = an["overlap"]
    titles = [f"{n}: r = {fmt(ov[n]['correlation'], 2)}, slope {fmt(ov[n]['slope'], 2)}" for n in names]
    fig = make_subplots(rows=2, cols=2, subplot_titles=titles)
    for k, name in enumerate(names):
        v = ov[name]
        if not len(v["weight"]):
            _empty(fig, k // 2 + 1, k % 2 + 1, "no pairs of this role pair")
            continue
        idx = np.arange(len(v["weight"]))
        if len(idx) > max_points:
            idx = rng.choice(idx, max_points, replace=False)
        fig.add_trace(
            go.Scattergl(
                x=v["overlap"][idx],
                y=v["weight"][idx],
                mode="markers",
                marker={"size": 3, "opacity": 0.5, "color": ROLE_COLORS[name.split("->")[1]]},
                name=name,
                text=[f"{j} -> {i}" for i, j in zip(v["dst"][idx], v["src"][idx], strict=True)],
            ),
            k // 2 + 1,
            k % 2 + 1,
        )
    fig.update_xaxes(title="D_i . D_j")
    fig.update_yaxes(title="(S - I)_ij")
    fig.update_layout(title="Connections against decoder overlap", height=800, showlegend=False)
    return fig


def fig_afferent(an: dict[str, Any]) -> go.Figure:
    """Hierarchy statistic (docs/model.md): afferent-weighted angle against the unit's own angle."""
    u, aw = an["units"], an["afferent_angle"]
    fig = go.Figure()
    for role in A.ROLES:
        m = u["role"] == role
        fig.add_trace(
            go.Scattergl(
                x=u["angle"][m],
                y=aw[m],
                mode="markers",
                name=role,
                marker={"color": ROLE_COLORS[role], "size": 5},
            )
        )
    fig.update_layout(
        title="Afferent-weighted angle: mean angle of a unit's inputs, weighted by |S_ij - delta_ij|",
        xaxis_title="unit's encoder-decoder angle (rad)",
        yaxis_title="afferent-weighted angle (rad)",
        height=450,
    )
    return fig


def fig_activity(an: dict[str, Any]) -> go.Figure:
    """Activity over t by role (docs/model.md), and P(first active at t = 2) and mean final activity vs angle."""
    dyn, u = an["dynamics"], an["units"]
    T = dyn["mean_activity"].shape[0]
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("mean activity z(t) by role", "P(z(1) = 0, z(2) > 0) vs angle", "mean z(T) when active"),
    )
    for role in A.ROLES:
        act = dyn["role_activity"][role]
        if np.isfinite(act).any():
            fig.add_trace(
                go.Scatter(
                    x=np.arange(1, T + 1),
                    y=act,
                    mode="lines+markers",
                    name=f"{role} ({dyn['role_count'][role]})",
                    legendgroup=role,
                    line={"color": ROLE_COLORS[role]},
                ),
                1,
                1,
            )
        m = u["role"] == role
        for col, key in ((2, "p_first_active_t2"), (3, "mean_final_active")):
            fig.add_trace(
                go.Scattergl(
                    x=u["angle"][m],
                    y=dyn[key][m],
                    mode="markers",
                    legendgroup=role,
                    showlegend=False,
                    marker={"color": ROLE_COLORS[role], "size": 4},
                    name=role,
                ),
                1,
                col,
            )
    fig.update_xaxes(title="iteration t", row=1, col=1)
    fig.update_xaxes(title="angle (rad)", row=1, col=2)
    fig.update_xaxes(title="angle (rad)", row=1, col=3)
    fig.update_layout(
        title=f"Activity over time ({an['n_images']['dynamics']} test images; {an['role_basis_short']})", height=430
    )
    return fig


def fig_optimal_decoders(an: dict[str, Any]) -> go.Figure:
    """Figure 5: for chosen units, E_i, the least-squares decoders D(t) for t = 1..T, and the learned D_i."""
    od, u = an["decoders"], an["units"]
    T = od["decoders"].shape[0]
    tiles = np.concatenate([od["encoders"][None], od["decoders"], od["final"][None]]).transpose(1, 0, 2)  # (k, T+2, m)
    rows = [f"#{i} {u['role'][i][:4]} {u['angle'][i]:.2f} rad" for i in od["units"]]
    cols = ["E_i"] + [f"D({t})<br>cos {np.mean(od['cosine_to_final'][t - 1]):.2f}" for t in range(1, T + 1)] + ["D_i"]
    return _image_figure(
        tiles,
        rows,
        cols,
        "Optimal decoders over time: D(t) = argmin ||X - D(t) Z(t)||^2 (mean cosine to D_i under each t)",
    )


def fig_progressive(an: dict[str, Any]) -> go.Figure:
    """Figure 6: partial reconstructions adding D_i z_i(T) in decreasing order of size."""
    items = an["progressive"]
    steps = max((len(p["units"]) for p in items), default=0)
    tiles = np.full((len(items), steps + 2, SIDE * SIDE), np.nan)
    for r, p in enumerate(items):
        tiles[r, 0] = p["input"]
        tiles[r, 1 : 1 + len(p["units"])] = p["partials"]
        tiles[r, -1] = p["reconstruction"]
    rows = [f"test #{p['index']} ({p['label']})<br>classes: {''.join(str(c) for c in p['classes'])}" for p in items]
    cols = ["input"] + [f"step {k + 1}" for k in range(steps)] + ["D z(T)"]
    return _image_figure(tiles, rows, cols, "Progressive reconstruction (largest contributions first)")


def fig_class_units(an: dict[str, Any]) -> go.Figure:
    """Figure 7: class averages beside the decoders of the units with the largest C entries for the class."""
    cu = an["class_units"]
    tiles = np.concatenate([cu["class_means"][:, None], cu["decoders"]], axis=1)  # (l, k + 1, m)
    rows = [
        f"{c}: " + ", ".join(f"#{i} ({a:.2f})" for i, a in zip(cu["units"][c], cu["angles"][c], strict=True))
        for c in range(len(tiles))
    ]
    cols = ["class average"] + [f"top {k + 1}" for k in range(cu["units"].shape[1])]
    return _image_figure(
        tiles, rows, cols, "Most class-specific units (largest C[k, i]; angle in rad) vs class average"
    )


def figures(an: dict[str, Any]) -> list[tuple[str, str, go.Figure]]:
    """(title, caption, figure) in the order of the paper's figures."""
    return [
        (
            "Dictionary",
            "Spec 5.6 figure 2: part-units have matching, stroke-like E_i and D_i; categorical-units have "
            "whole-digit decoders that differ from their encoders, and large, sparse C columns.",
            fig_dictionary(an),
        ),
        (
            "Unit roles",
            "Spec 5.1 and appendix scatter: part-units form a dense cloud at small angle with weak connections, "
            "categorical-units a tail towards large angle with strong recurrent input and classification weights.",
            fig_roles_scatter(an),
        ),
        (
            "Connection blocks",
            "Spec 5.6 figure 4 / 5.2: S - I between roles, sorted by class; from part- to categorical-units the "
            "weights are organised by source; among categorical-units mostly negative with positive diagonal.",
            fig_blocks(an),
        ),
        (
            "S - I against D^T D",
            "Spec 5.2 / appendix: into part-units the weights follow ISTA's S - I = -alpha D^T D (clear "
            "diagonals of matching slope); part->categorical weights form a 'V' against decoder alignment.",
            fig_overlap(an),
        ),
        (
            "Afferent-weighted angle",
            "Spec 5.2 Hierarchy: part-units receive most input from part-units, categorical-units a larger share "
            "from categorical-units.",
            fig_afferent(an),
        ),
        (
            "Activity over time",
            "Spec 5.3: part-units switch on at t = 1 from the input; categorical-units are more likely to switch on "
            "first at t = 2 and build up over the iterations; when active they contribute more (mean z(T)).",
            fig_activity(an),
        ),
        (
            "Optimal decoders over time",
            "Spec 5.6 figure 5 / 5.3: part-units' inferred decoders settle immediately, categorical-units' refine "
            "slowly. Rows: the most part-like and most categorical-like active units.",
            fig_optimal_decoders(an),
        ),
        (
            "Progressive reconstruction",
            "Spec 5.6 figure 6 / 5.4: a prototype (categorical-units) first, then part-unit deformations; each "
            "partial reconstruction should stay recognisable as the same class (row labels: the model's class "
            "for the code truncated to the units added so far).",
            fig_progressive(an),
        ),
        (
            "Class-specific units",
            "Spec 5.6 figure 7 / 5.1: the prototypes are sharper than the blurry class averages; the top unit "
            "should have a large (not necessarily the largest) angle.",
            fig_class_units(an),
        ),
    ]


# ----------------------------------------------------------------------------------------- page
def _markdown_table_html(md: str) -> str:
    """A pipe table (as written into paper.md) as an HTML table, escaped."""
    lines = [ln for ln in md.strip().splitlines() if ln.startswith("|")]
    if len(lines) < 2:
        return ""
    cells = [[html.escape(c.strip()) for c in ln.strip("|").split("|")] for ln in lines]
    head = "".join(f"<th>{c}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(
    path: Path,
    *,
    title: str,
    provenance: list[str],
    results_md: str,
    an: dict[str, Any] | None,
    source: str,
    notes: tuple[str, ...] | list[str] = (),
) -> Path:
    """One page: provenance, the results table, the claims table and every figure (each a div).
    plotly.js is written once beside it as plotly.min.js, shared by every report in the folder (4.6 MB that
    each page would otherwise embed), and loaded by a relative path, so the folder opens offline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lib = path.parent / PLOTLY_JS
    js = get_plotlyjs()
    if not lib.exists() or lib.read_text(encoding="utf-8") != js:
        lib.write_text(js, encoding="utf-8")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<script type='text/javascript' src='{PLOTLY_JS}'></script>",
        "<style>body{font-family:sans-serif;max-width:1300px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "figcaption{color:#444;max-width:1000px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in provenance) + "</ul>",
        "<h2>Test error: paper vs this reproduction</h2>",
        _markdown_table_html(results_md),
    ]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    if an is None:
        parts.append("<p><b>No analyses:</b> the 400-unit, T = 11 run is not available.</p>")
    else:
        parts += [
            f"<h2>Analyses of {html.escape(source)}</h2>",
            "<h3>The paper's claims against the measured numbers</h3>",
            f"<p>Roles below: {html.escape(an['role_basis'])}.</p>",
            _markdown_table_html(claims_markdown(claims(an))),
        ]
        for k, (name, caption, fig) in enumerate(figures(an)):
            div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{k + 1}")
            parts.append(
                f"<figure id='figure-{k + 1}'><h3>{k + 1}. {html.escape(name)}</h3>{div}"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
