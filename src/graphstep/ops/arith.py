"""Elementwise arithmetic: + - * / unary minus, ** a constant, max and min."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .registry import Op, OpError, Shape, broadcast_shape, register, unbroadcast


class _Binary(Op):
    args = ("a", "b")
    elementwise = True

    def shape(self, a: Shape, b: Shape) -> Shape:
        return broadcast_shape(a, b)


@register
class Add(_Binary):
    name = "add"
    symbol = "+"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(g, a), unbroadcast(g, b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return "1"


@register
class Sub(_Binary):
    name = "sub"
    symbol = "-"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(g, a), unbroadcast(-g, b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return "1" if i == 0 else "-1"


@register
class Mul(_Binary):
    name = "mul"
    symbol = "*"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(g * b, a), unbroadcast(g * a, b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return names[1 - i]


@register
class Div(_Binary):
    name = "div"
    symbol = "/"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a / b

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(g / b, a), unbroadcast(-g * a / (b * b), b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"1/{names[1]}" if i == 0 else f"-{names[0]}/{names[1]}²"


@register
class Neg(Op):
    name = "neg"
    args = ("a",)
    elementwise = True
    symbol = "-"

    def shape(self, a: Shape) -> Shape:
        return a

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, g: np.ndarray, out: np.ndarray, a: np.ndarray) -> tuple[np.ndarray]:
        return (-g,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return "-1"


@register
class Pow(Op):
    """`a ** p` with a constant exponent p."""

    name = "pow"
    args = ("a",)
    elementwise = True
    attrs: ClassVar[Mapping[str, Any]] = {"p": 2.0}

    def shape(self, a: Shape, p: float = 2.0) -> Shape:
        if not isinstance(p, int | float) or isinstance(p, bool):
            raise OpError("the exponent of ** must be a number")
        return a

    def forward(self, a: np.ndarray, p: float = 2.0) -> np.ndarray:
        return a**p

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, p: float = 2.0
    ) -> tuple[np.ndarray]:
        if p == 0:  # a ** 0 is 1 everywhere, 0 ** 0 included: no slope, not 0 · 0 ** -1
            return (np.zeros_like(g * a),)
        return (g * p * a ** (p - 1),)

    def local(self, i: int, names: Sequence[str], out: str, p: float = 2.0) -> str:
        if p in (0, 1):
            return _num(p)
        power = "" if p == 2 else f"^{_num(p - 1)}"
        return f"{_num(p)}·{names[0]}{power}"

    def formula(self, names: Sequence[str], p: float = 2.0, **attrs: Any) -> str:
        return f"{names[0]} ** {_num(p)}"


def _num(x: float) -> str:
    return f"{x:g}"


@register
class Max(_Binary):
    """Elementwise maximum. At a tie the gradient is split 0.5 / 0.5, as torch.maximum does."""

    name = "max"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.maximum(a, b)

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        share = (a > b) + 0.5 * (a == b)
        return unbroadcast(g * share, a), unbroadcast(g * (1.0 - share), b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        mine, other = names[i], names[1 - i]
        return f"1({mine} > {other}) + ½·1({mine} = {other})"


@register
class Min(_Binary):
    """Elementwise minimum; ties split the gradient evenly, as for max."""

    name = "min"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.minimum(a, b)

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        share = (a < b) + 0.5 * (a == b)
        return unbroadcast(g * share, a), unbroadcast(g * (1.0 - share), b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        mine, other = names[i], names[1 - i]
        return f"1({mine} < {other}) + ½·1({mine} = {other})"


@register
class Identity(Op):
    """`b: a` — an entry that only names another node."""

    name = "identity"
    args = ("a",)
    elementwise = True

    def shape(self, a: Shape) -> Shape:
        return a

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a

    def backward(self, g: np.ndarray, out: np.ndarray, a: np.ndarray) -> tuple[np.ndarray]:
        return (g,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return "1"

    def formula(self, names: Sequence[str], **attrs: Any) -> str:
        return names[0]
