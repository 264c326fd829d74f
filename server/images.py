"""PNG in and out: filters as diverging grey data URLs, and drawings sent as PNG data URLs decoded to [0, 1].

Filters are shown as small PNGs rather than heat maps (one request draws hundreds of them). Diverging grey:
zero is mid grey, positive lighter, negative darker, each filter scaled by its own max |value| so weak and
strong units are equally readable.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np
from PIL import Image, UnidentifiedImageError

PNG_PREFIX = "data:image/png;base64,"
MAX_PNG_SIDE = 1024  # a canvas drawing is a few hundred pixels (x3 on dense screens); refuse bigger early


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
    """A PNG data URL -> float32 (H, W) in [0, 1] with ink high (MNIST: white digit on black).

    Canvases send either opaque images (dark strokes on white or light on black) or strokes on a
    transparent background. With real transparency the alpha channel is the ink; otherwise grey levels
    are used, inverted when the ink is darker than the border (dark ink on paper of any grey).

    CPU-bound (tens of milliseconds at the size limit): async callers run it in a worker thread. Pillow
    reduces the image to one 8-bit channel before numpy sees it, so memory is 5 bytes per pixel at most.
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
        w, h = img.size  # from the header: nothing is decompressed before this check
        if not (1 <= w <= MAX_PNG_SIDE and 1 <= h <= MAX_PNG_SIDE):
            raise ImageError(f"PNG must be between 1x1 and {MAX_PNG_SIDE}x{MAX_PNG_SIDE} pixels, got {w}x{h}")
        img.load()
    except ImageError:
        raise
    except UnidentifiedImageError as e:  # its message names an internal object, not the problem
        raise ImageError("the PNG cannot be decoded (the data is not an image Pillow can read)") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"the PNG cannot be decoded ({_plain(e)})") from e
    if "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info):
        rgba = img if img.mode in ("RGBA", "LA", "PA") else img.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema()[0] < 255:  # transparent background: ink is where something was painted
            return np.asarray(alpha, dtype=np.float32) / np.float32(255.0)
        img = rgba
    # Pillow's luma (0.299 R + 0.587 G + 0.114 B), in uint8
    grey = np.asarray(img.convert("L"), dtype=np.uint8)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    out = grey.astype(np.float32) / np.float32(255.0)
    # The ink is what stands furthest from the background (the border's level), darker or lighter: a dark
    # digit on mid-grey paper is inverted too. Nothing standing out: light backgrounds are inverted.
    level = float(np.median(border))
    darker, lighter = level - float(grey.min()), float(grey.max()) - level
    return 1.0 - out if darker > lighter or (darker == lighter and level > 127.5) else out


def _plain(e: BaseException) -> str:
    """An exception's message without object reprs such as <_io.BytesIO object at 0x7f...>."""
    return re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the image", str(e)) or type(e).__name__
