"""L2 norms that neither overflow nor underflow.

A gradient of 1e200 squares to inf, one of 1e-200 to 0: summing squares would call
the first infinite and the second zero (and the doctor would report a zero gradient
that is not there). Each norm here is scaled by the largest magnitude first whenever
the plain sum of squares leaves float64's normal range. Non-finite numbers stay what
they are: a NaN gives NaN, an infinity (with no NaN) gives inf.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Sums of squares in [_TINY, _HUGE] are exact enough as they are; outside, scale.
_TINY = 1e-290
_HUGE = 1e290


def l2(a: Any) -> float:
    """‖a‖₂ of a number or an array of any shape."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return abs(float(a))
    if a.size == 0:
        return 0.0
    with np.errstate(over="ignore", under="ignore"):
        squares = float(np.dot(a.ravel(), a.ravel()))
    if _TINY <= squares <= _HUGE or (squares == 0.0 and not a.any()):
        return math.sqrt(squares)
    top = float(np.abs(a).max())
    if not 0.0 < top < math.inf:  # NaN or inf inside: the plain sum says which
        return math.nan if math.isnan(squares) else top
    scaled = a.ravel() / top
    return top * math.sqrt(float(np.dot(scaled, scaled)))


def l2_by(groups: np.ndarray, norms: np.ndarray, size: int) -> np.ndarray:
    """For each group g < size: sqrt(Σ norms[i]² over i with groups[i] == g), the norm of
    parts whose norms are given, each group scaled by its largest part (0 for no part)."""
    top = np.zeros(size)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.maximum.at(top, groups, norms)
        scale = top[groups]
        ratio = np.where(scale > 0, norms / np.where(scale > 0, scale, 1.0), 0.0)
        total = top * np.sqrt(np.bincount(groups, ratio * ratio, minlength=size))
    return np.where(np.isinf(top), top, total)
