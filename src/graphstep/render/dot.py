"""A graph (and the composites drawn expanded) as Graphviz DOT, at one step or as a template.

Every node is an HTML-like table: its name and formula, its value and, once
known, its gradient, in cells of a fixed size. The sizes depend on the node's
shape only, never on the numbers, so a graph's layout is the same at every
step and for every value of its inputs (the contract of layout.py).

Names in DOT are generated ids (`n0`, `e3`, `c1`); the graph's own names only
appear escaped, inside labels. In a template the colours that change from
step to step are sentinels, which svg.py replaces with each look's colours.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from .. import format as fmt
from ..drawing import EDGE_CHARS, Card, Diagram, Frame, Kind, Part, Picture, Wire, edge_text, fit
from ..errors import GraphstepError
from ..overlay import NEUTRAL, Legend
from ..scene import Flow, Look
from .image import GAP, tile_size

# Okabe–Ito colours, distinguishable with every common colour-vision deficiency;
# each look also has its own line style and weight, so it survives greyscale print.
BLUE = "#0072b2"
VERMILLION = "#d55e00"
VALUE_COLOR = "#007a5a"  # Okabe–Ito bluish green (#009e73), darkened to read as text
GRAD_COLOR = "#c24e00"  # Okabe–Ito vermillion, darkened likewise
INK = "#1a1a1a"
MUTED = "#5c5c5c"
FONT = "Helvetica"


@dataclass(frozen=True)
class Pen:
    """How a node's box is drawn in one look."""

    fill: str
    color: str
    width: float
    dashed: bool = False

    def dot(self) -> str:
        style = "rounded,filled,dashed" if self.dashed else "rounded,filled"
        return (
            f'style="{style}" fillcolor="{self.fill}" color="{self.color}" penwidth="{self.width}"'
        )

    def svg(self) -> str:
        text = f'fill="{self.fill}" stroke="{self.color}"'
        if self.width != 1:
            text += f' stroke-width="{self.width}"'
        return text + (' stroke-dasharray="5,2"' if self.dashed else "")


PENS: dict[Look, Pen] = {
    Look.PENDING: Pen("#ffffff", "#8c8c8c", 1, dashed=True),
    Look.COMPUTED: Pen("#e3f1fb", BLUE, 1.2),
    Look.FORWARD: Pen("#faf3b4", "#000000", 3.5),
    Look.GRAD: Pen("#fbe5d6", VERMILLION, 2.2),
    Look.BACKWARD: Pen("#faf3b4", "#000000", 3.5),
}


@dataclass(frozen=True)
class Line:
    """How an edge is drawn in one flow."""

    color: str
    width: float
    dashed: bool = False

    def dot(self) -> str:
        style = ' style="dashed"' if self.dashed else ""
        return f'color="{self.color}" penwidth="{self.width}"{style}'

    def svg(self) -> str:
        text = f'stroke="{self.color}"'
        if self.width != 1:
            text += f' stroke-width="{self.width}"'
        return text + (' stroke-dasharray="5,3"' if self.dashed else "")


LINES: dict[Flow, Line] = {
    Flow.PENDING: Line("#b3b3b3", 1, dashed=True),
    Flow.VALUE: Line("#595959", 1.2),
    Flow.VALUE_ACTIVE: Line("#000000", 2.6),
    Flow.GRAD: Line("#595959", 1.2),
    Flow.GRAD_ACTIVE: Line("#000000", 2.6),
}


THIN_LINES: dict[Flow, Line] = {  # inside an expanded composite, and from constants
    Flow.PENDING: Line("#c8c8c8", 0.8, dashed=True),
    Flow.VALUE: Line("#a6a6a6", 0.8),
    Flow.VALUE_ACTIVE: Line("#000000", 1.4),
    Flow.GRAD: Line("#a6a6a6", 0.8),
    Flow.GRAD_ACTIVE: Line("#000000", 1.4),
}


class Sentinel:
    """Colours no real drawing uses: svg.py finds a template's changing parts by them."""

    FILL = "#fe0001"
    BORDER = "#fe0002"
    VALUE = "#fe0003"
    GRAD = "#fe0004"
    EDGE = "#fe0005"
    PICTURE = "#fe0006"  # a cell svg.py fills with a tile of the value's picture
    GRAD_PICTURE = "#fe0007"  # … of the gradient's


def escape(text: str) -> str:
    """Text for an HTML-like label, SVG or HTML: no markup survives, and control characters
    (which XML forbids, and which could reach a terminal) are written out as `\x1b`."""
    return html.escape(fmt.visible(text), quote=True)


def _legend(legend: Legend) -> str:
    """An overlay's legend as the graph's label, under the drawing: its title, the colour bar
    between the numbers at its ends, what the colours mean and what grey means. Each line is
    a table of a fixed size: Graphviz would stretch it to the widest, and space out the bar."""
    size = SMALL_SIZE + 1

    def swatch(colour: str) -> tuple[str, int]:
        return f'<TD BGCOLOR="{colour}" WIDTH="12" HEIGHT="10" FIXEDSIZE="TRUE"></TD>', 12

    def text(words: str) -> tuple[str, int]:
        width, height = cell_size(len(words) + 1, size)
        cell = (
            f'<TD FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}" ALIGN="LEFT">'
            f"{escape(words)}</TD>"
        )
        return cell, width

    def line(*cells: tuple[str, int]) -> str:
        width, height = sum(w for _, w in cells), cell_size(1, size)[1]
        return (
            f'<TR><TD ALIGN="LEFT"><TABLE FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}" '
            'ALIGN="LEFT" BORDER="0" CELLSPACING="0" CELLPADDING="0">'
            f"<TR>{''.join(c for c, _ in cells)}</TR></TABLE></TD></TR>"
        )

    table = (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0">'
        f'<TR><TD ALIGN="LEFT"><B>{escape(legend.title)}</B></TD></TR>'
        + line(text(legend.low), *(swatch(c) for c in legend.bar), text(" " + legend.high))
        + f'<TR><TD ALIGN="LEFT">{escape(legend.meaning)}</TD></TR>'
        + line(swatch(NEUTRAL), text(" " + legend.neutral))
        + "</TABLE>"
    )
    attrs = f'labelloc="b" labeljust="l" fontsize="{size}" fontcolor="{INK}"'
    return f"  graph [label=<{table}> {attrs}];"


# --- sizes: a cell holds a fixed number of characters, whatever the number in it

CHAR = 0.62  # a character's width in ems: digits and signs of Helvetica, Arial, DejaVu Sans fit
SCALAR_CHARS = 9  # "-0.333333", "1.235e-05"
CELL_CHARS = 7  # one number of a small matrix
SUMMARY_CHARS = 24  # "min -0.3214 max 0.4125"
MATRIX_SIDE = 8  # a tensor is drawn number by number up to 8×8 (and format.SMALL numbers)
TITLE_SIZE = 12
NUMBER_SIZE = 11
SMALL_SIZE = 9
EDGE_SIZE = 10


def cell_size(chars: int, size: float) -> tuple[int, int]:
    """The points a fixed cell of `chars` characters at font `size` takes."""
    return math.ceil(chars * CHAR * size) + 6, math.ceil(size * 1.2) + 6


def summary(a: np.ndarray) -> str:
    """A large tensor in one line: its range, or how many of its numbers are not finite."""
    if np.isfinite(a).all():
        return f"min {fit(a.min(), 7)} max {fit(a.max(), 7)}"
    counts = [("nan", np.isnan(a)), ("inf", np.isposinf(a)), ("-inf", np.isneginf(a))]
    return " ".join(f"{label}×{int(m.sum())}" for label, m in counts if m.any())


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(rows, cols) when a tensor is drawn number by number, else None."""
    dims = list(shape)
    while len(dims) > 2 and dims[0] == 1:
        dims.pop(0)
    if len(dims) == 1:
        dims = [1, dims[0]]
    if len(dims) != 2:
        return None
    rows, cols = dims
    if rows > MATRIX_SIDE or cols > MATRIX_SIDE or rows * cols > fmt.SMALL:
        return None
    return rows, cols


# --- DOT


@dataclass(frozen=True)
class Paint:
    """How to colour a drawing: each part's look and each wire's flow; None: the template.
    With an overlay, each part's fill (overlay.py) and the overlay's legend under the graph."""

    looks: Mapping[str, Look] | None = None
    flows: Mapping[str, Flow] | None = None
    fills: Mapping[str, str] | None = None
    legend: Legend | None = None


TEMPLATE = Paint()


def to_dot(d: Diagram, paint: Paint = TEMPLATE, rankdir: str = "TB") -> str:
    """The drawing as DOT: a template (sentinel colours, every number shown) or one step."""
    if rankdir not in ("TB", "LR"):
        raise GraphstepError(f"unknown rankdir '{rankdir}'", hint="use TB (top to bottom) or LR")
    # Past XLABEL_WIRES edges, edge labels are xlabels, placed after the layout: as labels,
    # each would be a node of its own to place, and dot takes minutes for a few hundred.
    xlabels = len(d.wires) > XLABEL_WIRES
    ranksep = "0.65" if xlabels else "0.4"  # room between ranks for the two rows of numbers
    lines = [
        "digraph graphstep {",
        f'  graph [rankdir="{rankdir}" fontname="{FONT}" bgcolor="white" pad="0.15" '
        f'nodesep="0.3" ranksep="{ranksep}" compound="true" newrank="true" remincross="false"];',
        *([_legend(paint.legend)] if paint.legend is not None else []),
        f'  node [shape="box" margin="0.1,0.05" fontname="{FONT}" fontsize="{TITLE_SIZE}" '
        f'fontcolor="{INK}"];',
        f'  edge [fontname="{FONT}" fontsize="{EDGE_SIZE}" arrowsize="0.7"];',
    ]
    framed = {pid for f in d.frames for pid in f.parts}
    # what each expanded block call (nested ones inside) and the top level hold
    held: dict[str | None, list[str]] = {}
    for pid, part in d.parts.items():
        if pid not in framed:
            held.setdefault(d.cluster_of(part.name), []).append(_node(part, paint))
    for frame in d.frames:
        held.setdefault(d.cluster_of(frame.name), []).extend(_frame(d, frame, paint, rankdir))
    lines.extend(_calls(held, None, d.call_parents, "  "))
    label_attr = "xlabel" if xlabels else "label"
    stubs = set(d.stubs.values())
    lines.extend("  " + _edge(w, paint, label_attr, w.tail in stubs) for w in d.wires)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _calls(
    held: dict[str | None, list[str]],
    group: str | None,
    parents: Mapping[str, str | None],
    indent: str,
) -> list[str]:
    """The lines of a block call's cluster (or of the top level), its own calls nested inside."""
    lines = [indent + line for line in held.get(group, [])]
    for k, child in enumerate(parents):
        if parents[child] != group:
            continue
        cid = f"b{k}"  # as Diagram.call_ids
        lines.append(f"{indent}subgraph cluster_{cid} {{")
        lines.append(
            f'{indent}  graph [id="{cid}" label=<{escape(child)}> labeljust="l" '
            f'fontsize="{SMALL_SIZE + 1}" fontcolor="{MUTED}" style="rounded,dotted" '
            f'color="{MUTED}" margin="8"];'
        )
        lines.extend(_calls(held, child, parents, indent + "  "))
        lines.append(f"{indent}}}")
    return lines


def _frame(d: Diagram, frame: Frame, paint: Paint, rankdir: str) -> list[str]:
    """An expanded composite's cluster: its windows row by row under what they read."""
    lines = [
        f"subgraph cluster_{frame.id} {{",
        f'  graph [id="{frame.id}" label=<<B>{escape(frame.label)}</B>> labeljust="l" '
        f'fontsize="{TITLE_SIZE}" fontcolor="{INK}" style="rounded,dashed" '
        f'color="{MUTED}" penwidth="1.2" margin="10"];',
    ]
    lines.extend("  " + _node(d.parts[pid], paint) for pid in frame.parts)
    above = None
    for readers, windows in frame.rows:
        for row in (readers, windows):
            ids = list(reversed(row)) if rankdir == "LR" else list(row)
            lines.append("  " + _in_order(ids))
        if above is not None and readers:
            lines.append(f'  {above} -> {readers[0]} [style="invis" id="order"];')
        above = windows[0]
    lines.append("}")
    return lines


def _in_order(ids: list[str]) -> str:
    """One rank, kept in this order by invisible flat edges (left to right; LR: bottom to top)."""
    if len(ids) < 2:
        return f'{{rank="same"; {ids[0]};}}' if ids else ""
    return f'{{rank="same"; {" -> ".join(ids)} [style="invis" id="order"];}}'


def _node(part: Part, paint: Paint) -> str:
    card = part.card
    if part.kind is Kind.CONST:
        return (
            f'{part.id} [id="{part.id}" label=<<FONT POINT-SIZE="{SMALL_SIZE}">'
            f'{escape(card.title)}</FONT>> style="rounded,filled" fillcolor="#f0f0f0" '
            f'color="#9a9a9a" margin="0.04,0.01" width="0" height="0"];'
        )
    if paint.looks is None:
        pen = f'style="rounded,filled" fillcolor="{Sentinel.FILL}" color="{Sentinel.BORDER}"'
        look = None
    else:
        look = paint.looks[part.id]
        fill = None if paint.fills is None else paint.fills.get(part.id)
        pen = (PENS[look] if fill is None else replace(PENS[look], fill=fill)).dot()
    margin = ' margin="0.06,0.03"' if card.compact else ""
    return f'{part.id} [id="{part.id}" label=<{_label(card, look)}> {pen}{margin}];'


def _label(card: Card, look: Look | None) -> str:
    """The table of one card; `look` None: the template, with every number and sentinel colours."""
    size = TITLE_SIZE - 2 if card.compact else TITLE_SIZE
    rows = [f'<TR><TD><FONT POINT-SIZE="{size}"><B>{escape(card.title)}</B></FONT></TD></TR>']
    if card.subtitle:
        rows.append(
            f'<TR><TD><FONT POINT-SIZE="{SMALL_SIZE}" COLOR="{MUTED}">'
            f"{escape(card.subtitle)}</FONT></TD></TR>"
        )
    if card.numbers:
        rows.append(f"<TR><TD>{_numbers(card, look)}</TD></TR>")
    if card.picture is not None:
        rows.append(f"<TR><TD>{_pictures(card.picture, look)}</TD></TR>")
    return (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        + "".join(rows)
        + "</TABLE>"
    )


def _pictures(picture: Picture, look: Look | None) -> str:
    """Room for a picture's tiles: a row for the value, and one for the gradient (one picture
    each: side by side); in a template each cell is filled with a sentinel colour, where
    svg.py puts the tile."""
    width, height = tile_size(picture)
    fills = [Sentinel.PICTURE] + ([Sentinel.GRAD_PICTURE] if picture.gradient else [])
    rows = []
    for fill in fills:
        colour = f' BGCOLOR="{fill}"' if look is None else ""
        cell = f'<TD FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}"{colour}></TD>'
        rows.append(cell * len(picture.tiles))
    body = "".join(rows) if len(picture.tiles) == 1 else "</TR><TR>".join(rows)
    return f'<TABLE BORDER="0" CELLSPACING="{GAP}" CELLPADDING="0"><TR>{body}</TR></TABLE>'


@dataclass(frozen=True)
class Cell:
    """A fixed-size table cell: its text, and the room it always takes."""

    text: str
    chars: int
    size: float
    color: str
    align: str = "LEFT"
    pad: int = 0

    @property
    def width(self) -> int:
        return cell_size(self.chars, self.size)[0]

    @property
    def height(self) -> int:
        return cell_size(self.chars, self.size)[1]

    def dot(self) -> str:
        font = ""
        if self.text:
            font = (
                f'<FONT POINT-SIZE="{self.size:g}" COLOR="{self.color}">{escape(self.text)}</FONT>'
            )
        pad = f' CELLPADDING="{self.pad}"' if self.pad else ""
        return (
            f'<TD FIXEDSIZE="TRUE" WIDTH="{self.width}" HEIGHT="{self.height}" '
            f'ALIGN="{self.align}"{pad}>{font}</TD>'
        )


def _fixed_table(rows: list[list[Cell]], extra: str = "") -> tuple[str, int, int]:
    """Rows of fixed cells as a table of a fixed size: Graphviz would stretch it otherwise, and
    misplace a fixed cell's text in a stretched column."""
    width = max(sum(c.width for c in row) for row in rows)
    height = sum(max(c.height for c in row) for row in rows)
    body = "".join("<TR>" + "".join(c.dot() for c in row) + "</TR>" for row in rows)
    table = (
        f'<TABLE FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}" BORDER="0" '
        f'CELLSPACING="0" CELLPADDING="0"{extra}>{body}</TABLE>'
    )
    return table, width, height


def _numbers(card: Card, look: Look | None) -> str:
    """The value and the gradient, each a label cell then a scalar, a matrix or a summary,
    in one table of a fixed size; the labels sit right against their numbers."""
    value_color = Sentinel.VALUE if look is None else VALUE_COLOR
    grad_color = Sentinel.GRAD if look is None else GRAD_COLOR
    value = card.value if look is None or look != Look.PENDING else None
    grad = card.grad if look is None or look.shows_grad else None
    label = card.grad_label if card.compact else f"{card.grad_label} ="
    lead = len(label) + 2 if card.grad_label else 0  # room to spare: ∂ is wide; and a gap
    lines = [("", value, value_color)]
    if card.grad_label:
        lines.append((label, grad, grad_color))
    rows = []
    for text, a, color in lines:
        row = (
            [Cell(text if a is not None else "", lead, SMALL_SIZE, color, "RIGHT", pad=3)]
            if lead
            else []
        )
        rows.append(row + _body(card, a, color))
    if all(len(row) == (2 if lead else 1) for row in rows):
        return _fixed_table(rows)[0]
    # a matrix: its cells as a nested fixed table, beside the label
    nested = []
    for row in rows:
        head, body = (row[:1], row[1:]) if lead else ([], row)
        cols = matrix_shape(card.shape)[1]  # type: ignore[index]
        grid = [body[i : i + cols] for i in range(0, len(body), cols)]
        table, w, h = _fixed_table(grid, ' CELLBORDER="1" COLOR="#cfcfcf"')
        label = head[0].dot().replace(f'HEIGHT="{head[0].height}"', f'HEIGHT="{h}"') if head else ""
        nested.append((label, table, w + (head[0].width if head else 0), h))
    width = max(w for *_, w, _ in nested)
    height = sum(h for *_, h in nested)
    table_rows = "".join(f"<TR>{label}<TD>{table}</TD></TR>" for label, table, _, _ in nested)
    return (
        f'<TABLE FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}" BORDER="0" '
        f'CELLSPACING="0" CELLPADDING="0">{table_rows}</TABLE>'
    )


def _body(card: Card, a: np.ndarray | None, color: str) -> list[Cell]:
    """The cells of one number row: one for a scalar or a summary; a matrix's, row-major."""
    size = NUMBER_SIZE - 1 if card.compact else NUMBER_SIZE
    if not card.shape:
        chars = CELL_CHARS if card.compact else SCALAR_CHARS
        return [Cell("" if a is None else fit(a, chars), chars, size, color)]
    matrix = matrix_shape(card.shape)
    if matrix is None:
        return [Cell("" if a is None else summary(np.asarray(a)), SUMMARY_CHARS, size - 1, color)]
    rows, cols = matrix
    flat = None if a is None else np.asarray(a).reshape(rows * cols)
    return [
        Cell("" if flat is None else fit(flat[k], CELL_CHARS), CELL_CHARS, size - 1, color, "RIGHT")
        for k in range(rows * cols)
    ]


XLABEL_WIRES = 150


def _edge(w: Wire, paint: Paint, label_attr: str = "label", stub: bool = False) -> str:
    attrs = [f'id="{w.id}"']
    if stub:  # weightless: the reader stays in line with its other inputs, the stub beside it
        attrs.append('weight="0"')
    if w.ltail:
        attrs.append(f'ltail="cluster_{w.ltail}"')
    if w.lhead:
        attrs.append(f'lhead="cluster_{w.lhead}"')
    if not w.labelled:
        attrs.append('arrowsize="0.5"')
        if paint.flows is None:
            attrs.append(f'color="{Sentinel.EDGE}"')
        else:
            attrs.append(THIN_LINES[paint.flows[w.id]].dot())
        return f"{w.tail} -> {w.head} [{' '.join(attrs)}];"
    if paint.flows is None:
        attrs.append(f'color="{Sentinel.EDGE}"')
        value_color, grad_color = Sentinel.VALUE, Sentinel.GRAD
        shows_value = shows_grad = True
    else:
        flow = paint.flows[w.id]
        attrs.append(LINES[flow].dot())
        value_color, grad_color = VALUE_COLOR, GRAD_COLOR
        shows_value = flow != Flow.PENDING
        shows_grad = flow in (Flow.GRAD, Flow.GRAD_ACTIVE)
    value = edge_text(w.value) if shows_value and w.value is not None else ""
    grad = edge_text(w.grad) if shows_grad and w.grad is not None else ""
    label = (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
        f"<TR>{Cell(value, EDGE_CHARS, EDGE_SIZE, value_color, pad=3).dot()}</TR>"
        f"<TR>{Cell(grad, EDGE_CHARS, EDGE_SIZE, grad_color, pad=3).dot()}</TR>"
        "</TABLE>"
    )
    attrs.append(f"{label_attr}=<{label}>")
    return f"{w.tail} -> {w.head} [{' '.join(attrs)}];"
