"""L2 norms past float64's squares: scaled, never inf or 0 for finite non-zero numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from graphstep.norms import l2, l2_by

MODERATE = st.floats(-1e3, 1e3).filter(lambda x: x == 0 or abs(x) > 1e-3)


@given(arrays(np.float64, st.integers(1, 40), elements=MODERATE))
def test_l2_equals_numpy_in_range_and_scales_past_it(a: np.ndarray) -> None:
    norm = float(np.linalg.norm(a))
    assert l2(a) == pytest.approx(norm, rel=1e-12)
    for scale in (1e200, 1e-200, 1e300, 1e-300):
        assert l2(a * scale) == pytest.approx(norm * scale, rel=1e-12, abs=0)


def test_l2_keeps_what_is_not_finite() -> None:
    assert math.isnan(l2([1.0, math.nan])) and math.isnan(l2([math.inf, math.nan]))
    assert l2([math.inf, 1.0]) == math.inf and l2([-math.inf]) == math.inf
    assert l2(np.zeros((0, 3))) == 0.0 and l2(np.zeros(3)) == 0.0 and l2(-2.5) == 2.5
    assert l2([5e-324, 5e-324]) == pytest.approx(math.sqrt(2) * 5e-324, rel=0.5)


def test_l2_by_groups() -> None:
    groups = np.array([0, 0, 1, 2, 2, 3, 3])
    norms = np.array([3.0, 4.0, 1e200, 1e-200, 1e-200, math.inf, 1.0])
    got = l2_by(groups, norms, 5)
    assert got[:3].tolist() == pytest.approx([5.0, 1e200, math.sqrt(2) * 1e-200], rel=1e-12)
    assert got[3] == math.inf and got[4] == 0.0
    assert math.isnan(l2_by(np.array([0, 0]), np.array([math.nan, 1.0]), 1)[0])
