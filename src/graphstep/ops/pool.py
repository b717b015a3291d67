"""Pooling: maxpool and avgpool over size×size windows of the last two dimensions.

x is (H, W), (C, H, W) or (N, C, H, W); each channel is pooled on its own.
The stride defaults to the size (windows side by side); a smaller stride makes
windows overlap, and an input pixel then collects gradient from every window
that read it. Like torch's pools, a partial window at the right or bottom edge
is dropped: Ho = (H − size) // stride + 1. There is no padding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any, ClassVar

import numpy as np

from .conv import Grid, positive_int
from .registry import Op, OpError, Shape, register


class _Pool(Op):
    """`grid`, `window` and `padding` let the debugger step one window at a time, as for conv2d."""

    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"size": 2, "stride": None}
    composite = True

    def _grid(self, x: Shape, size: Any, stride: Any) -> Grid:
        if len(x) not in (2, 3, 4):
            raise OpError(
                f"x must be (H, W), (C, H, W) or (N, C, H, W), got shape {list(x)}",
                hint="pooling works on images, channels-first",
            )
        k = positive_int("size", size)
        step = k if stride is None else positive_int("stride", stride)
        return Grid.over(x[-2:], (k, k), step, (0, 0))

    def shape(self, x: Shape, size: Any = 2, stride: Any = None) -> Shape:
        g = self._grid(x, size, stride)
        return (*x[:-2], g.ho, g.wo)

    def grid(self, x: Shape, size: Any = 2, stride: Any = None) -> tuple[int, int]:
        """(Ho, Wo): how many windows there are down and across."""
        g = self._grid(x, size, stride)
        return g.ho, g.wo

    def window(
        self, i: int, j: int, x: Shape, size: Any = 2, stride: Any = None
    ) -> tuple[slice, slice]:
        """The rows and columns of x that output (i, j) pools (x is not padded)."""
        return self._grid(x, size, stride).window(i, j)

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        (x,) = shapes
        grid = self._grid(x, attrs.get("size", 2), attrs.get("stride"))
        return grid.scratch(x[-2:], x[:-2])

    def padding(self, x: Shape, size: Any = 2, stride: Any = None) -> tuple[int, int]:
        """Always (0, 0): pools are not padded; here for the same stepping interface as conv2d."""
        g = self._grid(x, size, stride)
        return g.ph, g.pw


@register
class Maxpool(_Pool):
    """The largest value of each window.

    Only the maximum gets the gradient; at a tie, the first maximum in row-major
    window order does, as torch's max_pool2d (not the 0.5 / 0.5 split of max(a, b)).
    """

    name = "maxpool"

    def forward(self, x: np.ndarray, size: Any = 2, stride: Any = None) -> np.ndarray:
        grid = self._grid(x.shape, size, stride)
        return reduce(np.maximum, (view for _, view in grid.offsets(x)))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, size: Any = 2, stride: Any = None
    ) -> tuple[np.ndarray]:
        grid = self._grid(x.shape, size, stride)
        gx = np.zeros(x.shape)
        taken = np.zeros(out.shape, dtype=bool)  # windows whose first maximum has been found
        for where, view in grid.offsets(x):  # in row-major window order
            first = (view == out) & ~taken
            taken |= first
            gx[where] += np.where(first, g, 0.0)
        return (gx,)

    def local(
        self, i: int, names: Sequence[str], out: str, size: Any = 2, stride: Any = None
    ) -> str:
        return f"1({names[0]} is its window's first maximum)"


@register
class Avgpool(_Pool):
    """The mean of each window; every pixel of a window gets 1/size² of its gradient."""

    name = "avgpool"

    def forward(self, x: np.ndarray, size: Any = 2, stride: Any = None) -> np.ndarray:
        grid = self._grid(x.shape, size, stride)
        return reduce(np.add, (view for _, view in grid.offsets(x))) / (grid.kh * grid.kw)

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, size: Any = 2, stride: Any = None
    ) -> tuple[np.ndarray]:
        grid = self._grid(np.shape(x), size, stride)
        share = np.asarray(g) / (grid.kh * grid.kw)
        gx = np.zeros(np.shape(x))
        for where, _ in grid.offsets(gx):
            gx[where] += share
        return (gx,)

    def local(
        self, i: int, names: Sequence[str], out: str, size: Any = 2, stride: Any = None
    ) -> str:
        return f"1/{size * size}"
