"""Pooling: maxpool and avgpool over kh×kw windows of the last two dimensions.

x is (H, W), (C, H, W) or (N, C, H, W); each channel is pooled on its own.
The stride defaults to the size (windows side by side); a smaller stride makes
windows overlap, and an input pixel then collects gradient from every window
that read it. Like torch's pools, a partial window at the right or bottom edge
is dropped: Ho = (H + pads − size) // stride + 1, unless `ceil=1` keeps it.
Padding is never a value a window can pick: maxpool pads with −∞, and
avgpool divides by the pixels a window reads inside the image (by the whole
window with `count_pad=1`, as ONNX's count_include_pad and torch's default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any, ClassVar

import numpy as np

from .conv import Grid, padding, pair
from .registry import Array, Op, OpError, Shape, register


class _Pool(Op):
    """`grid`, `window` and `padding` let the debugger step one window at a time, as for conv2d."""

    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {
        "size": 2,
        "stride": None,
        "pad": 0,
        "dilation": 1,
        "ceil": 0,
    }
    fill: ClassVar[float] = 0.0  # what the padding reads

    def _grid(
        self,
        x: Shape,
        size: Any = 2,
        stride: Any = None,
        pad: Any = 0,
        dilation: Any = 1,
        ceil: Any = 0,
        count_pad: Any = 0,
    ) -> Grid:
        if len(x) not in (2, 3, 4):
            raise OpError(
                f"x must be (H, W), (C, H, W) or (N, C, H, W), got shape {list(x)}",
                hint="pooling works on images, channels-first",
            )
        kernel = pair("size", size)
        step = kernel if stride is None else pair("stride", stride)
        if ceil not in (0, 1) or count_pad not in (0, 1):
            raise OpError("ceil and count_pad are 0 or 1")
        pads = padding(pad, kernel, step)
        if (
            pads[0] >= kernel[0]
            or pads[1] >= kernel[1]
            or pads[2] >= kernel[0]
            or pads[3] >= kernel[1]
        ):
            raise OpError(
                f"pad {pad!r} is not smaller than the {kernel[0]}×{kernel[1]} window",
                hint="a window could then read nothing but padding",
            )
        return Grid.over(x[-2:], kernel, step, pads, pair("dilation", dilation), bool(ceil))

    def shape(self, x: Shape, **attrs: Any) -> Shape:
        g = self._grid(x, **attrs)
        return (*x[:-2], g.ho, g.wo)

    def grid(self, x: Shape, **attrs: Any) -> tuple[int, int]:
        """(Ho, Wo): how many windows there are down and across."""
        g = self._grid(x, **attrs)
        return g.ho, g.wo

    def window(self, i: int, j: int, x: Shape, **attrs: Any) -> tuple[slice, slice]:
        """The rows and columns of the padded x that output (i, j) pools."""
        return self._grid(x, **attrs).window(i, j)

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        (x,) = shapes
        return self._grid(x, **attrs).scratch(x[-2:], x[:-2])

    def padding(self, x: Shape, **attrs: Any) -> tuple[int, int]:
        """Rows and columns of padding at the top and at the left."""
        g = self._grid(x, **attrs)
        return g.top, g.left

    def patches(self, x: np.ndarray, **attrs: Any) -> np.ndarray:
        """Every window at once, flattened: (..., Ho, Wo, kh·kw), padding read as `fill`."""
        grid = self._grid(np.shape(x), **attrs)
        view = grid.unfold(grid.pad(np.asarray(x, dtype=float), self.fill))
        return view.reshape(*view.shape[:-2], grid.kh * grid.kw)


@register
class Maxpool(_Pool):
    """The largest value of each window.

    Only the maximum gets the gradient; at a tie, the first maximum in row-major
    window order does, as torch's max_pool2d (not the 0.5 / 0.5 split of max(a, b)).
    """

    name = "maxpool"
    fill = -np.inf

    def forward(self, x: np.ndarray, **attrs: Any) -> np.ndarray:
        grid = self._grid(x.shape, **attrs)
        xp = grid.pad(x, self.fill)
        return reduce(np.maximum, (view for _, view in grid.offsets(xp)))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, **attrs: Any
    ) -> Sequence[Array | None]:
        grid = self._grid(x.shape, **attrs)
        xp = grid.pad(x, self.fill, slot="padded")
        none = grid.kh * grid.kw  # the offset of a window without a maximum (NaN: no pixel is)
        # each window's first maximum in row-major window order, as its offset's number: the
        # smallest number among the offsets that hold the maximum (small-integer arithmetic,
        # many times faster than a masked copy)
        first = np.full(out.shape, none, dtype=np.min_scalar_type(none))
        held = np.empty_like(first)
        for k, (_, view) in enumerate(grid.offsets(xp)):
            np.multiply(view == out, held.dtype.type(none - k), out=held)
            np.subtract(none, held, out=held)
            np.minimum(first, held, out=first)
        return (grid.unpad(grid.route(first, g, xp.shape)),)

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        return f"1({names[0]} is its window's first maximum)"


@register
class Avgpool(_Pool):
    """The mean of each window; every pixel of a window gets 1/n of its gradient.

    n is the window's pixels inside the image, or with `count_pad=1` inside the
    padded image (a partial window kept by `ceil=1` still counts only those).
    """

    name = "avgpool"
    attrs: ClassVar[Mapping[str, Any]] = {**_Pool.attrs, "count_pad": 0}

    def divisor(self, x: Shape, **attrs: Any) -> np.ndarray:
        """How many pixels each window averages: (Ho, Wo), or a 0-d array when all are equal."""
        grid = self._grid(x, **attrs)
        if not any(grid.padded):
            return np.asarray(float(grid.kh * grid.kw))
        h, w = x[-2:]
        inside = (
            np.ones((h, w))
            if not attrs.get("count_pad")
            else np.ones((grid.top + h + grid.bottom, grid.left + w + grid.right))
        )
        rows = (grid.top, grid.bottom + grid.extra[0])
        cols = (grid.left, grid.right + grid.extra[1])
        if attrs.get("count_pad"):
            rows, cols = (0, grid.extra[0]), (0, grid.extra[1])
        mask = np.pad(inside, [rows, cols])
        return reduce(np.add, (view for _, view in grid.offsets(mask)))

    def forward(self, x: np.ndarray, **attrs: Any) -> np.ndarray:
        grid = self._grid(x.shape, **attrs)
        xp = grid.pad(x)
        return reduce(np.add, (view for _, view in grid.offsets(xp))) / self.divisor(
            x.shape, **attrs
        )

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, **attrs: Any
    ) -> Sequence[Array | None]:
        grid = self._grid(np.shape(x), **attrs)
        share = np.asarray(g) / self.divisor(np.shape(x), **attrs)
        h, w = np.shape(x)[-2:]
        rows, cols = grid.padded
        padded = (*np.shape(x)[:-2], h + rows, w + cols)
        if (grid.sh, grid.sw, grid.dh, grid.dw) != (grid.kh, grid.kw, 1, 1):
            return (grid.unpad(grid.fold(lambda i, j: share, padded)),)
        # windows side by side (global pooling too): each pixel is in one window at most
        gx = np.zeros(padded)
        tiles = (*share.shape[:-2], grid.ho, grid.kh, grid.wo, grid.kw)
        spread = np.broadcast_to(share[..., :, None, :, None], tiles)
        gx[..., : grid.ho * grid.kh, : grid.wo * grid.kw] = spread.reshape(
            *share.shape[:-2], grid.ho * grid.kh, grid.wo * grid.kw
        )
        return (grid.unpad(gx),)

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        kh, kw = pair("size", attrs.get("size", 2))
        return f"1/{kh * kw}" if not attrs.get("pad") else "1/(pixels in the window)"
