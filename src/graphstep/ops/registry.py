"""The op registry: every operator and function of a graph, one class each.

An op keeps side by side, as micrograd's engine does, the four things that
define it: its shape rule, its forward, its backward (the vector-Jacobian
product) and the text of its local gradient. Adding an op touches one file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

Shape = tuple[int, ...]
Attrs = Mapping[str, Any]


class OpError(ValueError):
    """A shape or attribute error; the graph builder places it at the node's location."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Op:
    """One operation. Subclasses set the class attributes and override the methods.

    `forward(*inputs, **attrs)` returns the output array; `backward(g, out, *inputs,
    **attrs)` returns one gradient per input (None for an input that carries no
    gradient, such as a class index); `shape(*shapes, **attrs)` gives the output
    shape without computing anything.
    """

    name: ClassVar[str]
    args: ClassVar[tuple[str, ...]]  # the inputs' roles, in order: ("x", "w", "b")
    optional: ClassVar[int] = 0  # how many trailing inputs may be left out
    attrs: ClassVar[Mapping[str, Any]] = {}  # keyword attributes and their defaults
    symbol: ClassVar[str | None] = None  # infix operators: "+", "@", ...
    composite: ClassVar[bool] = False  # conv and pool: steppable window by window
    grad_inputs: ClassVar[tuple[bool, ...] | None] = None  # which inputs carry gradient

    def shape(self, *shapes: Shape, **attrs: Any) -> Shape:
        raise NotImplementedError

    def forward(self, *inputs: np.ndarray, **attrs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self, g: np.ndarray, out: np.ndarray, *inputs: np.ndarray, **attrs: Any
    ) -> Sequence[np.ndarray | None]:
        raise NotImplementedError

    def scratch(self, *shapes: Shape, **attrs: Any) -> int:
        """How many numbers the largest temporary of forward or backward holds (or its windows
        read), from shapes alone: checked against the limits before anything is allocated."""
        return 0

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        """The local gradient ∂out/∂input_i as text over the inputs' names, e.g. 'z'."""
        raise NotImplementedError

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
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise OpError(
            "shapes " + " and ".join(str(list(s)) for s in shapes) + " do not broadcast",
            hint="numpy broadcasting: trailing dimensions must be equal or 1",
        ) from None
