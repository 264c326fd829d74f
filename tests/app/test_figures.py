"""Figure functions of the dashboard (app/figures.py) on small payloads shaped like docs/api.md: no browser."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import figures

REPO = Path(__file__).resolve().parents[2]


def make_units() -> list[dict]:
    """Six units: three categorical (classes 3, 3, 7), one intermediate, two part."""
    rows = [
        (0, "part", 3, 0.20, 0.1),
        (1, "categorical", 3, 0.90, 0.5),
        (2, "categorical", 7, 1.10, 0.9),
        (3, "intermediate", 1, 0.60, 0.3),
        (4, "categorical", 3, 0.80, 0.8),
        (5, "part", 0, 0.40, 0.2),
    ]
    return [
        {"index": i, "role": r, "class": c, "angle": a, "c_norm": n, "s_norm": 0.1 * i, "decoder_png": "data:,"}
        for i, r, c, a, n in rows
    ]


def test_unit_order_groups_categorical_by_class_then_intermediate_then_part():
    order, groups = figures.unit_order(make_units())
    # class 3 strongest ||C_i|| first (4 before 1), then class 7, intermediate, part by angle (5 before 0)
    assert order == [4, 1, 2, 3, 5, 0]
    assert [(g["label"], g["start"], g["stop"]) for g in groups] == [
        ("cat 3", 0, 2),
        ("cat 7", 2, 3),
        ("intermediate", 3, 4),
        ("part", 4, 6),
    ]


def test_curve_groups_are_the_categorical_groups_in_heatmap_order():
    assert figures.curve_groups(make_units()) == [{"cls": 3, "units": [4, 1]}, {"cls": 7, "units": [2]}]


def test_heatmap_rows_follow_unit_order_and_carry_unit_index():
    units, T = make_units(), 4
    z = np.arange(T * 6, dtype=float).reshape(T, 6)  # (T, n_hidden)
    fig = figures.heatmap_figure(units, z.tolist(), T)
    hm = fig.data[0]
    order, _ = figures.unit_order(units)
    assert np.allclose(np.asarray(hm.z), z.T[order])
    assert [row[0] for row in hm.customdata] == order
    assert list(hm.x) == [1, 2, 3, 4]
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["cat 3 (2)", "cat 7 (1)", "intermediate (1)", "part (2)"]
    assert fig.layout.annotations[0].font.color == figures.CLASS_COLORS[3]


def test_curves_one_trace_per_class_with_gaps_plus_highlight_trace():
    units, T = make_units(), 3
    z = np.random.default_rng(0).random((T, 6))
    fig = figures.curves_figure(units, z.tolist(), T)
    assert len(fig.data) == 3  # class 3, class 7, hovered-unit trace
    c3 = fig.data[0]
    assert c3.line.color == figures.CLASS_COLORS[3]
    assert list(c3.x) == [1, 2, 3, None, 1, 2, 3, None]
    assert np.allclose([y for y in c3.y[:3]], z[:, 4]) and c3.y[3] is None
    assert list(c3.customdata) == [4, 4, 4, None, 1, 1, 1, None]
    assert fig.data[-1].showlegend is False and all(y is None for y in fig.data[-1].y)


def test_curves_without_categorical_units_says_so():
    part_only = [u for u in make_units() if u["role"] == "part"]
    fig = figures.curves_figure(part_only, None, 3)
    assert "No categorical units" in fig.layout.annotations[0].text


def test_probabilities_figure_has_ten_class_coloured_traces():
    T = 5
    p = np.full((T, 10), 0.05)
    p[:, 2] = 0.55
    fig = figures.probabilities_figure(p.tolist(), T)
    assert len(fig.data) == 20  # ten classes, then the same ten before an intervention (dotted, empty)
    assert [tr.line.color for tr in fig.data[:10]] == list(figures.CLASS_COLORS)
    assert [tr.line.color for tr in fig.data[10:]] == list(figures.CLASS_COLORS)
    assert len({tr.marker.symbol for tr in fig.data[:10]}) == 10  # colour is never the only cue
    assert all(tr.line.dash == "dot" and not tr.showlegend and set(tr.y) == {None} for tr in fig.data[10:])
    assert fig.data[2].y == tuple([0.55] * T)
    assert fig.layout.yaxis.range == (0, 1.02)


def test_class_names_label_the_figures():
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    fig = figures.probabilities_figure(None, 3, names)
    assert [tr.name for tr in fig.data[:10]] == names
    units = [{"index": 0, "role": "categorical", "class": 9, "angle": 1.0, "c_norm": 1.0},
             {"index": 1, "role": "intermediate", "class": 0, "angle": 0.6, "c_norm": 0.1}]
    heat = figures.heatmap_figure(units, None, 3, names)
    assert [a.text for a in heat.layout.annotations] == ["cat Ankle boot (1)", "intermediate (1)"]
    assert heat.layout.margin.l == figures.HEATMAP_LEFT


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], -1)


# Machado, Oliveira & Fernandes (2009) matrices for full protanopia, deuteranopia and tritanopia (linear RGB).
CVD = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


@pytest.mark.parametrize("vision", list(CVD))
def test_class_palette_stays_apart_for_colour_blind_viewers(vision: str):
    """Every pair of class colours differs by > 15 CIELAB units, also as protanopes, deuteranopes and
    tritanopes see them (the old palette had 6 and 9 at 1.7 for protanopes)."""
    rgb = np.array([[int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)] for h in figures.CLASS_COLORS])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    seen = np.clip(lin @ CVD[vision].T, 0, 1)
    srgb = np.where(seen <= 0.0031308, 12.92 * seen, 1.055 * seen ** (1 / 2.4) - 0.055)
    lab = _srgb_to_lab(srgb)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(10) * 1e9
    assert d.min() > 15, f"classes {np.unravel_index(d.argmin(), d.shape)} are {d.min():.1f} apart for {vision}"


def test_role_metrics_figure_plots_the_keys_present():
    rows = [
        {"epoch": e, "units_part": 10 - e, "units_categorical": e, "angle_median": 0.4 + 0.1 * e} for e in (1, 2, 3)
    ]
    assert figures.role_metric_keys(rows) == ["units_part", "units_categorical", "angle_median"]
    fig = figures.role_metrics_figure(rows, 1)
    assert [tr.name for tr in fig.data] == ["part-units (< 0.5 rad)", "categorical-units (> 0.7 rad)", "angle, median"]
    assert fig.data[1].y == (1, 2, 3)
    empty = figures.role_metrics_figure([{"epoch": 1, "val_error": 3.0}])
    assert "no role metrics" in empty.layout.annotations[0].text


def test_digit_png_round_trips_pixels():
    img = np.zeros((28, 28))
    img[5, 7] = 1.0
    img[20, 3] = 0.5
    url = figures.digit_png(img.tolist())
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert back.shape == (28, 28)
    assert back[5, 7] == 255 and back[20, 3] == 128 and back.sum() == 255 + 128


@pytest.mark.parametrize(("ref", "want"), [("test:17", 17), ("test:0", 0), ("drawn", None), (None, None),
                                            ("test:x", None), ("test:-3", None)])
def test_parse_digit_ref(ref, want):
    assert figures.parse_digit_ref(ref) == want


def test_scatter_marks_thresholds_and_selected_unit():
    fig = figures.scatter_figure(make_units(), {"part": 0.5, "categorical": 0.7}, selected=2)
    names = [tr.name for tr in fig.data]
    assert names == ["part (2)", "intermediate (1)", "categorical (3)", "unit 2"]
    assert sorted(s.x0 for s in fig.layout.shapes) == [0.5, 0.7]
    assert fig.data[-1].x == (1.10,) and fig.data[-1].y == (0.9,)
    cat = fig.data[2]
    assert [c[0] for c in cat.customdata] == [1, 2, 4]


def test_histogram_bars_at_bin_centres():
    fig = figures.histogram_figure({"edges": [0, 1, 2, 4], "counts": [5, 3, 1]}, 0.25)
    bar = fig.data[0]
    assert list(bar.x) == [0.5, 1.5, 3.0] and list(bar.width) == [1, 1, 2] and list(bar.y) == [5, 3, 1]
    assert "25.0%" in fig.layout.title.text
    assert "Never active" in figures.histogram_figure({"edges": [], "counts": []}, 0.0).layout.annotations[0].text


def test_class_weights_bars_coloured_by_class():
    fig = figures.class_weights_figure([0.1 * c for c in range(10)])
    assert list(fig.data[0].marker.color) == list(figures.CLASS_COLORS)
    assert fig.data[0].y[9] == pytest.approx(0.9)


def epoch_rows() -> list[dict]:
    rows = []
    for e in range(1, 5):
        phase = "unsupervised" if e <= 2 else "supervised"
        rows.append({
            "epoch": e, "phase": phase, "train_reconstruction": 1 / e, "train_sparsity": 0.5,
            "val_reconstruction": 1.1 / e, "train_classification": None if phase == "unsupervised" else 0.3,
            "val_error": 10.0 / e, "test_error": 9.0 / e,
        })
    return rows


def test_training_figure_marks_phase_switch_and_keeps_zoom():
    fig = figures.training_figure(epoch_rows(), revision=7)
    assert fig.layout.uirevision == "7"
    names = {tr.name for tr in fig.data}
    assert {"train reconstruction", "val reconstruction", "train classification", "validation error"} <= names
    assert "val sparsity" not in names  # absent from every row: no empty trace
    switch_lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert switch_lines and all(s.x0 == 2.5 for s in switch_lines)
    assert any("discriminative training starts" in a.text for a in fig.layout.annotations)
    assert fig.layout.yaxis.type == "log"


def test_training_figure_empty_and_without_unsupervised_phase():
    assert "No epochs yet" in figures.training_figure([], None).layout.annotations[0].text
    rows = [dict(r, phase="supervised") for r in epoch_rows()]
    assert not figures.training_figure(rows, 1).layout.shapes


def test_confusion_figure_counts():
    c = np.diag([10] * 10)
    c[3, 5] = 2
    fig = figures.confusion_figure(c.tolist())
    hm = fig.data[0]
    assert hm.text[3][5] == 2 and hm.text[0][0] == 10
    assert hm.z[3][5] == pytest.approx(math.log10(3))


def test_heatmap_scale_starts_at_zero_and_ends_at_the_peak():
    z = [[0.0, 0.2, 0.0, 0.0, 0.5, 0.1]]
    hm = figures.heatmap_figure(make_units(), z, 1).data[0]
    assert (hm.zmin, hm.zmax) == (0, 0.5) and hm.showscale is False
    assert figures.heatmap_figure(make_units(), None, 1).data[0].zmax == 1.0


def test_role_metrics_figure_reads_the_rows_the_trainer_writes():
    """The keys are the API's epoch-row fields: a real row from the trainer fills every panel (they once
    drifted apart and the plot lost its counts without any test noticing)."""
    from model.analysis import ROLE_METRIC_KEYS as TRAINER_KEYS

    plotted = [k for keys in figures.ROLE_METRIC_KEYS.values() for k in keys]
    assert set(plotted) <= set(TRAINER_KEYS)
    rows = [json.loads(line) for line in (REPO / "models" / "default" / "metrics.jsonl").read_text().splitlines()]
    fig = figures.role_metrics_figure(rows[:5], 1)
    assert len(fig.data) == len(plotted)  # counts, angles and the correlation, all present
    assert all(any(v is not None for v in tr.y) for tr in fig.data)


def test_role_figure_before_any_job_asks_for_one_and_log_ticks_are_whole_values() -> None:
    from app.figures import log_ticks, role_metrics_figure

    empty = role_metrics_figure([], None)
    text = empty.layout.annotations[0].text
    assert "pick a job" in text and "no role metrics" not in text
    assert "no role metrics" in role_metrics_figure([{"epoch": 1}], 1).layout.annotations[0].text
    assert log_ticks(0.06, 2.3) == [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
