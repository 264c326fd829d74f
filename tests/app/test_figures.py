"""Figure functions of the dashboard (app/figures.py) on small payloads shaped like docs/api.md: no browser."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
from PIL import Image

from app import figures


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
    assert len(fig.data) == 10
    assert [tr.line.color for tr in fig.data] == list(figures.CLASS_COLORS)
    assert fig.data[2].y == tuple([0.55] * T)
    assert fig.layout.yaxis.range == (0, 1.02)


def test_class_palette_is_ten_distinct_colours():
    assert len(set(figures.CLASS_COLORS)) == 10


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
                                            ("test:x", None), ("test:-3", None)])  # fmt: skip
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
        })  # fmt: skip
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


def test_confusion_figure_counts_and_error_rate():
    c = np.diag([10] * 10)
    c[3, 5] = 2
    fig = figures.confusion_figure(c.tolist())
    hm = fig.data[0]
    assert hm.text[3][5] == 2 and hm.text[0][0] == 10
    assert hm.z[3][5] == pytest.approx(math.log10(3))
    assert figures.error_rate(c.tolist()) == pytest.approx(100 * 2 / 102)


def test_heatmap_scale_starts_at_zero_and_ends_at_the_peak():
    z = [[0.0, 0.2, 0.0, 0.0, 0.5, 0.1]]
    hm = figures.heatmap_figure(make_units(), z, 1).data[0]
    assert (hm.zmin, hm.zmax) == (0, 0.5) and hm.showscale is False
    assert figures.heatmap_figure(make_units(), None, 1).data[0].zmax == 1.0
