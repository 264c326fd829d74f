"""Pure figure functions: API payloads (docs/api.md) in, plotly figures or small values out. No I/O.

The dynamics figures are templates that the browser animates: static/animate.js restyles their data
arrays once per digit and draws the current-t markers as HTML overlays (moving an overlay costs
microseconds; a Plotly relayout costs tens of milliseconds). Trace and row order here are a contract with
that file: heat-map row i is unit `unit_order(units)[0][i]`; curves trace c (c < len(curve_groups)) holds the
units `curve_groups(units)[c]["units"]`, each as T points followed by a gap; the last curves trace is the
highlighted (hovered) unit.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

# The class palette, the one place for it (the browser gets it with the units, app/callbacks/dynamics.py):
# Paul Tol's "muted" scheme plus black, chosen so every pair stays apart (CIELAB distance > 15) for
# protanopes, deuteranopes and tritanopes as well (tests/app/test_figures.py simulates them). Lines also
# carry a marker symbol per class, so colour is never the only cue.
CLASS_COLORS = (
    "#332288",  # 0 indigo
    "#88CCEE",  # 1 cyan
    "#44AA99",  # 2 teal
    "#117733",  # 3 green
    "#999933",  # 4 olive
    "#DDCC77",  # 5 sand
    "#CC6677",  # 6 rose
    "#882255",  # 7 wine
    "#AA4499",  # 8 purple
    "#000000",  # 9 black
)
CLASS_SYMBOLS = (
    "circle",
    "square",
    "diamond",
    "cross",
    "x",
    "triangle-up",
    "triangle-down",
    "star",
    "pentagon",
    "hexagon",
)
# The role palette, keyed by the role names the API serves (GET /units `roles`); the browser gets it with the
# units like the class palette.
ROLE_COLORS = {"part": "#0072B2", "intermediate": "#AAAAAA", "categorical": "#D55E00"}
ACTIVITY_SCALE = "Viridis"  # perceptually uniform sequential map for activity
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12, color="#222")
# One row of class entries above the plot, so ten classes never need a scroll bar.
CLASS_LEGEND = dict(
    title=dict(text="class"), orientation="h", x=0, y=1.0, yanchor="bottom", font=dict(size=11), itemwidth=30
)


def _base_layout(**kw: Any) -> dict[str, Any]:
    layout: dict[str, Any] = dict(
        font=FONT,
        margin=dict(l=50, r=10, t=30, b=40),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#fff",
        hoverlabel=dict(font_size=12),
    )
    layout.update(kw)
    return layout


def empty_figure(message: str) -> go.Figure:
    """A blank figure saying why it is blank."""
    fig = go.Figure(layout=_base_layout())
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


HEATMAP_LEFT = 124  # px for the group labels ("intermediate (255)", "Ankle boot (40)") left of the heat map
DIGIT_NAMES = tuple(str(i) for i in range(10))


def unit_order(
    units: Sequence[dict[str, Any]], class_names: Sequence[str] = DIGIT_NAMES
) -> tuple[list[int], list[dict[str, Any]]]:
    """Heat-map row order and its groups: categorical units by class (strongest ||C_i|| first), then
    intermediate, then part units (largest angle first). Groups are {label, role, class, start, stop}."""
    order: list[int] = []
    groups: list[dict[str, Any]] = []

    def add(label: str, role: str, cls: int | None, members: list[dict[str, Any]], key: str) -> None:
        if not members:
            return
        members = sorted(members, key=lambda u: -u[key])
        groups.append(dict(label=label, role=role, cls=cls, start=len(order), stop=len(order) + len(members)))
        order.extend(u["index"] for u in members)

    for c in range(len(class_names)):
        members = [u for u in units if u["role"] == "categorical" and u["class"] == c]
        add(f"cat {class_names[c]}", "categorical", c, members, "c_norm")
    add("intermediate", "intermediate", None, [u for u in units if u["role"] == "intermediate"], "angle")
    add("part", "part", None, [u for u in units if u["role"] == "part"], "angle")
    return order, groups


def curve_groups(units: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Categorical units by class, as drawn in the activity-curves view: one trace per class, in this order."""
    order, groups = unit_order(units)
    return [{"cls": g["cls"], "units": order[g["start"] : g["stop"]]} for g in groups if g["role"] == "categorical"]


def _unit_label(u: dict[str, Any]) -> str:
    cls = f", class {u['class']}" if u["role"] != "part" else ""
    return f"unit {u['index']} ({u['role']}{cls})"


def heatmap_figure(
    units: Sequence[dict[str, Any]],
    z: Sequence[Sequence[float]] | None,
    T: int,
    class_names: Sequence[str] = DIGIT_NAMES,
) -> go.Figure:
    """Units x iterations heat map of z_i(t), rows grouped by role and categorical units by class."""
    if not units:
        return empty_figure("No units: pick a model")
    by_index = {u["index"]: u for u in units}
    order, groups = unit_order(units, class_names)
    zz = np.zeros((len(order), T)) if z is None else np.asarray(z, dtype=float).T[order]  # (rows, T)
    custom = [[i] * T for i in order]
    labels = [[_unit_label(by_index[i])] * T for i in order]
    fig = go.Figure(
        go.Heatmap(
            z=zz.tolist(),
            x=list(range(1, T + 1)),
            y=list(range(len(order))),
            customdata=custom,
            text=labels,
            colorscale=ACTIVITY_SCALE,
            zmin=0,
            zmax=float(zz.max()) if zz.size and zz.max() > 0 else 1.0,
            showscale=False,  # an HTML scale under the graph: a Plotly colour bar doubles the cost of each update
            hovertemplate="%{text}<br>t = %{x}<br>z = %{z:.3f}<extra></extra>",
        ),
        layout=_base_layout(margin=dict(l=HEATMAP_LEFT, r=10, t=10, b=40)),
    )
    fig.update_xaxes(title_text="iteration t", dtick=1, range=[0.5, T + 0.5], fixedrange=True)
    fig.update_yaxes(autorange="reversed", showticklabels=False, fixedrange=True, range=[len(order) - 0.5, -0.5])
    shapes = []
    for g in groups[1:]:
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=g["start"] - 0.5, y1=g["start"] - 0.5,
                           line=dict(color="#fff", width=1)))
    for g in groups:
        color = CLASS_COLORS[g["cls"]] if g["cls"] is not None else ROLE_COLORS[g["role"]]
        fig.add_annotation(
            x=0, xref="paper", xanchor="right", y=(g["start"] + g["stop"] - 1) / 2, yref="y",
            text=f"{g['label']} ({g['stop'] - g['start']})", showarrow=False, font=dict(size=10, color=color),
        )
    fig.update_layout(shapes=shapes)
    return fig


def curves_figure(
    units: Sequence[dict[str, Any]],
    z: Sequence[Sequence[float]] | None,
    T: int,
    class_names: Sequence[str] = DIGIT_NAMES,
) -> go.Figure:
    """Activity of every categorical unit over t, coloured by the class it votes for.

    One trace per class (its units' curves joined by gaps) keeps the figure light enough to update within
    a frame; a last, empty trace is filled by the browser with the hovered unit's curve."""
    groups = curve_groups(units)
    if not groups:
        return empty_figure("No categorical units (yet): train discriminatively")
    zz = None if z is None else np.asarray(z, dtype=float)
    fig = go.Figure(layout=_base_layout(legend=CLASS_LEGEND | dict(itemclick="toggleothers", itemdoubleclick="toggle")))
    ts = list(range(1, T + 1))
    for g in groups:
        xs: list[int | None] = []
        ys: list[float | None] = []
        custom: list[int | None] = []
        for k in g["units"]:
            xs += [*ts, None]
            ys += [*([0.0] * T if zz is None else zz[:, k].tolist()), None]
            custom += [k] * T + [None]
        c = int(g["cls"])
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, customdata=custom, mode="lines", name=f"{class_names[c]} ({len(g['units'])})",
                legendgroup=str(c),
                line=dict(color=CLASS_COLORS[c], width=1.2), opacity=0.85, connectgaps=False,
                hovertemplate=f"unit %{{customdata}} (class {class_names[c]})<br>t = %{{x}}<br>z = %{{y:.3f}}"
                "<br>click to steer it<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=ts, y=[None] * T, mode="lines+markers", name="hovered unit", showlegend=False, hoverinfo="skip",
            line=dict(color="#111", width=3.5), marker=dict(size=5),
        )
    )
    fig.update_xaxes(title_text="iteration t", dtick=1, range=[0.8, T + 0.2])
    fig.update_yaxes(title_text="activity z", rangemode="tozero")
    return fig


def probabilities_figure(
    probabilities: Sequence[Sequence[float]] | None, T: int, class_names: Sequence[str] = DIGIT_NAMES
) -> go.Figure:
    """Class probabilities softmax(C z(t)) over t, one line (colour and marker) per class.

    Traces n..2n-1 (n classes) are the same classes before an intervention (dotted, empty until the browser
    fills them: static/animate.js), so a steered run is read against the original."""
    n = len(class_names)
    p = np.full((T, n), 1 / n) if probabilities is None else np.asarray(probabilities, dtype=float)
    fig = go.Figure(layout=_base_layout(legend=CLASS_LEGEND))
    ts = list(range(1, T + 1))
    for c in range(n):
        fig.add_trace(
            go.Scatter(
                x=ts, y=p[:, c].tolist(), mode="lines+markers", name=class_names[c], legendgroup=str(c),
                line=dict(color=CLASS_COLORS[c], width=2), marker=dict(size=6, symbol=CLASS_SYMBOLS[c]),
                hovertemplate=f"class {class_names[c]}<br>t = %{{x}}<br>p = %{{y:.3f}}<extra></extra>",
            )
        )
    for c in range(n):
        fig.add_trace(
            go.Scatter(
                x=ts, y=[None] * T, mode="lines", name=f"{class_names[c]} before", legendgroup=str(c),
                showlegend=False, line=dict(color=CLASS_COLORS[c], width=1.5, dash="dot"), opacity=0.7,
                hovertemplate=f"class {class_names[c]} before the intervention<br>t = %{{x}}<br>p = %{{y:.3f}}"
                "<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="iteration t", dtick=1, range=[0.8, T + 0.2])
    fig.update_yaxes(title_text="probability", range=[0, 1.02])
    return fig


def digit_png(image: Sequence[Sequence[float]], scale: int = 1) -> str:
    """A 28x28 image in [0, 1] as a PNG data URL (white ink on black, like MNIST)."""
    a = np.clip(np.asarray(image, dtype=float), 0, 1)
    img = Image.fromarray((a * 255).round().astype(np.uint8), mode="L")
    if scale > 1:
        img = img.resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def parse_digit_ref(ref: str | None) -> int | None:
    """'test:17' -> 17; anything else (None, 'drawn', junk) -> None."""
    if not ref or not ref.startswith("test:"):
        return None
    try:
        i = int(ref.split(":", 1)[1])
    except ValueError:
        return None
    return i if i >= 0 else None


def scatter_figure(units: Sequence[dict[str, Any]], thresholds: dict[str, float], selected: int | None) -> go.Figure:
    """Encoder-decoder angle vs ||C_i||, coloured by role, with the paper's 0.5 / 0.7 rad thresholds."""
    if not units:
        return empty_figure("No units: pick a model")
    fig = go.Figure(layout=_base_layout(legend=dict(title=dict(text="role"), orientation="h", y=1.08, x=0)))
    for role in ROLE_COLORS:  # part-units drawn first, categorical-units on top
        us = [u for u in units if u["role"] == role]
        fig.add_trace(
            go.Scatter(
                x=[u["angle"] for u in us], y=[u["c_norm"] for u in us], mode="markers", name=f"{role} ({len(us)})",
                marker=dict(color=ROLE_COLORS[role], size=7, opacity=0.8, line=dict(width=0.5, color="#fff")),
                customdata=[[u["index"], u["class"], u["s_norm"]] for u in us],
                hovertemplate="unit %{customdata[0]}<br>angle %{x:.2f} rad<br>||C_i|| %{y:.2f}"
                "<br>class %{customdata[1]}<br>||(S-I)_i|| %{customdata[2]:.2f}<extra></extra>",
            )
        )
    part, cat = thresholds.get("part", 0.5), thresholds.get("categorical", 0.7)
    shapes = [
        dict(type="line", x0=v, x1=v, yref="paper", y0=0, y1=1, line=dict(color="#555", dash="dash", width=1))
        for v in (part, cat)
    ]
    for x, text, anchor in ((part, f"part < {part} rad", "right"), (cat, f"categorical > {cat} rad", "left")):
        fig.add_annotation(x=x, y=1, yref="paper", text=text, showarrow=False, xanchor=anchor, font=dict(size=11))
    if selected is not None:
        u = next((u for u in units if u["index"] == selected), None)
        if u is not None:
            fig.add_trace(
                go.Scatter(
                    x=[u["angle"]], y=[u["c_norm"]], mode="markers", name=f"unit {selected}", hoverinfo="skip",
                    marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="#ff2d55", width=3)),
                )
            )
    fig.update_layout(shapes=shapes, uirevision="scatter")
    fig.update_xaxes(title_text="encoder-decoder angle (rad)")
    fig.update_yaxes(title_text="||C_i|| (classification weight norm)")
    return fig


def snapshot_scatter_figure(snapshot: dict[str, Any], thresholds: dict[str, float]) -> go.Figure:
    """A snapshot's angle vs ||C_i|| (GET /api/jobs/{id}/snapshots/{epoch}), coloured by the role each unit
    has at that epoch, with the thresholds; the x axis is fixed, so epochs can be compared."""
    units = [
        {"index": i, "angle": a, "c_norm": c, "role": r}
        for i, (a, c, r) in enumerate(zip(snapshot["angle"], snapshot["c_norm"], snapshot["roles"], strict=True))
    ]
    fig = go.Figure(layout=_base_layout(legend=dict(orientation="h", y=1.1, x=0)))
    for role in list(ROLE_COLORS)[::-1]:
        us = [u for u in units if u["role"] == role]
        fig.add_trace(go.Scatter(
            x=[u["angle"] for u in us], y=[u["c_norm"] for u in us], mode="markers", name=f"{role} ({len(us)})",
            marker=dict(color=ROLE_COLORS[role], size=7, opacity=0.8, line=dict(width=0.5, color="#fff")),
            customdata=[u["index"] for u in us],
            hovertemplate="unit %{customdata}<br>angle %{x:.2f} rad<br>||C_i|| %{y:.2f}<extra></extra>",
        ))
    for v in (thresholds.get("part", 0.5), thresholds.get("categorical", 0.7)):
        fig.add_vline(x=v, line=dict(color="#555", dash="dash", width=1))
    fig.update_layout(uirevision="snapshot-scatter", title=dict(text=f"epoch {snapshot['epoch']}", x=0.99,
                                                               xanchor="right", font=dict(size=12)))
    fig.update_xaxes(title_text="encoder-decoder angle (rad)", range=[0, math.pi / 2])
    fig.update_yaxes(title_text="||C_i||", rangemode="tozero")
    return fig


def histogram_figure(histogram: dict[str, Sequence[float]], fraction_active: float) -> go.Figure:
    """Histogram of a unit's final activity z_k(T) over the test set (active samples only)."""
    edges, counts = list(histogram.get("edges", [])), list(histogram.get("counts", []))
    if not counts:
        return empty_figure("Never active on the test set")
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=False)]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=False)]
    fig = go.Figure(
        go.Bar(x=centers, y=counts, width=widths, marker_color="#0072B2", hovertemplate=HIST_HOVER),
        layout=_base_layout(margin=dict(l=50, r=10, t=30, b=40)),
    )
    fig.update_layout(title=dict(text=f"active on {fraction_active:.1%} of test digits", font=dict(size=12), x=0.02))
    fig.update_xaxes(title_text="final activity z(T)")
    fig.update_yaxes(title_text="digits")
    return fig


def class_weights_figure(weights: Sequence[float]) -> go.Figure:
    """A unit's classification weights C[:, k], one bar per class."""
    fig = go.Figure(
        go.Bar(
            x=[str(c) for c in range(10)], y=list(weights), marker_color=list(CLASS_COLORS),
            hovertemplate="class %{x}: %{y:.3f}<extra></extra>",
        ),
        layout=_base_layout(margin=dict(l=50, r=10, t=10, b=40)),
    )
    fig.update_xaxes(title_text="class", type="category")
    fig.update_yaxes(title_text="weight C[class, k]", zeroline=True, zerolinecolor="#888")
    return fig


HIST_HOVER = "z %{x:.3f}: %{y}<extra></extra>"
LOSS_TERMS = ("reconstruction", "sparsity", "classification")
LOSS_DASH = {"train": "solid", "val": "dot"}


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks covering [low, high], written in full by the caller ('0.2', '5'): Plotly's own log ticks
    label only the leading digit ('2, 1, 5, 2')."""
    ticks = []
    for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for m in (1, 2, 5):
            v = float(f"{m}e{e}")
            if low / 2.5 <= v <= high * 2.5:
                ticks.append(v)
    return ticks


EPOCH_TICKS = 12  # at most this many epoch ticks; static/jobs.js keeps the rule as rows extend the curves


def epoch_dtick(epochs: int) -> int:
    """Whole-epoch tick spacing for `epochs` points (Plotly's own ticks fall on half epochs)."""
    return max(1, math.ceil(epochs / EPOCH_TICKS))


def training_figure(rows: Sequence[dict[str, Any]], revision: Any) -> go.Figure:
    """Loss terms (top, log scale) and error rates (bottom) per epoch; the phase switch marked.
    `revision` (the job id) becomes uirevision, so updates keep the user's zoom; each trace's meta names the
    job and the row key it plots, so static/jobs.js extends it with the event stream's new rows."""
    if not rows:
        return empty_figure("No epochs yet: pick a job (curves appear after its first epoch)")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("loss terms (train solid, validation dotted)", "error rate (%)"))
    epochs = [r["epoch"] for r in rows]
    colors = dict(zip(LOSS_TERMS, ("#0072B2", "#E69F00", "#D55E00"), strict=True))
    for split in ("train", "val"):
        for term in LOSS_TERMS:
            ys = [r.get(f"{split}_{term}") for r in rows]
            if all(y is None for y in ys):
                continue
            fig.add_trace(
                go.Scatter(x=epochs, y=ys, mode="lines+markers", name=f"{split} {term}", legendgroup=term,
                           line=dict(color=colors[term], dash=LOSS_DASH[split]), marker=dict(size=4),
                           meta={"job": revision, "key": f"{split}_{term}"}),
                row=1, col=1,
            )
    for key, color, name in (("train_error", "#999999", "train"), ("val_error", "#0072B2", "validation"),
                             ("test_error", "#009E73", "test")):
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            fig.add_trace(go.Scatter(x=epochs, y=ys, mode="lines+markers", name=f"{name} error",
                                     line=dict(color=color), marker=dict(size=4),
                                     meta={"job": revision, "key": key}), row=2, col=1)
    switch = next((r["epoch"] for r in rows if r.get("phase") == "supervised"), None)
    if switch is not None and any(r.get("phase") == "unsupervised" for r in rows):
        x = switch - 0.5
        for row in (1, 2):
            fig.add_vline(x=x, line=dict(color="#D55E00", dash="dash", width=1.5), row=row, col=1)
        fig.add_annotation(x=x, y=0.985, yref="paper", yanchor="top", text=" discriminative training starts",
                           showarrow=False, xanchor="left", font=dict(size=11, color="#D55E00"),
                           bgcolor="rgba(255,255,255,0.8)")
    # meta.phase: the last row's phase; static/jobs.js redraws rather than extends when a row changes it, and
    # widens the epoch ticks by meta.epoch_ticks as it extends (one tick per epoch over hundreds of epochs
    # would cost every redraw a label layout that can take the page down)
    meta = {"phase": rows[-1].get("phase"), "epoch_ticks": EPOCH_TICKS}
    fig.update_layout(**_base_layout(margin=dict(l=60, r=10, t=30, b=40), uirevision=str(revision),
                                     legend=dict(orientation="h", y=-0.15), meta=meta))
    losses = [y for tr in fig.data if tr.yaxis in ("y", None) for y in tr.y if isinstance(y, int | float) and y > 0]
    ticks = log_ticks(min(losses), max(losses)) if losses else []
    fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{v:g}" for v in ticks], title_text="loss (log scale)",
                     row=1, col=1)
    fig.update_yaxes(title_text="error (%)", row=2, col=1)
    fig.update_xaxes(tick0=1, dtick=epoch_dtick(len(epochs)))
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    return fig


# Per-epoch role metrics in the API's epoch rows (docs/api.md); the Training page plots those present.
ROLE_METRIC_KEYS = {
    "counts": ("units_part", "units_categorical"),
    "angles": ("angle_q25", "angle_median", "angle_q75"),
    "correlation": ("spearman_angle_c_norm",),
}
ROLE_METRIC_NAMES = {
    "units_part": "part-units (< 0.5 rad)", "units_categorical": "categorical-units (> 0.7 rad)",
    "angle_q25": "angle, 25%", "angle_median": "angle, median", "angle_q75": "angle, 75%",
    "spearman_angle_c_norm": "Spearman(angle, ||C_i||)",
}
ROLE_METRIC_COLORS = {
    "units_part": ROLE_COLORS["part"], "units_categorical": ROLE_COLORS["categorical"], "angle_q25": "#88CCEE",
    "angle_median": "#332288", "angle_q75": "#88CCEE", "spearman_angle_c_norm": "#117733",
}


def role_metric_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The role-metric keys that at least one row carries, in ROLE_METRIC_KEYS order."""
    present = {k for r in rows for k, v in r.items() if v is not None}
    return [k for keys in ROLE_METRIC_KEYS.values() for k in keys if k in present]


def role_metrics_figure(rows: Sequence[dict[str, Any]], revision: Any = None) -> go.Figure:
    """Unit roles over epochs: how many part- and categorical-units, the quartiles of the encoder-decoder
    angle and its rank correlation with ||C_i||: watch the two populations separate."""
    if not rows:
        return empty_figure("No epochs yet: pick a job (its unit roles appear after its first epoch)")
    keys = role_metric_keys(rows)
    if not keys:
        return empty_figure("This job's epochs carry no role metrics")
    panels = [(name, [k for k in ks if k in keys]) for name, ks in ROLE_METRIC_KEYS.items()]
    panels = [(name, ks) for name, ks in panels if ks]
    titles = {"counts": "units per role", "angles": "encoder-decoder angle (rad), quartiles",
              "correlation": "Spearman(angle, ||C_i||)"}
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=[titles[n] for n, _ in panels])
    epochs = [r.get("epoch") for r in rows]
    for i, (_, ks) in enumerate(panels, start=1):
        for k in ks:
            dash = "dot" if k in ("angle_q25", "angle_q75") else "solid"
            fig.add_trace(
                go.Scatter(x=epochs, y=[r.get(k) for r in rows], mode="lines+markers", name=ROLE_METRIC_NAMES[k],
                           line=dict(color=ROLE_METRIC_COLORS.get(k, "#555"), dash=dash), marker=dict(size=4),
                           meta={"job": revision, "key": k}),
                row=i, col=1,
            )
    fig.update_layout(**_base_layout(margin=dict(l=60, r=10, t=30, b=40), uirevision=str(revision),
                                     legend=dict(orientation="h", y=-0.15)))
    fig.update_xaxes(title_text="epoch", row=len(panels), col=1)
    return fig


# ------------------------------------------------------------------------------ comparing runs
# Runs are told apart by the same colour-blind-safe palette as the classes (CLASS_COLORS, the one place
# for it), in order of selection; an ninth run reuses the first colour with another dash.
RUN_COLORS = CLASS_COLORS
RUN_DASHES = ("solid", "dash", "dot")
COMPARE_METRICS = {
    "val_error": "validation error (%)",
    "test_error": "test error (%)",
    "train_error": "training error (%)",
    "train_reconstruction": "training reconstruction loss",
    "train_sparsity": "training sparsity loss",
    "train_classification": "training classification loss",
    "val_reconstruction": "validation reconstruction loss",
    "val_classification": "validation classification loss",
    "units_part": "part-units (< 0.5 rad)",
    "units_categorical": "categorical-units (> 0.7 rad)",
    "angle_median": "encoder-decoder angle, median (rad)",
    "spearman_angle_c_norm": "Spearman(angle, ||C_i||)",
}
# What a comparison may group runs by: their config's training options, in words.
GROUP_FIELDS = {
    "lr": "learning rate", "seed": "seed", "hidden": "hidden units", "T": "iterations", "epochs": "epochs",
    "unsup_epochs": "unsupervised epochs", "batch_size": "batch size", "preset": "preset",
}


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def run_dash(i: int) -> str:
    return RUN_DASHES[(i // len(RUN_COLORS)) % len(RUN_DASHES)]


def smooth(ys: Sequence[float | None], weight: float) -> list[float | None]:
    """An exponential moving average (TensorBoard's smoothing, debiased so the start is not pulled to
    zero); gaps stay gaps. weight 0 returns the series unchanged."""
    out: list[float | None] = []
    avg, norm = 0.0, 0.0
    for y in ys:
        if y is None:
            out.append(None)
            continue
        avg = weight * avg + (1 - weight) * y
        norm = weight * norm + (1 - weight)
        out.append(avg / norm if norm else y)
    return out


def _value_label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def compare_figure(
    runs: Sequence[dict[str, Any]], metric: str, group_by: str | None = None, smoothing: float = 0.0
) -> go.Figure:
    """One metric of several runs over epochs. `runs` are {id, name, config, rows}. Ungrouped: a line per
    run, coloured by run. Grouped by a config field: a line per value, the mean of its runs, with their
    min-max band. With smoothing the raw series stay visible, faint, under the smoothed ones. uirevision
    is fixed, so zoom survives new epochs and new selections."""
    label = COMPARE_METRICS.get(metric, metric)
    if not runs:
        return empty_figure("Tick runs in the table above to compare their curves")
    if not any(r.get(metric) is not None for run in runs for r in run["rows"]):
        return empty_figure(f"No {label} in the selected runs' epochs yet")
    fig = go.Figure()
    faint = 0.3 if smoothing > 0 else 1.0

    def line(i: int, xs: list[Any], ys: list[Any], name: str, *, raw: bool, group: str, show: bool,
             job: Any = None) -> go.Scatter:
        return go.Scatter(
            x=xs, y=ys if raw or smoothing <= 0 else smooth(ys, smoothing), mode="lines", name=name,
            legendgroup=group, showlegend=show, opacity=faint if raw and smoothing > 0 else 1.0,
            line=dict(color=run_color(i), dash=run_dash(i), width=1 if raw and smoothing > 0 else 2),
            meta={"job": job, "raw": raw}, hovertemplate=f"{name}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
        )

    if not group_by:
        for i, run in enumerate(runs):
            xs, ys = [r["epoch"] for r in run["rows"]], [r.get(metric) for r in run["rows"]]
            name, group = f"#{run['id']} {run.get('name') or ''}".strip(), str(run["id"])
            if smoothing > 0:
                fig.add_trace(line(i, xs, ys, f"{name} (raw)", raw=True, group=group, show=False, job=run["id"]))
            fig.add_trace(line(i, xs, ys, name, raw=False, group=group, show=True, job=run["id"]))
    else:
        groups: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            groups.setdefault(_value_label((run.get("config") or {}).get(group_by)), []).append(run)
        for i, (value, members) in enumerate(sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))):
            by_epoch: dict[Any, list[float]] = {}
            for run in members:
                for r in run["rows"]:
                    if r.get(metric) is not None:
                        by_epoch.setdefault(r["epoch"], []).append(r[metric])
            xs = sorted(by_epoch)
            mean = [sum(by_epoch[x]) / len(by_epoch[x]) for x in xs]
            name = f"{GROUP_FIELDS.get(group_by, group_by)} {value} ({len(members)} run{'s' * (len(members) > 1)})"
            color = run_color(i)
            fig.add_trace(go.Scatter(x=xs, y=[max(by_epoch[x]) for x in xs], mode="lines", line=dict(width=0),
                                     showlegend=False, legendgroup=value, hoverinfo="skip", meta={"band": "max"}))
            fig.add_trace(go.Scatter(x=xs, y=[min(by_epoch[x]) for x in xs], mode="lines", line=dict(width=0),
                                     fill="tonexty", fillcolor=_rgba(color, 0.18), showlegend=False,
                                     legendgroup=value, hoverinfo="skip", meta={"band": "min"}))
            if smoothing > 0:
                fig.add_trace(line(i, xs, mean, f"{name} (raw mean)", raw=True, group=value, show=False))
            fig.add_trace(line(i, xs, mean, name, raw=False, group=value, show=True))
    log = metric.endswith(("reconstruction", "sparsity", "classification"))
    fig.update_layout(**_base_layout(margin=dict(l=60, r=10, t=10, b=40), uirevision="compare",
                                     legend=dict(orientation="h", y=-0.2), hovermode="closest"))
    fig.update_yaxes(title_text=label, type="log" if log else "linear")
    fig.update_xaxes(title_text="epoch")
    return fig


def _sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def parallel_figure(jobs: Sequence[dict[str, Any]]) -> go.Figure:
    """Parallel coordinates of runs: each config field that differs between them, then the best validation
    error and the part-unit count; lines coloured by the best validation error (darker: lower)."""
    runs = [j for j in jobs if j.get("best_val_error") is not None]
    if len(runs) < 2:
        return empty_figure("Parallel coordinates need two runs with a validation error (supervised epochs)")
    dims = []
    for key, name in GROUP_FIELDS.items():
        values = [(j.get("config") or {}).get(key) for j in runs]
        if key == "preset" or len({v for v in values}) < 2 or not all(isinstance(v, int | float) for v in values):
            continue
        dims.append(dict(label=name, values=values))
    errors = [j["best_val_error"] for j in runs]
    dims.append(dict(label="best validation error (%)", values=errors))
    dims.append(dict(label="part-units", values=[j.get("units_part") or 0 for j in runs]))
    fig = go.Figure(go.Parcoords(
        line=dict(color=errors, colorscale="Viridis", showscale=True, colorbar=dict(title="val error %")),
        dimensions=dims, labelangle=0, meta={"jobs": [j["id"] for j in runs]},
    ))
    fig.update_layout(**_base_layout(margin=dict(l=70, r=40, t=50, b=20)))
    return fig


def confusion_figure(confusion: Sequence[Sequence[int]]) -> go.Figure:
    """10x10 confusion matrix (rows true class, columns predicted), colour on a log scale so errors show."""
    c = np.asarray(confusion, dtype=float)
    z = np.log10(1 + c)
    n = len(c)
    # what a click on the cell does (show_cell): only misclassified digits are listed
    hover = [
        [
            f"true {i}, predicted {j}: {int(c[i, j])} digits<br>"
            + ("correct: not listed" if i == j else "click to list them" if c[i, j] else "none")
            for j in range(n)
        ]
        for i in range(n)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(), x=[str(i) for i in range(n)], y=[str(i) for i in range(n)],
            text=c.astype(int).tolist(), texttemplate="%{text}", colorscale="Blues", showscale=True,
            colorbar=dict(title=dict(text="count"), tickvals=[0, 1, 2, 3], ticktext=["0", "9", "99", "999"]),
            customdata=hover, hovertemplate="%{customdata}<extra></extra>",
        ),
        layout=_base_layout(margin=dict(l=60, r=10, t=10, b=50)),
    )
    fig.update_xaxes(title_text="predicted class", side="bottom", constrain="domain", fixedrange=True)
    fig.update_yaxes(title_text="true class", autorange="reversed", scaleanchor="x", fixedrange=True)
    return fig

