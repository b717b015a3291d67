"""The colour maps of tensors, shared by the TUI's heatmaps and the pictures' thumbnails.

Three maps, chosen by what the numbers are: grey (black at 0, white at the
largest) for an image of non-negative values; a diverging map centred on zero
(blue below, orange above, both apart for every common colour-vision
deficiency) for signed values and for gradients; and the red, green and blue
channels of a (3, H, W) image as they are. NaN and ±inf are magenta in every
map, and numbers not known yet (the TUI's) grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

RGB = tuple[int, int, int]

NEGATIVE: RGB = (49, 130, 220)
ZERO: RGB = (48, 48, 56)
POSITIVE: RGB = (235, 110, 40)
BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)
NONFINITE: RGB = (220, 0, 220)
HIDDEN: RGB = (90, 90, 90)
OUTLINE: RGB = (255, 240, 90)  # the window of a conv or pool, and its output cell


class Map(StrEnum):
    """Which map colours a tensor (`colouring` chooses)."""

    GREY = "grey"
    DIVERGING = "diverging"
    RGB = "rgb"


@dataclass(frozen=True)
class Colouring:
    """A map and the number that reaches its end: the largest |value| (diverging), the largest
    value (grey), or the top of the channels' range (RGB, whose bottom is `low`)."""

    map: Map
    high: float
    low: float = 0.0

    def apply(self, values: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        """(..., 3) uint8 colours; an RGB colouring reads (3, H, W) and gives (H, W, 3)."""
        a = np.asarray(values, dtype=np.float64)
        if self.map is Map.RGB:
            a = np.moveaxis(a, 0, -1)
            finite = np.isfinite(a).all(axis=-1)
            # everything divided by the larger end first: 1e308 - (-1e308) would overflow
            unit = max(abs(self.high), abs(self.low)) or 1.0
            low, span = self.low / unit, (self.high / unit - self.low / unit) or 1.0
            t = np.clip((np.where(np.isfinite(a), a, 0.0) / unit - low) / span, 0.0, 1.0)
            rgb = t * 255.0
        else:
            finite = np.isfinite(a)
            with np.errstate(invalid="ignore"):
                t = np.where(finite, a, 0.0) / (self.high or 1.0)
            t = np.clip(t, -1.0, 1.0)[..., None]
            if self.map is Map.GREY:
                rgb = _towards(BLACK, WHITE, np.clip(t, 0.0, 1.0))
            else:
                rgb = np.where(t < 0, _towards(ZERO, NEGATIVE, -t), _towards(ZERO, POSITIVE, t))
        out = np.rint(rgb).astype(np.uint8)
        out[~finite] = NONFINITE
        if known is not None:
            out[~known] = HIDDEN
        return out


def _towards(start: RGB, end: RGB, t: np.ndarray) -> np.ndarray:
    a, b = np.array(start, dtype=np.float64), np.array(end, dtype=np.float64)
    return a + (b - a) * t


def colouring(values: np.ndarray, *, signed: bool = False, rgb: bool = False) -> Colouring:
    """The colouring of a tensor, its scale read from its finite values: RGB for three channels
    (0–1 kept as it is, else stretched from min to max; a gradient from -max|g| to max|g|, so
    that 0 is mid-grey); diverging when `signed` (gradients) or when a value is negative; grey
    otherwise."""
    a = np.asarray(values, dtype=np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if rgb and signed:  # a gradient: no change is mid-grey, an all-zero one too
        top = max(abs(lo), abs(hi)) or 1.0
        return Colouring(Map.RGB, top, -top)
    if rgb:
        return Colouring(Map.RGB, 1.0, 0.0) if lo >= 0 and hi <= 1 else Colouring(Map.RGB, hi, lo)
    if signed or lo < 0:
        return Colouring(Map.DIVERGING, max(abs(lo), abs(hi)))
    return Colouring(Map.GREY, hi)


def scaled(
    values: np.ndarray, known: np.ndarray | None = None, map: Map = Map.DIVERGING
) -> np.ndarray:
    """A grey or diverging map scaled by the largest |value| among the finite numbers known
    (the TUI's heatmaps: each plane to its own scale)."""
    a = np.asarray(values, dtype=np.float64)
    counted = np.isfinite(a) if known is None else np.isfinite(a) & known
    scale = float(np.abs(a[counted]).max()) if counted.any() else 0.0
    return Colouring(map, scale).apply(a, known)
