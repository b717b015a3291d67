"""The scene: what every drawn node and edge shows at one position of the session.

Between the session (a cursor over the timeline) and the views (DOT/SVG,
the HTML player, the terminal) sits one model of the picture. A `Diagram` is
what is drawn for a graph and its expanded composites — its parts (nodes,
with their cards), wires (edges, with the numbers they carry) and frames
(expanded composites) — built once per trace and expansion. A `Scene` is that
diagram at a cursor: each part's `Look`, each wire's `Flow`, the step and its
caption. Every view emits a scene and decides nothing about states itself.

The rule, the same everywhere, follows the seed's slide builds: a number
appears at the step whose explanation computes it, and the step's emphasised
edges are the ones its explanation reads.

- A node shows its value from its forward step on (a leaf's from step 0) and
  its gradient from its backward step on.
- An edge shows its tail's value from the tail's forward step on, and the
  gradient it carries back (∂L/∂head · ∂head/∂tail, one term of the tail's
  sum) from the tail's backward step on: the step whose explanation sums it.
- A forward step emphasises the edges into its node (the numbers its formula
  reads); a backward step the edges out of it (the terms of its sum).
- Stepped into a composite (or a block call), the windows (nodes) before the
  current one are done and those after it not yet.

A part's look is a function of the cursor and the part's own step indexes,
so a scene is made in constant time; `Scene.delta` lists what a move changed,
looking only at the steps between the two cursors, so a step's cost does not
grow with the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from . import format as fmt
from .composite import Expansion, Region, expansion, windows
from .errors import GraphstepError
from .session import NodeState
from .steps import Phase, Step, Timeline
from .trace import Trace

if TYPE_CHECKING:
    from .graph import Graph
    from .session import Session

EDGE_CHARS = 12  # the room of an edge's number, in characters
SHORT = 16  # characters of a value written out in a terminal box


class Look(IntEnum):
    """What a part shows at a step: the session's node states, "current" split by phase."""

    PENDING = 0  # not computed yet: its name and formula only
    COMPUTED = 1  # its value
    FORWARD = 2  # current, forward: its value, just computed
    GRAD = 3  # its value and its gradient
    BACKWARD = 4  # current, backward: its gradient, just finalized

    @property
    def state(self) -> NodeState:
        return STATES[self]

    @property
    def shows_value(self) -> bool:
        return self is not Look.PENDING

    @property
    def shows_grad(self) -> bool:
        return self in (Look.GRAD, Look.BACKWARD)


class Flow(IntEnum):
    """What an edge shows: the value it carries forward and the gradient it carries back."""

    PENDING = 0  # its tail is not computed yet
    VALUE = 1
    VALUE_ACTIVE = 2  # feeding the current forward step
    GRAD = 3
    GRAD_ACTIVE = 4  # summed by the current backward step

    @property
    def shows_value(self) -> bool:
        return self is not Flow.PENDING

    @property
    def shows_grad(self) -> bool:
        return self in (Flow.GRAD, Flow.GRAD_ACTIVE)

    @property
    def active(self) -> bool:
        return self in (Flow.VALUE_ACTIVE, Flow.GRAD_ACTIVE)


# the members bound once: an Enum's class attribute is slow to read on the hot paths below
_PENDING, _COMPUTED, _FORWARD, _GRAD, _BACKWARD = Look
_FLOW_PENDING, _VALUE, _VALUE_ACTIVE, _FLOW_GRAD, _GRAD_ACTIVE = Flow

STATES = {
    Look.PENDING: NodeState.PENDING,
    Look.COMPUTED: NodeState.COMPUTED,
    Look.FORWARD: NodeState.CURRENT,
    Look.GRAD: NodeState.GRAD,
    Look.BACKWARD: NodeState.CURRENT,
}


def fit(x: float | np.floating[Any] | np.ndarray, chars: int) -> str:
    """`format.number`, shortened to at most `chars` characters by dropping precision."""
    text = fmt.number(x)
    digits = 5
    while len(text) > chars and digits > 0:
        text = f"{float(x):.{digits}g}"
        digits -= 1
    return text


def edge_text(a: np.ndarray | None) -> str:
    """What an edge says: a scalar's number; a tensor's L2 norm; nothing without a number."""
    if a is None:
        return ""
    if a.ndim == 0:
        return fit(a, EDGE_CHARS - 1)
    norm = np.linalg.norm(a) if np.isfinite(a).all() else np.nan
    return "‖·‖ " + fit(norm, EDGE_CHARS - 4)


def short(a: np.ndarray | None) -> str:
    """A node's number in a line of at most about 16 characters: a few numbers, or the
    shape and the range."""
    if a is None:
        return ""
    if a.size <= 3 and len(text := fmt.tensor(a)) <= SHORT:
        return text
    finite = a[np.isfinite(a)]
    if not finite.size:
        return f"{fmt.shape(a.shape)} {fmt.tensor(a.ravel()[:1])}…"
    return f"{fmt.shape(a.shape)} {finite.min():.3g}…{finite.max():.3g}"


# --- what is drawn


@dataclass(frozen=True)
class Card:
    """What a node's label says. `numbers` False: a name only (a patch, a filter)."""

    name: str  # "q"; a constant: its value
    formula: str = ""  # "x + y"
    subtitle: str = ""  # "param · 4×3"
    shape: tuple[int, ...] = ()
    value: np.ndarray | None = None  # None when the drawing has no numbers
    grad: np.ndarray | None = None
    grad_label: str = ""  # "∂f/∂q"; empty: no gradient row
    numbers: bool = True
    compact: bool = False  # a node of an expanded composite: smaller type

    @property
    def title(self) -> str:
        """`q = x + y`; a leaf's name."""
        return f"{self.name} = {self.formula}" if self.formula else self.name

    @property
    def about(self) -> str:
        """One line under the name where there is room for one: the formula, else the subtitle."""
        return self.formula or self.subtitle

    @property
    def value_text(self) -> str:
        return short(self.value) if self.numbers else ""

    @property
    def grad_text(self) -> str:
        return short(self.grad) if self.numbers and self.grad_label else ""


class Kind(StrEnum):
    """What a part draws: a graph node or a constant; inside an expanded composite, a window
    or what windows read (as composite.py's expansion names them)."""

    NODE = "node"
    CONST = "const"
    WINDOW = "window"
    PIXEL = "pixel"
    PATCH = "patch"
    WEIGHT = "weight"
    BIAS = "bias"


@dataclass(frozen=True)
class Part:
    """A node of the drawing: a graph node, or a node of an expanded composite."""

    id: str
    name: str
    kind: Kind
    card: Card
    source: str  # the graph node whose look it follows (itself, for a graph node)
    frame: str | None = None  # the frame of the expanded composite it belongs to
    ordinal: int | None = None  # a window's: the inner step that computes it


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
    ltail: str | None = None  # frame ids, where it leaves or enters an expanded composite
    lhead: str | None = None

    @property
    def value_text(self) -> str:
        return edge_text(self.value) if self.labelled else ""

    @property
    def grad_text(self) -> str:
        return edge_text(self.grad) if self.labelled else ""


@dataclass(frozen=True)
class Frame:
    """An expanded composite: the cluster its windows and what they read are drawn in."""

    id: str
    name: str  # the composite node
    label: str
    parts: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # (readers, windows) by row


@dataclass(frozen=True)
class Diagram:
    """What is drawn for a graph and its expanded composites, with ids for DOT and SVG.

    Built once per trace, expansion and region by `diagram()`, which fills its
    tables; read-only after that.
    """

    graph: Graph
    expanded: frozenset[str]
    shown_as: Mapping[str, str]  # a node inside a collapsed block call → the call drawn for it
    enclosing: Mapping[str, str | None]  # every block call's parent call
    call_parents: Mapping[str, str | None]  # the expanded block calls' parents
    parts: dict[str, Part] = field(default_factory=dict)  # by id, in drawing order
    wires: list[Wire] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # graph or expansion name -> part id
    expansions: dict[str, Expansion] = field(default_factory=dict)
    merged: dict[tuple[str, str], int] = field(default_factory=dict)  # wires into a call

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

    @cached_property
    def wire_ids(self) -> dict[tuple[str, str, int], str]:
        """Each wire's id by (tail name, head name, input position), as layouts name edges."""
        return {(w.tail_name, w.head_name, w.position): w.id for w in self.wires}

    def wire(self, wid: str) -> Wire:
        return self._wire_by_id[wid]

    @cached_property
    def _wire_by_id(self) -> dict[str, Wire]:
        return {w.id: w for w in self.wires}

    @cached_property
    def _by_source(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for pid, part in self.parts.items():
            out.setdefault(part.source, []).append(pid)
        return out

    @cached_property
    def _wires_at(self) -> dict[str, list[Wire]]:
        """The wires touching each part, and those entering each frame."""
        out: dict[str, list[Wire]] = {}
        for w in self.wires:
            for end in {w.tail, w.head, w.lhead}:
                if end is not None:
                    out.setdefault(end, []).append(w)
        return out

    @cached_property
    def _frame_of(self) -> dict[str, Frame]:
        return {f.name: f for f in self.frames}


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
            offered = [n for n in graph.order if graph.nodes[n].is_composite] + list(graph.groups)
            raise GraphstepError(
                f"'{name}' is not a composite node or a block call of {graph.name}; "
                "only those expand",
                hint=f"its composites: {', '.join(offered)}" if offered else "it has none",
            )
    composites = frozenset(n for n in expanded if n not in graph.groups)
    if trace is None and composites:
        trace = Trace.compute(graph)
    read = trace if numbers else None
    enclosing = _parents(graph)
    d = Diagram(
        graph,
        expanded,
        shown_as=shown_as(graph, expanded),
        enclosing=enclosing,
        call_parents={call: parent for call, parent in enclosing.items() if call in expanded},
    )
    for name in graph.order:
        if d.shown_as.get(name, name) != name:
            continue  # inside a collapsed block call, which is drawn as one node
        if name in composites:
            assert trace is not None
            _expand(d, trace, read, name, (regions or {}).get(name))
            continue
        pid = f"n{len(d.parts)}"
        kind = Kind.CONST if graph.nodes[name].op == "const" else Kind.NODE
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
        name=call,
        formula=f"{block}({', '.join(args)})",
        subtitle=" · ".join(about),
        shape=node.shape,
        value=None if trace is None else trace.value(call),
        grad=None if trace is None else trace.grad(call),
        grad_label=f"∂{graph.output}/∂{call}" if call in graph.ancestors_of_output else "",
    )


def _card(graph: Graph, trace: Trace | None, name: str) -> Card:
    node = graph.nodes[name]
    if node.op == "const":
        return Card(graph.display(name), subtitle="constant", numbers=False)
    about = [node.op] if node.is_leaf else []
    if node.shape:
        about.append(fmt.shape(node.shape).strip("[]"))
    if node.is_composite:
        about.append(f"composite: {node.size:,} window" + ("s" if node.size != 1 else ""))
    has_grad = name in graph.ancestors_of_output
    return Card(
        name=name,
        formula="" if node.is_leaf else graph.formula(name),
        subtitle=" · ".join(about),
        shape=node.shape,
        value=None if trace is None else trace.value(name),
        grad=None if trace is None else trace.grad(name),
        grad_label=f"∂{graph.output}/∂{name}" if has_grad else "",
    )


WINDOW_FORMULA = {"maxpool": "max", "avgpool": "mean", "conv2d": "Wᵀx + b", "local2d": "Wᵀx + b"}
READERS = (Kind.PIXEL, Kind.PATCH, Kind.WEIGHT, Kind.BIAS)  # in this order above the windows
SHARED = (Kind.WEIGHT, Kind.BIAS)  # a conv's: read by every window


def _expand(d: Diagram, trace: Trace, read: Trace | None, name: str, region: Region | None) -> None:
    graph = d.graph
    node = graph.nodes[name]
    exp = expansion(graph, trace, name, region)
    wins = windows(graph, name)
    assert wins is not None  # expansion() has refused anything else
    d.expansions[name] = exp
    cid = f"c{len(d.frames)}"
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
        kind = Kind(data["kind"])
        source = name if kind is Kind.WINDOW else exp.sources.get(sub, name)
        scalar = data.get("value") is not None
        has_grad = kind in (Kind.WINDOW, Kind.PIXEL) and source in graph.ancestors_of_output
        card = Card(
            name=sub,
            formula=formula if kind is Kind.WINDOW else "",
            value=np.asarray(data["value"]) if read is not None and scalar else None,
            grad=(
                np.asarray(data["grad"])
                if read is not None and data.get("grad") is not None
                else None
            ),
            grad_label="∂" if has_grad else "",
            subtitle=f"every window's {'W' if kind is Kind.WEIGHT else 'b'}" * (sub in shared),
            numbers=scalar,
            compact=True,
        )
        ordinal = wins.ordinal(data["position"]) if kind is Kind.WINDOW else None
        key = inner_name(name, sub)
        d.parts[pid] = Part(pid, key, kind, card, source, cid, ordinal)
        d.ids[key] = pid
        members.append(pid)
    shown, total = len(exp.windows), exp.total
    label = f"{name} = {graph.formula(name)}: {shown} of {total:,} windows"
    if shown < total and node.op in ("conv2d", "local2d"):
        label += ", one output channel"
    d.frames.append(Frame(cid, name, label, tuple(members), _rows(d, exp)))
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
        readers, row = rows.setdefault(position[-2], ([], []))
        window = exp.window_node(position)
        row.append(d.ids[inner_name(exp.node, window)])
        for sub in exp.graph.predecessors(window):
            if sub not in placed:
                placed.add(sub)
                readers.append(d.ids[inner_name(exp.node, sub)])
    order = {kind: k for k, kind in enumerate(READERS)}
    return tuple(
        (tuple(sorted(readers, key=lambda pid: order[d.parts[pid].kind])), tuple(row))
        for readers, row in rows.values()
    )


def _endpoint(d: Diagram, name: str, reads: str | None) -> tuple[str, str | None]:
    """The part an edge attaches to for graph node `name`, and the cluster if it is expanded:
    into one, the middle part that reads `reads`; out of one, its middle window."""
    if name in d.ids:
        return d.ids[name], None
    exp = d.expansions[name]
    frame = next(f for f in d.frames if f.name == name)
    cid = frame.id
    first = {d.parts[pid].name for pid in frame.rows[0][0]} if frame.rows else set()
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


# --- the scene: the diagram at a cursor


@dataclass(frozen=True)
class Delta:
    """What a move changed: the new look of each part and flow of each wire that changed."""

    looks: Mapping[str, Look]
    flows: Mapping[str, Flow]


@dataclass(frozen=True)
class Scene:
    """A diagram at one position of the timeline (`inner`: the window or node stepped into).

    `look` and `flow` answer for one part or wire in constant time; `looks()`
    and `flows()` give every one, for an emitter that draws them all.
    """

    diagram: Diagram
    timeline: Timeline
    position: int
    inner: int | None = None

    @property
    def step(self) -> Step:
        return self.timeline.at(self.position, self.inner)

    @property
    def caption(self) -> str:
        """`7/7 backward x: ∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4`; inner steps are `1.2/11`."""
        step = self.step
        return f"{step.number}/{self.timeline.end} {step.about}"

    @property
    def current(self) -> str | None:
        """The name of the part that shows the step: its window's, when its composite is
        expanded; the block call's, for a node inside a collapsed call."""
        node = self.step.node
        if node is None:
            return None
        d = self.diagram
        if node in d.shown_as:
            return d.shown_as[node]
        window = self.step.window
        if window is None or node not in d.expansions:
            return node
        return inner_name(node, d.expansions[node].window_node(window))

    # -- looks and flows

    def _base(self, name: str) -> Look:
        """A graph node's look, read off its step indexes."""
        tl, p = self.timeline, self.position
        b = tl.backward_index.get(name)
        if b is not None and b < p:
            return _GRAD
        if b == p and p > 0:
            return _BACKWARD
        f = tl.forward_index.get(name, 0)
        if f == p and p > 0:
            return _FORWARD
        return _COMPUTED if f < p or f == 0 else _PENDING

    @cached_property
    def _looks(self) -> dict[str, Look]:
        return {}  # each part's look, once asked for: a view asks for a box's, run by run

    def look(self, pid: str) -> Look:
        look = self._looks.get(pid)
        if look is None:
            look = self._looks[pid] = self._look(pid)
        return look

    def _look(self, pid: str) -> Look:
        part = self.diagram.parts[pid]
        base = self._base(part.source)
        inner = self.inner
        if inner is None or (base is not _FORWARD and base is not _BACKWARD):
            return base
        d, tl = self.diagram, self.timeline
        if part.source in d.graph.groups and part.source not in d.expanded:
            return base  # a collapsed block call stands for all of its inner steps
        k = (
            tl.member_index(self.position, part.source)
            if tl.members(self.position)
            else part.ordinal
        )
        return base if k is None else _inner_look(base, k, inner)

    def look_of(self, name: str) -> Look:
        """The look of the part drawn for a graph or expansion node (`m/m[0,1]`)."""
        return self.look(self.diagram.ids[name])

    @cached_property
    def _busy(self) -> frozenset[str]:
        """The frames of expanded composites computing now: the edges into them are active."""
        return frozenset(
            f.id
            for f in self.diagram.frames
            if any(
                self.look(pid) is Look.FORWARD
                for pid in f.parts
                if self.diagram.parts[pid].ordinal is not None
            )
        )

    @cached_property
    def _flows(self) -> dict[str, Flow]:
        return {}  # each wire's flow, once asked for: an edge is drawn in many runs

    def flow(self, wid: str) -> Flow:
        flow = self._flows.get(wid)
        if flow is None:
            flow = self._flows[wid] = self._flow(self.diagram.wire(wid))
        return flow

    def _flow(self, w: Wire) -> Flow:
        tail = self.look(w.tail) if w.ltail is None else self._leaving(w.tail_name)
        return self._flow_between(w, tail, self.look(w.head))

    def _leaving(self, composite: str) -> Look:
        """The look an edge out of an expanded composite follows: the whole output, whose
        value is complete at its last window, and whose gradient its windows share out."""
        base = self._base(composite)
        tl, inner = self.timeline, self.inner
        if inner is None or base not in (Look.FORWARD, Look.BACKWARD):
            return base
        if tl.members(self.position):  # a node of a block call stepped into
            k = tl.member_index(self.position, composite)
            return base if k is None else _inner_look(base, k, inner)
        if base is Look.FORWARD:
            last = len(tl.inner_steps(self.position)) - 1
            return Look.FORWARD if inner == last else Look.PENDING
        return base

    def _flow_between(self, w: Wire, tail: Look, head: Look) -> Flow:
        """Green once the tail is known; red once the tail's gradient is, since what the wire
        carried back is one term of that gradient's sum."""
        active = (
            head is _FORWARD
            or tail is _BACKWARD
            or (w.lhead is not None and w.lhead in self._busy)
            # inside a composite stepped backward, a window sends its gradient to what it read
            or (head is _BACKWARD and w.position < 0)
        )
        if tail is _PENDING:
            return _FLOW_PENDING
        if (tail is _GRAD or tail is _BACKWARD) and w.grad is not None:
            return _GRAD_ACTIVE if active else _FLOW_GRAD
        return _VALUE_ACTIVE if active else _VALUE

    def looks(self) -> Mapping[str, Look]:
        """Every part's look, for an emitter that draws them all."""
        return self._every_look

    @cached_property
    def _every_look(self) -> dict[str, Look]:
        if self.inner is not None:
            look = self.look
            return {pid: look(pid) for pid in self.diagram.parts}
        base, bases = self._base, {}  # at a top-level step a part looks as its node does
        for part in self.diagram.parts.values():
            if part.source not in bases:
                bases[part.source] = base(part.source)
        return {pid: bases[part.source] for pid, part in self.diagram.parts.items()}

    def flows(self) -> Mapping[str, Flow]:
        """Every wire's flow."""
        looks, between = self._every_look, self._flow_between
        return {
            w.id: between(w, looks[w.tail], looks[w.head]) if w.ltail is None else self._flow(w)
            for w in self.diagram.wires
        }

    # -- moving

    def moved(self, position: int, inner: int | None = None) -> Scene:
        return replace(self, position=position, inner=inner)

    def delta(self, before: Scene) -> Delta:
        """What changed since `before`: only the parts of the nodes stepped between the two
        cursors can have, and the wires that touch them."""
        if before.diagram is not self.diagram or before.timeline is not self.timeline:
            return Delta(self.looks(), self.flows())
        d, tl = self.diagram, self.timeline
        lo, hi = sorted((before.position, self.position))
        names: set[str] = set()
        for i in range(lo, hi + 1):
            node = tl.node_at(i)
            if node is not None:
                names.add(node)
            names.update(tl.members(i))
        pids = [pid for n in names for pid in d._by_source.get(n, ())]
        frames = [d._frame_of[n].id for n in names if n in d._frame_of]
        wires = {w.id: w for key in (*pids, *frames) for w in d._wires_at.get(key, ())}
        ends = {*pids, *(w.tail for w in wires.values()), *(w.head for w in wires.values())}
        now = {pid: self.look(pid) for pid in ends}
        then = {pid: before.look(pid) for pid in ends}
        flows = {}
        for wid, w in wires.items():
            if w.ltail is None:
                flow = self._flow_between(w, now[w.tail], now[w.head])
                old = before._flow_between(w, then[w.tail], then[w.head])
            else:
                flow, old = self._flow(w), before._flow(w)
            if flow is not old:
                flows[wid] = flow
        return Delta({pid: now[pid] for pid in pids if now[pid] is not then[pid]}, flows)


def _inner_look(base: Look, k: int, inner: int) -> Look:
    """Stepped into a composite or a block call, at inner step `inner`: the look of what inner
    step k computes, done before it, current at it, not yet after it."""
    if base is Look.FORWARD:
        return Look.COMPUTED if k < inner else Look.FORWARD if k == inner else Look.PENDING
    return Look.GRAD if k < inner else Look.BACKWARD if k == inner else Look.COMPUTED


def scene_of(session: Session, d: Diagram) -> Scene:
    """The diagram at the session's cursor."""
    return Scene(d, session.timeline, session.position, session.inner)


def regions_at(timeline: Timeline, step: Step, expanded: Iterable[str]) -> dict[str, Region]:
    """Inside a window of an expanded composite, the region of windows around it, so the
    drawing shows the window being stepped (one layout per region, not per step)."""
    if step.window is None or step.node not in frozenset(expanded):
        return {}
    wins = timeline.windows(step.node)
    return {} if wins is None else {step.node: Region.around(wins, step.window)}


def inner_stops(scene: Scene) -> tuple[list[tuple[int, int | None]], list[str]]:
    """Every step of the timeline, each expanded composite's followed by its inner steps, and
    a note for each composite whose windows are not all drawn.

    An expanded block call steps through all of its nodes; an expanded conv or
    pool through the windows its diagram draws (one region, at most 16 windows):
    a 6×28×28 conv has 4,704 windows, one picture each would be gigabytes.
    """
    d, tl = scene.diagram, scene.timeline
    stops: list[tuple[int, int | None]] = []
    notes: list[str] = []
    for i in range(len(tl)):
        stops.append((i, None))
        node = tl.node_at(i)
        if node is None or node not in d.expanded:
            continue
        exp = d.expansions.get(node)
        if exp is None:  # a block call
            stops.extend((i, k) for k in range(len(tl.inner_steps(i))))
            continue
        wins = tl.windows(node)
        assert wins is not None
        stops.extend((i, wins.ordinal(p)) for p in exp.windows)
        if len(exp.windows) < exp.total and tl.phase(i) is Phase.FORWARD:
            notes.append(
                f"{node}: the export steps into the {len(exp.windows)} windows drawn "
                f"({_region_text(exp.region)}) of its {exp.total:,}; "
                "'graphstep export --step N.K' draws any other"
            )
    return stops, notes


def _region_text(r: Region) -> str:
    """`channel [0], rows 0–3, columns 0–3`."""
    rows = f"rows {r.top}–{r.top + r.rows - 1}, columns {r.left}–{r.left + r.cols - 1}"
    return f"channel {fmt.index(r.channel)}, {rows}" if r.channel else rows
