"""Tensors as coloured grids: numbers on coloured cells when they fit, half-block pixels when not.

A window (the conv or pool window of the current inner step) is outlined:
with heavy box lines between the number cells, or with a ring of bright
pixels around it. The inspector draws its tensors with these strips.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from ..colormap import OUTLINE, RGB, Map, colouring, scaled
from ..format import number
from .line_view import PLAIN

Window = tuple[slice, slice]

MAX_NUMBER_ROWS = 10
MAX_CELL_CHARS = 7
MAX_PIXEL_ROWS = 12  # terminal rows: 24 pixels
SHADES = " ·░▒▓█"
OUTLINED = Style(
    bold=True, reverse=True
)  # Textual's line filters (NO_COLOR) need a style on every segment


@dataclass(frozen=True)
class Plane:
    """One 2-D slice of a tensor, with its label (`[c]`) and the window to outline in it."""

    label: str
    values: np.ndarray
    window: Window | None = None
    known: np.ndarray | None = None  # False where a number is not computed yet: drawn as ·
    map: Map = Map.DIVERGING  # grey for a tensor with no negative value (colormap.colouring)


def planes(
    array: np.ndarray,
    window: Window | None = None,
    known: np.ndarray | None = None,
    limit: int = 4,
    gradient: bool = False,
) -> list[Plane]:
    """The 2-D slices a tensor is shown as: a vector as one row, (C, H, W) as C images; in
    the map the pictures use for the whole tensor (diverging for a gradient)."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 0:
        return []
    paint = colouring(a, signed=gradient).map
    if a.ndim <= 2:
        two = a.reshape(-1, a.shape[-1]) if a.ndim == 2 else a[None, :]
        return [Plane("", two, window, None if known is None else known.reshape(two.shape), paint)]
    lead = a.reshape(-1, *a.shape[-2:])
    masks = None if known is None else known.reshape(lead.shape)
    index = list(np.ndindex(*a.shape[:-2]))
    return [
        Plane(
            "[" + ", ".join(map(str, i)) + "]",
            lead[k],
            window,
            None if masks is None else masks[k],
            paint,
        )
        for k, i in enumerate(index[:limit])
    ]


def colours(
    values: np.ndarray, known: np.ndarray | None = None, map: Map = Map.DIVERGING
) -> list[list[RGB]]:
    """colormap's grey or diverging map (blue below zero, orange above; NaN and ±inf magenta)
    as rows of colours; numbers not known yet are grey, and do not count towards the scale."""
    return [[(r, g, b) for r, g, b in row] for row in scaled(values, known, map).tolist()]


def _ink(rgb: RGB) -> RGB:
    """Black or white text, whichever reads on this background."""
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


@lru_cache(maxsize=4096)
def _style(fg: RGB | None = None, bg: RGB | None = None, bold: bool = False) -> Style:
    return Style(
        color=None if fg is None else Color.from_rgb(*fg),
        bgcolor=None if bg is None else Color.from_rgb(*bg),
        bold=bold or None,
    )


def number_grid(plane: Plane) -> list[Strip] | None:
    """Numbers on coloured cells, the window outlined with heavy lines; None if too tall."""
    values, window, known = plane.values, plane.window, plane.known
    h, w = values.shape
    if h > MAX_NUMBER_ROWS:
        return None
    texts = [
        [
            number(float(v))[:MAX_CELL_CHARS] if known is None or known[i, j] else "·"
            for j, v in enumerate(row)
        ]
        for i, row in enumerate(values)
    ]
    cell = max(len(t) for row in texts for t in row) + 2
    fills = colours(values, known, plane.map)
    r0, r1, c0, c1 = _bounds(window, h, w)
    line = _style(OUTLINE, bold=True)
    strips: list[Strip] = []

    def on_frame(i: int, j: int) -> bool:
        """Is grid point (i, j) (between rows i-1, i and columns j-1, j) on the outline?"""
        return window is not None and r0 <= i <= r1 and c0 <= j <= c1

    for i in range(h + 1):
        # the separator row above row i: only the window's top or bottom edge is drawn
        horizontal = window is not None and i in (r0, r1)
        if horizontal:
            segments = []
            for j in range(w + 1):
                corner = _corner(i, j, r0, r1, c0, c1) if on_frame(i, j) else " "
                segments.append(Segment(corner, line if corner != " " else PLAIN))
                if j < w:
                    edge = "━" * cell if c0 <= j < c1 else " " * cell
                    segments.append(Segment(edge, line if c0 <= j < c1 else PLAIN))
            strips.append(Strip(segments))
        if i == h:
            break
        segments = []
        for j in range(w + 1):
            vertical = window is not None and r0 <= i < r1 and j in (c0, c1)
            segments.append(Segment("┃" if vertical else " ", line if vertical else PLAIN))
            if j < w:
                bg = fills[i][j]
                segments.append(
                    Segment(texts[i][j].rjust(cell - 1) + " ", _style(_ink(bg), bg, bold=False))
                )
        strips.append(Strip(segments))
    return strips


def _bounds(window: Window | None, h: int, w: int) -> tuple[int, int, int, int]:
    if window is None:
        return (0, 0, 0, 0)
    rows, cols = window
    r0, r1, _ = rows.indices(h)
    c0, c1, _ = cols.indices(w)
    return r0, r1, c0, c1


def _corner(i: int, j: int, r0: int, r1: int, c0: int, c1: int) -> str:
    top, left = i == r0, j == c0
    if i in (r0, r1) and j in (c0, c1):
        return {(True, True): "┏", (True, False): "┓", (False, True): "┗", (False, False): "┛"}[
            (top, left)
        ]
    if i in (r0, r1):
        return "━"
    return "┃"


def pixel_grid(plane: Plane, width: int) -> list[Strip]:
    """Two pixels per cell (▀: top pixel in the foreground, bottom in the background).

    A margin of one pixel lets the window's ring be drawn at the image's edges;
    an image larger than the room is cropped around the window.
    """
    values, window = plane.values, plane.window
    h, w = values.shape
    r0, r1, c0, c1 = _bounds(window, h, w)
    top, left = _crop_origin(h, w, r0, r1, c0, c1, max(1, width - 2), 2 * MAX_PIXEL_ROWS - 2)
    rows = slice(top, top + 2 * MAX_PIXEL_ROWS - 2)
    cols = slice(left, left + max(1, width - 2))
    shown = values[rows, cols]
    fills = colours(shown, None if plane.known is None else plane.known[rows, cols], plane.map)
    sh, sw = shown.shape
    canvas: list[list[RGB | None]] = [[None] * (sw + 2) for _ in range(sh + 2)]
    for i in range(sh):
        for j in range(sw):
            canvas[i + 1][j + 1] = fills[i][j]
    if window is not None:
        for i in range(r0 - top, r1 - top + 2):
            for j in range(c0 - left, c1 - left + 2):
                ring = i in (r0 - top, r1 - top + 1) or j in (c0 - left, c1 - left + 1)
                if ring and 0 <= i < sh + 2 and 0 <= j < sw + 2:
                    canvas[i][j] = OUTLINE
    if len(canvas) % 2:
        canvas.append([None] * (sw + 2))
    strips = []
    for i in range(0, len(canvas), 2):
        segments = []
        for upper, lower in zip(canvas[i], canvas[i + 1], strict=True):
            if upper is None and lower is None:
                segments.append(Segment(" ", PLAIN))
            elif upper is None:
                segments.append(Segment("▄", _style(lower)))
            else:
                segments.append(Segment("▀", _style(upper, lower)))
        strips.append(Strip(segments).simplify())
    return strips


def _crop_origin(
    h: int, w: int, r0: int, r1: int, c0: int, c1: int, room_w: int, room_h: int
) -> tuple[int, int]:
    """The top-left pixel of a room_h × room_w crop that keeps the window in view."""

    def axis(n: int, a: int, b: int, room: int) -> int:
        if n <= room:
            return 0
        centre = (a + b) // 2
        return max(0, min(n - room, centre - room // 2))

    return axis(h, r0, r1, room_h), axis(w, c0, c1, room_w)


def shade_grid(plane: Plane, width: int) -> list[Strip]:
    """Without colour (NO_COLOR): one pixel per cell, its magnitude as a shade, the window bold."""
    values, window = plane.values, plane.window
    h, w = values.shape
    r0, r1, c0, c1 = _bounds(window, h, w)
    top, left = _crop_origin(h, w, r0, r1, c0, c1, max(1, width), MAX_PIXEL_ROWS)
    shown = values[top : top + MAX_PIXEL_ROWS, left : left + max(1, width)]
    finite = np.abs(shown[np.isfinite(shown)])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    strips = []
    for i, row in enumerate(shown):
        segments = []
        for j, v in enumerate(row):
            inside = window is not None and r0 <= i + top < r1 and c0 <= j + left < c1
            level = 0 if not np.isfinite(v) else round(abs(v) / scale * (len(SHADES) - 1))
            char = "!" if not np.isfinite(v) else SHADES[level]
            segments.append(Segment(char, OUTLINED if inside else PLAIN))
        strips.append(Strip(segments))
    return strips


def grid(plane: Plane, width: int, colour: bool = True) -> list[Strip]:
    """Numbers when the plane fits in `width` columns, else pixels (shades without colour)."""
    numbers = number_grid(plane)
    if numbers is not None and max(s.cell_length for s in numbers) <= width:
        return numbers
    return pixel_grid(plane, width) if colour else shade_grid(plane, width)
