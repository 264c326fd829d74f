"""PNG helpers (server/images.py): diverging filter images and decoding drawings sent as data URLs."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from server.images import ImageError, decode_png_data_url, diverging_grey, filter_png


def png_url(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_diverging_grey_zero_is_mid_grey_and_scaled_per_filter() -> None:
    px = diverging_grey(np.array([0.0, 0.5, -0.25, 0.001]))
    assert px.tolist() == [128, 255, 64, 128]
    assert diverging_grey(np.zeros(4)).tolist() == [128] * 4
    assert diverging_grey(np.array([0.0, 1e-6])).tolist() == [128, 255]  # own max, however small


def test_filter_png_round_trips() -> None:
    w = np.linspace(-1, 1, 784)
    url = filter_png(w)
    assert url.startswith("data:image/png;base64,")
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert img.shape == (28, 28) and img.dtype == np.uint8
    np.testing.assert_array_equal(img.ravel(), diverging_grey(w))


def test_decode_transparent_canvas_uses_alpha_as_ink() -> None:
    rgba = np.zeros((50, 40, 4), dtype=np.uint8)
    rgba[10:20, 5:15] = (0, 0, 0, 255)  # black strokes on a transparent background
    out = decode_png_data_url(png_url(Image.fromarray(rgba, "RGBA")))
    assert out.shape == (50, 40)
    assert out[15, 10] == 1.0 and out[0, 0] == 0.0


def test_decode_inverts_dark_ink_on_light_background() -> None:
    grey = np.full((30, 30), 255, dtype=np.uint8)
    grey[5:10, 5:10] = 0
    out = decode_png_data_url(png_url(Image.fromarray(grey, "L")))
    assert out[7, 7] == 1.0 and out[0, 0] == 0.0
    light_on_dark = decode_png_data_url(png_url(Image.fromarray(255 - grey, "L")))
    np.testing.assert_allclose(light_on_dark, out)


@pytest.mark.parametrize(
    "url, message",
    [
        ("data:image/jpeg;base64,AAAA", "data:image/png"),
        ("data:image/png;base64,@@@", "base64"),
        ("data:image/png;base64," + base64.b64encode(b"not a png").decode(), "cannot be decoded"),
    ],
)
def test_decode_rejects_bad_input(url: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode_png_data_url(url)


def test_decode_rejects_other_formats_and_huge_images() -> None:
    with pytest.raises(ImageError, match="expected a PNG"):
        decode_png_data_url(png_url(Image.new("L", (10, 10)), fmt="GIF"))
    with pytest.raises(ImageError, match="between"):
        decode_png_data_url(png_url(Image.new("1", (4000, 10))))


def test_decode_inverts_dark_ink_on_mid_grey_paper() -> None:
    grey = np.full((30, 30), 120, dtype=np.uint8)  # below the middle grey: only the ink's side tells
    grey[5:10, 5:10] = 20
    out = decode_png_data_url(png_url(Image.fromarray(grey, "L")))
    assert out[7, 7] > out[0, 0] + 0.3
