"""Pictures of tensors in SVG: each tile a PNG in a data: URI, drawn by an <image> element.

drawing.py says which tensors are pictures and colormap.py colours them; here
the colours become bitmaps. Pillow encodes the PNG: it is the standard library
for the job and installs from a wheel everywhere, where numpy and zlib would
mean writing the format's chunks and checksums by hand. The bitmap's size is
the picture's (drawing.Picture.bitmap): a large image shrunk, a small one grown
by a whole factor, so that a 3×3 filter shows 9 sharp squares.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from ..drawing import Picture

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


def bitmap(colours: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 colours at `size` (H, W): shrunk by the mean of the pixels each new
    one covers, grown by repeating each pixel."""
    h, w = colours.shape[:2]
    if (h, w) == size:
        return colours
    way = Image.Resampling.BOX if size[0] < h else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(colours, "RGB").resize((size[1], size[0]), way))


def data_uri(colours: np.ndarray, size: tuple[int, int]) -> str:
    """The PNG of colours at `size`, as a data: URI."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bitmap(colours, size)), "RGB").save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
