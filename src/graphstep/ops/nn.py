"""Layers of imported networks: batchnorm, leaky_relu, log_softmax, lrn, sqrt, clip, power
and argmax (the class a classifier picks, which carries no gradient)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np

from .activations import _Elementwise
from .registry import (
    Array,
    Op,
    OpError,
    Shape,
    broadcast_shape,
    gate,
    register,
    unbroadcast,
)
from .tensor import Softmax, _axes, _is_int

BLOCK = 1 << 15  # numbers in a temporary that stays in cache (256 KiB)


def _channel_view(v: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-channel vector (C,) shaped to broadcast along `axis` of an ndim tensor."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(v, shape)


@register
class Batchnorm(Op):
    """Batch normalization in inference form, per channel c along `axis` (1: (N, C, ...)):
    y = scale·(x − mean)/√(var + ε) + bias, with the running mean and var as inputs."""

    name = "batchnorm"
    args = ("x", "scale", "bias", "mean", "var")
    attrs: ClassVar[Mapping[str, Any]] = {"epsilon": 1e-5, "axis": 1}

    def shape(
        self, x: Shape, scale: Shape, bias: Shape, mean: Shape, var: Shape, **attrs: Any
    ) -> Shape:
        (axis,) = _axes(attrs.get("axis", 1), len(x))
        c = x[axis]
        for role, s in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var)):
            if tuple(s) != (c,):
                raise OpError(
                    f"{role} must be one number per channel, shape [{c}], got {list(s)}",
                    hint=f"x has {c} channels along axis {axis}",
                )
        eps = attrs.get("epsilon", 1e-5)
        if not isinstance(eps, int | float) or isinstance(eps, bool) or eps < 0:
            raise OpError(f"epsilon must be a number ≥ 0, got {eps!r}")
        return x

    def _parts(
        self, x: np.ndarray, var: np.ndarray, epsilon: float, axis: int
    ) -> tuple[int, np.ndarray]:
        (a,) = _axes(axis, x.ndim)
        inv = 1.0 / np.sqrt(var + epsilon)
        return a, inv

    def forward(
        self,
        x: np.ndarray,
        scale: np.ndarray,
        bias: np.ndarray,
        mean: np.ndarray,
        var: np.ndarray,
        epsilon: float = 1e-5,
        axis: int = 1,
    ) -> Array:
        a, inv = self._parts(x, var, epsilon, axis)
        ch = partial(_channel_view, ndim=x.ndim, axis=a)
        return ch(scale * inv) * (x - ch(mean)) + ch(bias)

    def backward(
        self,
        g: np.ndarray,
        out: np.ndarray,
        x: np.ndarray,
        scale: np.ndarray,
        bias: np.ndarray,
        mean: np.ndarray,
        var: np.ndarray,
        epsilon: float = 1e-5,
        axis: int = 1,
    ) -> Sequence[Array | None]:
        a, inv = self._parts(x, var, epsilon, axis)
        ch = partial(_channel_view, ndim=x.ndim, axis=a)
        others = tuple(d for d in range(x.ndim) if d != a)
        gx = g * ch(scale * inv)
        gbias = np.sum(g, axis=others)
        # Σ g·(x − mean) over every axis but the channels', in one pass (no product array) over
        # a block of channels at a time: x − mean stays in cache, no tensor-sized temporary
        axes = list(range(x.ndim))
        channels = x.shape[a]
        step = max(1, BLOCK // max(1, x.size // max(1, channels)))
        gcentred = np.empty(channels)
        for c in range(0, channels, step):
            block = (slice(None),) * a + (slice(c, c + step),)
            centred = x[block] - ch(mean[c : c + step])
            gcentred[c : c + step] = np.einsum(g[block], axes, centred, axes, [a])
        gscale = gcentred * inv
        gmean = -gbias * scale * inv  # Σ gx per channel
        gvar = gcentred * scale * -0.5 * inv**3
        return gx, gscale, gbias, gmean, gvar

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        x, scale, _, mean, var = names
        root = f"√({var} + ε)"
        return (
            f"{scale}/{root}",
            f"({x} − {mean})/{root}",
            "1",
            f"−{scale}/{root}",
            f"−½·{scale}·({x} − {mean})/({var} + ε)^1.5",
        )[i]


@register
class LeakyRelu(_Elementwise):
    """x for x > 0, alpha·x otherwise; at 0 the slope is alpha, as torch's leaky_relu."""

    name = "leaky_relu"
    attrs: ClassVar[Mapping[str, Any]] = {"alpha": 0.01}

    def forward(self, x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
        return np.where(x > 0, x, alpha * x)

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, alpha: float = 0.01
    ) -> Sequence[Array | None]:
        return (g * np.where(x > 0, 1.0, alpha),)

    def local(self, i: int, names: Sequence[str], out: str, alpha: float = 0.01) -> str:
        return f"1({names[0]} > 0) + {alpha:g}·1({names[0]} ≤ 0)"


@register
class Sqrt(_Elementwise):
    name = "sqrt"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> Sequence[Array | None]:
        return (g * 0.5 / out,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"1/(2·{out})"


@register
class Clip(_Elementwise):
    """x limited to [low, high]; the gradient passes where low ≤ x ≤ high (at a bound too,
    as torch's clamp). With low > high everything is high, as in ONNX, and no gradient passes."""

    name = "clip"
    attrs: ClassVar[Mapping[str, Any]] = {"low": None, "high": None}

    def shape(self, x: Shape, **attrs: Any) -> Shape:
        for key in ("low", "high"):
            v = attrs.get(key)
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool)):
                raise OpError(f"{key} must be a number, got {v!r}")
        return x

    def _bounds(self, low: Any, high: Any) -> tuple[float, float]:
        return (-np.inf if low is None else low), (np.inf if high is None else high)

    def forward(self, x: np.ndarray, low: Any = None, high: Any = None) -> np.ndarray:
        lo, hi = self._bounds(low, high)
        return np.minimum(np.maximum(x, lo), hi)

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, low: Any = None, high: Any = None
    ) -> Sequence[Array | None]:
        lo, hi = self._bounds(low, high)
        return (gate(g, (x >= lo) & (x <= hi)),)

    def local(
        self, i: int, names: Sequence[str], out: str, low: Any = None, high: Any = None
    ) -> str:
        lo = "−∞" if low is None else f"{low:g}"
        hi = "∞" if high is None else f"{high:g}"
        return f"1({lo} ≤ {names[0]} ≤ {hi})"


@register
class Power(Op):
    """a ** b with both a tensor (broadcasting); ∂/∂b = a^b·ln a, taken as 0 where a ≤ 0."""

    name = "power"
    args = ("a", "b")

    def shape(self, a: Shape, b: Shape) -> Shape:
        return broadcast_shape(a, b)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.power(a, b)

    def backward(
        self, g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> Sequence[Array | None]:
        safe = np.where(a > 0, a, 1.0)
        ga = g * b * np.power(np.where(a == 0, 1.0, a), b - 1) * np.where(a == 0, b == 1, 1.0)
        gb = g * out * np.log(safe) * (a > 0)
        return unbroadcast(ga, a), unbroadcast(gb, b)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        a, b = names
        return f"{b}·{a}^({b} − 1)" if i == 0 else f"{out}·ln {a}"

    def formula(self, names: Sequence[str], **attrs: Any) -> str:
        return f"{names[0]} ** {names[1]}"


@register
class LogSoftmax(Softmax):
    """x − log Σ e^x along `axis`, computed without overflow; the Jacobian is I − softmax."""

    name = "log_softmax"

    def forward(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        z = x - np.max(x, axis=axis, keepdims=True)
        return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: int = -1
    ) -> tuple[np.ndarray]:
        return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)

    def local(self, i: int, names: Sequence[str], out: str, axis: int = -1) -> str:
        return f"I − softmax({names[0]})"


@register
class Lrn(Op):
    """Local response normalization across channels (axis 1), as ONNX's LRN and AlexNet:
    y = x / (bias + alpha/size · Σ x²)^beta, the sum over `size` neighbouring channels."""

    name = "lrn"
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}

    def shape(self, x: Shape, **attrs: Any) -> Shape:
        if len(x) < 3:
            raise OpError(f"x must be (N, C, ...), got shape {list(x)}")
        size = attrs.get("size", 5)
        if not _is_int(size) or size < 1:
            raise OpError(f"size must be a positive integer, got {size!r}")
        return x

    def _sides(self, size: int) -> tuple[int, int]:
        """Channels before and after c in c's window: ⌊(size−1)/2⌋ and ⌈(size−1)/2⌉."""
        return (size - 1) // 2, size - 1 - (size - 1) // 2

    def _base(self, x: np.ndarray, size: int, alpha: float, bias: float) -> np.ndarray:
        before, after = self._sides(size)
        return bias + alpha / size * _band(x * x, before, after)

    def forward(
        self,
        x: np.ndarray,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        bias: float = 1.0,
    ) -> np.ndarray:
        return x * self._base(x, size, alpha, bias) ** -beta

    def backward(
        self,
        g: np.ndarray,
        out: np.ndarray,
        x: np.ndarray,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        bias: float = 1.0,
    ) -> Sequence[Array | None]:
        base = self._base(x, size, alpha, bias)
        before, after = self._sides(size)
        # x_j is in the window of every channel c with j − after ≤ c ≤ j + before
        through = g * x * -beta * base ** (-beta - 1) * (alpha / size)
        return (g * base**-beta + 2 * x * _band(through, after, before),)

    def local(self, i: int, names: Sequence[str], out: str, **attrs: Any) -> str:
        return (
            f"d/d{names[0]} of {names[0]}/(bias + α/size·Σ {names[0]}²)^β (neighbouring channels)"
        )


def _band(v: np.ndarray, before: int, after: int) -> np.ndarray:
    """Σ of v over channels c − before … c + after (axis 1), for every channel c."""
    padded = np.pad(v, [(0, 0), (before, after)] + [(0, 0)] * (v.ndim - 2))
    csum = np.concatenate([np.zeros_like(padded[:, :1]), np.cumsum(padded, axis=1)], axis=1)
    c, width = v.shape[1], before + after + 1
    return csum[:, width : width + c] - csum[:, :c]


@register
class Argmax(Op):
    """The index of the largest element along `axis` (the first at a tie), as a float.

    It is the class a classifier picks; an index is not a function anything can
    be nudged along, so it sends no gradient back.
    """

    name = "argmax"
    args = ("x",)
    attrs: ClassVar[Mapping[str, Any]] = {"axis": -1}
    grad_inputs: ClassVar[tuple[bool, ...]] = (False,)

    def shape(self, x: Shape, axis: Any = -1) -> Shape:
        if not x:
            raise OpError("x is a scalar", hint="argmax picks along an axis")
        if not _is_int(axis):
            raise OpError(f"axis must be one integer, got {axis!r}")
        (a,) = _axes(axis, len(x))
        return tuple(n for d, n in enumerate(x) if d != a)

    def forward(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.argmax(x, axis=axis).astype(np.float64)

    def backward(
        self, g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: int = -1
    ) -> tuple[None]:
        return (None,)

    def local(self, i: int, names: Sequence[str], out: str, axis: int = -1) -> str:
        return "none (an index carries no gradient)"
