"""Ops that mix or move elements: matmul, sum, mean, softmax, flatten and reshape."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .registry import Op, OpError, Shape, broadcast_shape, register, unbroadcast


def _dims(shape: Shape) -> str:
    return str(list(shape))


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@register
class Matmul(Op):
    """`a @ b` with numpy's matmul rules, so one op covers the slides' W·x and a batch.

    A 1-D `a` is a row vector and a 1-D `b` a column vector, and the added
    dimension is dropped from the result (vector · vector is a scalar); leading
    dimensions beyond the last two are a batch and broadcast. The backward
    restores the dropped dimensions, multiplies by the transposes, and sums
    away the batch dimensions that broadcasting added.
    """

    name = "matmul"
    args = ("a", "b")
    symbol = "@"

    def shape(self, a: Shape, b: Shape) -> Shape:
        if not a or not b:
            raise OpError(
                f"a @ b needs tensors, got shapes {_dims(a)} and {_dims(b)}",
                hint="multiply by a scalar with *",
            )
        inner_b = b[-2] if len(b) > 1 else b[0]
        if a[-1] != inner_b:
            raise OpError(
                f"a is {_dims(a)} and b is {_dims(b)}: "
                f"inner dimensions {a[-1]} and {inner_b} differ",
                hint="a @ b needs a's last dimension equal to b's first "
                "(b's second-to-last for a batch)",
            )
        batch = broadcast_shape(a[:-2], b[:-2])
        rows = a[-2:-1] if len(a) > 1 else ()
        cols = b[-1:] if len(b) > 1 else ()
        return (*batch, *rows, *cols)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.matmul(a, b)

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.asarray(g)
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2)
        gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2)
        return ga.reshape(a.shape), gb.reshape(b.shape)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"{names[1 - i]}ᵀ"


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """`axis` (None, an int or a list of ints) as sorted non-negative axes of an ndim tensor."""
    if axis is None:
        return tuple(range(ndim))
    given = list(axis) if isinstance(axis, list | tuple) else [axis]
    if not all(_is_int(a) for a in given):
        raise OpError(
            f"axis must be an integer or a list of integers, got {axis!r}",
            hint="e.g. axis=0, axis=[0, 1], or leave it out to use every axis",
        )
    axes = []
    for a in given:
        if not -ndim <= a < ndim:
            raise OpError(
                f"axis {a} is out of range for a tensor with {ndim} dimensions",
                hint=f"axes run from {-ndim} to {ndim - 1}" if ndim else "a scalar has no axes",
            )
        axes.append(int(a) % ndim)
    if len(set(axes)) != len(axes):
        raise OpError(f"axis {list(given)} names an axis twice")
    return tuple(sorted(axes))


class _Reduction(Op):
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"axis": None, "keepdims": 0}

    def shape(self, x: Shape, axis: Any = None, keepdims: Any = 0) -> Shape:
        axes = _axes(axis, len(x))
        if keepdims not in (0, 1):
            raise OpError(f"keepdims is 0 or 1, got {keepdims!r}")
        if keepdims:
            return tuple(1 if d in axes else n for d, n in enumerate(x))
        return tuple(n for d, n in enumerate(x) if d not in axes)

    def _spread(self, g: np.ndarray, x: np.ndarray, axis: Any) -> np.ndarray:
        """`g` copied back over the reduced axes of x."""
        axes = _axes(axis, x.ndim)
        kept = [1 if d in axes else n for d, n in enumerate(x.shape)]
        return np.broadcast_to(np.reshape(g, kept), x.shape).copy()

    def _count(self, x: np.ndarray, axis: Any) -> int:
        return math.prod(x.shape[d] for d in _axes(axis, x.ndim))


@register
class Sum(_Reduction):
    """Sum over `axis` (every axis by default); each input element gets the gradient of its sum."""

    name = "sum"

    def forward(self, x: np.ndarray, axis: Any = None, keepdims: Any = 0) -> np.ndarray:
        return np.sum(x, axis=_axes(axis, np.ndim(x)), keepdims=bool(keepdims))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: Any = None, keepdims: Any = 0
    ) -> tuple[np.ndarray]:
        return (self._spread(g, np.asarray(x), axis),)

    def local(
        self, i: int, names: Sequence[str], out: str, axis: Any = None, keepdims: Any = 0
    ) -> str:
        return "1"


@register
class Mean(_Reduction):
    """Mean over `axis` (every axis by default); the gradient is shared evenly, 1/n each."""

    name = "mean"

    def forward(self, x: np.ndarray, axis: Any = None, keepdims: Any = 0) -> np.ndarray:
        return np.mean(x, axis=_axes(axis, np.ndim(x)), keepdims=bool(keepdims))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: Any = None, keepdims: Any = 0
    ) -> tuple[np.ndarray]:
        x = np.asarray(x)
        return (self._spread(g, x, axis) / self._count(x, axis),)

    def local(
        self, i: int, names: Sequence[str], out: str, axis: Any = None, keepdims: Any = 0
    ) -> str:
        x = names[0]
        if axis is None:
            return f"1/size({x})"
        axes = axis if isinstance(axis, list | tuple) else [axis]
        return "1/" + "·".join(f"{x}.shape[{a}]" for a in axes)


@register
class Softmax(Op):
    """e^x / Σ e^x along `axis`, computed after subtracting the max so that it never overflows.

    The Jacobian is diag(s) − s sᵀ, so its product with g is s·(g − Σ g·s).
    """

    name = "softmax"
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"axis": -1}

    def shape(self, x: Shape, axis: Any = -1) -> Shape:
        if not x:
            raise OpError("x is a scalar", hint="softmax normalizes along an axis")
        if not _is_int(axis):
            raise OpError(f"axis must be one integer, got {axis!r}")
        _axes(axis, len(x))
        return x

    def forward(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: int = -1
    ) -> tuple[np.ndarray]:
        return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)

    def local(self, i: int, names: Sequence[str], out: str, axis: int = -1) -> str:
        return f"diag({out}) − {out}·{out}ᵀ"


@register
class Flatten(Op):
    """All elements in one row: to 1-D, except a 4-D batch (N, C, H, W), which becomes (N, C·H·W).

    The batch rule lets the same graph (conv → pool → flatten → matmul) run on
    one image (C, H, W) and on a batch: a batch is the only 4-D tensor graphstep
    knows, so its first axis is kept as the batch.
    """

    name = "flatten"
    args = ("x",)

    def shape(self, x: Shape) -> Shape:
        if len(x) == 4:
            return (x[0], math.prod(x[1:]))
        return (math.prod(x),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.reshape(x, self.shape(np.shape(x)))

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (np.reshape(g, np.shape(x)),)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"1 (reshaped back to {names[0]}'s shape)"


@register
class Reshape(Op):
    """The same elements, row-major, in `shape=[...]`; one dimension may be -1 (inferred)."""

    name = "reshape"
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"shape": None}

    def shape(self, x: Shape, shape: Any = None) -> Shape:
        if shape is None:
            raise OpError("the new shape is missing", hint="e.g. reshape(x, shape=[2, 3])")
        dims = list(shape) if isinstance(shape, list | tuple) else [shape]
        if not all(_is_int(d) for d in dims):
            raise OpError(
                f"shape must be a list of integers, got {shape!r}",
                hint="e.g. shape=[2, 3]",
            )
        if len(dims) > 6:
            raise OpError(f"shape {dims} has {len(dims)} dimensions; at most 6 are supported")
        if dims.count(-1) > 1:
            raise OpError(
                f"shape {dims} has more than one -1", hint="only one dimension is inferred"
            )
        if any(d < 1 and d != -1 for d in dims):
            raise OpError(f"shape {dims} has a dimension below 1")
        size = math.prod(x)
        known = math.prod(d for d in dims if d != -1)
        if -1 in dims:
            if size % known:
                raise OpError(
                    f"x of shape {_dims(x)} has {size} elements, "
                    f"not a multiple of the {known} that shape {dims} fixes"
                )
            dims[dims.index(-1)] = size // known
        elif known != size:
            raise OpError(
                f"x of shape {_dims(x)} has {size} elements, shape {dims} holds {known}",
                hint="the sizes must be equal; one dimension may be -1",
            )
        return tuple(int(d) for d in dims)

    def forward(self, x: np.ndarray, shape: Any = None) -> np.ndarray:
        return np.reshape(x, self.shape(np.shape(x), shape))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, shape: Any = None
    ) -> tuple[np.ndarray]:
        return (np.reshape(g, np.shape(x)),)

    def local(self, i: int, names: Sequence[str], out: str, shape: Any = None) -> str:
        return f"1 (reshaped back to {names[0]}'s shape)"
