"""Input preprocessing for hand-drawn digits, in plain numpy so it can be unit-tested without a model.

MNIST's own recipe (LeCun et al.): each digit's bounding box was scaled into a 20x20 box keeping its
aspect ratio (with anti-aliasing), then placed in a 28x28 field so that its centre of mass sits at the
centre. A drawing from a canvas has its ink anywhere and at any size; after `center_digit` it looks like
the data the model was trained on. The model's L2 normalisation is applied afterwards, by the caller.
"""

from __future__ import annotations

import functools

import numpy as np

SIZE = 28  # MNIST canvas
BOX = 20  # the digit's bounding box is scaled to fit this
INK_THRESHOLD = 0.02  # values at or below this are background when finding the bounding box


@functools.lru_cache(maxsize=512)
def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of an anti-aliased linear (triangle) resampling along one axis.

    When shrinking, the triangle is widened to the input span of one output pixel, so every input pixel
    contributes (as Pillow's BILINEAR does); rows sum to 1, so a constant image stays constant.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)  # half-width of the triangle kernel, in input pixels
    centres = (np.arange(n_out) + 0.5) * scale  # output pixel centres in input coordinates
    x = np.arange(n_in) + 0.5  # input pixel centres
    w = np.clip(1.0 - np.abs(x[None, :] - centres[:, None]) / support, 0.0, None)  # (n_out, n_in)
    sums = w.sum(1, keepdims=True)
    w = w / np.where(sums > 0, sums, 1.0)
    w.flags.writeable = False  # cached and shared between calls
    return w


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D float image to (height, width) with anti-aliased linear resampling."""
    if img.ndim != 2 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"expected a non-empty 2-D image, got shape {img.shape}")
    if height < 1 or width < 1:
        raise ValueError("target size must be positive")
    rows = _resample_matrix(img.shape[0], height)  # (height, H)
    cols = _resample_matrix(img.shape[1], width)  # (width, W)
    return rows @ img.astype(np.float64) @ cols.T


def bounding_box(img: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom and right exclusive, of the pixels above `threshold`; None if blank."""
    ink = img > threshold
    if not ink.any():
        return None
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def center_of_mass(img: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted (row, col) centre in pixel-centre coordinates (pixel i spans i..i+1, centre i)."""
    total = float(img.sum())
    if total <= 0:
        raise ValueError("the image is blank")
    r = np.arange(img.shape[0], dtype=np.float64)
    c = np.arange(img.shape[1], dtype=np.float64)
    return float(img.sum(1) @ r) / total, float(img.sum(0) @ c) / total


def remove_background(img: np.ndarray) -> np.ndarray:
    """Ink high on a zero background, as MNIST is: a photo or scan of paper arrives with the paper's grey
    level (an off-white sheet inverted is about 0.1, grey paper 0.25) and its grain everywhere, which the
    bounding box would take for ink. The level is the median of the border, the grain its spread; both are
    taken off and the ink is stretched back to [0, 1]. A drawing on a clean background is returned as is."""
    img = np.asarray(img, dtype=np.float64)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    level = float(np.median(border))
    if level <= INK_THRESHOLD:
        return img
    sigma = 1.4826 * float(np.median(np.abs(border - level)))  # the grain's spread (robust to ink on the edge)
    grain = 4.5 * sigma + INK_THRESHOLD  # no grain pixel of a large photo reaches 4.5 sigma
    top = float(img.max())
    if top - level <= 2 * grain:
        return np.zeros_like(img)  # nothing stands out of the paper: blank
    return np.clip((img - level - grain) / (top - level - grain), 0.0, 1.0)


def center_digit(img: np.ndarray, size: int = SIZE, box: int = BOX) -> np.ndarray:
    """MNIST-style centring: crop to the ink, scale the longer side to `box` keeping the aspect ratio,
    then paste into a `size` x `size` canvas with the centre of mass at the centre (integer shift,
    clipped so no ink falls off the canvas). Input: 2-D, values in [0, 1], ink high. Output: float32."""
    img = np.asarray(img, dtype=np.float64)
    bb = bounding_box(img)
    if bb is None:
        raise ValueError("the image is blank: draw a digit first")
    top, bottom, left, right = bb
    crop = img[top:bottom, left:right]
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    digit = np.clip(resize(crop, nh, nw), 0.0, 1.0)
    cy, cx = center_of_mass(digit)
    middle = size / 2.0  # 14 for 28: where MNIST's centres of mass sit (mean (14.0, 14.0) over the test set)
    oy = int(np.clip(round(middle - cy), 0, size - nh))
    ox = int(np.clip(round(middle - cx), 0, size - nw))
    out = np.zeros((size, size), dtype=np.float32)
    out[oy : oy + nh, ox : ox + nw] = digit
    return out


def fit_canvas(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Any 2-D image to `size` x `size` as given (no centring): for PNGs that are not already 28x28."""
    img = np.asarray(img, dtype=np.float64)
    if img.shape == (size, size):
        return img.astype(np.float32)
    return np.clip(resize(img, size, size), 0.0, 1.0).astype(np.float32)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """What the model was trained on (model.data.normalize): each image flattened to unit L2 norm."""
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    if not norm > 0:
        raise ValueError("the image is blank")
    return flat / norm
