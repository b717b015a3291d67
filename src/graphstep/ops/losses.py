"""Losses: the scalars that backprop starts from. cross_entropy, norm, hinge, smooth_l1."""

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
        return _class_loss_shape("logits", logits, target)

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


def _class_loss_shape(role: str, scores: Shape, target: Shape) -> Shape:
    """The shape rule of a classification loss: scores (K,) or (N, K), one class index per row."""
    if len(scores) not in (1, 2):
        raise OpError(
            f"{role} must be (K,) or (N, K), got shape {list(scores)}",
            hint="one row of class scores per example",
        )
    if scores[-1] < 1 or (len(scores) == 2 and scores[0] < 1):
        raise OpError(f"{role} of shape {list(scores)} are empty")
    if tuple(target) != tuple(scores[:-1]):
        wanted = "a single class index" if len(scores) == 1 else f"{scores[0]} class indices"
        raise OpError(
            f"{role} of shape {list(scores)} need {wanted} as target, got shape {list(target)}",
            hint="the target holds class indices 0 … K−1, not one-hot rows",
        )
    return ()


def _classes(scores: np.ndarray, target: np.ndarray, role: str = "logits") -> np.ndarray:
    """The target as integer indices shaped for take_along_axis, checked against the K classes."""
    t = np.asarray(target, dtype=float)
    classes = scores.shape[-1]
    bad = ~np.isfinite(t) | (t != np.round(t)) | (t < 0) | (t >= classes)
    if np.any(bad):
        value = t[bad][0] if t.ndim else t
        raise OpError(
            f"target {value:g} is not a class index of {role} with {classes} classes",
            hint=f"targets are the integers 0 … {classes - 1}",
        )
    return t.astype(np.intp)[..., None]


@register
class Norm(Op):
    """‖x‖, the L2 norm over all elements (the lecture's loss ‖y − ŷ‖).

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


@register
class Hinge(Op):
    """The multi-class SVM loss, margin 1: Σ over j ≠ y of max(0, s_j − s_y + 1).

    scores (K,) with one class index y, or (N, K) with N of them and the mean
    over the rows (so the CS231n example, scores [3.2, 5.1, −1.7] with y = 0,
    gives 2.9). torch's multi_margin_loss also divides each row by K: it is
    this loss / K. The target is handled as in cross_entropy: no gradient, and
    a value that is not a class index is refused by forward.

    At a kink (a margin s_j − s_y + 1 of exactly 0) the term counts as
    inactive and gives gradient 0, as multi_margin_loss does.
    """

    name = "hinge"
    args = ("scores", "target")
    grad_inputs: ClassVar[tuple[bool, ...]] = (True, False)

    def shape(self, scores: Shape, target: Shape) -> Shape:
        return _class_loss_shape("scores", scores, target)

    def _active(self, scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, ...]:
        """The target's column, and the margins with the target's own term set to 0."""
        classes = _classes(scores, target, "scores")
        margins = scores - np.take_along_axis(scores, classes, axis=-1) + 1.0
        np.put_along_axis(margins, classes, 0.0, axis=-1)
        return classes, margins

    def forward(self, scores: np.ndarray, target: np.ndarray) -> np.ndarray:
        _, margins = self._active(scores, target)
        rows = scores.shape[0] if scores.ndim == 2 else 1
        return np.sum(np.maximum(margins, 0.0)) / rows

    def backward(
        self, g: np.ndarray, out: np.ndarray, scores: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, None]:
        classes, margins = self._active(scores, target)
        grad = (margins > 0).astype(float)
        np.put_along_axis(grad, classes, -grad.sum(axis=-1, keepdims=True), axis=-1)
        rows = scores.shape[0] if scores.ndim == 2 else 1
        return grad * (g / rows), None

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        if i == 1:
            return "none (class indices carry no gradient)"
        s, y = names
        return (
            f"1({s}_j − {s}_y + 1 > 0) for j ≠ y, minus their count at y = {y}; "
            "÷ N over a batch of N"
        )


@register
class SmoothL1(Op):
    """torch.nn.functional.smooth_l1_loss with beta 1, mean over all elements.

    With d = a − b: 0.5·d² where |d| < 1, |d| − 0.5 elsewhere. Its derivative
    is clip(d, −1, 1): quadratic near the target, so small errors get small
    gradients, and never steeper than 1, so outliers cannot blow up the
    gradient (why Fast R-CNN regresses boxes with it). a and b must have the
    same shape: broadcasting a target against a prediction is more often a
    bug than intended, and torch warns about it too.
    """

    name = "smooth_l1"
    args = ("a", "b")

    def shape(self, a: Shape, b: Shape) -> Shape:
        if tuple(a) != tuple(b):
            raise OpError(
                f"a and b must have the same shape, got {list(a)} and {list(b)}",
                hint="smooth_l1 compares a prediction with a target element by element",
            )
        if 0 in a:
            raise OpError(f"a and b of shape {list(a)} are empty")
        return ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = np.abs(a - b)
        return np.mean(np.where(d < 1.0, 0.5 * d * d, d - 0.5))

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        grad = np.clip(a - b, -1.0, 1.0) * (g / np.size(a))
        return grad, -grad

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        a, b = names
        sign = "" if i == 0 else "−"
        return f"{sign}clip({a} − {b}, −1, 1)/size({a})"
