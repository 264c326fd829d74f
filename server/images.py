"""PNG in and out: filters as diverging grey data URLs, and drawings sent as PNG data URLs decoded to [0, 1].

Filters are shown as small PNGs rather than heat maps (one request draws hundreds of them). Diverging grey:
zero is mid grey, positive lighter, negative darker, each filter scaled by its own max |value| so weak and
strong units are equally readable.
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

PNG_PREFIX = "data:image/png;base64,"
MAX_PNG_SIDE = 2048  # a canvas drawing is a few hundred pixels; refuse decompression bombs early


class ImageError(ValueError):
    """An uploaded image that cannot be used; the message says why."""


def png_data_url(pixels: np.ndarray) -> str:
    """uint8 (H, W) grey pixels as a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="L").save(buf, format="PNG", compress_level=1)
    return PNG_PREFIX + base64.b64encode(buf.getvalue()).decode("ascii")


def diverging_grey(weights: np.ndarray) -> np.ndarray:
    """uint8 pixels: 128 + 127 w / max|w| (zero -> 128); an all-zero filter is uniform mid grey."""
    w = np.asarray(weights, dtype=np.float64)
    peak = float(np.abs(w).max()) if w.size else 0.0
    scaled = w / peak if peak > 0 and np.isfinite(peak) else np.zeros_like(w)
    return np.clip(np.rint(128.0 + 127.0 * scaled), 0, 255).astype(np.uint8)


def filter_png(weights: np.ndarray, side: int = 28) -> str:
    """A 784-vector (or side x side) filter as a diverging grey PNG data URL."""
    return png_data_url(diverging_grey(np.asarray(weights).reshape(side, side)))


def decode_png_data_url(url: str) -> np.ndarray:
    """A PNG data URL -> float (H, W) in [0, 1] with ink high (MNIST: white digit on black).

    Canvases send either opaque images (dark strokes on white or light on black) or strokes on a
    transparent background. With real transparency the alpha channel is the ink; otherwise grey levels
    are used and inverted when the border is light (dark ink on a light background).
    """
    if not url.startswith(PNG_PREFIX):
        raise ImageError("image must be a 28x28 list of numbers or a 'data:image/png;base64,...' URL")
    try:
        raw = base64.b64decode(url[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as e:
        raise ImageError(f"the PNG data URL is not valid base64 ({e})") from e
    try:
        img = Image.open(io.BytesIO(raw))
        if img.format != "PNG":
            raise ImageError(f"expected a PNG, got {img.format}")
        w, h = img.size
        if not (1 <= w <= MAX_PNG_SIDE and 1 <= h <= MAX_PNG_SIDE):
            raise ImageError(f"PNG must be between 1x1 and {MAX_PNG_SIDE}x{MAX_PNG_SIDE} pixels, got {w}x{h}")
        img.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"the PNG cannot be decoded ({e})") from e
    if "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[..., 3]
        if alpha.min() < 1.0:  # transparent background: ink is where something was painted
            return alpha
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    else:
        grey = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if float(np.median(border)) > 0.5 else grey
