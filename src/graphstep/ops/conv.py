"""Sliding-window layers: conv2d (shared filters) and local2d (one filter per output position).

Both are composite: the debugger steps into them one output position at a
time, each position one dot product Wᵀx + b over the window it reads.
`Grid` is the one place that decides where the windows are; pool.py uses it too.

Window coordinates are those of the *padded* input: with pad p, row 0 of a
window is row −p of the image. Forward reads every window at once through a
strided view (no copy per pixel); backward adds the windows' gradients back
with one vectorized add per kernel offset (kh·kw of them), which also handles
windows that overlap, or, for a stride-1 conv, correlates the gradient with the
flipped filters, which sends every window's share home in one product.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .registry import Op, OpError, Shape, register


@dataclass(frozen=True)
class Grid:
    """Where a kh×kw window sits for each of the ho×wo outputs of a padded input.

    Strides (sh, sw) and dilations (dh, dw) may differ down and across; the
    padding is (top, left, bottom, right), and `extra` rows and columns are
    added at the bottom and right when ceil mode keeps a partial last window.
    """

    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    top: int
    left: int
    bottom: int
    right: int
    ho: int
    wo: int
    extra: tuple[int, int] = (0, 0)

    @classmethod
    def over(
        cls,
        image: Shape,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        pad: tuple[int, int, int, int],
        dilation: tuple[int, int] = (1, 1),
        ceil: bool = False,
    ) -> Grid:
        """The grid of a kernel sliding over the last two dimensions `image` of an input."""
        (h, w), (kh, kw), (sh, sw), (dh, dw) = image, kernel, stride, dilation
        top, left, bottom, right = pad
        if kh < 1 or kw < 1:
            raise OpError(f"the kernel is {kh}×{kw}; it needs at least one row and column")
        eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        if eh > h + top + bottom or ew > w + left + right:
            padded = "" if not any(pad) else f" (padded by {_pads_text(pad)})"
            reach = f"{kh}×{kw}" if (dh, dw) == (1, 1) else f"{kh}×{kw} (dilated to {eh}×{ew})"
            raise OpError(
                f"the {reach} window is larger than the {h}×{w} input{padded}",
                hint="use a smaller window or more padding",
            )
        # A stride past the padded input reads one window, whatever it is: keep it an index.
        sh, sw = min(sh, h + top + bottom + 1), min(sw, w + left + right + 1)
        ho = _count(h + top + bottom - eh, sh, ceil, h + top)
        wo = _count(w + left + right - ew, sw, ceil, w + left)
        extra = (
            max(0, (ho - 1) * sh + eh - (h + top + bottom)),
            max(0, (wo - 1) * sw + ew - (w + left + right)),
        )
        return cls(kh, kw, sh, sw, dh, dw, top, left, bottom, right, ho, wo, extra)

    @property
    def padded(self) -> tuple[int, int]:
        """The padded input's height and width minus the image's: rows and columns added."""
        return self.top + self.bottom + self.extra[0], self.left + self.right + self.extra[1]

    def scratch(self, image: Shape, lead: Shape) -> int:
        """Numbers in the largest temporary over an input (*lead, *image): the padded input
        or every window's copy (the im2col matrix), whichever is larger."""
        (h, w), planes = image, prod(lead)
        rows, cols = self.padded
        padded = planes * (h + rows) * (w + cols) if rows or cols else 0
        return max(padded, planes * self.kh * self.kw * self.ho * self.wo)

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """The rows and columns of the padded input that output (i, j) reads (step: dilation)."""
        if not (0 <= i < self.ho and 0 <= j < self.wo):
            raise IndexError(f"output ({i}, {j}) is outside the {self.ho}×{self.wo} grid")
        top, left = i * self.sh, j * self.sw
        return (
            slice(top, top + self.dh * (self.kh - 1) + 1, self.dh),
            slice(left, left + self.dw * (self.kw - 1) + 1, self.dw),
        )

    def pad(self, x: np.ndarray, fill: float = 0.0, slot: str | None = None) -> np.ndarray:
        """x with the grid's padding around its last two dimensions, filled with `fill`; with
        a `slot`, in that scratch space (read it before the next call with the slot)."""
        rows = (self.top, self.bottom + self.extra[0])
        cols = (self.left, self.right + self.extra[1])
        if not any(rows + cols):
            return x
        if slot is None:
            return np.pad(x, [(0, 0)] * (x.ndim - 2) + [rows, cols], constant_values=fill)
        h, w = x.shape[-2:]
        out = scratch((*x.shape[:-2], h + sum(rows), w + sum(cols)), slot)
        out[..., : rows[0], :] = fill
        out[..., rows[0] + h :, :] = fill
        out[..., rows[0] : rows[0] + h, : cols[0]] = fill
        out[..., rows[0] : rows[0] + h, cols[0] + w :] = fill
        out[..., rows[0] : rows[0] + h, cols[0] : cols[0] + w] = x
        return out

    def unpad(self, xp: np.ndarray) -> np.ndarray:
        h = xp.shape[-2] - self.bottom - self.extra[0]
        w = xp.shape[-1] - self.right - self.extra[1]
        return xp[..., self.top : h, self.left : w]

    def unfold(self, xp: np.ndarray) -> np.ndarray:
        """Every window of the padded `xp`, as a read-only view shaped (..., ho, wo, kh, kw)."""
        eh, ew = self.dh * (self.kh - 1) + 1, self.dw * (self.kw - 1) + 1
        view = sliding_window_view(xp, (eh, ew), axis=(-2, -1))
        view = view[..., :: self.sh, :: self.sw, :: self.dh, :: self.dw]
        return view[..., : self.ho, : self.wo, :, :]

    def offsets(self, xp: np.ndarray) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """For each kernel offset (i, j) in row-major order: where it sits in the padded input,
        and the view of what every window reads there, shaped (..., ho, wo)."""
        rows, columns = self.sh * (self.ho - 1) + 1, self.sw * (self.wo - 1) + 1
        for i in range(self.kh):
            for j in range(self.kw):
                r, c = i * self.dh, j * self.dw
                where = (..., slice(r, r + rows, self.sh), slice(c, c + columns, self.sw))
                yield where, xp[where]

    def fold(self, part: Callable[[int, int], np.ndarray], padded: Shape) -> np.ndarray:
        """The adjoint of unfold: what the windows send back at each kernel offset (i, j),
        `part(i, j)` shaped (..., ho, wo), added into a zero padded input of shape `padded`.

        With a stride, the offsets that land on the same phase (row mod sh, column mod sw)
        are added into one contiguous array, copied into place once: adding straight into
        every sh-th row and sw-th column costs half as much again."""
        out = np.zeros(padded)
        for (a, b), offsets in self.phases().items():
            view = out[..., a :: self.sh, b :: self.sw]
            alone = len(offsets) == 1 or (self.sh, self.sw) == (1, 1)
            into = view if alone else np.zeros(view.shape)
            for i, j in offsets:
                r, c = i * self.dh // self.sh, j * self.dw // self.sw
                into[..., r : r + self.ho, c : c + self.wo] += part(i, j)
            if into is not view:
                view[...] = into
        return out

    def route(self, offset: np.ndarray, g: np.ndarray, padded: Shape) -> np.ndarray:
        """Each window's gradient g (..., ho, wo) sent to the one pixel it picked, its kernel
        offset's number `offset` (row-major; kh·kw picks none), summed where windows share a
        pixel: a padded input of shape `padded`, in one pass over the windows."""
        height, width = padded[-2:]
        shifts = [i * self.dh * width + j * self.dw for i in range(self.kh) for j in range(self.kw)]
        index = np.array([*shifts, 0])[offset]  # then plus where each window starts:
        windows = index.reshape(-1, self.ho, self.wo)
        windows += (np.arange(windows.shape[0]) * (height * width))[:, None, None]
        windows += (np.arange(self.ho) * (self.sh * width))[:, None]
        windows += np.arange(self.wo) * self.sw
        size = prod(padded)
        missed = offset == self.kh * self.kw
        if missed.any():
            index[missed] = size
        sums = np.bincount(index.ravel(), weights=g.ravel(), minlength=size + 1)
        return sums[:size].reshape(padded)

    def phases(self) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """The kernel offsets (i, j) by the phase of the padded input they read: (i·dh mod sh,
        j·dw mod sw)."""
        phases: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i in range(self.kh):
            for j in range(self.kw):
                phase = (i * self.dh % self.sh, j * self.dw % self.sw)
                phases.setdefault(phase, []).append((i, j))
        return phases


def _count(room: int, stride: int, ceil: bool, start_limit: int) -> int:
    """How many windows fit: floor(room / stride) + 1, or in ceil mode one more for a partial
    last window, unless that window would start past the image and its leading padding."""
    if not ceil:
        return room // stride + 1
    n = -(-room // stride) + 1
    return n - 1 if (n - 1) * stride >= start_limit else n


def _pads_text(pad: tuple[int, int, int, int]) -> str:
    top, left, bottom, right = pad
    if top == left == bottom == right:
        return str(top)
    if (top, left) == (bottom, right):
        return f"{top}, {left}"
    return f"{top}, {left}, {bottom}, {right} (top, left, bottom, right)"


def positive_int(attr: str, value: Any) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise OpError(f"{attr} must be a positive integer, got {value!r}")
    return int(value)


def pair(attr: str, value: Any) -> tuple[int, int]:
    """An attribute given for both dimensions (an int) or down and across ([2, 1])."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise OpError(
                f"{attr} must be a positive integer or a list of two, got {value!r}",
                hint=f"e.g. {attr}=2 or {attr}=[2, 1] (down, across)",
            )
        return positive_int(attr, value[0]), positive_int(attr, value[1])
    n = positive_int(attr, value)
    return n, n


def padding(
    pad: Any, kernel: tuple[int, int], stride: tuple[int, int]
) -> tuple[int, int, int, int]:
    """`pad` as (top, left, bottom, right): an int, [rows, columns], [top, left, bottom, right],
    or "same", which keeps H×W (stride 1, odd kernel)."""
    if isinstance(pad, str) and pad == "same":
        kh, kw = kernel
        if stride != (1, 1):
            raise OpError(
                f'pad="same" needs stride 1, got stride {_pair_text(stride)}',
                hint="give pad as an integer",
            )
        if kh % 2 == 0 or kw % 2 == 0:
            raise OpError(
                f'pad="same" needs a kernel of odd size to centre, got {kh}×{kw}',
                hint="give pad as an integer",
            )
        return (kh - 1) // 2, (kw - 1) // 2, (kh - 1) // 2, (kw - 1) // 2
    given = list(pad) if isinstance(pad, list | tuple) else [pad]
    if len(given) not in (1, 2, 4) or not all(
        isinstance(p, int | np.integer) and not isinstance(p, bool) and p >= 0 for p in given
    ):
        raise OpError(
            f'pad must be a non-negative integer, a list of 2 or 4, or "same", got {pad!r}',
            hint='e.g. pad=1, pad=[1, 0] (rows, columns), pad=[0, 0, 1, 1] or pad="same"',
        )
    t, left, b, r = {1: given * 4, 2: given * 2, 4: given}[len(given)]
    return int(t), int(left), int(b), int(r)


def _pair_text(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"[{p[0]}, {p[1]}]"


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


def _correlate(grid: Grid, xp: np.ndarray, w: np.ndarray, groups: int) -> np.ndarray:
    """The padded input xp (..., C, H, W) correlated with the filters w (F, C/G, kh, kw) over
    the grid's windows: one im2col and one matrix product per group, (..., F, ho, wo)."""
    cols = _im2col(grid, xp)  # (..., C·kh·kw, windows)
    cols = cols.reshape(*cols.shape[:-2], groups, -1, cols.shape[-1])
    out = np.matmul(w.reshape(groups, w.shape[0] // groups, -1), cols)
    return out.reshape(*xp.shape[:-3], -1, grid.ho, grid.wo)


class _Sliding(Op):
    """conv2d and local2d: x (C, H, W) or (N, C, H, W), w ending in (C, kh, kw), b optional.

    `grid`, `window` and `padding` let the debugger step window by window:
    output position (i, j) reads rows and columns `window(i, j)` of x padded by
    `padding()` zeros at the top and left.
    """

    args = ("x", "w", "b")
    optional = 1
    attrs: ClassVar[Mapping[str, Any]] = {"stride": 1, "pad": 0}
    w_layout: ClassVar[str]

    def _grid(
        self, x: Shape, w: Shape, stride: Any = 1, pad: Any = 0, dilation: Any = 1, groups: Any = 1
    ) -> Grid:
        if len(x) not in (3, 4):
            raise OpError(
                f"x must be (C, H, W) or (N, C, H, W), got shape {list(x)}",
                hint="images are channels-first",
            )
        if len(w) != len(self.w_layout.split(",")):
            raise OpError(f"w must be {self.w_layout}, got shape {list(w)}")
        g = positive_int("groups", groups)
        if x[-3] != w[-3] * g:
            grouped = f" in {g} groups of {w[-3]}" if g > 1 else ""
            raise OpError(
                f"x has {x[-3]} channels but w expects {w[-3] * g}{grouped}",
                hint=f"w is {self.w_layout}; its C must equal x's channels"
                + (" divided by groups" if g > 1 else ""),
            )
        if w[0] % g:
            raise OpError(f"{w[0]} filters do not split into {g} groups")
        step = pair("stride", stride)
        kernel = (w[-2], w[-1])
        return Grid.over(
            x[-2:], kernel, step, padding(pad, kernel, step), pair("dilation", dilation)
        )

    def grid(self, x: Shape, w: Shape, b: Shape | None = None, **attrs: Any) -> tuple[int, int]:
        """(Ho, Wo): how many window positions there are down and across."""
        g = self._grid(x, w, **attrs)
        return g.ho, g.wo

    def window(
        self, i: int, j: int, x: Shape, w: Shape, b: Shape | None = None, **attrs: Any
    ) -> tuple[slice, slice]:
        """The rows and columns of the padded x that output (i, j) reads."""
        return self._grid(x, w, **attrs).window(i, j)

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        x, w = shapes[:2]
        return self._grid(x, w, **attrs).scratch(x[-2:], x[:-2])

    def padding(self, x: Shape, w: Shape, b: Shape | None = None, **attrs: Any) -> tuple[int, int]:
        """Zero rows and zero columns added at the top and at the left of x."""
        g = self._grid(x, w, **attrs)
        return g.top, g.left


@register
class Conv2d(_Sliding):
    """Cross-correlation of x with F filters, exactly torch.nn.functional.conv2d (no flip).

    Output (F, Ho, Wo), or (N, F, Ho, Wo) for a batch, with
    Ho = (H + pads − dilation·(kh − 1) − 1) // stride + 1. Each output is Wᵀx + b
    over one window, so ∂out/∂window = w and ∂out/∂w = the window; w's gradient
    sums over every window it was applied to. With `groups` g, the channels
    split into g groups and filter f reads only its group's C/g channels.
    """

    name = "conv2d"
    w_layout = "(F, C, kh, kw)"
    attrs: ClassVar[Mapping[str, Any]] = {"stride": 1, "pad": 0, "dilation": 1, "groups": 1}

    def shape(self, x: Shape, w: Shape, b: Shape | None = None, **attrs: Any) -> Shape:
        g = self._grid(x, w, **attrs)
        if b is not None and tuple(b) != (w[0],):
            raise OpError(
                f"b must be one bias per filter, shape [{w[0]}], got {list(b)}",
                hint="w is (F, C, kh, kw) and b is (F,)",
            )
        return (*x[:-3], w[0], g.ho, g.wo)

    def forward(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, **attrs: Any
    ) -> np.ndarray:
        grid = self._grid(x.shape, w.shape, **attrs)
        out = _correlate(grid, grid.pad(x), w, int(attrs.get("groups", 1)))
        return out if b is None else out + b[:, None, None]

    def backward(
        self,
        g: np.ndarray,
        out: np.ndarray,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        **attrs: Any,
    ) -> tuple[np.ndarray, ...]:
        grid = self._grid(x.shape, w.shape, **attrs)
        groups = int(attrs.get("groups", 1))
        xp = grid.pad(x)
        f = w.shape[0]
        windows = grid.ho * grid.wo
        gmat = np.ascontiguousarray(g).reshape(*g.shape[:-3], groups, f // groups, windows)
        cols = _im2col(grid, xp)
        cols = cols.reshape(*cols.shape[:-2], groups, -1, windows)  # (..., G, C/G·kh·kw, windows)
        # (cols · gᵀ)ᵀ, not g · colsᵀ: the same product, but BLAS runs it far faster with the
        # long window axis inside than with the few filters outside
        gw = np.swapaxes(cols @ np.swapaxes(gmat, -1, -2), -1, -2)
        gw = (gw if gw.ndim == 3 else gw.sum(axis=0)).reshape(w.shape)
        pad = self._back_pad(grid, x.shape, f)
        if pad is not None:
            gx = self._correlation_back(g, w, pad, groups, attrs.get("dilation", 1))
        else:
            wg = np.swapaxes(w.reshape(groups, f // groups, -1), -1, -2)  # (G, C/G·kh·kw, F/G)
            gcols = np.matmul(wg, gmat, out=cols)  # the windows are read: their space is free
            gcols = gcols.reshape(*x.shape[:-2], grid.kh, grid.kw, grid.ho, grid.wo)
            gx = grid.unpad(grid.fold(lambda i, j: gcols[..., i, j, :, :], xp.shape))
        if b is None:
            return gx, gw
        return gx, gw, g.reshape(-1, *g.shape[-3:]).sum(axis=(0, 2, 3))

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        x, w = shapes[:2]
        own = super().scratch(*shapes, **attrs)
        grid = self._grid(x, w, **attrs)
        pad = self._back_pad(grid, x, w[0])
        if pad is None:
            return own
        g = (*x[:-3], w[0], grid.ho, grid.wo)
        groups, dilation = attrs.get("groups", 1), attrs.get("dilation", 1)
        filters = (x[-3], w[0] // groups, *w[-2:])
        back = self._grid(g, filters, pad=pad, dilation=dilation, groups=groups)
        return max(own, back.scratch(g[-2:], g[:-2]))

    @staticmethod
    def _back_pad(grid: Grid, x: Shape, filters: int) -> list[int] | None:
        """The padding of g (top, left, bottom, right) that makes x's gradient the correlation
        of g with the flipped filters, so that every input pixel sees each window that read
        it; None where folding every window's gradient back is the way: with a stride, with
        padding past the kernel's reach, or where the copy of g's windows (F channels, one
        window per pixel of x) would be larger than that of x's (C channels, ho·wo windows),
        so that the correlation never needs more memory than the fold."""
        rows, columns = grid.dh * (grid.kh - 1), grid.dw * (grid.kw - 1)
        pad = [rows - grid.top, columns - grid.left, rows - grid.bottom, columns - grid.right]
        larger = filters * x[-2] * x[-1] > x[-3] * grid.ho * grid.wo
        if (grid.sh, grid.sw) != (1, 1) or min(pad) < 0 or larger:
            return None
        return pad

    def _correlation_back(
        self, g: np.ndarray, w: np.ndarray, pad: list[int], groups: int, dilation: Any
    ) -> np.ndarray:
        """∂L/∂x of a stride-1 conv: g padded by `pad`, correlated with the filters flipped and
        read channel for filter (in each group). One im2col and one product, straight into
        x's shape: no fold."""
        f, c, kh, kw = w.shape
        flipped = w.reshape(groups, f // groups, c, kh, kw).swapaxes(1, 2)[..., ::-1, ::-1]
        filters = flipped.reshape(groups * c, f // groups, kh, kw)
        grid = self._grid(g.shape, filters.shape, pad=pad, dilation=dilation, groups=groups)
        return _correlate(grid, grid.pad(g), filters, groups)

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        return (f"{names[1]} (window)", f"{names[0]} (window)", "1")[i]


@register
class Local2d(_Sliding):
    """A locally connected layer: conv2d with a different filter at every output position.

    w is (F, Ho, Wo, C, kh, kw), b is (F, Ho, Wo): nothing is shared, which is
    why the lecture's 200×200 example needs millions of parameters. Padding,
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
        gx = grid.unpad(grid.fold(lambda i, j: gcols[..., i, j], xp.shape))
        if b is None:
            return gx, gw
        return gx, gw, g.reshape(-1, *g.shape[-3:]).sum(axis=0)

    def local(self, i: int, names: Sequence[str], out: str, stride: Any = 1, pad: Any = 0) -> str:
        return (
            f"{names[1]} at this position (window)",
            f"{names[0]} (window)",
            "1",
        )[i]
