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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from .. import format as fmt
from ..composite import Expansion, Region, expansion
from ..errors import GraphstepError

if TYPE_CHECKING:
    from ..graph import Graph
    from ..trace import Trace


class Look(IntEnum):
    """What a node shows at a step: the session's node states, "current" split by phase."""

    PENDING = 0  # not computed yet: its name and formula only
    COMPUTED = 1  # its value
    FORWARD = 2  # current, forward: its value, just computed
    GRAD = 3  # its value and its gradient
    BACKWARD = 4  # current, backward: its gradient, just finalized


class Flow(IntEnum):
    """What an edge shows: the value it carries forward and the gradient it carries back."""

    PENDING = 0  # its tail is not computed yet
    VALUE = 1
    VALUE_ACTIVE = 2  # feeding the current forward step
    GRAD = 3
    GRAD_ACTIVE = 4  # summed by the current backward step


SHOWS_GRAD = (Look.GRAD, Look.BACKWARD)

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


def escape(text: str) -> str:
    """Text for an HTML-like label, SVG or HTML: no markup survives."""
    return html.escape(text, quote=True)


# --- sizes: a cell holds a fixed number of characters, whatever the number in it

CHAR = 0.62  # a character's width in ems: digits and signs of Helvetica, Arial, DejaVu Sans fit
SCALAR_CHARS = 9  # "-0.333333", "1.235e-05"
CELL_CHARS = 7  # one number of a small matrix
EDGE_CHARS = 12
SUMMARY_CHARS = 24  # "min -0.3214 max 0.4125"
MATRIX_SIDE = 8  # a tensor is drawn number by number up to 8×8 (and format.SMALL numbers)
TITLE_SIZE = 12
NUMBER_SIZE = 11
SMALL_SIZE = 9
EDGE_SIZE = 10


def cell_size(chars: int, size: float) -> tuple[int, int]:
    """The points a fixed cell of `chars` characters at font `size` takes."""
    return math.ceil(chars * CHAR * size) + 6, math.ceil(size) + 6


def fit(x: object, chars: int) -> str:
    """`format.number`, shortened to at most `chars` characters by dropping precision."""
    text = fmt.number(x)
    digits = 5
    while len(text) > chars and digits > 0:
        text = f"{float(x):.{digits}g}"  # type: ignore[arg-type]
        digits -= 1
    return text


def summary(a: np.ndarray) -> str:
    """A large tensor in one line: its range, or how many of its numbers are not finite."""
    if np.isfinite(a).all():
        return f"min {fit(a.min(), 7)} max {fit(a.max(), 7)}"
    counts = [("nan", np.isnan(a)), ("inf", np.isposinf(a)), ("-inf", np.isneginf(a))]
    return " ".join(f"{label}×{int(m.sum())}" for label, m in counts if m.any())


def edge_text(a: np.ndarray) -> str:
    """What an edge says: a scalar's number; a tensor's L2 norm."""
    if a.ndim == 0:
        return fit(a, EDGE_CHARS - 1)
    norm = np.linalg.norm(a) if np.isfinite(a).all() else np.nan
    return "‖·‖ " + fit(norm, EDGE_CHARS - 4)


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


# --- what is drawn


@dataclass(frozen=True)
class Card:
    """What a node's label says. `numbers` False: a name only (a patch, a filter)."""

    title: str  # "q = x + y"
    subtitle: str = ""  # "param · 4×3"
    shape: tuple[int, ...] = ()
    value: np.ndarray | None = None  # None when the drawing has no numbers
    grad: np.ndarray | None = None
    grad_label: str = ""  # "∂f/∂q"; empty: no gradient row
    numbers: bool = True
    compact: bool = False  # a node of an expanded composite: smaller type


@dataclass(frozen=True)
class Part:
    """A node of the drawing: a graph node, or a node of an expanded composite."""

    id: str
    name: str
    kind: str  # node, const; inside a composite: window, pixel, patch, weight, bias
    card: Card
    source: str  # the graph node whose look it follows (itself, for a graph node)
    cluster: str | None = None
    window: tuple[int, ...] | None = None  # a window's output position


@dataclass(frozen=True)
class Wire:
    """An edge of the drawing. `position` is the head's input position (-1 inside a cluster)."""

    id: str
    tail: str  # part ids
    head: str
    tail_name: str
    head_name: str
    position: int
    value: np.ndarray | None = None
    grad: np.ndarray | None = None  # the contribution it carries back
    labelled: bool = True
    ltail: str | None = None  # cluster ids, where it leaves or enters an expanded composite
    lhead: str | None = None


@dataclass(frozen=True)
class Box:
    """A cluster of the drawing: an expanded composite."""

    id: str
    name: str  # the composite node
    label: str
    parts: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # (readers, windows) by row


@dataclass
class Diagram:
    """What is drawn for a graph and its expanded composites, with ids for DOT and SVG."""

    graph: Graph
    expanded: frozenset[str]
    parts: dict[str, Part] = field(default_factory=dict)  # by id, in drawing order
    wires: list[Wire] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # graph or expansion name -> part id
    expansions: dict[str, Expansion] = field(default_factory=dict)
    shown_as: dict[str, str] = field(default_factory=dict)  # hidden node → its collapsed call
    call_parents: dict[str, str | None] = field(default_factory=dict)  # expanded block calls
    merged: dict[tuple[str, str], int] = field(default_factory=dict)  # wires into a call
    enclosing: dict[str, str | None] = field(default_factory=dict)  # every block call's parent

    def cluster_of(self, name: str) -> str | None:
        """The innermost expanded block call a drawn node sits in (None: the top level)."""
        call = self.graph.nodes[name].group
        while call is not None and call not in self.call_parents:
            call = self.enclosing[call]
        return call

    @property
    def call_ids(self) -> dict[str, str]:
        """Each expanded block call's cluster id."""
        return {call: f"b{k}" for k, call in enumerate(self.call_parents)}

    @property
    def name_of(self) -> dict[str, str]:
        return {p.id: p.name for p in self.parts.values()}


def diagram(
    graph: Graph,
    trace: Trace | None = None,
    expanded: Iterable[str] = (),
    numbers: bool = True,
    regions: Mapping[str, Region] | None = None,
) -> Diagram:
    """The parts of a drawing; its cards carry numbers when there is a trace and `numbers`.

    The cells have the same sizes with numbers or without. Expanding a composite
    needs a trace (for its windows); without one the graph's own is computed.
    """
    expanded = frozenset(expanded)
    for name in sorted(expanded):
        if name not in graph.groups and (
            name not in graph.nodes or not graph.nodes[name].is_composite
        ):
            composites = [n for n in graph.order if graph.nodes[n].is_composite] + list(
                graph.groups
            )
            raise GraphstepError(
                f"'{name}' is not a composite node or a block call of {graph.name}; "
                "only those expand",
                hint=f"its composites: {', '.join(composites)}" if composites else "it has none",
            )
    windows = frozenset(n for n in expanded if n not in graph.groups)
    if trace is None and windows:
        trace = graph.trace()
    read = trace if numbers else None
    d = Diagram(graph, expanded)
    d.shown_as = shown_as(graph, expanded)
    d.enclosing = _parents(graph)
    d.call_parents = {call: parent for call, parent in d.enclosing.items() if call in expanded}
    for name in graph.order:
        if d.shown_as.get(name, name) != name:
            continue  # inside a collapsed block call, which is drawn as one node
        if name in windows:
            assert trace is not None
            _expand(d, trace, read, name, (regions or {}).get(name))
            continue
        pid = f"n{len(d.parts)}"
        kind = "const" if graph.nodes[name].op == "const" else "node"
        card = (
            _call_card(graph, read, name)
            if name in graph.groups and name not in expanded
            else _card(graph, read, name)
        )
        d.parts[pid] = Part(pid, name, kind, card, name)
        d.ids[name] = pid
    for name in graph.order:
        head = d.shown_as.get(name, name)
        for position, src in enumerate(graph.nodes[name].inputs):
            if d.shown_as.get(src, src) != head:
                _connect(d, read, src, name, position)
    return d


def shown_as(graph: Graph, expanded: frozenset[str]) -> dict[str, str]:
    """Each node inside a collapsed block call → the outermost collapsed call, drawn in its
    place as one node. Block calls are collapsed unless expanded."""
    parents = _parents(graph)
    out: dict[str, str] = {}
    for name in graph.order:
        chain = []  # the calls around the node, innermost first
        call = graph.nodes[name].group
        while call is not None:
            chain.append(call)
            call = parents[call]
        for call in reversed(chain):
            if call not in expanded:
                out[name] = call
                break
    return out


def _call_card(graph: Graph, trace: Trace | None, call: str) -> Card:
    """A collapsed block call: `f1 = cnn(region1)`, the block's output value and gradient."""
    block, args = graph.calls[call]
    node = graph.nodes[call]
    about = [f"block call · {len(graph.groups[call])} nodes"]
    if node.shape:
        about.append(fmt.shape(node.shape).strip("[]"))
    return Card(
        title=f"{call} = {block}({', '.join(args)})",
        subtitle=" · ".join(about),
        shape=node.shape,
        value=None if trace is None else trace.value(call),
        grad=None if trace is None else trace.grad(call),
        grad_label=f"∂{graph.output}/∂{call}" if call in graph.ancestors_of_output else "",
    )


def _card(graph: Graph, trace: Trace | None, name: str) -> Card:
    node = graph.nodes[name]
    if node.op == "const":
        return Card(graph.display(name), numbers=False)
    about = [node.op] if node.is_leaf else []
    if node.shape:
        about.append(fmt.shape(node.shape).strip("[]"))
    if node.is_composite:
        about.append(f"composite: {node.size:,} window" + ("s" if node.size != 1 else ""))
    if name in graph.sources:  # an imported model's own name for the node
        about.append(graph.sources[name])
    has_grad = name in graph.ancestors_of_output
    return Card(
        title=name if node.is_leaf else f"{name} = {graph.formula(name)}",
        subtitle=" · ".join(about),
        shape=node.shape,
        value=None if trace is None else trace.value(name),
        grad=None if trace is None else trace.grad(name),
        grad_label=f"∂{graph.output}/∂{name}" if has_grad else "",
    )


WINDOW_FORMULA = {"maxpool": "max", "avgpool": "mean", "conv2d": "Wᵀx + b", "local2d": "Wᵀx + b"}
READERS = ("pixel", "patch", "weight", "bias")  # the order they sit in, above the windows
SHARED = ("weight", "bias")  # a conv's: read by every window


def _expand(d: Diagram, trace: Trace, read: Trace | None, name: str, region: Region | None) -> None:
    graph = d.graph
    node = graph.nodes[name]
    exp = expansion(graph, trace, name, region)
    d.expansions[name] = exp
    cid = f"c{len(d.boxes)}"
    members = []
    formula = WINDOW_FORMULA.get(node.op, node.op)
    if node.op in ("conv2d", "local2d") and len(node.inputs) < 3:
        formula = "Wᵀx"
    # a conv's filter and bias, read by every window: said on their card, not drawn as 16 edges
    shared = {
        sub
        for sub, data in exp.graph.nodes(data=True)
        if data["kind"] in SHARED and exp.graph.out_degree(sub) > 1
    }
    for sub, data in exp.graph.nodes(data=True):
        pid = f"n{len(d.parts)}"
        kind = data["kind"]
        source = name if kind == "window" else exp.sources.get(sub, name)
        scalar = data.get("value") is not None
        has_grad = kind in ("window", "pixel") and source in graph.ancestors_of_output
        card = Card(
            title=f"{sub} = {formula}" if kind == "window" else sub,
            value=np.asarray(data["value"]) if read is not None and scalar else None,
            grad=(
                np.asarray(data["grad"])
                if read is not None and data.get("grad") is not None
                else None
            ),
            grad_label="∂" if has_grad else "",
            subtitle=f"every window's {'W' if kind == 'weight' else 'b'}" if sub in shared else "",
            numbers=scalar,
            compact=True,
        )
        window = data.get("position") if kind == "window" else None
        key = inner_name(name, sub)
        d.parts[pid] = Part(pid, key, kind, card, source, cid, window)
        d.ids[key] = pid
        members.append(pid)
    shown, total = len(exp.windows), exp.total
    label = f"{name} = {graph.formula(name)}: {shown} of {total:,} windows"
    if shown < total and node.op in ("conv2d", "local2d"):
        label += ", one output channel"
    d.boxes.append(Box(cid, name, label, tuple(members), _rows(d, exp)))
    for tail, head in exp.graph.edges():
        if tail in shared:
            continue
        tail, head = inner_name(name, tail), inner_name(name, head)
        d.wires.append(
            Wire(f"e{len(d.wires)}", d.ids[tail], d.ids[head], tail, head, -1, labelled=False)
        )


def inner_name(composite: str, sub: str) -> str:
    """How a node of an expansion is named in a drawing: `m/x[0,1]`, unique even when two
    expanded composites read the same pixel."""
    return f"{composite}/{sub}"


def _rows(d: Diagram, exp: Expansion) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """The windows row by row as in the output, each row below the inputs it is the first to
    read: a region of 4×4 windows is drawn 4 wide, not 16."""
    rows: dict[int, tuple[list[str], list[str]]] = {}
    placed: set[str] = set()
    for position in exp.windows:
        readers, windows = rows.setdefault(position[-2], ([], []))
        window = exp.window_node(position)
        windows.append(d.ids[inner_name(exp.node, window)])
        for sub in exp.graph.predecessors(window):
            if sub not in placed:
                placed.add(sub)
                readers.append(d.ids[inner_name(exp.node, sub)])
    order = {kind: k for k, kind in enumerate(READERS)}
    return tuple(
        (tuple(sorted(readers, key=lambda pid: order[d.parts[pid].kind])), tuple(windows))
        for readers, windows in rows.values()
    )


def _endpoint(d: Diagram, name: str, reads: str | None) -> tuple[str, str | None]:
    """The part an edge attaches to for graph node `name`, and the cluster if it is expanded:
    into one, the middle part that reads `reads`; out of one, its middle window."""
    if name in d.ids:
        return d.ids[name], None
    exp = d.expansions[name]
    box = next(b for b in d.boxes if b.name == name)
    cid = box.id
    first = {d.parts[pid].name for pid in box.rows[0][0]} if box.rows else set()
    readers = [inner_name(name, sub) for sub, src in exp.sources.items() if src == reads]
    readers = [key for key in readers if key in first] or readers
    if readers:
        return d.ids[readers[len(readers) // 2]], cid
    middle = exp.window_node(exp.windows[len(exp.windows) // 2])
    return d.ids[inner_name(name, middle)], cid


def _connect(d: Diagram, trace: Trace | None, src: str, dst: str, position: int) -> None:
    """The wire from `src` into `dst`'s input `position`. Into a collapsed block call, the
    wires from one source are one wire, carrying back the sum of what they carry."""
    src, shown = d.shown_as.get(src, src), d.shown_as.get(dst, dst)
    grad = None if trace is None else trace.contribution(dst, position)
    if shown != dst:
        merged = d.merged.get((src, shown))
        if merged is not None:
            wire = d.wires[merged]
            total = grad if wire.grad is None else wire.grad if grad is None else wire.grad + grad
            d.wires[merged] = replace(wire, grad=total)
            return
        d.merged[src, shown] = len(d.wires)
    tail, ltail = _endpoint(d, src, None)
    head, lhead = _endpoint(d, shown, src)
    d.wires.append(
        Wire(
            f"e{len(d.wires)}",
            tail,
            head,
            src,
            shown,
            position,
            value=None if trace is None else trace.value(src),
            grad=grad,
            labelled=d.graph.nodes[src].op != "const",
            ltail=ltail,
            lhead=lhead,
        )
    )


def flows(d: Diagram, looks: Mapping[str, Look]) -> dict[str, Flow]:
    """Each wire's flow from its ends' looks: green once its tail is known; red once its tail's
    gradient is, since what it carried back is one term of that gradient's sum."""
    forward, backward, pending = Look.FORWARD, Look.BACKWARD, Look.PENDING
    busy = {  # expanded composites computing now: the edges into them are active too
        part.cluster
        for pid, part in d.parts.items()
        if part.window is not None and looks[pid] is forward
    }
    out: dict[str, Flow] = {}
    for w in d.wires:
        tail, head = looks[w.tail], looks[w.head]
        active = (
            head is forward
            or tail is backward
            or (w.lhead is not None and w.lhead in busy)
            # inside a composite stepped backward, a window sends its gradient to what it read
            or (head is backward and w.position < 0)
        )
        if tail is pending:
            out[w.id] = Flow.PENDING
        elif (tail is backward or tail is Look.GRAD) and w.grad is not None:
            out[w.id] = Flow.GRAD_ACTIVE if active else Flow.GRAD
        else:
            out[w.id] = Flow.VALUE_ACTIVE if active else Flow.VALUE
    return out


# --- DOT


@dataclass(frozen=True)
class Paint:
    """How to colour a drawing: each part's look and each wire's flow; None: the template."""

    looks: Mapping[str, Look] | None = None
    flows: Mapping[str, Flow] | None = None


TEMPLATE = Paint()


def to_dot(d: Diagram, paint: Paint = TEMPLATE, rankdir: str = "TB") -> str:
    """The drawing as DOT: a template (sentinel colours, every number shown) or one step."""
    if rankdir not in ("TB", "LR"):
        raise GraphstepError(f"unknown rankdir '{rankdir}'", hint="use TB (top to bottom) or LR")
    lines = [
        "digraph graphstep {",
        f'  graph [rankdir="{rankdir}" fontname="{FONT}" bgcolor="white" pad="0.15" '
        'nodesep="0.3" ranksep="0.4" compound="true" newrank="true" remincross="false"];',
        f'  node [shape="box" margin="0.1,0.05" fontname="{FONT}" fontsize="{TITLE_SIZE}" '
        f'fontcolor="{INK}"];',
        f'  edge [fontname="{FONT}" fontsize="{EDGE_SIZE}" arrowsize="0.7"];',
    ]
    boxed = {pid for b in d.boxes for pid in b.parts}
    # what each expanded block call (nested ones inside) and the top level hold
    held: dict[str | None, list[str]] = {}
    for pid, part in d.parts.items():
        if pid not in boxed:
            held.setdefault(d.cluster_of(part.name), []).append(_node(part, paint))
    for box in d.boxes:
        held.setdefault(d.cluster_of(box.name), []).extend(_box(d, box, paint, rankdir))
    lines.extend(_calls(held, None, d.call_parents, "  "))
    lines.extend("  " + _edge(w, paint) for w in d.wires)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _parents(graph: Graph) -> dict[str, str | None]:
    """Each block call's innermost enclosing call (None at the top): the smallest other call
    that holds all of its nodes."""
    calls = {g: set(nodes) for g, nodes in graph.groups.items()}
    return {
        g: min(
            (o for o in calls if o != g and calls[g] <= calls[o]),
            key=lambda o: len(calls[o]),
            default=None,
        )
        for g in calls
    }


def _calls(
    held: dict[str | None, list[str]],
    group: str | None,
    parents: dict[str, str | None],
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


def _box(d: Diagram, box: Box, paint: Paint, rankdir: str) -> list[str]:
    """An expanded composite's cluster: its windows row by row under what they read."""
    lines = [
        f"subgraph cluster_{box.id} {{",
        f'  graph [id="{box.id}" label=<<B>{escape(box.label)}</B>> labeljust="l" '
        f'fontsize="{TITLE_SIZE}" fontcolor="{INK}" style="rounded,dashed" '
        f'color="{MUTED}" penwidth="1.2" margin="10"];',
    ]
    lines.extend("  " + _node(d.parts[pid], paint) for pid in box.parts)
    above = None
    for readers, windows in box.rows:
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
    if part.kind == "const":
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
        pen = PENS[look].dot()
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
    return (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        + "".join(rows)
        + "</TABLE>"
    )


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
    grad = card.grad if look is None or look in SHOWS_GRAD else None
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
    body = "".join(f"<TR>{label}<TD>{table}</TD></TR>" for label, table, _, _ in nested)
    return (
        f'<TABLE FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{height}" BORDER="0" '
        f'CELLSPACING="0" CELLPADDING="0">{body}</TABLE>'
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


def _edge(w: Wire, paint: Paint) -> str:
    attrs = [f'id="{w.id}"']
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
    attrs.append(f"label=<{label}>")
    return f"{w.tail} -> {w.head} [{' '.join(attrs)}];"
