"""The graph view: the Graphviz layout drawn in the terminal, on Textual's Line API.

The layout (the same one the SVG export uses) is rasterized once into rows
of runs — a box's border, its name, its value, an edge — each run knowing
which node or edge it belongs to. A step changes only how runs are styled
(a node's state picks its colours; a value or gradient not yet known is
masked), so stepping costs the same on a 50-node and a 1,000-node graph:
only the visible runs of the visible rows are styled again.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import islice, pairwise
from math import ceil, floor
from typing import Any, ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..composite import Region as WindowRegion
from ..composite import expansion
from ..errors import GraphstepError
from ..format import index, number, shape, tensor
from ..render.dot import edge_text, inner_name, shown_as
from ..render.layout import Layout, layout
from ..render.svg import regions_at
from ..session import NodeState, Session
from ..steps import Phase, Step

Cell = tuple[int, int]  # (row, column)

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
LINES = {
    UP: "│",
    DOWN: "│",
    UP | DOWN: "│",
    LEFT: "─",
    RIGHT: "─",
    LEFT | RIGHT: "─",
    DOWN | RIGHT: "╭",
    DOWN | LEFT: "╮",
    UP | RIGHT: "╰",
    UP | LEFT: "╯",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    DOWN | LEFT | RIGHT: "┬",
    UP | LEFT | RIGHT: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
ARROWS = {UP: "▲", DOWN: "▼", LEFT: "◀", RIGHT: "▶"}
BOX_HEIGHT = 5  # border with the name, formula, value, gradient, border
MIN_BOX_WIDTH = 9
MAX_BOX_WIDTH = 26
RANK_GAP = 5  # rows between ranks: an edge, its two labels and its arrowhead
COLUMN_GAP = 3
BEZIER_STEPS = 12
SAME_RANK = 8.0  # points: box centres closer than this are on one rank
SHORT = 16  # characters of a value in a box

PLAIN = Style()  # Textual's line filters (NO_COLOR) need a style on every segment


class Role(IntEnum):
    """What a run of cells draws; with its owner's state it decides the run's style."""

    BORDER = 0
    NAME = 1
    FORMULA = 2
    VALUE = 3
    GRAD = 4
    MARK = 5  # a box's top-left corner: ● when the node has a breakpoint
    EDGE = 6
    ARROW = 7
    CLUSTER = 8
    BLOCK = 9  # the overview: a node as a solid block
    EDGE_VALUE = 10  # an edge's label: the value it carries forward
    EDGE_GRAD = 11  # and the gradient it carries back


@dataclass(frozen=True)
class Run:
    """Cells [start, start + len(text)) of one row, owned by a node (or an edge)."""

    start: int
    text: str
    owner: str  # a node's name; an edge's head (its gradient) for EDGE / ARROW
    role: Role
    masked: str = ""  # shown instead of `text` while the value or gradient is unknown
    tail: str = ""  # an edge's tail (its value)


@dataclass
class Raster:
    """A layout in terminal cells: rows of runs, and where each node's box is."""

    width: int
    height: int
    rows: list[list[Run]]
    starts: list[list[int]] = field(default_factory=list)
    boxes: dict[str, WindowRegion] = field(default_factory=dict)
    frames: dict[str, WindowRegion] = field(default_factory=dict)  # expanded composites

    def __post_init__(self) -> None:
        self.starts = [[run.start for run in row] for row in self.rows]

    def runs(self, y: int, left: int, right: int) -> list[Run]:
        """The runs of row y that reach into columns [left, right)."""
        row = self.rows[y]
        first = max(0, bisect_right(self.starts[y], left) - 1)
        out = []
        for run in islice(row, first, None):
            if run.start >= right:
                break
            if run.start + len(run.text) > left:
                out.append(run)
        return out

    def node_at(self, x: int, y: int) -> str | None:
        for name, region in self.boxes.items():
            if region.contains(x, y):
                return name
        return None


@dataclass(frozen=True)
class Label:
    """The text of one node's box; `value` and `grad` are masked until known."""

    name: str
    formula: str
    value: str
    grad: str


class _Canvas:
    """A sparse grid of cells, each with its character, owner and role, merged into runs.

    Edges are drawn as direction bits per cell first, so that where two edges
    meet the cell shows both (┬, ┼); boxes are drawn over them last.
    """

    def __init__(self) -> None:
        self.cells: dict[int, dict[int, tuple[str, str, Role, str, str]]] = {}
        self.bits: dict[Cell, tuple[int, str, str]] = {}
        self.arrows: list[tuple[Cell, str, str, str]] = []
        self.ports: list[Cell] = []  # where an edge leaves a box's bottom border: ┬

    def put(self, y: int, x: int, char: str, owner: str, role: Role, masked: str = "") -> None:
        if y >= 0 and x >= 0:
            self.cells.setdefault(y, {})[x] = (char, owner, role, masked or char, "")

    def put_edge(self, y: int, x: int, char: str, tail: str, head: str, role: Role) -> None:
        if y >= 0 and x >= 0:
            self.cells.setdefault(y, {})[x] = (char, head, role, char, tail)

    def line(self, cell: Cell, direction: int, tail: str, head: str) -> None:
        old = self.bits.get(cell, (0, "", ""))[0]
        self.bits[cell] = (old | direction, tail, head)

    def draw_edges(self) -> None:
        for (y, x), (bits, tail, head) in self.bits.items():
            self.put_edge(y, x, LINES[bits], tail, head, Role.EDGE)
        for (y, x), arrow, tail, head in self.arrows:
            self.put_edge(y, x, arrow, tail, head, Role.ARROW)

    def draw_ports(self) -> None:
        for y, x in self.ports:
            cell = self.cells.get(y, {}).get(x)
            if cell is not None and cell[0] == "─" and cell[2] is Role.BORDER:
                self.cells[y][x] = ("┬", *cell[1:3], "┬", cell[4])

    def text(self, y: int, x: int, text: str, owner: str, role: Role, masked: str = "") -> None:
        masked = masked.ljust(len(text))
        for k, char in enumerate(text):
            self.put(y, x + k, char, owner, role, masked[k])

    def raster(
        self, boxes: dict[str, WindowRegion], frames: dict[str, WindowRegion] | None = None
    ) -> Raster:
        height = max(self.cells, default=-1) + 2
        width = max((max(row) for row in self.cells.values() if row), default=-1) + 2
        rows: list[list[Run]] = [[] for _ in range(height)]
        for y, row in self.cells.items():
            runs = rows[y]
            chars: list[str] = []
            masked: list[str] = []
            key: tuple[str, Role, str] | None = None
            start = previous = -2
            for x in sorted(row):
                char, owner, role, alt, tail = row[x]
                if (owner, role, tail) != key or x != previous + 1:
                    if key is not None:
                        runs.append(_run(start, chars, masked, key))
                    key, start, chars, masked = (owner, role, tail), x, [], []
                chars.append(char)
                masked.append(alt)
                previous = x
            if key is not None:
                runs.append(_run(start, chars, masked, key))
        return Raster(width, height, rows, boxes=boxes, frames=frames or {})


def _run(start: int, chars: list[str], masked: list[str], key: tuple[str, Role, str]) -> Run:
    owner, role, tail = key
    text, alt = "".join(chars), "".join(masked)
    return Run(start, text, owner, role, alt if alt != text else "", tail)


def _nonfinite(text: str) -> bool:
    """Does a box's number say nan or inf (format.number's spellings)?"""
    return "nan" in text or "inf" in text


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _bezier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Graphviz's spline (1 + 3k control points, then maybe the arrow's tip) as a polyline."""
    tip: list[tuple[float, float]] = []
    if len(points) % 3 == 2:
        points, tip = points[:-1], [points[-1]]
    if len(points) < 4 or len(points) % 3 != 1:
        return [*points, *tip]
    out = [points[0]]
    for k in range(0, len(points) - 1, 3):
        p0, p1, p2, p3 = points[k : k + 4]
        for s in range(1, BEZIER_STEPS + 1):
            t = s / BEZIER_STEPS
            u = 1 - t
            a, b, c, d = u**3, 3 * u * u * t, 3 * u * t * t, t**3
            out.append(
                (
                    a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                )
            )
    return out + tip


def _cells(points: Iterable[tuple[float, float]]) -> list[Cell]:
    """A 4-connected path of cells through the points (rows, columns)."""
    path: list[Cell] = []
    for x, y in points:
        cell = (round(y), round(x))
        if path and cell == path[-1]:
            continue
        if path:
            (r0, c0), (r1, c1) = path[-1], cell
            while (r0, c0) != (r1, c1):
                if r0 != r1:
                    r0 += 1 if r1 > r0 else -1
                else:
                    c0 += 1 if c1 > c0 else -1
                path.append((r0, c0))
        else:
            path.append(cell)
    return path


def _inside(cell: Cell, box: Region) -> bool:
    return box.contains(cell[1], cell[0])


def _towards(cell: Cell, box: Region) -> tuple[Cell, int]:
    """The cell next to `box` nearest to `cell`, and the direction from it into the box."""
    row, col = cell
    inner_col = min(max(col, box.x + 1), box.right - 2)
    inner_row = min(max(row, box.y + 1), box.bottom - 2)
    if row < box.y:
        return (box.y - 1, inner_col), DOWN
    if row >= box.bottom:
        return (box.bottom, inner_col), UP
    if col < box.x:
        return (inner_row, box.x - 1), RIGHT
    return (inner_row, box.right), LEFT


def _l_path(start: Cell, end: Cell) -> list[Cell]:
    (r, c), (r1, c1) = start, end
    out = []
    while r != r1:
        r += 1 if r1 > r else -1
        out.append((r, c))
    while c != c1:
        c += 1 if c1 > c else -1
        out.append((r, c))
    return out


def _direction(a: Cell, b: Cell) -> int:
    if b[0] > a[0]:
        return DOWN
    if b[0] < a[0]:
        return UP
    return RIGHT if b[1] > a[1] else LEFT


OPPOSITE = {UP: DOWN, DOWN: UP, LEFT: RIGHT, RIGHT: LEFT}


def _scale(layout: Layout, widths: dict[str, int]) -> tuple[float, float]:
    """Cells per point across and down: enough that neighbouring boxes and their text fit."""
    sx, sy = 1 / 12, 1 / 40
    by_rank: dict[int, list[tuple[float, str]]] = {}
    for name, box in layout.boxes.items():
        cx, cy = box.x + box.width / 2, box.y + box.height / 2
        rank = next((r for r in by_rank if abs(r - cy) < SAME_RANK), round(cy))
        by_rank.setdefault(rank, []).append((cx, name))
    for row in by_rank.values():
        row.sort()
        for (xa, a), (xb, b) in pairwise(row):
            if xb - xa > 0.5:
                sx = max(sx, (widths[a] / 2 + widths[b] / 2 + COLUMN_GAP) / (xb - xa))
    for ya, yb in pairwise(sorted(by_rank)):
        sy = max(sy, (BOX_HEIGHT + RANK_GAP) / (yb - ya))
    return min(sx, 0.6), min(sy, 0.4)


def rasterize(
    layout: Layout,
    labels: dict[str, Label],
    edge_labels: dict[tuple[str, str, int], tuple[str, str]] | None = None,
) -> Raster:
    """The layout in cells: cluster frames, edges, boxes on top, then the edges' labels.

    `edge_labels` gives, per edge (tail, head, input position), the value it
    carries forward and the gradient it carries back, drawn beside the edge
    where it leaves its tail, when the cells there are free.
    """
    widths = {name: _box_width(labels.get(name)) for name in layout.boxes}
    sx, sy = _scale(layout, widths)
    boxes: dict[str, WindowRegion] = {}
    for name, box in layout.boxes.items():
        cx = round((box.x + box.width / 2) * sx)
        cy = round((box.y + box.height / 2) * sy)
        w = widths[name]
        boxes[name] = Region(cx - w // 2, cy - BOX_HEIGHT // 2, w, BOX_HEIGHT)
    frames = []
    for cluster in layout.clusters:
        box = cluster.box
        left = floor(box.x * sx) - 2
        top = floor(box.y * sy) - 2
        right = ceil((box.x + box.width) * sx) + 2
        bottom = ceil((box.y + box.height) * sy) + 2
        frames.append((Region(left, top, right - left, bottom - top), cluster))
    regions = [*boxes.values(), *(r for r, _ in frames)]
    ox = 1 - min((r.x for r in regions), default=0)
    oy = 1 - min((r.y for r in regions), default=0)
    boxes = {name: r.translate((ox, oy)) for name, r in boxes.items()}
    canvas = _Canvas()
    clusters = {cluster.name: region.translate((ox, oy)) for region, cluster in frames}
    for _, cluster in frames:
        _frame(canvas, clusters[cluster.name], cluster.label, cluster.name)
    ends = {**boxes, **clusters}  # an edge into or out of an expanded composite ends at its frame
    occupied = {row for r in boxes.values() for row in range(r.y, r.bottom)}
    routed = []
    for edge in layout.edges:
        tail, head = ends.get(edge.tail), ends.get(edge.head)
        if tail is None or head is None:
            continue
        route = [(x * sx + ox, y * sy + oy) for x, y in _bezier(edge.points)]
        path = _orthogonal(route, tail, head, occupied) or _staircase(route, tail, head)
        _edge(canvas, path, edge.tail, edge.head)
        routed.append((edge, path))
    canvas.draw_edges()
    for name, region in boxes.items():
        _box(canvas, region, labels.get(name) or Label(name, "", "", ""), name)
    canvas.draw_ports()
    for edge, path in routed:
        texts = (edge_labels or {}).get((edge.tail, edge.head, edge.position))
        if texts is not None:
            _edge_label(canvas, path, texts, edge.tail, edge.head)
    return canvas.raster(boxes, clusters)


def _edge_label(
    canvas: _Canvas,
    path: list[Cell],
    texts: tuple[str, str],
    tail: str,
    head: str,
) -> None:
    """The value above the gradient, beside the edge where it leaves its tail; none if no room."""
    value, grad = texts
    width = max(len(value), len(grad))
    (y, x) = path[0]

    def free(left: int) -> bool:
        for row in (y, y + 1):
            cells = canvas.cells.get(row, {})
            for col in range(left - 1, left + width + 1):
                if col < 0 or col in cells:
                    return False
        return True

    for left in (x + 2, x - 1 - width):
        if free(left):
            for row, text, role in ((y, value, Role.EDGE_VALUE), (y + 1, grad, Role.EDGE_GRAD)):
                for k, char in enumerate(text.ljust(width)):
                    canvas.cells.setdefault(row, {})[left + k] = (char, head, role, " ", tail)
            return


def _box_width(label: Label | None) -> int:
    if label is None:
        return MIN_BOX_WIDTH
    need = max(
        len(label.name) + 6,
        len(label.formula) + 4,
        len(label.value) + 4,
        len(label.grad) + 4,
    )
    return min(MAX_BOX_WIDTH, max(MIN_BOX_WIDTH, need))


def _column_at(route: Sequence[tuple[float, float]], row: float) -> float:
    """Where the route crosses `row` (the nearest sampled point's column)."""
    return min(route, key=lambda p: abs(p[1] - row))[0]


def _orthogonal(
    route: Sequence[tuple[float, float]], tail: Region, head: Region, occupied: set[int]
) -> list[Cell]:
    """The route as vertical runs with horizontal jogs in the gaps between ranks.

    Through a band of rows that holds boxes the edge keeps the column Graphviz
    routed it at (between the boxes); in each gap it moves to the next band's
    column on the gap's middle row. Empty when the head is not below the tail.
    """
    first, last = tail.bottom, head.y - 1
    if last <= first or not route:
        return []
    bands: list[tuple[int, int, bool]] = []  # (first row, last row, holds boxes)
    for row in range(first, last + 1):
        busy = row in occupied
        if bands and bands[-1][2] == busy and bands[-1][1] == row - 1:
            bands[-1] = (bands[-1][0], row, busy)
        else:
            bands.append((row, row, busy))

    def clamp(col: float, box: Region) -> int:
        return min(max(round(col), box.x + 1), box.right - 2)

    column = clamp(_column_at(route, tail.bottom - 1), tail)
    end = clamp(_column_at(route, head.y), head)
    targets = [round(_column_at(route, (a + b) / 2)) for a, b, busy in bands if busy]
    targets.append(end)
    path: list[Cell] = []
    for a, b, busy in bands:
        if busy:
            path.extend((row, column) for row in range(a, b + 1))
            continue
        target = targets.pop(0)
        jog = a + (b - a) // 2 if b > a else a
        if b == last and jog == last and target != column:
            return []  # no room for the jog before the arrowhead
        for row in range(a, b + 1):
            path.append((row, column))
            if row == jog and target != column:
                path.extend(_l_path((row, column), (row, target)))
                column = target
    return path


def _staircase(route: Sequence[tuple[float, float]], tail: Region, head: Region) -> list[Cell]:
    """Any other route: its cells, clipped at the boxes and joined to their borders."""
    path = [cell for cell in _cells(route) if not _inside(cell, tail) and not _inside(cell, head)]
    if not path:
        path = [_towards((head.y + head.height // 2, head.x + head.width // 2), tail)[0]]
    start, _ = _towards(path[0], tail)
    if start != path[0]:
        path = [start, *_l_path(start, path[0])[:-1], *path]
    end, _ = _towards(path[-1], head)
    if end != path[-1]:
        path = path + _l_path(path[-1], end)
    return path


def _edge(canvas: _Canvas, path: list[Cell], tail: str, head: str) -> None:
    """The path's cells as box-drawing lines, joined where edges meet; an arrowhead at the end."""
    first = path[0]
    start = UP if len(path) == 1 else OPPOSITE[_direction(first, path[1])]
    canvas.line(first, start, tail, head)
    for a, b in pairwise(path):
        d = _direction(a, b)
        canvas.line(a, d, tail, head)
        canvas.line(b, OPPOSITE[d], tail, head)
    into = DOWN if len(path) == 1 else _direction(path[-2], path[-1])
    canvas.arrows.append((path[-1], ARROWS[into], tail, head))
    canvas.ports.append((first[0] - 1, first[1]))


def _box(canvas: _Canvas, region: Region, label: Label, owner: str) -> None:
    x, y, w = region.x, region.y, region.width
    inner = w - 4
    name = _fit(label.name, w - 5)
    canvas.put(y, x, "╭", owner, Role.MARK)
    canvas.text(y, x + 1, "─", owner, Role.BORDER)
    canvas.text(y, x + 2, f" {name} ", owner, Role.NAME)
    canvas.text(y, x + 4 + len(name), "─" * (w - 5 - len(name)) + "╮", owner, Role.BORDER)
    lines = [
        (label.formula, Role.FORMULA, ""),
        (label.value, Role.VALUE, "= ?" if label.value else ""),
        (label.grad, Role.GRAD, "∂ ?" if label.grad else ""),
    ]
    for k, (text, role, masked) in enumerate(lines, start=1):
        canvas.put(y + k, x, "│", owner, Role.BORDER)
        canvas.text(y + k, x + 1, " ", owner, Role.BORDER)
        canvas.text(y + k, x + 2, _fit(text, inner).ljust(inner), owner, role, masked)
        canvas.text(y + k, x + w - 2, " │", owner, Role.BORDER)
    canvas.text(y + 4, x, "╰" + "─" * (w - 2) + "╯", owner, Role.BORDER)


def _frame(canvas: _Canvas, region: Region, label: str, owner: str) -> None:
    x, y, w, h = region
    title = _fit(f" {label} ", max(0, w - 4))
    top = "┌─" + title + "┄" * max(0, w - 3 - len(title)) + "┐"
    canvas.text(y, x, top, owner, Role.CLUSTER)
    for k in range(1, h - 1):
        canvas.put(y + k, x, "┆", owner, Role.CLUSTER)
        canvas.put(y + k, x + w - 1, "┆", owner, Role.CLUSTER)
    canvas.text(y + h - 1, x, "└" + "┄" * (w - 2) + "┘", owner, Role.CLUSTER)


BRAILLE_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def overview(layout: Layout, size: Size) -> Raster:
    """The whole layout shrunk into `size`: nodes as blocks, edges in braille dots."""
    width, height = max(size.width, 4), max(size.height, 2)
    sx = (width - 2) / max(layout.width, 1.0)
    sy = (height - 1) / max(layout.height, 1.0)
    dots: dict[Cell, tuple[int, str, str]] = {}
    for edge in layout.edges:
        for x, y in _bezier(edge.points):
            px, py = int(x * sx * 2), int(y * sy * 4)
            cell = (py // 4, px // 2)
            bit = BRAILLE_DOTS[py % 4][px % 2]
            old = dots.get(cell, (0, "", ""))[0]
            dots[cell] = (old | bit, edge.tail, edge.head)
    canvas = _Canvas()
    for (row, col), (bits, tail, head) in dots.items():
        canvas.put_edge(row, col, chr(0x2800 + bits), tail, head, Role.EDGE)
    boxes: dict[str, WindowRegion] = {}
    for name, box in layout.boxes.items():
        left, top = int(box.x * sx), int(box.y * sy)
        boxes[name] = Region(left, top, max(1, round(box.width * sx)), 1)
        canvas.text(top, left, "█" * boxes[name].width, name, Role.BLOCK)
    for name, region in boxes.items():  # names where no other block covers them
        cells = canvas.cells[region.y]
        if region.width >= len(name) + 2 and all(
            cells[x][1] == name for x in range(region.x, region.right)
        ):
            canvas.text(region.y, region.x, name.center(region.width, "█"), name, Role.BLOCK)
    return canvas.raster(boxes)


@dataclass(frozen=True)
class Palette:
    """The styles of runs, by role and state; NO_COLOR keeps the bold / dim / reverse cues."""

    border: dict[NodeState, Style]
    name: dict[NodeState, Style]
    formula: Style
    value: Style
    grad: Style
    masked: Style
    edge_pending: Style
    edge_value: Style
    edge_grad: Style
    cluster: Style
    breakpoint: Style
    selected: Style
    anomaly: Style


def palette() -> Palette:
    """Colours by state, and attributes that tell the states apart without them (NO_COLOR):
    pending is dim, computed plain, gradient known bold, current reversed."""
    return Palette(
        border={
            NodeState.PENDING: Style(color="grey50", dim=True),
            NodeState.CURRENT: Style(color="yellow", bold=True),
            NodeState.COMPUTED: Style(color="green"),
            NodeState.GRAD: Style(color="red", bold=True),
        },
        name={
            NodeState.PENDING: Style(color="grey62", dim=True),
            NodeState.CURRENT: Style(color="yellow", bold=True, reverse=True),
            NodeState.COMPUTED: Style(color="bright_green"),
            NodeState.GRAD: Style(color="bright_red", bold=True),
        },
        formula=Style(color="grey70", italic=True),
        value=Style(color="bright_green"),
        grad=Style(color="bright_red"),
        masked=Style(color="grey42", dim=True),
        edge_pending=Style(color="grey42", dim=True),
        edge_value=Style(color="green"),
        edge_grad=Style(color="red", bold=True),
        cluster=Style(color="cyan", dim=True),
        breakpoint=Style(color="bright_red", bold=True),
        selected=Style(underline=True, bold=True),
        anomaly=Style(color="bright_magenta", bold=True, reverse=True),
    )


class GraphView(ScrollView, can_focus=True, inherit_bindings=False):
    """The graph, scrolled so the current node is in view; a click selects a node."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "pan(0, -3)", "pan up", show=False),
        Binding("down", "pan(0, 3)", "pan down", show=False),
    ]

    class NodeClicked(Message):
        """A node's box was clicked: `node` is the graph's node (a composite for its windows)."""

        def __init__(self, node: str) -> None:
            super().__init__()
            self.node = node

    class LayoutStarted(Message):
        """Graphviz and the rasterizer are at work (a big graph takes seconds)."""

    class LayoutReady(Message):
        """The new layout is drawn."""

    class LayoutFailed(Message):
        """No layout: Graphviz is missing or failed."""

        def __init__(self, error: GraphstepError) -> None:
            super().__init__()
            self.error = error

    overview_mode: reactive[bool] = reactive(False)

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.graph_layout: Layout | None = None
        self.expanded: frozenset[str] = frozenset()
        self.hidden: dict[str, str] = {}  # a node inside a collapsed block call → the call
        self.regions: dict[
            str, WindowRegion
        ] = {}  # which windows of each expanded composite are drawn
        self.parts: dict[str, Part] = {}
        self._detail: Raster | None = None
        self._overview: Raster | None = None
        self._current: str | None = None
        self._selected: str | None = None
        self._breakpoints: frozenset[str] = frozenset()
        self._palette = palette()
        self._drag: tuple[int, int, bool] | None = None  # where a drag is, and whether it moved
        self._wanted: tuple[frozenset[str], int] = (frozenset(), 0)  # the layout last asked for

    def lay_out(self, expanded: frozenset[str]) -> None:
        """Lay the graph out again (new values, a composite expanded), in a thread."""
        regions = {n: r for n, r in self.regions.items() if n in expanded}
        regions.update(regions_at(self.session, expanded))
        self._wanted = (expanded, self.session.version, frozenset(regions.items()))
        self.post_message(self.LayoutStarted())
        self._lay_out(expanded, regions, self.session.version)

    def follow(self) -> None:
        """After a move: when the window stepped to lies outside the drawn region of its
        expanded composite, lay out the region that holds it (one layout per region)."""
        wanted = regions_at(self.session, self.expanded)
        if any(self.regions.get(n) != r for n, r in wanted.items()):
            self.lay_out(self.expanded)

    @work(thread=True, exclusive=True, group="layout")
    def _lay_out(
        self, expanded: frozenset[str], regions: dict[str, WindowRegion], version: int
    ) -> None:
        """Graphviz's layout (cached by the render layer), rasterized once for the terminal."""
        session = self.session
        try:
            laid = layout(session.graph, expanded, trace=session.trace, regions=regions)
            parts = _parts(session, laid, regions)
            raster = rasterize(laid, _labels(session, laid, regions), _edge_labels(session, laid))
        except GraphstepError as error:
            self.post_message(self.LayoutFailed(error))
            return
        self.app.call_from_thread(
            self._show_layout, laid, raster, parts, expanded, regions, version
        )

    def _show_layout(
        self,
        laid: Layout,
        raster: Raster,
        parts: dict[str, Part],
        expanded: frozenset[str],
        regions: dict[str, WindowRegion],
        version: int,
    ) -> None:
        if (expanded, version, frozenset(regions.items())) != self._wanted:
            return  # asked for again meanwhile: a newer layout is on its way
        self.graph_layout, self.parts, self.expanded = laid, parts, expanded
        self.regions = regions
        self.hidden = shown_as(self.session.graph, expanded)
        self._current = self.drawn(self.session.current)
        self._detail = raster
        self._overview = None
        self._sync_size()
        # the new virtual size takes effect at the next layout; scroll once it has
        self.call_after_refresh(self.scroll_to_node, self._current)
        self.post_message(self.LayoutReady())

    # -- the session's states, for the nodes of expanded composites too

    def state(self, name: str) -> NodeState:
        session = self.session
        if name in session.graph.nodes:
            return session.state(name)
        part = self.parts.get(name)
        if part is None:
            return NodeState.PENDING
        if part.ordinal is None:
            state = session.state(part.source)
            return NodeState.COMPUTED if state is NodeState.CURRENT else state
        step = session.current
        if step.node == part.source and step.inner is not None:
            if part.ordinal == step.inner:
                return NodeState.CURRENT
            done = part.ordinal < step.inner
            if step.phase is Phase.FORWARD:
                return NodeState.COMPUTED if done else NodeState.PENDING
            return NodeState.GRAD if done else NodeState.COMPUTED
        return session.state(part.source)

    def value_known(self, name: str) -> bool:
        if name in self.session.graph.nodes:
            return self.session.value_known(name)
        return self.state(name) is not NodeState.PENDING

    def grad_known(self, name: str) -> bool:
        if name in self.session.graph.nodes:
            return self.session.grad_known(name)
        if name not in self.parts:
            return False
        state = self.state(name)
        if state is NodeState.CURRENT:
            return self.session.current.phase is Phase.BACKWARD
        return state is NodeState.GRAD

    def drawn(self, step: Step) -> str | None:
        """The box that shows a step: its window's, when its composite is expanded; the
        block call's, for a node inside a collapsed call."""
        if step.node is not None and step.node in self.hidden:
            return self.hidden[step.node]
        if step.node is None or step.window is None or step.node not in self.expanded:
            return step.node
        return inner_name(step.node, f"{step.node}{index(step.window)}")

    @property
    def raster(self) -> Raster | None:
        return self._overview if self.overview_mode else self._detail

    def show_step(self, selected: str | None, breakpoints: frozenset[str]) -> None:
        """A step or a selection: only colours change; the current node is scrolled into view."""
        self._current = self.drawn(self.session.current)
        self._selected = selected
        self._breakpoints = breakpoints
        self.refresh()
        self.scroll_to_node(self._current)

    def scroll_to_node(self, node: str | None) -> None:
        """Bring a node's box (or the top left of a composite's frame) into view.

        A box already in view stays where it is; one out of view comes to the
        middle, with its inputs above and its consumers below in sight.
        """
        raster = self.raster
        if node is None or raster is None:
            return
        box = raster.boxes.get(node) or raster.frames.get(node)
        if box is None:
            return
        view = self.scrollable_content_region.size
        box = Region(box.x, box.y, min(box.width, view.width - 4), min(box.height, view.height - 2))
        visible = Region(*self.scroll_offset, *view)
        if not visible.contains_region(box):
            self.scroll_to_region(box, center=True, animate=False, immediate=True)

    def _sync_size(self) -> None:
        raster = self.raster
        self.virtual_size = Size(raster.width, raster.height) if raster else Size(0, 0)
        self.refresh()

    def watch_overview_mode(self) -> None:
        if self.overview_mode and self.graph_layout is not None:
            self._overview = overview(self.graph_layout, self.scrollable_content_region.size)
        self._sync_size()
        if not self.overview_mode:
            self.call_after_refresh(self.scroll_to_node, self._selected or self._current)

    def on_resize(self) -> None:
        if self.overview_mode and self.graph_layout is not None:
            self._overview = overview(self.graph_layout, self.scrollable_content_region.size)
            self._sync_size()

    def action_toggle_overview(self) -> None:
        self.overview_mode = not self.overview_mode

    def action_pan(self, dx: int, dy: int) -> None:
        self.scroll_relative(dx, dy, animate=False)

    @property
    def indent(self) -> int:
        """Columns left blank so that a graph narrower than the view sits in its middle."""
        raster = self.raster
        width = self.scrollable_content_region.width
        return max(0, (width - raster.width) // 2) if raster is not None else 0

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._drag = (event.screen_x, event.screen_y, False)
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is None:
            return
        x, y, _ = self._drag
        dx, dy = x - event.screen_x, y - event.screen_y
        if dx or dy:
            self.scroll_relative(dx, dy, animate=False, immediate=True)
            self._drag = (event.screen_x, event.screen_y, True)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self.release_mouse()

    def on_click(self, event: events.Click) -> None:
        dragged = self._drag is not None and self._drag[2]
        self._drag = None
        raster = self.raster
        if raster is None or dragged:
            return
        x = event.x + self.scroll_offset.x - self.indent
        drawn = raster.node_at(x, event.y + self.scroll_offset.y)
        if drawn is not None:
            if self.overview_mode:
                self.overview_mode = False
            part = self.parts.get(drawn)  # a window or pixel of a composite: its graph node
            self.post_message(self.NodeClicked(part.source if part else drawn))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        raster = self.raster
        sx, sy = self.scroll_offset
        row = y + sy
        if raster is None or row >= raster.height:
            return Strip.blank(width, PLAIN)
        indent = self.indent
        segments: list[Segment] = [Segment(" " * indent, PLAIN)] if indent else []
        x = sx
        for run in raster.runs(row, sx, sx + width):
            if run.start > x:
                segments.append(Segment(" " * (run.start - x), PLAIN))
            text, style = self._styled(run)
            lo = max(0, x - run.start)
            hi = min(len(text), sx + width - run.start)
            segments.append(Segment(text[lo:hi], style))
            x = run.start + hi
        strip = Strip(segments).extend_cell_length(width, PLAIN)
        if self.overview_mode:
            strip = self._mark(strip, row, indent - sx, width)
        return strip

    def _mark(self, strip: Strip, row: int, shift: int, width: int) -> Strip:
        """In the overview, blocks overlap: a ◆ keeps the current node in sight."""
        raster = self.raster
        box = raster.boxes.get(self._current or "") if raster is not None else None
        if box is None or box.y != row:
            return strip
        x = box.x + box.width // 2 + shift
        if not 0 <= x < width:
            return strip
        mark = Strip([Segment("◆", self._palette.name[NodeState.CURRENT])])
        return Strip.join([strip.crop(0, x), mark, strip.crop(x + 1, width)])

    def _styled(self, run: Run) -> tuple[str, Style]:
        p = self._palette
        role, owner = run.role, run.owner
        if role is Role.EDGE_VALUE:
            return (run.text, p.value) if self.value_known(run.tail) else (run.masked, p.masked)
        if role is Role.EDGE_GRAD:
            return (run.text, p.grad) if self.grad_known(owner) else (run.masked, p.masked)
        if role in (Role.EDGE, Role.ARROW):
            if self.grad_known(owner):
                return run.text, p.edge_grad
            if self.value_known(run.tail):
                return run.text, p.edge_value
            return run.text, p.edge_pending
        if role is Role.CLUSTER:
            return run.text, p.cluster
        state = self._state_of(owner)
        if role is Role.MARK:
            if owner in self._breakpoints:
                return "●", p.breakpoint
            return run.text, p.border[state]
        if role is Role.BORDER:
            return run.text, p.border[state]
        if role in (Role.NAME, Role.BLOCK):
            style = p.name[state]
            if role is Role.BLOCK and state is NodeState.PENDING:
                style = p.border[state]
            if owner == self._selected:
                style += p.selected
            if owner in self._breakpoints and role is Role.BLOCK:
                style += p.breakpoint
            return run.text, style
        if role is Role.FORMULA:
            return run.text, p.formula
        if role is Role.VALUE:
            if run.masked and not self.value_known(owner):
                return run.masked, p.masked
            return run.text, p.anomaly if _nonfinite(run.text) else p.value
        if run.masked and not self.grad_known(owner):
            return run.masked, p.masked
        return run.text, p.anomaly if _nonfinite(run.text) else p.grad

    def _state_of(self, owner: str) -> NodeState:
        if owner == self._current:
            return NodeState.CURRENT
        return self.state(owner)


# -- what the boxes and edges say, from the session's trace


@dataclass(frozen=True)
class Part:
    """A node of an expanded composite: the graph node it follows, and its window's ordinal."""

    source: str
    ordinal: int | None  # set for window nodes: the inner step that computes them


def _parts(session: Session, laid: Layout, regions: dict[str, WindowRegion]) -> dict[str, Part]:
    """The expansions' nodes drawn in `laid`, each tied to what decides its state."""
    graph, trace = session.graph, session.trace
    parts: dict[str, Part] = {}
    for cluster in laid.clusters:
        if cluster.name in graph.groups:  # a block call's frame holds graph nodes
            continue
        exp = expansion(graph, trace, cluster.name, regions.get(cluster.name))
        wins = session.timeline.windows(cluster.name)
        for sub, data in exp.graph.nodes(data=True):
            name = inner_name(cluster.name, sub)
            if data["kind"] == "window" and wins is not None:
                parts[name] = Part(cluster.name, wins.ordinal(data["position"]))
            else:
                parts[name] = Part(exp.sources.get(sub, cluster.name), None)
    return parts


def _labels(session: Session, laid: Layout, regions: dict[str, WindowRegion]) -> dict[str, Label]:
    """The text of every box: name, formula, value and gradient (the view masks them)."""
    graph, trace = session.graph, session.trace
    out: dict[str, Label] = {}
    inner = {
        inner_name(cluster.name, sub): (sub, attrs)
        for cluster in laid.clusters
        if cluster.name not in graph.groups  # a block call's frame holds graph nodes
        for sub, attrs in expansion(
            graph, trace, cluster.name, regions.get(cluster.name)
        ).graph.nodes(data=True)
    }
    framed = {cluster.name for cluster in laid.clusters}
    for name in laid.boxes:
        node = graph.nodes.get(name)
        if node is None:
            sub, attrs = inner.get(name, (name, {}))
            value, grad = attrs.get("value"), attrs.get("grad")
            kind = attrs.get("kind", "")
            out[name] = Label(
                sub,
                "" if kind == "window" else kind,
                "" if value is None else "= " + number(value),
                "" if grad is None else "∂ " + number(grad),
            )
        elif node.op == "const":
            out[name] = Label(graph.display(name), "constant", "", "")
        elif name in graph.calls and name not in framed:
            block, args = graph.calls[name]
            grad = trace.grad(name)
            out[name] = Label(
                name,
                f"{block}({', '.join(args)})",
                "= " + _short(trace.value(name)),
                "" if grad is None else "∂ " + _short(grad),
            )
        else:
            grad = trace.grad(name)
            out[name] = Label(
                name,
                node.op if node.is_leaf else graph.formula(name),
                "= " + _short(trace.value(name)),
                "" if grad is None else "∂ " + _short(grad),
            )
    return out


def _edge_labels(session: Session, laid: Layout) -> dict[tuple[str, str, int], tuple[str, str]]:
    """What each edge carries: its tail's value, and the gradient sent back along it."""
    graph, trace = session.graph, session.trace
    framed = {cluster.name for cluster in laid.clusters}
    out = {}
    for edge in laid.edges:
        if edge.position < 0 or edge.label is None or edge.tail not in graph.nodes:
            continue
        if edge.head in graph.groups and edge.head not in framed:  # into a collapsed block call
            parts = [
                trace.contribution(m, k)
                for m in graph.groups[edge.head]
                for k, src in enumerate(graph.nodes[m].inputs)
                if src == edge.tail
            ]
            known = [p for p in parts if p is not None]
            part = sum(known[1:], known[0]) if known else None
        else:
            part = trace.contribution(edge.head, edge.position)
        value = edge_text(trace.value(edge.tail))
        out[edge.tail, edge.head, edge.position] = (value, "" if part is None else edge_text(part))
    return out


def _short(a: np.ndarray) -> str:
    """A value as a box shows it: a few numbers, or the shape and the range."""
    if a.size <= 3 and len(text := tensor(a)) <= SHORT:
        return text
    finite = a[np.isfinite(a)]
    if not finite.size:
        return f"{shape(a.shape)} {tensor(a.ravel()[:1])}…"
    return f"{shape(a.shape)} {finite.min():.3g}…{finite.max():.3g}"
