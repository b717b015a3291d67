"""The graph's rows as painted, kept: what lets a step that scrolls cost no more than one that
does not.

Half of the steps through a wide graph scroll it, and a scroll asks for every
row on screen. Styling a row's runs and passing them through Textual's line
filters (which turn its colours into the terminal's, segment by segment) cost
about 0.1 ms a row, and Textual's per-line styling as much again. Here each
row is styled and filtered once, whole; a frame crops the rows it shows. A
step forgets the rows that hold what it changed (`forget`), wherever they are;
the rest stay right, and only the runs it changed are styled again. Rows are
painted in pieces of CHUNK columns, so a row thousands of columns wide costs
what the screen shows of it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

from ..render.raster import Raster, Run
from .line_view import PLAIN

CHUNK = 256  # columns of a row painted together
Styler = Callable[[Run], tuple[str, Style]]  # what a run shows now, and in which style
Keys = Callable[[Run], Iterable[Hashable]]  # what a change to the run is announced as


@dataclass
class _Piece:
    """Columns [CHUNK·c, CHUNK·(c + 1)) of a row: each run's segment (a gap's, with no run)
    where it starts, filtered; `stale`, the runs to style again before it is shown."""

    starts: list[int] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    runs: list[Run | None] = field(default_factory=list)
    stale: set[int] = field(default_factory=set)


class PaintedRows:
    """The rows of one raster styled by `style`, filtered as Textual filters a widget's lines
    (every filter maps segment to segment, so filtering a run then cropping it is cropping
    then filtering), each run kept until `forget` is told one of its keys."""

    def __init__(
        self,
        raster: Raster,
        style: Styler,
        keys: Keys,
        filters: Sequence[LineFilter],
        background: Color,
    ) -> None:
        self.raster = raster
        self.filters = tuple(filters)
        self.background = background
        self._style, self._keys = style, keys
        self._pieces: dict[tuple[int, int], _Piece] = {}
        self._holding: dict[Hashable, set[tuple[int, int, int]]] = {}  # key → (y, c, run)
        self._blanks: dict[tuple[int, Style], Segment] = {}

    def forget(self, keys: Iterable[Hashable]) -> set[int]:
        """Mark stale the kept runs with one of these keys; the rows that hold one."""
        rows: set[int] = set()
        for key in keys:
            for y, c, i in self._holding.get(key, ()):
                self._pieces[y, c].stale.add(i)
                rows.add(y)
        return rows

    def filtered(self, segments: list[Segment]) -> list[Segment]:
        for line_filter in self.filters:
            segments = line_filter.apply(segments, self.background)
        return segments

    def blank(self, cells: int, style: Style) -> Segment:
        """`cells` spaces in `style`, filtered."""
        key = (cells, style)
        segment = self._blanks.get(key)
        if segment is None:
            segment = self._blanks[key] = self.filtered([Segment(" " * cells, style)])[0]
        return segment

    def cells(self, y: int, left: int, right: int) -> list[Segment]:
        """Row y's segments over columns [left, right), filtered; nothing past its last run."""
        out: list[Segment] = []
        last = min(right, self.raster.width) - 1
        for c in range(left // CHUNK, last // CHUNK + 1):
            piece = self._pieces.get((y, c)) or self._paint(y, c)
            if piece.stale:
                self._restyle(piece, c)
            starts, segments = piece.starts, piece.segments
            for i in range(max(0, bisect_right(starts, left) - 1), len(starts)):
                start = starts[i]
                if start >= right:
                    break
                segment = segments[i]
                text = segment.text
                end = start + len(text)
                if left <= start and end <= right:
                    out.append(segment)
                elif end > left:
                    lo, hi = max(0, left - start), min(len(text), right - start)
                    out.append(Segment(text[lo:hi], segment.style))
        return out

    def _paint(self, y: int, c: int) -> _Piece:
        piece = self._pieces[y, c] = _Piece()
        x0, x1 = c * CHUNK, (c + 1) * CHUNK
        x = x0
        for run in self.raster.runs(y, x0, x1):
            start = max(x0, run.start)
            if start > x:
                piece.starts.append(x)
                piece.segments.append(Segment(" " * (start - x), PLAIN))
                piece.runs.append(None)
            for key in self._keys(run):
                self._holding.setdefault(key, set()).add((y, c, len(piece.runs)))
            piece.starts.append(start)
            piece.segments.append(self._segment(run, start, x1))
            piece.runs.append(run)
            x = start + len(piece.segments[-1].text)
        piece.segments = self.filtered(piece.segments)
        return piece

    def _restyle(self, piece: _Piece, c: int) -> None:
        for i in piece.stale:
            run = piece.runs[i]
            assert run is not None  # only runs have keys
            segment = self._segment(run, piece.starts[i], (c + 1) * CHUNK)
            piece.segments[i] = self.filtered([segment])[0]
        piece.stale.clear()

    def _segment(self, run: Run, start: int, end: int) -> Segment:
        """What the run shows now over columns [start, end), styled (not yet filtered)."""
        text, style = self._style(run)
        return Segment(text[start - run.start : end - run.start], style)
