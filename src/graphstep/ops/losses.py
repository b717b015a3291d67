"""Losses: the scalars that backprop starts from. cross_entropy and norm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .registry import Op, OpError, Shape, register


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - np.max(logits, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


@register
class CrossEntropy(Op):
    """−log softmax(logits)[target]: logits (K,) with one class index, or (N, K) with N of them.

    A batch gives the mean over its N rows, as torch's cross_entropy does. The
    target is data, not a function of anything trained, so it carries no
    gradient; its values are only known when the graph runs, so a target that
    is not a class index is refused by forward, not by the shape rule.
    """

    name = "cross_entropy"
    args = ("logits", "target")
    grad_inputs: ClassVar[tuple[bool, ...]] = (True, False)

    def shape(self, logits: Shape, target: Shape) -> Shape:
        if len(logits) not in (1, 2):
            raise OpError(
                f"logits must be (K,) or (N, K), got shape {list(logits)}",
                hint="one row of class scores per example",
            )
        if logits[-1] < 1 or (len(logits) == 2 and logits[0] < 1):
            raise OpError(f"logits of shape {list(logits)} are empty")
        if tuple(target) != tuple(logits[:-1]):
            wanted = "a single class index" if len(logits) == 1 else f"{logits[0]} class indices"
            raise OpError(
                f"logits of shape {list(logits)} need {wanted} as target, got shape {list(target)}",
                hint="the target holds class indices 0 … K−1, not one-hot rows",
            )
        return ()

    def forward(self, logits: np.ndarray, target: np.ndarray) -> np.ndarray:
        picked = np.take_along_axis(_log_softmax(logits), _classes(logits, target), axis=-1)
        return -np.mean(picked)

    def backward(
        self, g: np.ndarray, out: np.ndarray, logits: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, None]:
        classes = _classes(logits, target)
        grad = np.exp(_log_softmax(logits))
        np.put_along_axis(grad, classes, np.take_along_axis(grad, classes, -1) - 1.0, axis=-1)
        rows = logits.shape[0] if logits.ndim == 2 else 1
        return grad * (g / rows), None

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        if i == 1:
            return "none (class indices carry no gradient)"
        return f"softmax({names[0]}) − onehot({names[1]}), ÷ N over a batch of N"


def _classes(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The target as integer indices shaped for take_along_axis, checked against the K classes."""
    t = np.asarray(target, dtype=float)
    classes = logits.shape[-1]
    bad = ~np.isfinite(t) | (t != np.round(t)) | (t < 0) | (t >= classes)
    if np.any(bad):
        value = t[bad][0] if t.ndim else t
        raise OpError(
            f"target {value:g} is not a class index of logits with {classes} classes",
            hint=f"targets are the integers 0 … {classes - 1}",
        )
    return t.astype(np.intp)[..., None]


@register
class Norm(Op):
    """‖x‖, the L2 norm over all elements (the seed's loss ‖y − ŷ‖).

    Its gradient x/‖x‖ is undefined at x = 0; there it is 0 (the subgradient
    torch also picks), so a perfect fit stops the descent instead of giving NaN.
    """

    name = "norm"
    args = ("x",)

    def shape(self, x: Shape) -> Shape:
        return ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(np.sum(np.square(x)))

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        if out == 0:
            return (np.zeros_like(x),)
        return (g * x / out,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"{names[0]}/{out}"
