"""The terminal picture of a layout: cells of box-drawing characters, owned by what they draw.

The layout (the same one the SVG export uses) is rasterized once into rows
of runs — a box's border, its name, its value, an edge — each run knowing
which drawn node or wire it belongs to. A scene then decides how each run
shows (`shown`): a node's look picks its state; a value or gradient not yet
known is masked; an edge's flow picks its ink. So a step costs the same on a
50-node and a 1,000-node graph: only the visible runs are shown again.

Nothing here knows Textual or rich: the widget (tui/graph_view.py) turns a
run's ink into a style.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import warnings
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from functools import cached_property
from itertools import islice, pairwise
from math import ceil, floor
from typing import TYPE_CHECKING, overload

from ..drawing import Card, Diagram, Kind, diagram
from ..errors import GraphstepError
from ..format import visible
from ..overlay import Overlay
from ..scene import Flow, Scene
from ..session import NodeState
from .curve import bezier
from .layout import Box, Cluster, EdgeRoute, Layout, layout_of

if TYPE_CHECKING:
    from ..composite import Region
    from ..graph import Graph
    from ..trace import Trace

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
BEZIER_STEPS = 12  # polyline points per cubic segment
SAME_RANK = 8.0  # points: box centres closer than this are on one rank


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
class Rect:
    """A rectangle of cells: top-left column and row, width and height."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.right and self.y <= y < self.bottom

    def translate(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.width, self.height)


@dataclass(frozen=True)
class Run:
    """Cells [start, start + len(text)) of one row, owned by a drawn node (its name) or, for
    the edge roles, by a wire (its id)."""

    start: int
    text: str
    owner: str
    role: Role
    masked: str = ""  # shown instead of `text` while the value or gradient is unknown


@dataclass
class Raster:
    """A layout in terminal cells: rows of runs, and where each node's box is."""

    width: int
    height: int
    rows: Sequence[list[Run]]
    boxes: dict[str, Rect] = field(default_factory=dict)
    frames: dict[str, Rect] = field(default_factory=dict)  # expanded composites
    _starts: dict[int, list[int]] = field(default_factory=dict)  # by row, once drawn

    def runs(self, y: int, left: int, right: int) -> list[Run]:
        """The runs of row y that reach into columns [left, right)."""
        row = self.rows[y]
        starts = self._starts.get(y)
        if starts is None:
            starts = self._starts[y] = [run.start for run in row]
        first = max(0, bisect_right(starts, left) - 1)
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


class PackedRows(Sequence[list[Run]]):
    """A raster's rows as made in another process: each row's runs pickled on their own,
    unpickled when the row is first drawn, so taking a big raster in costs no pause."""

    def __init__(self, rows: list[bytes]) -> None:
        self._packed = rows
        self._rows: dict[int, list[Run]] = {}

    def __len__(self) -> int:
        return len(self._packed)

    @overload
    def __getitem__(self, y: int) -> list[Run]: ...
    @overload
    def __getitem__(self, y: slice) -> Sequence[list[Run]]: ...
    def __getitem__(self, y: int | slice) -> list[Run] | Sequence[list[Run]]:
        if isinstance(y, slice):
            return [self[k] for k in range(*y.indices(len(self)))]
        row = self._rows.get(y)
        if row is None:
            row = self._rows[y] = [
                Run(start, text, owner, Role(role), masked)
                for start, text, owner, role, masked in pickle.loads(self._packed[y])
            ]
        return row


def pack(raster: Raster) -> bytes:
    """A raster as bytes for a pipe: each row apart (PackedRows), boxes as plain tuples."""
    rows = [
        pickle.dumps([(r.start, r.text, r.owner, int(r.role), r.masked) for r in row])
        for row in raster.rows
    ]
    boxes = [(n, r.x, r.y, r.width, r.height) for n, r in raster.boxes.items()]
    frames = [(n, r.x, r.y, r.width, r.height) for n, r in raster.frames.items()]
    return pickle.dumps((raster.width, raster.height, rows, boxes, frames))


def unpack(data: bytes) -> Raster:
    width, height, rows, boxes, frames = pickle.loads(data)
    return Raster(
        width,
        height,
        PackedRows(rows),
        boxes={n: Rect(x, y, w, h) for n, x, y, w, h in boxes},
        frames={n: Rect(x, y, w, h) for n, x, y, w, h in frames},
    )


class _Canvas:
    """A sparse grid of cells, each with its character, owner and role, merged into runs.

    Edges are drawn as direction bits per cell first, so that where two edges
    meet the cell shows both (┬, ┼); boxes are drawn over them last.
    """

    def __init__(self) -> None:
        self.cells: dict[int, dict[int, tuple[str, str, Role, str]]] = {}
        self.bits: dict[Cell, tuple[int, str]] = {}
        self.arrows: list[tuple[Cell, str, str]] = []
        self.ports: list[Cell] = []  # where an edge leaves a box's bottom border: ┬

    def put(self, y: int, x: int, char: str, owner: str, role: Role, masked: str = "") -> None:
        if y >= 0 and x >= 0:
            self.cells.setdefault(y, {})[x] = (char, owner, role, masked or char)

    def line(self, cell: Cell, direction: int, wire: str) -> None:
        old = self.bits.get(cell, (0, ""))[0]
        self.bits[cell] = (old | direction, wire)

    def draw_edges(self) -> None:
        for (y, x), (bits, wire) in self.bits.items():
            self.put(y, x, LINES[bits], wire, Role.EDGE)
        for (y, x), arrow, wire in self.arrows:
            self.put(y, x, arrow, wire, Role.ARROW)

    def draw_ports(self) -> None:
        for y, x in self.ports:
            cell = self.cells.get(y, {}).get(x)
            if cell is not None and cell[0] == "─" and cell[2] is Role.BORDER:
                self.cells[y][x] = ("┬", cell[1], cell[2], "┬")

    def text(self, y: int, x: int, text: str, owner: str, role: Role, masked: str = "") -> None:
        if y < 0:
            return
        row = self.cells.setdefault(y, {})
        for k, (char, alt) in enumerate(zip(text, masked.ljust(len(text)), strict=True), x):
            if k >= 0:
                row[k] = (char, owner, role, alt)

    def raster(self, boxes: dict[str, Rect], frames: dict[str, Rect] | None = None) -> Raster:
        height = max(self.cells, default=-1) + 2
        width = max((max(row) for row in self.cells.values() if row), default=-1) + 2
        rows: list[list[Run]] = [[] for _ in range(height)]
        for y, row in self.cells.items():
            runs = rows[y]
            chars: list[str] = []
            masked: list[str] = []
            key: tuple[str, Role] | None = None
            start = previous = -2
            for x in sorted(row):
                char, owner, role, alt = row[x]
                if (owner, role) != key or x != previous + 1:
                    if key is not None:
                        runs.append(_run(start, chars, masked, key))
                    key, start, chars, masked = (owner, role), x, [], []
                chars.append(char)
                masked.append(alt)
                previous = x
            if key is not None:
                runs.append(_run(start, chars, masked, key))
        return Raster(width, height, rows, boxes=boxes, frames=frames or {})


def _run(start: int, chars: list[str], masked: list[str], key: tuple[str, Role]) -> Run:
    owner, role = key
    text, alt = "".join(chars), "".join(masked)
    return Run(start, text, owner, role, alt if alt != text else "")


def _nonfinite(text: str) -> bool:
    """Does a box's number say nan or inf (format.number's spellings)?"""
    return "nan" in text or "inf" in text


def _fit(text: str, width: int) -> str:
    """Text from the graph, its control characters made visible, cut to `width` cells."""
    text = visible(text)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


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


def _inside(cell: Cell, box: Rect) -> bool:
    return box.contains(cell[1], cell[0])


def _towards(cell: Cell, box: Rect) -> tuple[Cell, int]:
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


def rasterize(layout: Layout, d: Diagram) -> Raster:
    """The layout of diagram `d` in cells: cluster frames, edges, boxes on top, then the edges'
    labels (the value each carries forward and the gradient it carries back, beside the edge
    where it leaves its tail, when the cells there are free). Every number is drawn; a
    scene decides which are shown (`shown`)."""
    cards = {name: d.parts[pid].card for name, pid in d.ids.items()}
    widths = {name: _box_width(cards[name]) for name in layout.boxes}
    sx, sy = _scale(layout, widths)
    boxes: dict[str, Rect] = {}
    for name, box in layout.boxes.items():
        cx = round((box.x + box.width / 2) * sx)
        cy = round((box.y + box.height / 2) * sy)
        w = widths[name]
        boxes[name] = Rect(cx - w // 2, cy - BOX_HEIGHT // 2, w, BOX_HEIGHT)
    frames = []
    for cluster in layout.clusters:
        box = cluster.box
        left = floor(box.x * sx) - 2
        top = floor(box.y * sy) - 2
        right = ceil((box.x + box.width) * sx) + 2
        bottom = ceil((box.y + box.height) * sy) + 2
        frames.append((Rect(left, top, right - left, bottom - top), cluster))
    regions = [*boxes.values(), *(r for r, _ in frames)]
    ox = 1 - min((r.x for r in regions), default=0)
    oy = 1 - min((r.y for r in regions), default=0)
    boxes = {name: r.translate(ox, oy) for name, r in boxes.items()}
    canvas = _Canvas()
    clusters = {cluster.name: region.translate(ox, oy) for region, cluster in frames}
    for _, cluster in frames:
        _frame(canvas, clusters[cluster.name], cluster.label, cluster.name)
    ends = {**boxes, **clusters}  # an edge into or out of an expanded composite ends at its frame
    occupied = {row for r in boxes.values() for row in range(r.y, r.bottom)}
    routed = []
    for edge in layout.edges:
        tail, head = ends.get(edge.tail), ends.get(edge.head)
        if tail is None or head is None:
            continue
        wire = d.wire(d.wire_ids[edge.tail, edge.head, edge.position])
        route = [(x * sx + ox, y * sy + oy) for x, y in bezier(edge.points, BEZIER_STEPS)]
        path = _orthogonal(route, tail, head, occupied) or _staircase(route, tail, head)
        _edge(canvas, path, wire.id)
        routed.append((wire, path))
    canvas.draw_edges()
    for name, region in boxes.items():
        _box(canvas, region, cards[name], name)
    canvas.draw_ports()
    for wire, path in routed:
        if wire.value_text or wire.grad_text:
            _edge_label(canvas, path, (wire.value_text, wire.grad_text), wire.id)
    return canvas.raster(boxes, clusters)


def _edge_label(canvas: _Canvas, path: list[Cell], texts: tuple[str, str], wire: str) -> None:
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
                    canvas.cells.setdefault(row, {})[left + k] = (char, wire, role, " ")
            return


def _box_width(card: Card) -> int:
    need = max(
        len(visible(card.name)) + 6,
        len(visible(card.about)) + 4,
        len(card.value_text) + 6,
        len(card.grad_text) + 6,
    )
    return min(MAX_BOX_WIDTH, max(MIN_BOX_WIDTH, need))


def _column_at(route: Sequence[tuple[float, float]], row: float) -> float:
    """Where the route crosses `row` (the nearest sampled point's column)."""
    return min(route, key=lambda p: abs(p[1] - row))[0]


def _orthogonal(
    route: Sequence[tuple[float, float]], tail: Rect, head: Rect, occupied: set[int]
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

    def clamp(col: float, box: Rect) -> int:
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


def _staircase(route: Sequence[tuple[float, float]], tail: Rect, head: Rect) -> list[Cell]:
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


def _edge(canvas: _Canvas, path: list[Cell], wire: str) -> None:
    """The path's cells as box-drawing lines, joined where edges meet; an arrowhead at the end."""
    first = path[0]
    start = UP if len(path) == 1 else OPPOSITE[_direction(first, path[1])]
    canvas.line(first, start, wire)
    for a, b in pairwise(path):
        d = _direction(a, b)
        canvas.line(a, d, wire)
        canvas.line(b, OPPOSITE[d], wire)
    into = DOWN if len(path) == 1 else _direction(path[-2], path[-1])
    canvas.arrows.append((path[-1], ARROWS[into], wire))
    canvas.ports.append((first[0] - 1, first[1]))


def _box(canvas: _Canvas, region: Rect, card: Card, owner: str) -> None:
    x, y, w = region.x, region.y, region.width
    inner = w - 4
    name = _fit(card.name, w - 5)
    canvas.put(y, x, "╭", owner, Role.MARK)
    canvas.text(y, x + 1, "─", owner, Role.BORDER)
    canvas.text(y, x + 2, f" {name} ", owner, Role.NAME)
    canvas.text(y, x + 4 + len(name), "─" * (w - 5 - len(name)) + "╮", owner, Role.BORDER)
    value = f"= {card.value_text}" if card.value_text else ""
    grad = f"∂ {card.grad_text}" if card.grad_text else ""
    lines = [
        (card.about, Role.FORMULA, ""),
        (value, Role.VALUE, "= ?" if value else ""),
        (grad, Role.GRAD, "∂ ?" if grad else ""),
    ]
    for k, (text, role, masked) in enumerate(lines, start=1):
        canvas.put(y + k, x, "│", owner, Role.BORDER)
        canvas.text(y + k, x + 1, " ", owner, Role.BORDER)
        canvas.text(y + k, x + 2, _fit(text, inner).ljust(inner), owner, role, masked)
        canvas.text(y + k, x + w - 2, " │", owner, Role.BORDER)
    canvas.text(y + 4, x, "╰" + "─" * (w - 2) + "╯", owner, Role.BORDER)


def _frame(canvas: _Canvas, region: Rect, label: str, owner: str) -> None:
    x, y, w, h = region.x, region.y, region.width, region.height
    title = _fit(f" {label} ", max(0, w - 4))
    top = "┌─" + title + "┄" * max(0, w - 3 - len(title)) + "┐"
    canvas.text(y, x, top, owner, Role.CLUSTER)
    for k in range(1, h - 1):
        canvas.put(y + k, x, "┆", owner, Role.CLUSTER)
        canvas.put(y + k, x + w - 1, "┆", owner, Role.CLUSTER)
    canvas.text(y + h - 1, x, "└" + "┄" * (w - 2) + "┘", owner, Role.CLUSTER)


BRAILLE_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


def overview(layout: Layout, d: Diagram, width: int, height: int) -> Raster:
    """The whole layout shrunk into width × height cells: nodes as blocks, edges in braille."""
    width, height = max(width, 4), max(height, 2)
    sx = (width - 2) / max(layout.width, 1.0)
    sy = (height - 1) / max(layout.height, 1.0)
    dots: dict[Cell, tuple[int, str]] = {}
    for edge in layout.edges:
        wire = d.wire_ids[edge.tail, edge.head, edge.position]
        for x, y in bezier(edge.points, BEZIER_STEPS):
            px, py = int(x * sx * 2), int(y * sy * 4)
            cell = (py // 4, px // 2)
            bit = BRAILLE_DOTS[py % 4][px % 2]
            old = dots.get(cell, (0, ""))[0]
            dots[cell] = (old | bit, wire)
    canvas = _Canvas()
    for (row, col), (bits, wire) in dots.items():
        canvas.put(row, col, chr(0x2800 + bits), wire, Role.EDGE)
    boxes: dict[str, Rect] = {}
    for name, box in layout.boxes.items():
        left, top = int(box.x * sx), int(box.y * sy)
        boxes[name] = Rect(left, top, max(1, round(box.width * sx)), 1)
        canvas.text(top, left, "█" * boxes[name].width, name, Role.BLOCK)
    for name, region in boxes.items():  # names where no other block covers them
        cells = canvas.cells[region.y]
        shown = visible(name)
        if region.width >= len(shown) + 2 and all(
            cells[x][1] == name for x in range(region.x, region.right)
        ):
            canvas.text(region.y, region.x, shown.center(region.width, "█"), name, Role.BLOCK)
    return canvas.raster(boxes)


class Ink(Enum):
    """How a run is shown, beside a node's state (its border and name) and a wire's flow."""

    FORMULA = "formula"
    VALUE = "value"
    GRAD = "grad"
    MASKED = "masked"  # a number not known yet: `?`
    ANOMALY = "anomaly"  # a number that is nan or inf
    CLUSTER = "cluster"


def shown(run: Run, scene: Scene) -> tuple[str, NodeState | Flow | Ink]:
    """What a run shows in a scene, and in which ink: a node's border and name in its state,
    an edge in its flow, its numbers once the scene has them."""
    role = run.role
    if role is Role.CLUSTER:
        return run.text, Ink.CLUSTER
    if role in (Role.EDGE, Role.ARROW):
        return run.text, scene.flow(run.owner)
    if role is Role.EDGE_VALUE:
        known = scene.flow(run.owner).shows_value
        return (run.text, Ink.VALUE) if known else (run.masked, Ink.MASKED)
    if role is Role.EDGE_GRAD:
        known = scene.flow(run.owner).shows_grad
        return (run.text, Ink.GRAD) if known else (run.masked, Ink.MASKED)
    look = scene.look_of(run.owner)
    if role is Role.FORMULA:
        return run.text, Ink.FORMULA
    if role is Role.VALUE:
        if run.masked and not look.shows_value:
            return run.masked, Ink.MASKED
        return run.text, Ink.ANOMALY if _nonfinite(run.text) else Ink.VALUE
    if role is Role.GRAD:
        if run.masked and not look.shows_grad:
            return run.masked, Ink.MASKED
        return run.text, Ink.ANOMALY if _nonfinite(run.text) else Ink.GRAD
    return run.text, look.state


UNTINTED = frozenset((Role.EDGE, Role.ARROW, Role.CLUSTER, Role.EDGE_VALUE, Role.EDGE_GRAD))


def tint(run: Run, scene: Scene, overlay: Overlay) -> str | None:
    """The overlay's colour behind a run: its node's (overlay.py decides it) for every cell of a
    box and for an overview's block; none for edges, frames and constants."""
    if run.role in UNTINTED:
        return None
    d = scene.diagram
    pid = d.ids[run.owner]
    if d.parts[pid].kind is Kind.CONST:
        return None
    return overlay.fill(d, pid, scene.look(pid))


@dataclass(frozen=True)
class Laid:
    """A drawing's layout and raster. The layout is only needed by the overview: one made in
    a child process stays pickled until asked for."""

    raster: Raster
    fallback: str  # Layout.fallback: why graphstep laid it out itself, or ""
    made: Layout | bytes

    @cached_property
    def layout(self) -> Layout:
        return self.made if isinstance(self.made, Layout) else _unpack_layout(self.made)


def _corners(b: Box) -> tuple[float, float, float, float]:
    return b.x, b.y, b.width, b.height


def _pack_layout(laid: Layout) -> bytes:
    """A layout as plain tuples, which unpickle many times faster than dataclasses."""
    return pickle.dumps(
        (
            laid.width,
            laid.height,
            [(n, *_corners(b)) for n, b in laid.boxes.items()],
            [
                (e.tail, e.head, e.position, e.points, e.label and _corners(e.label))
                for e in laid.edges
            ],
            [(c.name, _corners(c.box), c.label, c.nodes) for c in laid.clusters],
            laid.rankdir,
            laid.seconds,
            laid.fallback,
            dict(laid.stubs),
        )
    )


def _unpack_layout(data: bytes) -> Layout:
    width, height, boxes, edges, clusters, rankdir, seconds, fallback, stubs = pickle.loads(data)
    return Layout(
        width,
        height,
        {n: Box(x, y, w, h) for n, x, y, w, h in boxes},
        tuple(
            EdgeRoute(t, h, p, points, None if label is None else Box(*label))
            for t, h, p, points, label in edges
        ),
        tuple(Cluster(n, Box(*box), label, nodes) for n, box, label, nodes in clusters),
        rankdir,
        seconds,
        fallback,
        stubs,
    )


def rasterize_apart(
    graph: Graph,
    trace: Trace,
    expanded: frozenset[str],
    regions: Mapping[str, Region],
    folded: bool,
    cancelled: Callable[[], bool],
    only: Collection[str] | None = None,
) -> Laid | None:
    """`layout` and `rasterize` of the whole drawing (or of `only` those drawn nodes, as
    `diagram` takes them) in a forked child process, so that the interpreter that draws
    the screen never waits on them, nor shares its lock with them; None when `cancelled()`
    turned true first (the child is killed). Without fork (Windows), in the calling thread."""

    def work() -> bytes:
        drawing = diagram(graph, trace, expanded, regions=regions, folded=folded, only=only)
        laid = layout_of(drawing)
        raster = rasterize(laid, drawing)
        return pickle.dumps((pack(raster), laid.fallback, _pack_layout(laid)))

    # the whole drawing yields to the screen's process; a neighbourhood is small and awaited
    data = _in_child(work, cancelled, only is None) if hasattr(os, "fork") else work()
    if data is None:
        return None
    raster, fallback, packed = pickle.loads(data)
    return Laid(unpack(raster), fallback, packed)


def _in_child(
    work: Callable[[], bytes], cancelled: Callable[[], bool], yielding: bool = True
) -> bytes | None:
    """work() in a forked child, its bytes read back through a pipe; a GraphstepError it
    raises is raised here."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12 warns of fork in a threaded process:
        warnings.simplefilter("ignore", DeprecationWarning)  # the child takes no lock
        pid = os.fork()
    if pid == 0:  # the child: work, write, leave without running the parent's exit handlers
        os.close(read)
        code = 1
        try:
            if yielding:
                os.nice(10)  # the screen's process comes first
            try:
                out = pickle.dumps((True, work()))
            except GraphstepError as error:
                out = pickle.dumps((False, (error.message, error.hint)))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(out)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    chunks: list[bytes] = []
    try:
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while True:
                if cancelled():
                    os.kill(pid, signal.SIGKILL)
                    return None
                if not select.select([pipe], [], [], 0.05)[0]:
                    continue
                chunk = pipe.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.waitpid(pid, 0)
    if not chunks:
        raise GraphstepError("the layout process failed", hint="run 'graphstep export' to see why")
    done, answer = pickle.loads(b"".join(chunks))
    if not done:
        message, hint = answer
        raise GraphstepError(message, hint=hint)
    result: bytes = answer
    return result
