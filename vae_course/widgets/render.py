"""Arrays → PNG bytes for ``ipywidgets.Image``, fast enough to redraw on every slider move.

No matplotlib and no Pillow in the redraw path: a grey or RGB uint8 array is written as a
PNG with :mod:`zlib` (about a millisecond for a 28×28 digit shown 8× larger), and the
latent scatter is rasterised with NumPy once and only its crosshair redrawn.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from ..plot import make_grid

__all__ = [
    "png_bytes",
    "to_uint8",
    "upscale",
    "digit_png",
    "grid_png",
    "TAB10",
    "scatter_canvas",
    "to_pixel",
    "draw_crosshair",
    "draw_box",
]

# matplotlib's tab10 palette, the colours of plot.plot_latent_scatter, as uint8 RGB.
TAB10 = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.uint8,
)
MARK = np.array([220, 0, 60], dtype=np.uint8)  # crosshair / highlight colour


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(image: np.ndarray, level: int = 1) -> bytes:
    """Encode a uint8 image (H, W) grey or (H, W, 3) RGB as PNG bytes (8 bits per channel)."""
    a = np.ascontiguousarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"png_bytes expects uint8, got {a.dtype} (use to_uint8 first)")
    if a.ndim == 2:
        color_type, channels = 0, 1
    elif a.ndim == 3 and a.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3), got shape {a.shape}")
    h, w = a.shape[:2]
    rows = a.reshape(h, w * channels)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, level))
        + _chunk(b"IEND", b"")
    )


def to_uint8(image: np.ndarray, ink_dark: bool = True, levels: int = 64) -> np.ndarray:
    """Map intensities in [0, 1] to uint8; ``ink_dark`` draws ink black on white (as gray_r).

    Values are rounded to ``levels`` evenly spaced greys (0 and 255 included): the eye sees
    no difference on decoded digits, and the PNGs, stored in the notebook's widget state,
    get about half as large.
    """
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if ink_dark:
        a = 1.0 - a
    step = 255.0 / (levels - 1)
    return (np.round(a * (levels - 1)) * step + 0.5).astype(np.uint8)


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor (crisp pixels in any browser)."""
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def digit_png(image: np.ndarray, scale: int = 6) -> bytes:
    """One decoded image (H, W) in [0, 1] as PNG bytes, ``scale`` times larger."""
    return png_bytes(upscale(to_uint8(image), scale))


def grid_png(images: np.ndarray, nrow: int, scale: int = 2, pad: int = 1) -> bytes:
    """Images (N, H, W) in [0, 1] tiled by :func:`vae_course.plot.make_grid` as PNG bytes."""
    grid = make_grid(images, nrow=nrow, pad=pad, pad_value=0.0)
    return png_bytes(upscale(to_uint8(grid), scale))


def to_pixel(points: np.ndarray, span: float, size: int) -> np.ndarray:
    """Map latent points (N, 2) in [−span, span]² to integer (row, col) of a size×size canvas.

    The top row is z_b = +span, as in :func:`vae_course.plot.latent_grid`. Points outside
    are clipped to the border. Returns (N, 2) int64.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    col = (p[:, 0] + span) / (2 * span) * (size - 1)
    row = (span - p[:, 1]) / (2 * span) * (size - 1)
    rc = np.stack([row, col], axis=1).round()
    return np.clip(rc, 0, size - 1).astype(np.int64)


def scatter_canvas(
    points: np.ndarray, labels: np.ndarray | None, span: float, size: int = 300, dot: int = 1
) -> np.ndarray:
    """Rasterise a latent scatter (N, 2) coloured by integer labels (tab10) into RGB uint8.

    White background, grey axes at z = 0; returns (size, size, 3). Dots are
    (2·dot+1)² pixels; later points are drawn over earlier ones. Points outside
    [−span, span]² are left out (not piled up on the border).
    """
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    centre = to_pixel(np.zeros((1, 2)), span, size)[0]
    canvas[centre[0], :] = 210
    canvas[:, centre[1]] = 210
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    inside = (np.abs(points) <= span).all(axis=1)
    rc = to_pixel(points[inside], span, size)
    colours = (
        TAB10[np.asarray(labels, dtype=np.int64)[inside] % 10]
        if labels is not None
        else np.repeat(TAB10[:1], len(rc), axis=0)
    )
    for dr in range(-dot, dot + 1):
        for dc in range(-dot, dot + 1):
            r = np.clip(rc[:, 0] + dr, 0, size - 1)
            c = np.clip(rc[:, 1] + dc, 0, size - 1)
            canvas[r, c] = colours
    return canvas


def _rgb(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def draw_crosshair(canvas: np.ndarray, row: int, col: int, arm: int = 7) -> np.ndarray:
    """A copy of ``canvas`` (grey or RGB uint8) with a red crosshair centred at (row, col)."""
    out = _rgb(canvas).copy()
    h, w = out.shape[:2]
    r0, r1 = max(0, row - arm), min(h, row + arm + 1)
    c0, c1 = max(0, col - arm), min(w, col + arm + 1)
    for d in (-1, 0, 1):  # 3 px thick lines
        if 0 <= row + d < h:
            out[row + d, c0:c1] = MARK
        if 0 <= col + d < w:
            out[r0:r1, col + d] = MARK
    return out


def draw_box(canvas: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """A copy of ``canvas`` (grey or RGB uint8) with a 2 px red frame around a rectangle."""
    out = _rgb(canvas).copy()
    h, w = out.shape[:2]
    t, b = max(0, top), min(h, top + height)
    lft, rgt = max(0, left), min(w, left + width)
    out[t : min(h, t + 2), lft:rgt] = MARK
    out[max(0, b - 2) : b, lft:rgt] = MARK
    out[t:b, lft : min(w, lft + 2)] = MARK
    out[t:b, max(0, rgt - 2) : rgt] = MARK
    return out
