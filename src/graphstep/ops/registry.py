"""The op registry: every operator and function of a graph, one class each.

An op keeps side by side, as micrograd's engine does, the four things that
define it: its shape rule, its forward, its backward (the vector-Jacobian
product) and the text of its local gradient. Adding an op touches one file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeGuard, runtime_checkable

import numpy as np

Shape = tuple[int, ...]
Array = np.ndarray | np.float64  # a value or a gradient: numpy gives a scalar for shape ()


class OpError(ValueError):
    """A shape or attribute error; the graph builder places it at the node's location."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Op:
    """One operation. Subclasses set the class attributes and define the four methods below.

    `forward(*inputs, **attrs)` returns the output (an array, or a float64 scalar where
    numpy reduces to one); `backward(g, out, *inputs, **attrs)` returns one gradient per
    input (None for an input that carries no gradient, such as a class index);
    `shape(*shapes, **attrs)` gives the output shape without computing anything;
    `local(i, names, out, **attrs)` is the local gradient ∂out/∂input_i as text over the
    inputs' names, e.g. 'z'.
    """

    name: ClassVar[str]
    args: ClassVar[tuple[str, ...]]  # the inputs' roles, in order: ("x", "w", "b")
    optional: ClassVar[int] = 0  # how many trailing inputs may be left out
    attrs: ClassVar[Mapping[str, Any]] = {}  # keyword attributes and their defaults
    symbol: ClassVar[str | None] = None  # infix operators: "+", "@", ...
    variadic: ClassVar[bool] = False  # takes any number ≥ 1 of inputs of the one role in args
    grad_inputs: ClassVar[tuple[bool, ...] | None] = None  # which inputs carry gradient
    elementwise: ClassVar[bool] = False  # element i of the output reads element i of each input

    # Each op names its own inputs and keywords (`forward(self, a, b)`, `shape(self, x,
    # size=2, stride=None)`), so here the arguments are `...`: the builder checks the
    # number of inputs and the keywords against `args` and `attrs` before any call.
    shape: Callable[..., Shape]
    forward: Callable[..., Array]
    backward: Callable[..., Sequence[Array | None]]
    local: Callable[..., str]

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        """How many numbers the largest temporary of forward or backward holds (or its windows
        read), from shapes alone: checked against the limits before anything is allocated."""
        return 0

    def formula(self, names: Sequence[str], **attrs: Any) -> str:
        """How the node is computed, over names or numbers: 'x + y', 'max(4, 2)'."""
        if self.symbol is not None:
            if len(names) == 1:
                return f"{self.symbol}{names[0]}"
            return f"{names[0]} {self.symbol} {names[1]}"
        shown = [f"{k}={_attr_text(v)}" for k, v in attrs.items() if v != self.attrs.get(k)]
        return f"{self.name}({', '.join([*names, *shown])})"

    def carries_grad(self, i: int) -> bool:
        return self.grad_inputs is None or self.grad_inputs[i]


@runtime_checkable
class Composite(Protocol):
    """An op the debugger steps window by window (conv2d, local2d, the pools).

    Output position (i, j) reads rows and columns `window(i, j, *shapes, **attrs)`
    of its first input, padded by `padding(*shapes, **attrs)` zeros on each side;
    `grid(*shapes, **attrs)` is (Ho, Wo), how many positions there are down and across.
    """

    def grid(self, *shapes: Any, **attrs: Any) -> tuple[int, int]: ...

    def window(self, i: int, j: int, *shapes: Any, **attrs: Any) -> tuple[slice, slice]: ...

    def padding(self, *shapes: Any, **attrs: Any) -> tuple[int, int]: ...


_COMPOSITE: dict[type[Op], bool] = {}


def is_composite(op: Op) -> TypeGuard[Composite]:
    """Whether `op` has the Composite protocol; asked once per op class, since an isinstance
    check against a protocol costs tens of microseconds."""
    cls = type(op)
    known = _COMPOSITE.get(cls)
    if known is None:
        known = _COMPOSITE[cls] = issubclass(cls, Composite)
    return known


def _attr_text(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_attr_text(v) for v in value) + "]"
    return str(value)


OPS: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: make the op callable by its name in expressions."""
    OPS[cls.name] = cls()
    return cls


def gate(g: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """g where `passes`, 0 elsewhere: relu's and clip's backward. An infinite or NaN gradient
    stays out of the cells it does not reach, as PyTorch's threshold_backward keeps it
    (`g * passes` makes inf · 0 a NaN); the product is the fast path, taken when its sum
    says every number in it is finite."""
    with np.errstate(invalid="ignore", over="ignore"):
        out = g * passes
        if np.isfinite(np.add.reduce(out, axis=None)):
            return out
    return np.where(passes, g, 0.0)


def unbroadcast(g: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Sum `g` over the dimensions that numpy broadcasting added to `like`."""
    shape = like.shape if hasattr(like, "shape") else np.shape(like)
    if (g.shape if hasattr(g, "shape") else np.shape(g)) == shape:
        return g
    g = np.asarray(g)
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g


def broadcast_shape(*shapes: Shape) -> Shape:
    """numpy's broadcasting of shapes, in plain Python: np.broadcast_shapes builds arrays, and
    a model's import asks this of thousands of nodes."""
    first = tuple(shapes[0]) if shapes else ()
    for shape in shapes[1:]:
        if tuple(shape) != first:
            break
    else:  # all the same, as most are
        return first
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for shape in shapes:
        for k, n in enumerate(shape, ndim - len(shape)):
            if n == out[k] or n == 1:
                continue
            if out[k] != 1:
                raise OpError(
                    "shapes " + " and ".join(str(list(s)) for s in shapes) + " do not broadcast",
                    hint="numpy broadcasting: trailing dimensions must be equal or 1",
                )
            out[k] = n
    return tuple(out)
