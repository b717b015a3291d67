"""Sliding-window layers: conv2d (shared filters) and local2d (one filter per output position).

Both are composite: the debugger steps into them one output position at a
time, each position one dot product Wᵀx + b over the window it reads.
`Grid` is the one place that decides where the windows are; pool.py uses it too.

Window coordinates are those of the *padded* input: with pad p, row 0 of a
window is row −p of the image. Forward reads every window at once through a
strided view (no copy per pixel); backward adds the windows' gradients back
with one vectorized add per kernel offset (kh·kw of them), which also handles
windows that overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .registry import Op, OpError, Shape, register


@dataclass(frozen=True)
class Grid:
    """Where a kh×kw window sits for each of the ho×wo outputs over an input padded by (ph, pw)."""

    kh: int
    kw: int
    stride: int
    ph: int
    pw: int
    ho: int
    wo: int

    @classmethod
    def over(cls, image: Shape, kernel: tuple[int, int], stride: int, pad: tuple[int, int]) -> Grid:
        """The grid of a kernel sliding over the last two dimensions `image` of an input."""
        (h, w), (kh, kw), (ph, pw) = image, kernel, pad
        if kh < 1 or kw < 1:
            raise OpError(f"the kernel is {kh}×{kw}; it needs at least one row and column")
        if kh > h + 2 * ph or kw > w + 2 * pw:
            padded = (
                ""
                if ph == pw == 0
                else f" (padded by {ph})"
                if ph == pw
                else f" (padded by {ph}, {pw})"
            )
            raise OpError(
                f"the {kh}×{kw} window is larger than the {h}×{w} input{padded}",
                hint="use a smaller window or more padding",
            )
        # A stride past the padded input reads one window, whatever it is: keep it an index.
        stride = min(stride, max(h + 2 * ph, w + 2 * pw))
        ho = (h + 2 * ph - kh) // stride + 1
        wo = (w + 2 * pw - kw) // stride + 1
        return cls(kh, kw, stride, ph, pw, ho, wo)

    def scratch(self, image: Shape, lead: Shape) -> int:
        """Numbers in the largest temporary over an input (*lead, *image): the padded input
        or every window's copy (the im2col matrix), whichever is larger."""
        (h, w), planes = image, prod(lead)
        padded = planes * (h + 2 * self.ph) * (w + 2 * self.pw) if self.ph or self.pw else 0
        return max(padded, planes * self.kh * self.kw * self.ho * self.wo)

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """The rows and columns, in padded coordinates, that output (i, j) reads."""
        if not (0 <= i < self.ho and 0 <= j < self.wo):
            raise IndexError(f"output ({i}, {j}) is outside the {self.ho}×{self.wo} grid")
        top, left = i * self.stride, j * self.stride
        return slice(top, top + self.kh), slice(left, left + self.kw)

    def pad(self, x: np.ndarray) -> np.ndarray:
        if not (self.ph or self.pw):
            return x
        return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(self.ph, self.ph), (self.pw, self.pw)])

    def unpad(self, xp: np.ndarray) -> np.ndarray:
        return xp[..., self.ph : xp.shape[-2] - self.ph, self.pw : xp.shape[-1] - self.pw]

    def unfold(self, xp: np.ndarray) -> np.ndarray:
        """Every window of the padded `xp`, as a read-only view shaped (..., ho, wo, kh, kw)."""
        view = sliding_window_view(xp, (self.kh, self.kw), axis=(-2, -1))
        return view[..., :: self.stride, :: self.stride, :, :]

    def offsets(self, xp: np.ndarray) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """For each kernel offset (i, j) in row-major order: where it sits in the padded input,
        and the view of what every window reads there, shaped (..., ho, wo)."""
        s = self.stride
        rows, columns = s * (self.ho - 1) + 1, s * (self.wo - 1) + 1
        for i in range(self.kh):
            for j in range(self.kw):
                where = (..., slice(i, i + rows, s), slice(j, j + columns, s))
                yield where, xp[where]

    def fold(self, cols: np.ndarray, padded: Shape) -> np.ndarray:
        """The adjoint of unfold: windows (..., ho, wo, kh, kw) added back into the padded input."""
        out = np.zeros(padded)
        for k, (where, _) in enumerate(self.offsets(out)):
            out[where] += cols[..., k // self.kw, k % self.kw]
        return out


def positive_int(attr: str, value: Any) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise OpError(f"{attr} must be a positive integer, got {value!r}")
    return int(value)


def _padding(pad: Any, kernel: tuple[int, int], stride: int) -> tuple[int, int]:
    """`pad` as rows and columns added on each side; "same" keeps H×W (stride 1, odd kernel)."""
    if isinstance(pad, str) and pad == "same":
        kh, kw = kernel
        if stride != 1:
            raise OpError(
                f'pad="same" needs stride 1, got stride {stride}',
                hint="give pad as an integer",
            )
        if kh % 2 == 0 or kw % 2 == 0:
            raise OpError(
                f'pad="same" needs a kernel of odd size to centre, got {kh}×{kw}',
                hint="give pad as an integer",
            )
        return (kh - 1) // 2, (kw - 1) // 2
    if not isinstance(pad, int | np.integer) or isinstance(pad, bool) or pad < 0:
        raise OpError(
            f'pad must be a non-negative integer or "same", got {pad!r}',
            hint='e.g. pad=1 or pad="same"',
        )
    return int(pad), int(pad)


SCRATCH_LIMIT = 1 << 23  # numbers: temporaries up to 64 MiB are kept for the next call
_scratch = threading.local()


def scratch(shape: tuple[int, ...], slot: str) -> np.ndarray:
    """An uninitialized array for a temporary that never leaves an op, kept for the next call.

    A fresh multi-megabyte array costs its page faults on every call, which made
    a conv's backward pass twice as slow as its arithmetic; the caller overwrites
    all of it before reading. One per thread, so traces in two threads never share.
    """
    if prod(shape) > SCRATCH_LIMIT:
        return np.empty(shape)
    kept: dict[str, np.ndarray] = _scratch.__dict__.setdefault("arrays", {})
    array = kept.get(slot)
    if array is None or array.shape != shape:
        array = kept[slot] = np.empty(shape)
    return array


def _im2col(grid: Grid, xp: np.ndarray) -> np.ndarray:
    """Every window of the padded input as one row (C·kh·kw numbers), for one matrix product.

    The result is scratch space: read it before the next call."""
    cols = np.moveaxis(grid.unfold(xp), (-2, -1), (-4, -3))  # (..., C, kh, kw, ho, wo)
    out = scratch(cols.shape, "im2col")
    np.copyto(out, cols)
    return out.reshape(*xp.shape[:-3], -1, grid.ho * grid.wo)  # (..., C·kh·kw, windows)


class _Sliding(Op):
    """conv2d and local2d: x (C, H, W) or (N, C, H, W), w ending in (C, kh, kw), b optional.

    `grid`, `window` and `padding` let the debugger step window by window:
    output position (i, j) reads rows and columns `window(i, j)` of x padded by
    `padding()` zeros on each side.
    """

    args = ("x", "w", "b")
    optional = 1
    attrs: ClassVar[Mapping[str, Any]] = {"stride": 1, "pad": 0}
    composite = True
    w_layout: ClassVar[str]

    def _grid(self, x: Shape, w: Shape, stride: Any, pad: Any) -> Grid:
        if len(x) not in (3, 4):
            raise OpError(
                f"x must be (C, H, W) or (N, C, H, W), got shape {list(x)}",
                hint="images are channels-first",
            )
        if len(w) != len(self.w_layout.split(",")):
            raise OpError(f"w must be {self.w_layout}, got shape {list(w)}")
        if x[-3] != w[-3]:
            raise OpError(
                f"x has {x[-3]} channels but w expects {w[-3]}",
                hint=f"w is {self.w_layout}; its C must equal x's channels",
            )
        step = positive_int("stride", stride)
        kernel = (w[-2], w[-1])
        return Grid.over(x[-2:], kernel, step, _padding(pad, kernel, step))

    def grid(
        self, x: Shape, w: Shape, b: Shape | None = None, stride: Any = 1, pad: Any = 0
    ) -> tuple[int, int]:
        """(Ho, Wo): how many window positions there are down and across."""
        g = self._grid(x, w, stride, pad)
        return g.ho, g.wo

    def window(
        self,
        i: int,
        j: int,
        x: Shape,
        w: Shape,
        b: Shape | None = None,
        stride: Any = 1,
        pad: Any = 0,
    ) -> tuple[slice, slice]:
        """The rows and columns of the padded x that output (i, j) reads."""
        return self._grid(x, w, stride, pad).window(i, j)

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        x, w = shapes[:2]
        grid = self._grid(x, w, attrs.get("stride", 1), attrs.get("pad", 0))
        return grid.scratch(x[-2:], x[:-2])

    def padding(
        self, x: Shape, w: Shape, b: Shape | None = None, stride: Any = 1, pad: Any = 0
    ) -> tuple[int, int]:
        """Zero rows and zero columns added on each side of x (they differ only for "same")."""
        g = self._grid(x, w, stride, pad)
        return g.ph, g.pw


@register
class Conv2d(_Sliding):
    """Cross-correlation of x with F filters, exactly torch.nn.functional.conv2d (no flip).

    Output (F, Ho, Wo), or (N, F, Ho, Wo) for a batch, with
    Ho = (H + 2·pad − kh) // stride + 1. Each output is Wᵀx + b over one window,
    so ∂out/∂window = w and ∂out/∂w = the window; w's gradient sums over every
    window it was applied to.
    """

    name = "conv2d"
    w_layout = "(F, C, kh, kw)"

    def shape(
        self, x: Shape, w: Shape, b: Shape | None = None, stride: Any = 1, pad: Any = 0
    ) -> Shape:
        g = self._grid(x, w, stride, pad)
        if b is not None and tuple(b) != (w[0],):
            raise OpError(
                f"b must be one bias per filter, shape [{w[0]}], got {list(b)}",
                hint="w is (F, C, kh, kw) and b is (F,)",
            )
        return (*x[:-3], w[0], g.ho, g.wo)

    def forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        stride: Any = 1,
        pad: Any = 0,
    ) -> np.ndarray:
        grid = self._grid(x.shape, w.shape, stride, pad)
        cols = _im2col(grid, grid.pad(x))
        out = (w.reshape(w.shape[0], -1) @ cols).reshape(*x.shape[:-3], -1, grid.ho, grid.wo)
        return out if b is None else out + b[:, None, None]

    def backward(
        self,
        g: np.ndarray,
        out: np.ndarray,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        stride: Any = 1,
        pad: Any = 0,
    ) -> tuple[np.ndarray, ...]:
        grid = self._grid(x.shape, w.shape, stride, pad)
        xp = grid.pad(x)
        f = w.shape[0]
        gmat = np.ascontiguousarray(g).reshape(
            *g.shape[:-2], grid.ho * grid.wo
        )  # (..., F, windows)
        cols = _im2col(grid, xp)
        gw = gmat @ np.swapaxes(cols, -1, -2)
        gw = (gw if gw.ndim == 2 else gw.sum(axis=0)).reshape(w.shape)
        gcols = np.matmul(  # (..., C·kh·kw, windows)
            w.reshape(f, -1).T, gmat, out=scratch((*gmat.shape[:-2], *cols.shape[-2:]), "gcols")
        )
        gcols = gcols.reshape(*x.shape[:-2], grid.kh, grid.kw, grid.ho, grid.wo)
        gx = grid.unpad(grid.fold(np.moveaxis(gcols, (-4, -3), (-2, -1)), xp.shape))
        if b is None:
            return gx, gw
        return gx, gw, g.reshape(-1, *g.shape[-3:]).sum(axis=(0, 2, 3))

    def local(self, i: int, names: Sequence[str], out: str, stride: Any = 1, pad: Any = 0) -> str:
        return (f"{names[1]} (window)", f"{names[0]} (window)", "1")[i]


@register
class Local2d(_Sliding):
    """A locally connected layer: conv2d with a different filter at every output position.

    w is (F, Ho, Wo, C, kh, kw), b is (F, Ho, Wo): nothing is shared, which is
    why the seed's 200×200 example needs millions of parameters. Padding,
    stride and windows are those of conv2d.
    """

    name = "local2d"
    w_layout = "(F, Ho, Wo, C, kh, kw)"

    def shape(
        self, x: Shape, w: Shape, b: Shape | None = None, stride: Any = 1, pad: Any = 0
    ) -> Shape:
        g = self._grid(x, w, stride, pad)
        if (w[1], w[2]) != (g.ho, g.wo):
            raise OpError(
                f"w has filters for a {w[1]}×{w[2]} output, but x of shape {list(x)} "
                f"with stride {stride} and pad {pad!r} gives {g.ho}×{g.wo}",
                hint="w is (F, Ho, Wo, C, kh, kw): one filter per output position",
            )
        if b is not None and tuple(b) != tuple(w[:3]):
            raise OpError(
                f"b must be one bias per output, shape {list(w[:3])}, got {list(b)}",
                hint="b is (F, Ho, Wo)",
            )
        return (*x[:-3], w[0], g.ho, g.wo)

    def forward(
        self,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        stride: Any = 1,
        pad: Any = 0,
    ) -> np.ndarray:
        grid = self._grid(x.shape, w.shape, stride, pad)
        cols = grid.unfold(grid.pad(x))
        out = np.einsum("...chwij,fhwcij->...fhw", cols, w, optimize=True)
        return out if b is None else out + b

    def backward(
        self,
        g: np.ndarray,
        out: np.ndarray,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        stride: Any = 1,
        pad: Any = 0,
    ) -> tuple[np.ndarray, ...]:
        grid = self._grid(x.shape, w.shape, stride, pad)
        xp = grid.pad(x)
        gw = np.einsum("...fhw,...chwij->fhwcij", g, grid.unfold(xp), optimize=True)
        gcols = np.einsum("...fhw,fhwcij->...chwij", g, w, optimize=True)
        gx = grid.unpad(grid.fold(gcols, xp.shape))
        if b is None:
            return gx, gw
        return gx, gw, g.reshape(-1, *g.shape[-3:]).sum(axis=0)

    def local(self, i: int, names: Sequence[str], out: str, stride: Any = 1, pad: Any = 0) -> str:
        return (
            f"{names[1]} at this position (window)",
            f"{names[0]} (window)",
            "1",
        )[i]
