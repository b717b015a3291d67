"""Pictures of tensors in SVG: each tile a PNG in a data: URI, drawn by an <image> element.

drawing.py says which tensors are pictures and colormap.py colours them; here
the colours become bitmaps. Pillow encodes the PNG: it is the standard library
for the job and installs from a wheel everywhere, where numpy and zlib would
mean writing the format's chunks and checksums by hand. An image larger than
MAX_THUMBNAIL_SIDE pixels a side is shrunk (each pixel the mean of those it
covers); a small one is kept as it is and scaled by the viewer without
smoothing, so that a 5×5 filter shows 25 sharp squares.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from ..drawing import Picture
from ..limits import MAX_THUMBNAIL_SIDE

ONE_TILE = 64  # points: the longer side of a picture alone in its row
IN_ROW = 40  # points: of each of several pictures side by side (channels, filters)
MAX_ZOOM = 6  # points per pixel at most: a 3×3 filter is 18 points, not 64
GAP = 3  # points between pictures in a row


def tile_size(picture: Picture) -> tuple[int, int]:
    """The width and height, in points, of each tile of a picture: from its shape alone."""
    h, w = picture.side
    longest = ONE_TILE if len(picture.tiles) == 1 else IN_ROW
    zoom = min(longest / max(h, w), MAX_ZOOM)
    return max(1, math.ceil(w * zoom)), max(1, math.ceil(h * zoom))


def bitmap(colours: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours, shrunk to at most MAX_THUMBNAIL_SIDE pixels a side."""
    h, w = colours.shape[:2]
    factor = max(h, w) / MAX_THUMBNAIL_SIDE
    if factor <= 1:
        return colours
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return np.asarray(Image.fromarray(colours, "RGB").resize(size, Image.Resampling.BOX))


def png(colours: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bitmap(colours)), "RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def data_uri(colours: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(colours)).decode("ascii")
