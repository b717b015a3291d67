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


def data_size(n: float) -> str:
    """`1.6 GB`: a count of bytes, three significant digits."""
    if isinstance(n, int) and n >= 10**15:
        return f"{n // 10**12:,} TB"  # whole numbers: a float would overflow
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:,.3g} TB" if n < 1000 else f"{n:,.0f} TB"


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


def plural(n: int, noun: str, written: str | None = None) -> str:
    """`1 parameter`, `2 parameters`; `written` is n as shown (`1,600,000,000 (1.6 billion)`)."""
    return f"{written or f'{n:,}'} {noun}{'' if n == 1 else 's'}"


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
    return f"{text} {non_finite(array)}".rstrip()


def non_finite(array: np.ndarray) -> str:
    """`nan×3 inf×1`: how many of each non-finite number a tensor holds; empty if none."""
    counts = [
        (label, int(mask.sum()))
        for label, mask in (
            ("nan", np.isnan(array)),
            ("inf", np.isposinf(array)),
            ("-inf", np.isneginf(array)),
        )
    ]
    return " ".join(f"{label}×{count}" for label, count in counts if count)


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, the header underlined: the lines of a text table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    return [line(rows[0]), "  ".join("─" * w for w in widths), *(line(row) for row in rows[1:])]


def _nested(array: np.ndarray) -> str:
    if array.ndim == 0:
        return number(array)
    return "[" + ", ".join(_nested(row) for row in array) + "]"


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"})
_INVISIBLE = [0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_CONTROL.update({c: f"\\u{c:04x}" for c in _INVISIBLE})


def visible(text: str) -> str:
    """`text` with control characters written out (`\\x1b`), safe to print to a terminal.

    Every string that comes from a graph file passes through this before a
    terminal sees it: an escape sequence in a node's name must not clear the
    screen, set the window title or write to the clipboard. Bidirectional
    overrides are written out too, so a name cannot read backwards.
    """
    return text.translate(_CONTROL)


_FILE_NAME_LIMIT = 100  # characters of a graph's name kept in a file name


def file_stem(name: str) -> str:
    """A graph's name as a plain file name: letters, digits, `-`, `_` and `.`, never a path.

    The TUI names its exports after the graph; a name such as `../x` or
    `/elsewhere/x` from a downloaded file must not write outside the chosen
    directory, and `..` or an empty name must not name a directory at all.
    """
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in name[:_FILE_NAME_LIMIT])
    kept = kept.lstrip(".")
    return kept if kept.strip("_") else "graph"
