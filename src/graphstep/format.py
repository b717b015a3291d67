"""Numbers and tensors as short text, the same in every view.

The transcript, the TUI, the diagrams and the JSON-free parts of the command
line all show values through these functions, so `-4` reads `-4` everywhere
(not `-4.0` in one place and `-4.000000` in another). Six significant digits
are enough to check a hand computation and short enough to sit on an edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

SMALL = 16  # tensors with at most this many elements are shown number by number


def number(x: Any) -> str:
    """`-4`, `3.25`, `0.333333`, `nan`, `inf`: six significant digits, no trailing zeros."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"  # also -0.0, which would read as a sign error
    return f"{x:.6g}"


def shape(dims: Sequence[int]) -> str:
    """`[6×28×28]`; a scalar is `[]`."""
    return "[" + "×".join(str(int(n)) for n in dims) + "]"


def index(position: Sequence[int]) -> str:
    """An element's position as in the transcript: `[0,1]`."""
    return "[" + ",".join(str(int(i)) for i in position) + "]"


def tensor(a: Any, limit: int = SMALL) -> str:
    """A scalar as `number`; up to `limit` elements as nested lists; else shape and range.

    A large tensor reads `[6×28×28] min -1.2 max 3.4`, with a count of its
    non-finite elements when there are any, since those are what a user hunts.
    """
    array = np.asarray(a, dtype=np.float64)
    if array.ndim == 0:
        return number(array)
    if array.size <= limit:
        return _nested(array)
    finite = np.isfinite(array)
    text = shape(array.shape)
    if finite.any():
        text += f" min {number(array[finite].min())} max {number(array[finite].max())}"
    for label, mask in (
        ("nan", np.isnan(array)),
        ("inf", np.isposinf(array)),
        ("-inf", np.isneginf(array)),
    ):
        count = int(mask.sum())
        if count:
            text += f" {label}×{count}"
    return text


def _nested(array: np.ndarray) -> str:
    if array.ndim == 0:
        return number(array)
    return "[" + ", ".join(_nested(row) for row in array) + "]"
