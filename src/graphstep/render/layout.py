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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..drawing import Diagram, diagram
from ..errors import GraphstepError
from .dot import to_dot

if TYPE_CHECKING:
    from ..composite import Region
    from ..graph import Graph
    from ..trace import Trace

TIMEOUT = 300.0  # seconds; a 1,000-node graph takes a few
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


def run_graphviz(source: str, formats: Sequence[str]) -> list[str]:
    """Run `dot` once on `source`, with one text output per format, e.g. ("svg", "json0")."""
    return split_outputs(_run(source, formats).decode(), formats)


def render_png(source: str) -> bytes:
    """`dot -Tpng` at 144 dpi."""
    return _run(source, ["png"], "-Gdpi=144")


def _run(source: str, formats: Sequence[str], *options: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing()
    args = [exe, *options, *(f"-T{f}" for f in formats)]
    try:
        done = subprocess.run(
            args, input=source.encode(), capture_output=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise GraphstepError(
            f"Graphviz took more than {TIMEOUT:.0f} s to lay out the graph",
            hint="draw fewer nodes: collapse the expanded composites",
        ) from None
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
    )


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
    if "lp" not in edge:
        return None
    # json0 gives the label's centre only; dot.py's edge labels are two fixed rows
    from .dot import EDGE_CHARS, EDGE_SIZE, cell_size

    w, h = cell_size(EDGE_CHARS, EDGE_SIZE)
    cx, cy = point(edge["lp"])
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
    d = diagram(graph, trace, expanded, numbers=False, regions=regions)
    started = time.perf_counter()
    (text,) = run_graphviz(to_dot(d, rankdir=rankdir), ["json0"])
    result = parse_json(text, d, rankdir, time.perf_counter() - started)
    remember(graph, frozenset(expanded), rankdir, result, regions)
    return result


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
