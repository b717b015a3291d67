"""Ops that move elements without changing them: concat, transpose and slice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .registry import Array, Op, OpError, Shape, register
from .tensor import _axes, _is_int


@register
class Concat(Op):
    """Tensors side by side along `axis`; each gets back its own part of the gradient."""

    name = "concat"
    args = ("x",)
    variadic = True
    attrs: ClassVar[Mapping[str, Any]] = {"axis": 0}

    def shape(self, *shapes: Shape, axis: Any = 0) -> Shape:
        first = shapes[0]
        if not first:
            raise OpError("scalars cannot be concatenated", hint="reshape them to [1] first")
        if not _is_int(axis):
            raise OpError(f"axis must be one integer, got {axis!r}")
        (a,) = _axes(axis, len(first))
        for s in shapes[1:]:
            if len(s) != len(first) or any(
                n != m for d, (n, m) in enumerate(zip(s, first, strict=True)) if d != a
            ):
                raise OpError(
                    f"shapes {list(first)} and {list(s)} differ outside axis {a}",
                    hint="tensors are concatenated along one axis; the others must agree",
                )
        return (*first[:a], sum(s[a] for s in shapes), *first[a + 1 :])

    def forward(self, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        return np.concatenate(xs, axis=axis)

    def backward(
        self, g: np.ndarray, out: np.ndarray, *xs: np.ndarray, axis: int = 0
    ) -> Sequence[Array | None]:
        (a,) = _axes(axis, g.ndim)
        cuts = np.cumsum([x.shape[a] for x in xs])[:-1]
        return tuple(np.split(g, cuts, axis=a))

    def local(self, i: int, names: Sequence[str], out: str, axis: int = 0) -> str:
        return f"1 (the part of {out} that is {names[i]})"


def _permutation(perm: Any, ndim: int) -> tuple[int, ...]:
    if perm is None:
        return tuple(reversed(range(ndim)))
    if not isinstance(perm, list | tuple) or sorted(perm) != list(range(ndim)):
        raise OpError(
            f"perm must list every axis 0 … {ndim - 1} once, got {perm!r}",
            hint="e.g. perm=[1, 0] swaps the axes of a matrix",
        )
    return tuple(int(p) for p in perm)


@register
class Transpose(Op):
    """The axes in the order `perm` (reversed by default); the gradient goes back by the inverse."""

    name = "transpose"
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"perm": None}

    def shape(self, x: Shape, perm: Any = None) -> Shape:
        return tuple(x[p] for p in _permutation(perm, len(x)))

    def forward(self, x: np.ndarray, perm: Any = None) -> np.ndarray:
        return np.transpose(x, _permutation(perm, x.ndim))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, perm: Any = None
    ) -> Sequence[Array | None]:
        return (np.transpose(g, np.argsort(_permutation(perm, x.ndim))),)

    def local(self, i: int, names: Sequence[str], out: str, perm: Any = None) -> str:
        return "1 (axes moved back)"


def _ranges(shape: Shape, starts: Any, ends: Any, axes: Any, steps: Any) -> tuple[slice, ...]:
    """numpy slices for every axis from ONNX-style lists; ends beyond a dimension are clamped."""
    for key, v in (("starts", starts), ("ends", ends)):
        if not isinstance(v, list | tuple) or not all(_is_int(n) for n in v):
            raise OpError(f"{key} must be a list of integers, got {v!r}")
    chosen = list(range(len(starts))) if axes is None else list(axes)
    every = list(steps) if steps is not None else [1] * len(starts)
    if not len(chosen) == len(starts) == len(ends) == len(every):
        raise OpError("starts, ends, axes and steps must be lists of the same length")
    index = [slice(None)] * len(shape)
    for a, start, end, step in zip(
        _axes(chosen, len(shape)) if chosen else (), starts, ends, every, strict=False
    ):
        if not _is_int(step) or step == 0:
            raise OpError(f"steps must be non-zero integers, got {step!r}")
        index[a] = slice(int(start), int(end), int(step))
    return tuple(index)


@register
class Slice(Op):
    """x[starts:ends:steps] along `axes` (every axis by default), numpy's rules; the gradient
    goes back to the elements taken, 0 elsewhere."""

    name = "slice"
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"starts": None, "ends": None, "axes": None, "steps": None}

    def shape(self, x: Shape, **attrs: Any) -> Shape:
        index = _ranges(
            x, attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), attrs.get("steps")
        )
        out = tuple(len(range(*s.indices(n))) for s, n in zip(index, x, strict=True))
        if 0 in out:
            raise OpError(f"the slice of x {list(x)} is empty (shape {list(out)})")
        return out

    def forward(self, x: np.ndarray, **attrs: Any) -> np.ndarray:
        index = _ranges(
            x.shape, attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), attrs.get("steps")
        )
        return x[index]

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, **attrs: Any
    ) -> Sequence[Array | None]:
        index = _ranges(
            x.shape, attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), attrs.get("steps")
        )
        gx = np.zeros(x.shape)
        gx[index] = g
        return (gx,)

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        return f"1 on the elements taken, 0 on the rest of {names[0]}"
