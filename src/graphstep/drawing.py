"""The drawing of a graph: what is drawn for it and its expanded composites, with its numbers.

A `Diagram` holds the parts (the graph's nodes, and those of each expanded
conv or pool: windows and what they read), each with its card (name,
formula, value, gradient), the wires between them with the numbers they
carry, and a frame for each expanded composite. It is built once per trace,
expansion and region, and does not know the cursor: `scene.py` says what each
part and wire shows at a step. Ids (`n0`, `e3`, `c1`) name parts, wires and
frames for DOT and SVG; the graph's own names are only ever labels.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from . import format as fmt
from .colormap import Colouring, colouring
from .composite import Expansion, Region, Windows, expansion, windows
from .errors import GraphstepError
from .limits import MAX_PICTURE_PIXELS, MAX_THUMBNAIL_SIDE
from .norms import l2
from .trace import Trace

if TYPE_CHECKING:
    from .graph import Graph

EDGE_CHARS = 12  # the room of an edge's number, in characters
SHORT = 16  # characters of a value written out in a terminal box


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
    return "‖·‖ " + fit(l2(a) if np.isfinite(a).all() else np.nan, EDGE_CHARS - 4)


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


# --- pictures: tensors that are images, drawn as small bitmaps (render/image.py encodes them)

PICTURE_SIDE = 8  # an image is a picture when both its sides are at least this
PICTURE_ASPECT = 16  # … and its longer side is at most this many times its shorter
MAX_TILES = 8  # channels (or filters) drawn side by side; the others are left out
SAMPLES = 4  # pixels of a large image read for each pixel of its bitmap, a side
Tile = tuple[int, ...]  # the leading index of one tile: its (H, W), or (3, H, W) in colour


@dataclass(frozen=True, eq=False)
class Picture:
    """A tensor drawn as a row of small pictures, one per tile; which tiles, and their size,
    follow from the shape alone (a layout does not change with the numbers). `value` and
    `grad` are the tensors drawn (None in a drawing without numbers)."""

    tiles: tuple[Tile, ...]
    rgb: bool  # each tile is (3, H, W), drawn in its own colours
    side: tuple[int, int]  # H, W of a tile
    gradient: bool = False  # a row for the gradient's pictures too
    value: np.ndarray | None = None
    grad: np.ndarray | None = None
    value_colouring: Colouring | None = None
    grad_colouring: Colouring | None = None

    @property
    def bitmap(self) -> tuple[int, int]:
        """A tile's bitmap, H and W in pixels: a large image shrunk to MAX_THUMBNAIL_SIDE; a
        small one grown by a whole factor towards it, each number a square of pixels, sharp
        in any viewer (some smooth a small bitmap when they scale it)."""
        h, w = self.side
        factor = MAX_THUMBNAIL_SIDE / max(h, w)
        if factor < 1:
            return max(1, round(h * factor)), max(1, round(w * factor))
        return h * int(factor), w * int(factor)

    @property
    def pixels(self) -> int:
        """Pixels of all its bitmaps, value and gradient."""
        h, w = self.bitmap
        return len(self.tiles) * h * w * (2 if self.gradient else 1)

    def colours(self, gradient: bool = False) -> list[np.ndarray]:
        """Each tile as (H, W, 3) uint8 colours; empty without the numbers."""
        a, paint = (
            (self.grad, self.grad_colouring) if gradient else (self.value, self.value_colouring)
        )
        if a is None or paint is None:
            return []
        # a large image read at every few pixels first: its colours stay a few times the
        # bitmap's size, whatever the image's (a file could make it 4,096 pixels a side)
        step = max(1, max(self.side) // (SAMPLES * MAX_THUMBNAIL_SIDE))
        return [paint.apply(a[t][..., ::step, ::step]) for t in self.tiles]

    def covering(self, lead: tuple[int | slice, ...]) -> list[int]:
        """The tiles showing any of the planes `x[lead]` (a conv window's channels: a slice)."""

        def holds(index: Tile) -> bool:
            for i, k in zip(index, lead, strict=False):
                if isinstance(k, slice):
                    if not (k.start or 0) <= i < (i + 1 if k.stop is None else k.stop):
                        return False
                elif i != k:
                    return False
            return True

        def planes(tile: Tile) -> list[Tile]:
            return [(*tile, c) for c in range(3)] if self.rgb else [tile]

        return [n for n, tile in enumerate(self.tiles) if any(map(holds, planes(tile)))]


def tiles(shape: tuple[int, ...], threshold: bool = True) -> tuple[tuple[Tile, ...], bool] | None:
    """The tiles of an image-shaped tensor, (H, W), (C, H, W) or (N, C, H, W) (the first of N),
    and whether they are in colour (C = 3); None for any other shape, or (`threshold`) an image
    too small to be more than a table of numbers, or so long and thin (8 × 100,000) that its
    picture would be a line a point wide."""
    if not 2 <= len(shape) <= 4 or (len(shape) == 4 and shape[0] < 1):
        return None
    h, w = shape[-2:]
    if min(h, w) < 1:
        return None
    if threshold and (min(h, w) < PICTURE_SIDE or max(h, w) > PICTURE_ASPECT * min(h, w)):
        return None
    lead: Tile = (0,) if len(shape) == 4 else ()
    if len(shape) == 2:
        return ((),), False
    channels = shape[-3]
    if channels == 3:
        return (lead,), True
    return tuple((*lead, c) for c in range(min(channels, MAX_TILES))), False


def filter_tiles(shape: tuple[int, ...]) -> tuple[tuple[Tile, ...], bool] | None:
    """A conv's filters (O, C, kh, kw) as a row: each filter's first channel, or its three in
    colour."""
    if len(shape) != 4 or min(shape) < 1 or shape[-1] * shape[-2] < 4:
        return None
    rgb = shape[1] == 3
    return tuple((o,) if rgb else (o, 0) for o in range(min(shape[0], MAX_TILES))), rgb


def picture(
    found: tuple[tuple[Tile, ...], bool] | None,
    shape: tuple[int, ...],
    value: np.ndarray | None,
    grad: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    gradient: bool = False,
) -> Picture | None:
    """The picture of a tensor with these tiles; its colours scaled by `scale` (the tensor a
    patch was cut from), else by the value itself; a gradient's centred on zero."""
    if found is None:
        return None
    laid, rgb = found
    return Picture(
        laid,
        rgb,
        (shape[-2], shape[-1]),
        gradient,
        value,
        grad,
        None if value is None else colouring(value if scale is None else scale, rgb=rgb),
        None if grad is None else colouring(grad, signed=True, rgb=rgb),
    )


def _within_budget(d: Diagram) -> None:
    """Pictures in drawing order until MAX_PICTURE_PIXELS; the cards after that keep their
    numbers only, whether or not there are numbers (the layout stays the same)."""
    total = 0
    for pid, part in d.parts.items():
        shown = part.card.picture
        if shown is None:
            continue
        total += shown.pixels
        if total > MAX_PICTURE_PIXELS:
            d.parts[pid] = replace(part, card=replace(part.card, picture=None))


def _conv_weight(graph: Graph, name: str) -> bool:
    return any(
        graph.nodes[c].op == "conv2d" and position == 1 for c, position in graph.consumers[name]
    )


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
    picture: Picture | None = None  # an image-shaped tensor, a filter or a patch, as pictures

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
    shared: frozenset[str] = frozenset()  # leaves read by more than STUB_USES nodes
    stubs: dict[tuple[str, str], str] = field(default_factory=dict)  # (leaf, reader) → part id
    beside: dict[str, str] = field(default_factory=dict)  # a stub's name → its reader
    folds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # first call → its run

    def cluster_of(self, name: str) -> str | None:
        """The innermost expanded block call a drawn node sits in (None: the top level);
        a leaf's stub sits beside its reader."""
        name = self.beside.get(name, name)
        call = self.graph.nodes[name].group
        while call is not None and call not in self.call_parents:
            call = self.enclosing[call]
        return call

    @cached_property
    def tensor_wires(self) -> tuple[Wire, ...]:
        """The labelled wires that carry a tensor (value or gradient): the only ones on which
        an edge can show a norm (‖·‖)."""
        return tuple(
            w
            for w in self.wires
            if w.labelled
            and (
                (w.value is not None and w.value.ndim > 0)
                or (w.grad is not None and w.grad.ndim > 0)
            )
        )

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

    def drawn_for(self, node: str) -> list[str]:
        """The names of the parts that draw a graph node: its box, or a shared leaf's copy
        beside each use, or an expanded composite's windows."""
        return [self.parts[pid].name for pid in self._by_source.get(node, ())]

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
    only: Collection[str] | None = None,
    folded: bool = False,
) -> Diagram:
    """The parts of a drawing; its cards carry numbers when there is a trace and `numbers`.

    The cells have the same sizes with numbers or without. Expanding a composite
    needs a trace (for its windows); without one the graph's own is computed.
    `only` draws just those drawn nodes (a neighbourhood) and the edges between them.
    `folded` draws each run of identical consecutive block calls as one box (`folds`).
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
    tables = _tables(graph, expanded, folded)
    enclosing, runs = tables.enclosing, tables.runs
    d = Diagram(
        graph,
        expanded,
        shown_as=tables.shown,
        enclosing=enclosing,
        call_parents={call: parent for call, parent in enclosing.items() if call in expanded},
        shared=tables.shared,
        folds=runs,
    )
    for name in graph.order if only is None else tables.in_order(only):
        if d.shown_as.get(name, name) != name:
            continue  # inside a collapsed block call, which is drawn as one node
        if name in composites:
            assert trace is not None
            _expand(d, trace, read, name, (regions or {}).get(name))
            continue
        pid = f"n{len(d.parts)}"
        kind = Kind.CONST if graph.nodes[name].op == "const" else Kind.NODE
        card = (
            _call_card(graph, read, name, runs.get(name, (name,)))
            if name in graph.groups and name not in expanded
            else _card(graph, read, name)
        )
        # a fold looks as its last call does: it shows that call's value and gradient
        d.parts[pid] = Part(pid, name, kind, card, runs.get(name, (name,))[-1])
        d.ids[name] = pid
    drawn = (
        tables.in_order(n for head in only for n in tables.drawn_in.get(head, ())) if only else ()
    )
    for name in graph.order if only is None else drawn:
        head = d.shown_as.get(name, name)
        for position, src in enumerate(graph.nodes[name].inputs):
            tail = d.shown_as.get(src, src)
            if tail != head and (only is None or tail in only):
                _connect(d, read, src, name, position)
    _within_budget(d)
    return d


def neighbourhood(
    graph: Graph, expanded: frozenset[str], folded: bool, seeds: Sequence[str], limit: int
) -> set[str]:
    """The drawn nodes (graph nodes, collapsed block calls) of `seeds` and those fewest edges
    away from them, `limit` more at most: what the terminal UI draws first
    (`diagram(only=…)`), so a big graph shows its current node at once. A shared leaf is
    reached but not gone through: its readers are all over the graph."""
    tables = _tables(graph, expanded, folded)
    shown, members, shared = tables.shown, tables.inside, tables.shared
    kept: set[str] = set()
    queue = deque(shown.get(seed, seed) for seed in seeds)
    limit += len(queue)
    while queue and len(kept) < limit:
        drawn = queue.popleft()
        if drawn in kept:
            continue
        kept.add(drawn)
        if drawn in shared:
            continue
        for name in members.get(drawn, [drawn]):
            near = [*graph.nodes[name].inputs, *(c for c, _ in graph.consumers[name])]
            queue.extend(n for n in (shown.get(m, m) for m in near) if n not in kept)
    return kept


@dataclass(frozen=True)
class _Tables:
    """What every drawing of a graph at one expansion and folding reads of the whole graph,
    made once per graph (its structure never changes): a neighbourhood of a big graph then
    costs what it draws, not a walk over every node."""

    enclosing: dict[str, str | None]  # _parents
    runs: dict[str, tuple[str, ...]]  # folds, when folded
    shown: dict[str, str]  # shown_as
    shared: frozenset[str]  # shared_leaves
    inside: dict[str, list[str]]  # a collapsed call → the nodes drawn in its box
    drawn_in: dict[str, list[str]]  # a drawn node → the graph nodes drawn as it, itself too
    index: dict[str, int]  # a node's place in graph.order

    def in_order(self, names: Iterable[str]) -> list[str]:
        """Those of `names` that are graph nodes, in the graph's order."""
        index = self.index
        return sorted((n for n in names if n in index), key=index.__getitem__)


KEPT_TABLES = 8  # _Tables kept, by graph, expansion and folding
_kept_tables: dict[tuple[int, frozenset[str], bool], tuple[weakref.ref[Graph], _Tables]] = {}
_tables_lock = threading.Lock()


def _tables(graph: Graph, expanded: frozenset[str], folded: bool) -> _Tables:
    key = (id(graph), expanded, folded)
    with _tables_lock:  # the TUI draws in worker threads
        kept = _kept_tables.get(key)
    if kept is not None and kept[0]() is graph:
        return kept[1]
    runs = folds(graph, expanded) if folded else {}
    shown = shown_as(graph, expanded, runs)
    inside: dict[str, list[str]] = {}
    for name, call in shown.items():
        inside.setdefault(call, []).append(name)
    drawn_in: dict[str, list[str]] = {}
    for name in graph.order:
        drawn_in.setdefault(shown.get(name, name), []).append(name)
    tables = _Tables(
        _parents(graph),
        runs,
        shown,
        shared_leaves(graph, shown),
        inside,
        drawn_in,
        {name: i for i, name in enumerate(graph.order)},
    )
    with _tables_lock:
        _kept_tables[key] = (weakref.ref(graph), tables)
        while len(_kept_tables) > KEPT_TABLES:
            _kept_tables.pop(next(iter(_kept_tables)))
    return tables


STUB_USES = 4  # a leaf read by more nodes is drawn beside each of them, not once


def shared_leaves(graph: Graph, shown: Mapping[str, str]) -> frozenset[str]:
    """The leaves (a shared weight, a constant) read by more than STUB_USES drawn nodes: each
    use gets a stub of its own, the same name and colour, as TensorBoard pulls such nodes
    aside; one node with hundreds of long edges is what Graphviz cannot lay out."""
    readers: dict[str, set[str]] = {}
    for name in graph.order:
        for src in graph.nodes[name].inputs:
            if graph.nodes[src].is_leaf and src not in shown:
                readers.setdefault(src, set()).add(shown.get(name, name))
    return frozenset(leaf for leaf, heads in readers.items() if len(heads) > STUB_USES)


def _stub(d: Diagram, leaf: str, reader: str) -> tuple[str, str]:
    """The part that draws `leaf` beside `reader`, and its name: the leaf's own part for its
    first reader, a copy named `leaf@reader` for the others."""
    pid = d.stubs.get((leaf, reader))
    if pid is None:
        pid = d.ids[leaf]
        if leaf in d.beside:  # its own part is beside its first reader
            first, pid = pid, f"n{len(d.parts)}"
            d.parts[pid] = replace(d.parts[first], id=pid, name=f"{leaf}@{reader}")
            d.ids[d.parts[pid].name] = pid  # views look a drawn box up by its name
        d.stubs[leaf, reader] = pid
        d.beside[d.parts[pid].name] = reader
    return pid, d.parts[pid].name


def shown_as(
    graph: Graph, expanded: frozenset[str], runs: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, str]:
    """Each node inside a collapsed block call → the outermost collapsed call, drawn in its
    place as one node. Block calls are collapsed unless expanded. With `runs` (folds), the
    nodes of a run's later calls are drawn in its first call's box."""
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
    if not runs:
        return out
    first = {call: run[0] for run in runs.values() for call in run[1:]}
    return {name: first.get(call, call) for name, call in out.items()}


def folds(graph: Graph, expanded: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Runs of identical consecutive block calls, by their first call: collapsed calls drawn
    side by side at one level, of the same block and the same ops, each reading the one
    before (ResNet's blocks of a stage, DenseNet's layers). A run is drawn as one box × N."""
    shown = shown_as(graph, expanded)
    parents = _parents(graph)
    drawn = [c for c in graph.groups if c not in expanded and shown.get(c) == c]

    def structure(call: str) -> tuple[object, ...]:
        nodes = graph.groups[call]
        return (graph.calls[call][0], parents[call], tuple(graph.nodes[n].op for n in nodes))

    after: dict[str, str] = {}  # a call → the next of its run
    for call in drawn:
        inside = frozenset(graph.groups[call])
        reads = {shown.get(s, s) for n in inside for s in graph.nodes[n].inputs} - {call}
        before = [r for r in reads if r in graph.groups and shown.get(r) == r]
        if len(before) == 1 and structure(before[0]) == structure(call):
            after.setdefault(before[0], call)
    starts = [c for c in drawn if c in after and c not in set(after.values())]
    runs: dict[str, tuple[str, ...]] = {}
    for call in starts:
        run = [call]
        while run[-1] in after:
            run.append(after[run[-1]])
        runs[call] = tuple(run)
    return runs


def _stepped(graph: Graph, call: str) -> int:
    """The nodes of a block call its step steps through, as the step's text counts them: its
    ops, not the leaves (an imported module's weights) grouped with them."""
    return sum(not graph.nodes[m].is_leaf for m in graph.groups[call])


def _call_card(graph: Graph, trace: Trace | None, call: str, run: tuple[str, ...] = ()) -> Card:
    """A collapsed block call: `f1 = cnn(region1)`, the block's output value and gradient; a
    run of identical calls (a fold): `cnn(…) × 3`, the last call's value and gradient."""
    block, args = graph.calls[call]
    last = run[-1] if run else call
    node = graph.nodes[last]
    about = [f"block call · {_stepped(graph, call)} nodes"]
    if len(run) > 1:
        about = [f"{len(run)} calls · {sum(_stepped(graph, c) for c in run)} nodes"]
    if node.shape:
        about.append(fmt.shape(node.shape).strip("[]"))
    return Card(
        name=call,
        formula=f"{block}({', '.join(args)})" + (f" × {len(run)}" if len(run) > 1 else ""),
        subtitle=" · ".join(about),
        shape=node.shape,
        value=None if trace is None else trace.value(last),
        grad=None if trace is None else trace.grad(last),
        grad_label=f"∂{graph.output}/∂{last}" if last in graph.ancestors_of_output else "",
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
    if name in graph.sources:  # an imported model's own name for the node
        about.append(graph.sources[name])
    has_grad = name in graph.ancestors_of_output
    value = None if trace is None else trace.value(name)
    grad = None if trace is None else trace.grad(name)
    laid = (
        filter_tiles(node.shape)
        if node.op == "param" and _conv_weight(graph, name)
        else tiles(node.shape)
    )
    return Card(
        name=name,
        formula="" if node.is_leaf else graph.formula(name),
        subtitle=" · ".join(about),
        shape=node.shape,
        value=value,
        grad=grad,
        grad_label=f"∂{graph.output}/∂{name}" if has_grad else "",
        picture=picture(laid, node.shape, value, grad, gradient=has_grad),
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
            picture=_read_picture(trace, read, node.inputs, wins, kind, data["position"]),
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


def _read_picture(
    trace: Trace,
    read: Trace | None,
    inputs: tuple[str, ...],
    wins: Windows,
    kind: Kind,
    position: tuple[int, ...],
) -> Picture | None:
    """What a patch or a filter of an expanded conv reads, as pictures in the colours of the
    tensor it comes from."""
    if kind is Kind.PATCH:
        source = trace.value(inputs[0])
        a = wins.patch(source, position)
    elif kind is Kind.WEIGHT:
        source = trace.value(inputs[1])
        a = source[position]
    else:
        return None
    found = tiles(a.shape, threshold=False)
    return picture(found, a.shape, None if read is None else a, scale=source)


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
    tail_name = src
    if src in d.shared:
        tail, tail_name = _stub(d, src, shown)
    d.wires.append(
        Wire(
            f"e{len(d.wires)}",
            tail,
            head,
            tail_name,
            shown,
            position,
            value=None if trace is None else trace.value(d.folds.get(src, (src,))[-1]),
            grad=grad,
            labelled=d.graph.nodes[src].op != "const",
            ltail=ltail,
            lhead=lhead,
        )
    )


def _parents(graph: Graph) -> dict[str, str | None]:
    """Each block call's innermost enclosing call (None at the top): the smallest other call
    that holds all of its nodes. Calls nest or are apart, so only the calls holding its first
    node are candidates: a few per call, not every other call."""
    calls = {g: frozenset(nodes) for g, nodes in graph.groups.items()}
    holding: dict[str, list[str]] = {}
    for g, nodes in graph.groups.items():
        for n in nodes:
            holding.setdefault(n, []).append(g)
    out: dict[str, str | None] = {}
    for g, nodes in graph.groups.items():
        around = [o for o in holding[nodes[0]] if o != g and len(calls[o]) >= len(nodes)]
        around.sort(key=lambda o: len(calls[o]))
        out[g] = next((o for o in around if calls[g] <= calls[o]), None)
    return out
