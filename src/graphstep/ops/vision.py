"""Ops for region-based detectors (R-CNN): crop_resize cuts a box out of an image and warps it.

Coordinates are continuous pixel coordinates, as in torchvision's
roi_align(aligned=True): pixel (r, c) covers [r, r + 1) × [c, c + 1), so its
centre is (r + 0.5, c + 0.5), and the box [0, 0, H, W] is the whole image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import prod
from typing import Any, ClassVar

import numpy as np

from .registry import Op, OpError, Shape, register


def _size(size: Any) -> tuple[int, int]:
    if size is None:
        raise OpError("size is missing", hint="e.g. crop_resize(img, box, size=[7, 7])")
    dims = list(size) if isinstance(size, list | tuple) else [size]
    ints = all(isinstance(d, int | np.integer) and not isinstance(d, bool) for d in dims)
    if len(dims) != 2 or not ints or min(dims) < 1:
        raise OpError(
            f"size must be two positive integers [h, w], got {size!r}",
            hint="e.g. size=[7, 7]",
        )
    return int(dims[0]), int(dims[1])


def _resampling(start: float, stop: float, n_out: int, n_in: int) -> np.ndarray:
    """The (n_out, n_in) matrix of linear-interpolation weights along one axis.

    Output k samples the point start + (k + 0.5)·(stop − start)/n_out in box
    coordinates, which is pixel index t = that − 0.5; t is clamped to
    [0, n_in − 1] and read as (1 − f)·pixel[⌊t⌋] + f·pixel[⌊t⌋ + 1], f = t − ⌊t⌋.
    """
    t = start + (np.arange(n_out) + 0.5) * (stop - start) / n_out - 0.5
    t = np.clip(t, 0.0, n_in - 1)
    low = np.floor(t).astype(np.intp)
    high = np.minimum(low + 1, n_in - 1)
    frac = t - low
    weights = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(weights, (rows, low), 1.0 - frac)
    np.add.at(weights, (rows, high), frac)
    return weights


@register
class CropResize(Op):
    """The box [y0, x0, y1, x1] of img, warped to size=[h, w] by bilinear interpolation.

    img is (C, H, W) or (H, W); the output is (C, h, w) or (h, w). Output pixel
    (i, j) reads img at the pixel-index point

        y = y0 + (i + 0.5)·(y1 − y0)/h − 0.5,   x = x0 + (j + 0.5)·(x1 − x0)/w − 0.5,

    the centre of its cell of the box (the align_corners=False convention of
    torch's interpolate and of roi_align(aligned=True, sampling_ratio=1)).
    So the box [0, 0, H, W] with size [H, W] gives img back, and with size
    [H/2, W/2] the mean of each 2×2 block. A point outside the image is
    clamped to its edge (it reads the nearest border pixel, as interpolate
    and grid_sample(padding_mode="border") do): no black seam at the border
    when a box touches it.

    The map is linear in img and separable: out = Ry · img · Rxᵀ with the
    weight matrices of `_resampling`, so the gradient is Ryᵀ · g · Rx, each
    pixel collecting the bilinear weights it was read with. The box is data
    (a proposal), and carries no gradient; its values are known only when the
    graph runs, so an empty or inverted box is refused by forward.
    """

    name = "crop_resize"
    args = ("img", "box")
    attrs: ClassVar[Mapping[str, Any]] = {"size": None}
    grad_inputs: ClassVar[tuple[bool, ...]] = (True, False)

    def shape(self, img: Shape, box: Shape, size: Any = None) -> Shape:
        if len(img) not in (2, 3):
            raise OpError(
                f"img must be (C, H, W) or (H, W), got shape {list(img)}",
                hint="crop one image at a time, channels-first",
            )
        if min(img) < 1:
            raise OpError(f"img of shape {list(img)} is empty")
        if tuple(box) != (4,):
            raise OpError(
                f"box must be 4 numbers [y0, x0, y1, x1], got shape {list(box)}",
                hint="one box per crop, in pixel coordinates",
            )
        return (*img[:-2], *_size(size))

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        """The weights Ry (h, H) and Rx (w, W), and Ry · img, which is (..., h, W)."""
        img = shapes[0]
        (h, w), (rows, columns) = _size(attrs.get("size")), img[-2:]
        return max(h * rows + w * columns, prod(img[:-2]) * h * columns)

    def _weights(self, img: np.ndarray, box: np.ndarray, size: Any) -> tuple[np.ndarray, ...]:
        """Ry (h, H) and Rx (w, W) for this box."""
        h, w = _size(size)
        y0, x0, y1, x1 = (float(v) for v in np.asarray(box, dtype=float))
        if not np.all(np.isfinite([y0, x0, y1, x1])) or y1 <= y0 or x1 <= x0:
            raise OpError(
                f"box [{y0:g}, {x0:g}, {y1:g}, {x1:g}] is empty or inverted",
                hint="a box is [y0, x0, y1, x1] with y1 > y0 and x1 > x0",
            )
        return _resampling(y0, y1, h, img.shape[-2]), _resampling(x0, x1, w, img.shape[-1])

    def forward(self, img: np.ndarray, box: np.ndarray, size: Any = None) -> np.ndarray:
        ry, rx = self._weights(img, box, size)
        return ry @ img @ rx.T

    def backward(
        self, g: np.ndarray, out: np.ndarray, img: np.ndarray, box: np.ndarray, size: Any = None
    ) -> tuple[np.ndarray, None]:
        ry, rx = self._weights(img, box, size)
        return ry.T @ g @ rx, None

    def local(self, i: int, names: Sequence[str], out: str, size: Any = None) -> str:
        if i == 1:
            return "none (the box carries no gradient)"
        return f"wy(i, r)·wx(j, s): the bilinear weight of {names[0]}[r, s] in {out}[i, j]"
