"""Where everything goes: one Graphviz layout per graph and expansion, never one per step.

The layout depends on the graph and on which composites are expanded, not on
the cursor, nor on the numbers (dot.py gives number cells fixed sizes). It is
computed once with `dot`, cached, and reused by every step of every view.
Coordinates are points, with the origin at the top left and y growing down.

This is the only module that runs Graphviz.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..drawing import EDGE_CHARS, Card, Diagram, Wire, diagram
from ..errors import GraphstepError
from .dot import (
    CHAR,
    EDGE_SIZE,
    NUMBER_SIZE,
    SCALAR_CHARS,
    SMALL_SIZE,
    SUMMARY_CHARS,
    TITLE_SIZE,
    cell_size,
    to_dot,
)

if TYPE_CHECKING:
    from ..composite import Region
    from ..graph import Graph
    from ..trace import Trace

TIMEOUT = 300.0  # seconds; a 1,000-node graph takes a few
# layout() hands a drawing to `dot` only up to DOT_PARTS boxes, and waits at most DOT_BUDGET
# seconds: past either, graphstep lays the graph out itself, layer by layer (`layered`).
DOT_PARTS = 4000
DOT_BUDGET = 30.0
INSTALL_HINT = (
    "graphstep draws with Graphviz's 'dot': install it with 'sudo apt-get install graphviz' "
    "(Debian/Ubuntu), 'brew install graphviz' (macOS) or from https://graphviz.org/download/"
)


class GraphvizMissing(GraphstepError):
    """Graphviz's `dot` is not installed (or not on PATH)."""

    def __init__(self) -> None:
        super().__init__("Graphviz's 'dot' program was not found", hint=INSTALL_HINT)


@dataclass(frozen=True)
class Box:
    """A rectangle in points: top-left corner, width and height."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True)
class EdgeRoute:
    """An edge's route: the cubic B-spline control points from tail to head, ending at the
    arrow's tip; `label` is the box Graphviz kept free for its numbers (None inside clusters).

    `position` is the head's input position (`x * x` has two routes, 0 and 1); edges
    inside an expanded composite have position -1. An edge into or out of an expanded
    composite attaches to one of its nodes, inside the cluster.
    """

    tail: str
    head: str
    position: int
    points: tuple[tuple[float, float], ...]
    label: Box | None = None


@dataclass(frozen=True)
class Cluster:
    """An expanded composite: its box, title and the nodes drawn inside it."""

    name: str  # the composite node
    box: Box
    label: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """One laid-out drawing. `boxes` holds every node drawn, by name: the graph's, and
    those of an expanded composite as `composite/node` (`m/m[0,1]`, `m/x[1,3]`, named
    by composite.py's expansion); an expanded composite itself has no box but a cluster."""

    width: float
    height: float
    boxes: dict[str, Box]
    edges: tuple[EdgeRoute, ...]
    clusters: tuple[Cluster, ...]
    rankdir: str = "TB"
    seconds: float = 0.0  # how long `dot` took
    fallback: str = ""  # why graphstep laid it out itself, in words for the screen; "" for dot
    # a shared leaf's copies beside its readers (dot.py's stubs): box name `k@a5` → leaf `k`;
    # a view draws each as its leaf, in the leaf's state, with the leaf's numbers
    stubs: Mapping[str, str] = field(default_factory=dict)


def run_graphviz(source: str, formats: Sequence[str]) -> list[str]:
    """Run `dot` once on `source`, with one text output per format, e.g. ("svg", "json0")."""
    return split_outputs(_run(source, formats).decode(), formats)


class DotTimeout(GraphstepError):
    """`dot` ran out of its time budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"Graphviz took more than {seconds:.0f} s to lay out the graph",
            hint="draw fewer nodes: collapse the expanded composites; "
            "the terminal UI draws any size with graphstep's own layered layout",
        )


def _run(source: str, formats: Sequence[str], *options: str, timeout: float = TIMEOUT) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing()
    args = [exe, *options, *(f"-T{f}" for f in formats)]
    try:
        done = subprocess.run(
            args, input=source.encode(), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise DotTimeout(timeout) from None
    except OSError as e:
        raise GraphstepError(f"could not run Graphviz's 'dot': {e}", hint=INSTALL_HINT) from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise GraphstepError(
            "Graphviz failed: " + (lines[-1] if lines else f"exit status {done.returncode}")
        )
    return done.stdout


def split_outputs(text: str, formats: Sequence[str]) -> list[str]:
    """Graphviz writes several -T outputs one after the other; cut them apart (svg, then json)."""
    if len(formats) == 1:
        return [text]
    outputs = []
    rest = text
    for f in formats[:-1]:
        if f != "svg":
            raise ValueError("only an svg output can precede another")
        end = rest.index("</svg>") + len("</svg>")
        outputs.append(rest[:end] + "\n")
        rest = rest[end:].lstrip()
    outputs.append(rest)
    return outputs


def parse_json(text: str, d: Diagram, rankdir: str, seconds: float = 0.0) -> Layout:
    """Graphviz's json0 output → a Layout in points, top-left origin, named by the drawing."""
    data = json.loads(text)
    llx, lly, urx, ury = (float(v) for v in data["bb"].split(","))
    height = ury - lly

    def point(text: str) -> tuple[float, float]:
        x, y = text.split(",")[:2]
        return round(float(x) - llx, 2), round(height - (float(y) - lly), 2)

    def centered(pos: str, width: float, h: float) -> Box:
        cx, cy = point(pos)
        return Box(round(cx - width / 2, 2), round(cy - h / 2, 2), round(width, 2), round(h, 2))

    names = d.name_of
    by_gvid: dict[int, str] = {}
    boxes: dict[str, Box] = {}
    clusters: list[Cluster] = []
    box_of = {f.id: f for f in d.frames}
    call_of = {cid: call for call, cid in d.call_ids.items()}
    subgraphs = int(data.get("_subgraph_cnt", 0))  # json0 lists subgraphs first, then nodes
    for obj in data.get("objects", []):
        if obj["_gvid"] < subgraphs:  # a cluster (an expansion's, a block call's) or a rank
            cid = obj["name"].removeprefix("cluster_")
            if (cid in box_of or cid in call_of) and "bb" in obj:
                x0, y0, x1, y1 = (float(v) for v in obj["bb"].split(","))
                (ax, ay), (bx, by) = point(f"{x0},{y1}"), point(f"{x1},{y0}")
                frame = Box(ax, ay, bx - ax, by - ay)
                if cid in box_of:
                    b = box_of[cid]
                    clusters.append(
                        Cluster(b.name, frame, b.label, tuple(names[p] for p in b.parts))
                    )
                else:
                    call = call_of[cid]
                    inside = tuple(n for n in d.graph.groups[call] if n in d.ids)
                    clusters.append(Cluster(call, frame, call, inside))
            continue
        pid = obj["name"]
        by_gvid[obj["_gvid"]] = pid
        boxes[names[pid]] = centered(
            obj["pos"], float(obj["width"]) * 72, float(obj["height"]) * 72
        )
    wires = {w.id: w for w in d.wires}
    edges = []
    for e in data.get("edges", []):
        w = wires.get(e.get("id", ""))
        if w is None:  # an invisible edge that keeps a rank in order
            continue
        edges.append(
            EdgeRoute(
                w.tail_name,
                w.head_name,
                w.position,
                _spline(e.get("pos", ""), point),
                _label_box(e, point),
            )
        )
    return Layout(
        width=round(urx - llx, 2),
        height=round(height, 2),
        boxes=boxes,
        edges=tuple(edges),
        clusters=tuple(clusters),
        rankdir=rankdir,
        seconds=seconds,
        stubs=_stubs(d),
    )


def _stubs(d: Diagram) -> dict[str, str]:
    return {
        d.parts[pid].name: leaf for (leaf, _), pid in d.stubs.items() if d.parts[pid].name != leaf
    }


def _spline(pos: str, point: Any) -> tuple[tuple[float, float], ...]:
    """`e,x,y p1 p2 …` → control points, tail to head, ending at the arrow tip."""
    points = []
    tip = None
    start = None
    for token in pos.split():
        if token.startswith("e,"):
            tip = point(token[2:])
        elif token.startswith("s,"):
            start = point(token[2:])
        else:
            points.append(point(token))
    if start is not None:
        points.insert(0, start)
    if tip is not None:
        points.append(tip)
    return tuple(points)


def _label_box(edge: dict[str, Any], point: Any) -> Box | None:
    centre = edge.get("lp") or edge.get("xlp")  # a label, or an xlabel (a big graph's)
    if centre is None:
        return None
    # json0 gives the label's centre only; dot.py's edge labels are two fixed rows
    w, h = cell_size(EDGE_CHARS, EDGE_SIZE)
    cx, cy = point(centre)
    return Box(round(cx - w / 2, 2), round(cy - h, 2), w, 2 * h)


# --- the cache: one layout per (graph, expanded, rankdir)

_cache: dict[tuple[object, ...], tuple[weakref.ref[Any], Layout]] = {}


def layout(
    graph: Graph,
    expanded: Iterable[str] = frozenset(),
    rankdir: str = "TB",
    trace: Trace | None = None,
    regions: Mapping[str, Region] | None = None,
) -> Layout:
    """The drawing's layout, computed once per (graph, expanded, rankdir, regions) and cached.

    `trace` is only read to build the expansions of expanded composites (their
    structure, not their numbers); without it the graph's own trace is used.
    `regions` picks which windows of an expanded composite are drawn (default:
    the top left of its first channel).
    """
    key = _key(graph, frozenset(expanded), rankdir, regions)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is graph:
        return hit[1]
    result = layout_of(diagram(graph, trace, expanded, numbers=False, regions=regions), rankdir)
    remember(graph, frozenset(expanded), rankdir, result, regions)
    return result


def layout_of(d: Diagram, rankdir: str = "TB") -> Layout:
    """A drawing's layout, not cached: `dot` within its budget, else the layered one. The
    terminal UI lays out a part of a drawing with it first (drawing.neighbourhood)."""
    started = time.perf_counter()
    if len(d.parts) > DOT_PARTS:
        why = f"{len(d.parts):,} boxes are more than dot lays out in seconds"
        return layered(d, rankdir, why)
    try:
        text = _run(to_dot(d, rankdir=rankdir), ["json0"], timeout=DOT_BUDGET).decode()
        return parse_json(text, d, rankdir, time.perf_counter() - started)
    except DotTimeout:
        return layered(d, rankdir, f"dot took more than {DOT_BUDGET:.0f} s")


def dot_warning(graph: Graph, expanded: Iterable[str] = frozenset()) -> str:
    """What to tell someone about to wait for `dot` on a drawing past DOT_PARTS boxes
    (pictures always come from `dot`); empty for a drawing `dot` lays out in seconds."""
    parts = len(diagram(graph, None, expanded, numbers=False).parts)
    if parts <= DOT_PARTS:
        return ""
    return (
        f"{parts:,} boxes: Graphviz's dot may take minutes to lay them out "
        f"(it is stopped after {TIMEOUT:.0f} s); the terminal UI lays out any size at once"
    )


def _key(
    graph: Graph, expanded: frozenset[str], rankdir: str, regions: Mapping[str, Region] | None
) -> tuple[object, ...]:
    return (id(graph), expanded, rankdir, frozenset((regions or {}).items()))


def remember(
    graph: Graph,
    expanded: frozenset[str],
    rankdir: str,
    result: Layout,
    regions: Mapping[str, Region] | None = None,
) -> None:
    """Keep a layout computed elsewhere (svg.py gets one with its template, from the same run)."""
    key = _key(graph, expanded, rankdir, regions)
    _cache[key] = (weakref.ref(graph, lambda _: _cache.pop(key, None)), result)


# --- the fallback: graphstep's own layered layout, for graphs too big for `dot`

NODESEP = 22.0  # points between neighbours in a layer (dot.py asks dot for 0.3 in)
RANKSEP = 47.0  # points between layers, room for an edge's two rows of numbers


def layered(d: Diagram, rankdir: str, why: str) -> Layout:
    """Boxes in layers by topological depth, in linear time (and a sort per layer).

    A box sits one layer below the deepest box it reads; a leaf (nothing to read)
    one layer above its first reader, beside its use. Down the layers, each box
    goes where its inputs are (the mean of their centres), boxes of a layer
    pushed apart so none overlap. Edges are straight; clusters frame their boxes.
    `why` says why `dot` was not used, for the view to say.
    """
    ids = list(d.parts)
    sizes = {pid: _estimate(d.parts[pid].card) for pid in ids}
    reads: dict[str, list[str]] = {pid: [] for pid in ids}
    readers: dict[str, list[str]] = {pid: [] for pid in ids}
    for w in d.wires:
        reads[w.head].append(w.tail)
        readers[w.tail].append(w.head)
    depth = _depths(ids, reads, readers)
    layers: dict[int, list[str]] = {}
    for pid in ids:
        layers.setdefault(depth[pid], []).append(pid)
    across: dict[str, float] = {}  # centre across the layers (x in TB)
    along: dict[str, float] = {}  # centre along them (y in TB)
    # width and height in TB; LR turns the drawing, so boxes are laid with their sides swapped
    extent = {pid: (h, w) if rankdir == "LR" else (w, h) for pid, (w, h) in sizes.items()}
    offset = 0.0
    for k in sorted(layers):
        row = layers[k]
        wanted = {
            pid: (
                sum(across[t] for t in reads[pid] if t in across) / n
                if (n := sum(1 for t in reads[pid] if t in across))
                else float(i) * NODESEP
            )
            for i, pid in enumerate(row)
        }
        row.sort(key=wanted.__getitem__)
        edge = -float("inf")
        for pid in row:
            half = extent[pid][0] / 2
            across[pid] = max(wanted[pid], edge + NODESEP + half)
            edge = across[pid] + half
        drift = sum(wanted[p] - across[p] for p in row) / len(row)  # pushing apart went right
        for pid in row:
            across[pid] += drift
        tallest = max(extent[pid][1] for pid in row)
        for pid in row:
            along[pid] = offset + tallest / 2
        offset += tallest + RANKSEP
    left = min(across[p] - extent[p][0] / 2 for p in ids) if ids else 0.0
    boxes: dict[str, Box] = {}
    for pid in ids:
        bw, bh = sizes[pid]
        cx, cy = across[pid] - left, along[pid]
        if rankdir == "LR":
            cx, cy = cy, cx
        boxes[d.parts[pid].name] = Box(round(cx - bw / 2, 2), round(cy - bh / 2, 2), bw, bh)
    width = max((b.x + b.width for b in boxes.values()), default=0.0)
    height = max((b.y + b.height for b in boxes.values()), default=0.0)
    return Layout(
        width=round(width, 2),
        height=round(height, 2),
        boxes=boxes,
        edges=tuple(_straight(d, wire, boxes, rankdir) for wire in d.wires),
        clusters=_frames(d, boxes),
        rankdir=rankdir,
        fallback=f"graphstep's own layered layout: {why}",
        stubs=_stubs(d),
    )


def _depths(
    ids: list[str], reads: Mapping[str, list[str]], readers: Mapping[str, list[str]]
) -> dict[str, int]:
    """One layer below the deepest input; a box that reads nothing, one above its first reader."""
    waiting = {pid: len(reads[pid]) for pid in ids}
    ready = [pid for pid in ids if not waiting[pid]]
    depth = dict.fromkeys(ids, 0)
    order = []
    while ready:
        pid = ready.pop()
        order.append(pid)
        for r in readers[pid]:
            depth[r] = max(depth[r], depth[pid] + 1)
            waiting[r] -= 1
            if not waiting[r]:
                ready.append(r)
    for pid in ids:
        if not reads[pid] and readers[pid]:
            depth[pid] = max(0, min(depth[r] for r in readers[pid]) - 1)
    return depth


def _estimate(card: Card) -> tuple[float, float]:
    """A box's size in points, from what its card says: Graphviz measures the fonts, this
    counts characters (dot.py's cells are fixed; a title is about CHAR ems a character)."""
    width = len(card.title) * CHAR * TITLE_SIZE + 16
    height = TITLE_SIZE + 12
    if card.subtitle:
        width = max(width, len(card.subtitle) * CHAR * SMALL_SIZE + 16)
        height += SMALL_SIZE + 4
    if card.numbers:
        chars = SCALAR_CHARS if not card.shape else SUMMARY_CHARS
        cell_w, cell_h = cell_size(
            chars + (len(card.grad_label) + 2 if card.grad_label else 0), NUMBER_SIZE
        )
        width = max(width, cell_w + 16)
        height += cell_h * (2 if card.grad_label else 1)
    return round(width, 2), round(height, 2)


def _straight(d: Diagram, w: Wire, boxes: Mapping[str, Box], rankdir: str) -> EdgeRoute:
    """An edge as a straight cubic from the tail's side facing the head to the head's."""
    tail, head = boxes[d.parts[w.tail].name], boxes[d.parts[w.head].name]
    (tx, ty), (hx, hy) = tail.center, head.center
    if rankdir == "LR":
        start, end = (tail.x + tail.width, ty), (head.x, hy)
    else:
        start, end = (tx, tail.y + tail.height), (hx, head.y)
    (x0, y0), (x3, y3) = start, end
    points = tuple(
        (round(x0 + (x3 - x0) * t, 2), round(y0 + (y3 - y0) * t, 2)) for t in (0, 1 / 3, 2 / 3, 1)
    )
    label = None
    if w.labelled:
        lw, lh = cell_size(EDGE_CHARS, EDGE_SIZE)
        mx, my = (x0 + x3) / 2, (y0 + y3) / 2
        label = Box(round(mx + 4, 2), round(my - lh, 2), lw, 2 * lh)
    return EdgeRoute(w.tail_name, w.head_name, w.position, points, label)


def _frames(d: Diagram, boxes: Mapping[str, Box]) -> tuple[Cluster, ...]:
    """Expanded composites and block calls framed around the boxes they hold."""
    held: list[tuple[str, str, tuple[str, ...]]] = [
        (f.name, f.label, tuple(d.parts[p].name for p in f.parts)) for f in d.frames
    ]
    for call in d.call_parents:
        inside = tuple(n for n in d.graph.groups[call] if n in d.ids)
        held.append((call, call, inside))
    frames = []
    for name, label, inside in held:
        drawn = [boxes[n] for n in inside if n in boxes]
        if not drawn:
            continue
        x0 = min(b.x for b in drawn) - 8
        y0 = min(b.y for b in drawn) - 20
        x1 = max(b.x + b.width for b in drawn) + 8
        y1 = max(b.y + b.height for b in drawn) + 8
        frames.append(Cluster(name, Box(x0, y0, x1 - x0, y1 - y0), label, inside))
    return tuple(frames)
