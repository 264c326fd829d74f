"""MNIST-style centring of hand-drawn digits (server/preprocess.py), pure numpy."""

from __future__ import annotations

import numpy as np
import pytest

from server import preprocess as P


def stroke_digit(size: int = 100, top: int = 10, left: int = 60, h: int = 40, w: int = 20) -> np.ndarray:
    """A fake '1'-like blob: an h x w rectangle of ink with a heavier left half, at (top, left)."""
    img = np.zeros((size, size))
    img[top : top + h, left : left + w] = 0.5
    img[top : top + h, left : left + w // 2] = 1.0
    return img


def test_resize_keeps_constants_and_mass_scale() -> None:
    for shape, target in [((7, 5), (20, 13)), ((100, 60), (20, 12)), ((28, 28), (28, 28))]:
        out = P.resize(np.full(shape, 0.7), *target)
        assert out.shape == target
        np.testing.assert_allclose(out, 0.7, atol=1e-12)


def test_resize_identity_when_size_unchanged() -> None:
    img = np.random.default_rng(0).random((28, 28))
    np.testing.assert_allclose(P.resize(img, 28, 28), img, atol=1e-12)


def test_bounding_box_and_blank() -> None:
    img = np.zeros((28, 28))
    img[3:9, 10:12] = 1.0
    assert P.bounding_box(img) == (3, 9, 10, 12)
    assert P.bounding_box(np.zeros((28, 28))) is None
    with pytest.raises(ValueError, match="blank"):
        P.center_digit(np.zeros((50, 50)))


def test_center_digit_box_aspect_and_centre_of_mass() -> None:
    out = P.center_digit(stroke_digit())
    assert out.shape == (28, 28) and out.dtype == np.float32
    top, bottom, left, right = P.bounding_box(out)
    assert bottom - top == 20  # the longer side fills the 20-pixel box
    assert right - left == 10  # 40x20 keeps its 2:1 aspect
    cy, cx = P.center_of_mass(out)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_center_digit_is_translation_and_scale_invariant() -> None:
    a = P.center_digit(stroke_digit(top=10, left=60))
    b = P.center_digit(stroke_digit(top=50, left=5))
    np.testing.assert_allclose(a, b, atol=1e-6)
    small = P.center_digit(stroke_digit(size=40, top=2, left=3, h=8, w=4))  # upscaled x2.5
    assert P.bounding_box(small)[1] - P.bounding_box(small)[0] == 20


def test_center_of_mass_shift_is_clipped_to_keep_ink() -> None:
    img = np.zeros((28, 28))
    img[0:20, 0:20] = 0.05  # faint square...
    img[0, 0:20] = 1.0  # ...with all its weight on the top row
    out = P.center_digit(img)
    assert out.sum() == pytest.approx(P.resize(img[0:20, 0:20], 20, 20).sum(), rel=1e-5)  # nothing cut off


def test_centred_mnist_digit_stays_put() -> None:
    """MNIST digits went through the same recipe: centring one again gives it back almost exactly."""
    from tests.server.conftest import HAS_MNIST

    if not HAS_MNIST:
        pytest.skip("MNIST is not prepared")
    from model import data

    x = data.load_arrays("mnist")["test_x"][:20].reshape(-1, 28, 28) / 255.0
    for img in x:
        out = P.center_digit(img)
        assert np.corrcoef(out.ravel(), img.ravel())[0, 1] > 0.99


def test_fit_canvas_and_l2_normalize() -> None:
    assert P.fit_canvas(np.ones((56, 56))).shape == (28, 28)
    v = P.l2_normalize(np.arange(784, dtype=np.float32).reshape(28, 28))
    assert v.shape == (784,) and np.linalg.norm(v) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError):
        P.l2_normalize(np.zeros((28, 28)))


@pytest.mark.parametrize("paper", [0.1, 0.25, 0.5])
def test_paper_and_its_grain_are_removed_before_centring(paper: float) -> None:
    """A photo of paper (inverted: the paper's level everywhere, a little grain) centres like the clean digit."""
    rng = np.random.default_rng(0)
    clean = np.zeros((80, 80))
    clean[20:60, 36:44] = 1.0  # a "1"
    photo = np.clip(paper + (1 - paper) * clean + rng.normal(0, 0.01, clean.shape), 0, 1)
    cleaned = P.remove_background(photo)
    assert cleaned[0].max() == 0.0 and cleaned[40, 40] > 0.9
    a, b = P.center_digit(cleaned), P.center_digit(clean)
    assert P.bounding_box(P.center_digit(photo)) == (4, 24, 4, 24)  # uncleaned: the whole sheet is the "digit"
    assert np.allclose(P.center_of_mass(a), P.center_of_mass(b), atol=1.0)  # the same digit, within a pixel
    assert abs(a.sum() - b.sum()) < 0.05 * b.sum() and np.count_nonzero(a > 0.5) == np.count_nonzero(b > 0.5)
    assert P.remove_background(clean) is not None and np.array_equal(P.remove_background(clean), clean)
    assert not P.remove_background(np.full((20, 20), paper)).any()  # only paper: blank
