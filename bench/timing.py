"""What the benchmarks share: timing a call the way noise cannot flatter."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeats: int = 1) -> float:
    """The best of `repeats` runs, in seconds: the machine's noise only ever adds time."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
