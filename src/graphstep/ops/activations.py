"""Elementwise functions of one tensor: relu, sigmoid, tanh, exp, log and abs.

Each backward is `g` times the local derivative, and where that derivative is
cheapest in terms of the output (sigmoid, tanh, exp) it is written that way, as
on the slides: σ' = σ(1 − σ).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .registry import Op, Shape, gate, register


class _Elementwise(Op):
    args = ("x",)
    elementwise = True

    def shape(self, x: Shape, **attrs: Any) -> Shape:
        return x


@register
class Relu(_Elementwise):
    """max(x, 0). At x = 0 the gradient is 0, as in torch: the kink counts as "off"."""

    name = "relu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (gate(g, x > 0),)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"1({names[0]} > 0)"


@register
class Sigmoid(_Elementwise):
    """1 / (1 + e^−x), computed without overflow for large |x|."""

    name = "sigmoid"

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))
        return np.where(np.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (g * out * (1.0 - out),)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"{out}·(1 − {out})"


@register
class Tanh(_Elementwise):
    name = "tanh"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (g * (1.0 - out * out),)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"1 − {out}²"


@register
class Exp(_Elementwise):
    name = "exp"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (g * out,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return out


@register
class Log(_Elementwise):
    """Natural logarithm. log of x ≤ 0 gives NaN or −inf: an anomaly that the trace reports."""

    name = "log"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (g / x,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"1/{names[0]}"


@register
class Abs(_Elementwise):
    """|x|. At x = 0 the gradient is 0 (sign(0) = 0), as in torch."""

    name = "abs"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (g * np.sign(x),)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"sign({names[0]})"
