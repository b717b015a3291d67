"""The scene: what every drawn node and edge shows at one position of the session.

Between the session (a cursor over the timeline) and the views (DOT/SVG,
the HTML player, the terminal) sits one model of the picture: a `Scene` is a
`Diagram` (drawing.py: the parts, wires and frames drawn for a graph and its
expanded composites) at a cursor: each part's `Look`, each wire's `Flow`, the
step and its caption. Every view emits a scene and decides nothing about
states itself.

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
  current one are done and those after it not yet; an edge out of an expanded
  composite carries its value from the last window on and its gradient
  through all of the backward windows.

A part's look is a function of the cursor and the part's own step indexes,
so a scene is made in constant time; `Scene.delta` lists what a move changed,
looking only at the steps between the two cursors, so a step's cost does not
grow with the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING

from . import format as fmt
from .composite import Region
from .drawing import Diagram, Wire, inner_name
from .session import NodeState
from .steps import Phase, Step, Timeline

if TYPE_CHECKING:
    from .session import Session


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
        return self._every_flow

    @cached_property
    def _every_flow(self) -> dict[str, Flow]:
        looks, between = self._every_look, self._flow_between
        return {
            w.id: between(w, looks[w.tail], looks[w.head]) if w.ltail is None else self._flow(w)
            for w in self.diagram.wires
        }

    # -- over the pictures

    @cached_property
    def marks(self) -> tuple[Mark, ...]:
        """Inside a conv or pool: its window outlined on the input's picture, and the output
        cell it computes on the output's (the value's forward, the gradient's backward)."""
        step, d = self.step, self.diagram
        wins = None if step.node is None else self.timeline.windows(step.node)
        if step.window is None or step.node is None or wins is None:
            return ()
        position = step.window
        node = d.graph.nodes[step.node]
        rows, cols = wins.span(position)
        i, j = position[-2], position[-1]
        return (
            *_marks(d, node.inputs[0], False, wins.lead(position), rows, cols, "window"),
            *_marks(
                d,
                step.node,
                step.phase is Phase.BACKWARD,
                position[:-2],
                slice(i, i + 1),
                slice(j, j + 1),
                "cell",
            ),
        )

    @property
    def shows_norm(self) -> bool:
        """Whether an edge shows a tensor's L2 norm (‖·‖) at this step."""
        wires = self.diagram.tensor_wires
        if not wires:
            return False
        flows = self.flows()
        return any(
            (flows[w.id].shows_value and w.value is not None and w.value.ndim > 0)
            or (flows[w.id].shows_grad and w.grad is not None and w.grad.ndim > 0)
            for w in wires
        )

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


@dataclass(frozen=True)
class Mark:
    """A rectangle over one tile of a part's picture: the window being stepped (`window`), or
    the output cell it computes (`cell`); rows and columns are the tile's pixels, clipped."""

    part: str
    gradient: bool  # over the gradient's picture, else the value's
    tile: int
    side: tuple[int, int]  # the tile's H, W
    rows: tuple[int, int]
    cols: tuple[int, int]
    kind: str


def _marks(
    d: Diagram,
    name: str,
    gradient: bool,
    lead: tuple[int | slice, ...],
    rows: slice,
    cols: slice,
    kind: str,
) -> list[Mark]:
    pid = d.ids.get(name)
    shown = None if pid is None else d.parts[pid].card.picture
    if pid is None or shown is None:
        return []
    h, w = shown.side
    r = (max(0, rows.start), min(h, rows.stop))
    c = (max(0, cols.start), min(w, cols.stop))
    if r[0] >= r[1] or c[0] >= c[1]:
        return []
    return [Mark(pid, gradient, k, shown.side, r, c, kind) for k in shown.covering(lead)]


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
