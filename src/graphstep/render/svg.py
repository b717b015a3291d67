"""Diagrams as SVG, one per step, from one Graphviz run.

Graphviz draws the graph once, as a template: every value and gradient shown,
and sentinel colours (dot.py) on the parts that change from step to step. The
template is cut into one piece per node and edge, and each piece into its few
variants (a node in each of its looks, an edge in each of its flows). A step's
SVG is then these pieces joined, a variant chosen for each: no Graphviz run,
no parsing, so every step costs the same and all of them cost little more
than one. The SVG is plain: colours are attributes, hidden numbers absent, so
any viewer, slide program or rsvg-convert shows it the same.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from ..colormap import OUTLINE
from ..composite import Region
from ..drawing import Diagram, Kind, Picture, diagram
from ..errors import GraphstepError, excerpt
from ..files import TEMPORARY, umask, write_atomic, writing
from ..format import data_size
from ..overlay import Mode, Overlay, colour_by, overlay_mode
from ..scene import Flow, Look, Scene, inner_stops, regions_at
from ..session import Session
from .curve import bezier
from .dot import (
    FONT,
    GRAD_COLOR,
    INK,
    LINES,
    MUTED,
    PENS,
    TEMPLATE,
    THIN_LINES,
    VALUE_COLOR,
    Line,
    Paint,
    Sentinel,
    escape,
    to_dot,
)
from .image import data_uri
from .layout import Layout, parse_json, remember, run_graphviz
from .legend import legend_svg
from .png import svg_to_png

if TYPE_CHECKING:
    from ..graph import Graph
    from ..steps import Timeline
    from ..trace import Trace

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
GRAPHVIZ_FONT = f"{FONT},sans-Serif"  # how Graphviz names the font in SVG
CAPTION_SIZE = 12
CAPTION_LINE = 16
CAPTION_CHAR = 0.56  # a caption character's width in ems, for wrapping
CAPTION_CHARS = 60  # the shortest caption line
OUTLINE_COLOR = "#{:02x}{:02x}{:02x}".format(*OUTLINE)
NORM_LEGEND = "‖·‖ on an edge: a tensor's L2 norm"  # as the HTML player's legend says

_TEXT = re.compile(r'<text\b[^>]*\bfill="(#fe000[34])"[^>]*>[^<]*</text>\n?')


class Changes(Enum):
    """How a piece of the template changes from step to step."""

    NODE = "node"  # a variant per Look
    EDGE = "edge"  # a variant per Flow
    STATIC = "static"  # one variant: a constant, a cluster's frame, the background


@dataclass(frozen=True)
class Piece:
    """One node or edge of the template, in each of its variants (or one, if it never changes)."""

    id: str
    changes: Changes
    variants: tuple[str, ...]


class Pictures:
    """Every step of one trace as SVG. Graphviz runs once, here, for all of them."""

    def __init__(
        self,
        session: Session,
        expanded: Iterable[str] = (),
        rankdir: str = "TB",
        regions: Mapping[str, Region] | None = None,
        overlay: Mode | None = None,
    ) -> None:
        self.graph: Graph = session.graph
        self.trace: Trace = session.trace
        self.timeline: Timeline = session.timeline
        self.expanded = frozenset(expanded)
        self.rankdir = rankdir
        self.diagram: Diagram = diagram(self.graph, self.trace, self.expanded, regions=regions)
        self.overlay: Overlay | None = (
            None if overlay is None else colour_by(overlay, self.trace, timeline=self.timeline)
        )
        svg, layout_json = run_graphviz(to_dot(self.diagram, TEMPLATE, rankdir), ["svg", "json0"])
        self.layout: Layout = parse_json(layout_json, self.diagram, rankdir)
        remember(self.graph, self.expanded, rankdir, self.layout, regions)
        self.head, self.pieces, self.size, self.places = _cut(
            svg, self.diagram, rankdir, self.overlay
        )
        self._legends: dict[float, tuple[str, float]] = {}  # by width: drawn once, not per step

    @property
    def last(self) -> int:
        return len(self.timeline) - 1

    def scene(self, position: int, inner: int | None = None) -> Scene:
        return Scene(self.diagram, self.timeline, position, inner)

    def codes(self, scene: Scene) -> list[int]:
        """The variant of every piece in a scene."""
        looks, flows = scene.looks(), scene.flows()
        return [
            int(looks[p.id])
            if p.changes is Changes.NODE
            else int(flows[p.id])
            if p.changes is Changes.EDGE
            else 0
            for p in self.pieces
        ]

    def svg(self, scene: Scene, caption: bool = True, caption_lines: int = 0) -> str:
        """The SVG of a scene, with its caption below the graph (room for `caption_lines` at
        least)."""
        codes = self.codes(scene)
        width, height = self.size
        if caption is not None:  # room for a line of 60 characters, however narrow the graph
            width = max(width, 16 + CAPTION_CHARS * CAPTION_SIZE * CAPTION_CHAR)
        lines = self.caption(scene) if caption else []
        rows = max(len(lines), caption_lines)
        total = height + (rows * CAPTION_LINE + 8 if rows else 0)
        legend, legend_height = self._legend(width)
        legend_at, total = total, total + legend_height
        parts = [
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            f'<svg xmlns="{SVG_NS}" width="{width:.0f}pt" height="{total:.0f}pt" '
            f'viewBox="0 0 {width:.2f} {total:.2f}">\n'
            f"<title>{escape(self.graph.name)}</title>\n",
            self.head,
            *(p.variants[c] for p, c in zip(self.pieces, codes, strict=True)),
            self.marks(scene),
            "</g>\n",
            *(
                f'<text class="{kind}" x="8" y="{height + CAPTION_LINE * (i + 1):.1f}" '
                f'font-family="{FONT},Arial,sans-serif" font-size="{CAPTION_SIZE}" '
                f'fill="{INK if kind == "caption" else MUTED}">{escape(line)}</text>\n'
                for i, (line, kind) in enumerate(lines)
            ),
            f'<g transform="translate(0 {legend_at:.2f})">\n{legend}</g>\n' if legend else "",
            "</svg>\n",
        ]
        return "".join(parts)

    def caption(self, scene: Scene) -> list[tuple[str, str]]:
        """The lines under the picture, each with its class: the step (`caption`), wrapped to
        the picture's width, and the `legend` of ‖·‖ whenever an edge shows a norm."""
        width = max(self.size[0], 16 + CAPTION_CHARS * CAPTION_SIZE * CAPTION_CHAR)
        lines = [(line, "caption") for line in wrap(scene.caption, width)]
        return [*lines, (NORM_LEGEND, "legend")] if scene.shows_norm else lines

    def marks(self, scene: Scene) -> str:
        """The window and output cell of a conv or pool step, over the pictures that show them."""
        return _marks(self.places, scene)

    def _legend(self, width: float) -> tuple[str, float]:
        """The overlay's legend (none without one) for a picture `width` points wide."""
        if self.overlay is None:
            return "", 0
        if width not in self._legends:
            self._legends[width] = legend_svg(self.overlay.legend, width)
        return self._legends[width]

    def dot(self, scene: Scene) -> str:
        """The DOT of a scene: the template's drawing in the step's colours, every number known
        so far in it; Graphviz lays it out as the template, its cells being the same."""
        paint = Paint(scene.looks(), scene.flows())
        if self.overlay is not None:
            paint = replace(paint, fills=self.overlay.fills(scene), legend=self.overlay.legend)
        return to_dot(self.diagram, paint, self.rankdir)


def wrap(text: str, width: float) -> list[str]:
    """A caption cut into lines that fit `width` points (at least 60 characters a line)."""
    chars = max(CAPTION_CHARS, int((width - 16) / (CAPTION_SIZE * CAPTION_CHAR)))
    return textwrap.wrap(text, chars, break_long_words=True, break_on_hyphens=False) or [""]


# --- cutting the template


def _cut(
    svg: str, d: Diagram, rankdir: str, overlay: Overlay | None = None
) -> tuple[str, list[Piece], tuple[float, float], dict[str, Places]]:
    """The template → (the opening of the drawing, its pieces, its size in points, where each
    part's pictures are); with an overlay, each node's variants filled with its colour in that
    look."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)
    view = [float(v) for v in root.attrib["viewBox"].split()]
    size = (view[2], view[3])
    graph0 = root.find(f"{{{SVG_NS}}}g")
    assert graph0 is not None
    # the font once, inherited, rather than on each of the thousands of texts
    head = (
        f'<g id="graph0" class="graph" transform="{escape(graph0.attrib["transform"])}" '
        f'font-family="{GRAPHVIZ_FONT}">\n'
    )
    pieces: list[Piece] = []
    places: dict[str, Places] = {}
    kinds = {
        pid: Changes.STATIC if p.kind is Kind.CONST else Changes.NODE for pid, p in d.parts.items()
    }
    kinds.update({w.id: Changes.EDGE for w in d.wires})
    thin = {w.id for w in d.wires if not w.labelled}
    names = {
        **{p.id: p.name for p in d.parts.values()},
        **{w.id: f"{w.tail_name} → {w.head_name}" for w in d.wires},
        **{f.id: f.name for f in d.frames},
    }
    for child in graph0:
        tag = child.tag.split("}")[-1]
        if tag == "title":
            continue
        cid = child.attrib.get("id", "")
        kind = kinds.get(cid, Changes.STATIC)
        title = child.find(f"{{{SVG_NS}}}title")
        if title is not None and cid in names:
            title.text = names[cid]
        if kind is Changes.EDGE and rankdir == "LR":
            _straddle(child)
        text = ET.tostring(child, encoding="unicode").replace(f' xmlns="{SVG_NS}"', "", 1)
        for default in (f' font-family="{GRAPHVIZ_FONT}"', ' text-anchor="start"'):
            text = text.replace(default, "")
        if kind is Changes.STATIC:
            pieces.append(Piece(cid, kind, (text,)))
        elif kind is Changes.NODE:
            shown = d.parts[cid].card.picture
            if shown is not None:
                text, places[cid] = _place_pictures(text, shown)
            variants = tuple(
                _node_variant(text, look, None if overlay is None else overlay.fill(d, cid, look))
                for look in Look
            )
            pieces.append(Piece(cid, kind, variants))
        else:
            lines = THIN_LINES if cid in thin else LINES
            pieces.append(Piece(cid, kind, tuple(_edge_variant(text, lines[f], f) for f in Flow)))
    return head, _merge_static(pieces), size, places


def _merge_static(pieces: list[Piece]) -> list[Piece]:
    """Neighbouring static pieces as one, so a step joins fewer strings."""
    out: list[Piece] = []
    for p in pieces:
        if p.changes is Changes.STATIC and out and out[-1].changes is Changes.STATIC:
            out[-1] = Piece(out[-1].id, Changes.STATIC, (out[-1].variants[0] + p.variants[0],))
        else:
            out.append(p)
    return out


def _texts(text: str, value: bool, grad: bool) -> str:
    def keep(m: re.Match[str]) -> str:
        shown = value if m.group(1) == Sentinel.VALUE else grad
        if not shown:
            return ""
        color = VALUE_COLOR if m.group(1) == Sentinel.VALUE else GRAD_COLOR
        return m.group(0).replace(m.group(1), color, 1)

    return _TEXT.sub(keep, text)


def _node_variant(text: str, look: Look, fill: str | None = None) -> str:
    """A node in one look (filled with `fill`, an overlay's colour, if given); its class names
    its state (`node grad`), for a reader or a test."""
    pen = PENS[look] if fill is None else replace(PENS[look], fill=fill)
    text = text.replace(f'fill="{Sentinel.FILL}" stroke="{Sentinel.BORDER}"', pen.svg())
    text = text.replace('class="node"', f'class="node {look.state}"', 1)
    if not look.shows_value:
        text = _VALUE_PICTURE.sub("", text)
    if not look.shows_grad:
        text = _GRAD_PICTURE.sub("", text)
    return _texts(text, look.shows_value, look.shows_grad)


# --- pictures: the tiles of image-shaped tensors, in the cells dot.py kept for them

Rect = tuple[float, float, float, float]  # x, y, width, height in the drawing's points
Places = dict[bool, list[Rect]]  # gradient? → each tile's rectangle

_CELL = re.compile(r'<polygon fill="(#fe000[67])" stroke="[^"]*" points="([^"]*)"\s*/>')
_VALUE_PICTURE = re.compile(r'<g class="picture value">.*?</g>\n?', re.DOTALL)
_GRAD_PICTURE = re.compile(r'<g class="picture gradient">.*?</g>\n?', re.DOTALL)
FRAME = "#9a9a9a"


def _place_pictures(text: str, picture: Picture) -> tuple[str, Places]:
    """A node's piece with each sentinel cell replaced by its tile, an <image> of the tile's
    PNG (encoded here, once for every step); and where the tiles are."""
    bitmaps = {False: picture.colours(), True: picture.colours(gradient=True)}
    places: Places = {False: [], True: []}

    def tile(m: re.Match[str]) -> str:
        gradient = m.group(1) == Sentinel.GRAD_PICTURE
        coords = [float(v) for v in _NUMBER.findall(m.group(2))]
        xs, ys = coords[0::2], coords[1::2]
        x, y, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
        k = len(places[gradient])
        places[gradient].append((x, y, w, h))
        colours = bitmaps[gradient]
        if k >= len(colours):
            return ""
        return (
            f'<g class="picture {"gradient" if gradient else "value"}">'
            f'<image x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" '
            'preserveAspectRatio="none" image-rendering="optimizeSpeed" '
            f'style="image-rendering:pixelated" href="{data_uri(colours[k], picture.bitmap)}"/>'
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="none" '
            f'stroke="{FRAME}" stroke-width="0.5"/></g>\n'
        )

    return _CELL.sub(tile, text), places


def _marks(pictures: Mapping[str, Places], scene: Scene) -> str:
    """The scene's window and output cell, outlined over the tiles that show them (a dark line
    under a bright one, to be seen on any colour)."""
    out = []
    for mark in scene.marks:
        look = scene.look(mark.part)
        places = pictures.get(mark.part)
        shown = look.shows_grad if mark.gradient else look.shows_value
        if places is None or not shown or mark.tile >= len(places[mark.gradient]):
            continue
        x, y, w, h = places[mark.gradient][mark.tile]
        rows, cols = mark.side
        (r0, r1), (c0, c1) = mark.rows, mark.cols
        box = (
            f'x="{x + c0 * w / cols:.2f}" y="{y + r0 * h / rows:.2f}" '
            f'width="{(c1 - c0) * w / cols:.2f}" height="{(r1 - r0) * h / rows:.2f}"'
        )
        out.append(
            f'<g class="mark {mark.kind}"><rect {box} fill="none" stroke="#000000" '
            f'stroke-width="2.4"/><rect {box} fill="none" stroke="{OUTLINE_COLOR}" '
            'stroke-width="1.2"/></g>\n'
        )
    return "".join(out)


def _edge_variant(text: str, line: Line, flow: Flow) -> str:
    text = text.replace(f'fill="none" stroke="{Sentinel.EDGE}"', f'fill="none" {line.svg()}')
    arrow = Line(line.color, line.width)  # an arrowhead is never dashed
    text = text.replace(
        f'fill="{Sentinel.EDGE}" stroke="{Sentinel.EDGE}"', f'fill="{line.color}" {arrow.svg()}'
    )
    return _texts(text, flow.shows_value, flow.shows_grad)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _curve(d: str) -> list[tuple[float, float]]:
    """Points along a Graphviz edge path (`M p C p p p p p p …`)."""
    coords = [float(v) for v in _NUMBER.findall(d)]
    return bezier(list(zip(coords[0::2], coords[1::2], strict=False)), 8)


def _straddle(edge: ET.Element) -> None:
    """Left to right, put the value just above the edge and the gradient just below it, as in
    the seed's figure (Graphviz keeps both on one side)."""
    path = edge.find(f"{{{SVG_NS}}}path")
    if path is None:
        return
    curve = _curve(path.attrib.get("d", ""))
    for text in edge.findall(f"{{{SVG_NS}}}text"):
        fill = text.attrib.get("fill")
        if fill not in (Sentinel.VALUE, Sentinel.GRAD) or not text.text:
            continue
        size = float(text.attrib.get("font-size", "10"))
        left = float(text.attrib["x"])
        right = left + len(text.text) * size * 0.62
        ys = [y for x, y in curve if left - 2 <= x <= right + 2]
        if not ys:
            _, y = min(curve, key=lambda p: abs(p[0] - (left + right) / 2))
            ys = [y]
        if fill == Sentinel.VALUE:
            text.attrib["y"] = f"{min(ys) - 4:.2f}"
        else:
            text.attrib["y"] = f"{max(ys) + 0.8 * size + 4:.2f}"


# --- the public functions


_cache: dict[tuple[object, ...], tuple[object, Pictures]] = {}
CACHE_SIZE = 4  # the pictures of the last few traces: a session's, before and after set_input


def pictures(
    subject: Session | Graph,
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    regions: Mapping[str, Region] | None = None,
    overlay: Mode | str | None = None,
) -> Pictures:
    """The Pictures of a session's trace, or of a graph's own, kept for the next call; with
    an overlay (`grad`, `gain` or `dead`), nodes coloured by the doctor's numbers."""
    from ..graph import Graph

    if not isinstance(subject, Session | Graph):
        raise GraphstepError(
            f"a diagram is of a Graph or a Session, not {type(subject).__name__}",
            hint="graphstep.load(...), or its .session()",
        )
    expanded = expanded_names(expanded)
    if not isinstance(rankdir, str):
        raise GraphstepError(f"unknown rankdir {rankdir!r}", hint="use TB (top to bottom) or LR")
    mode = overlay_mode(overlay)
    owner: object = subject.trace if isinstance(subject, Session) else subject
    key = (id(owner), frozenset(expanded), rankdir, frozenset((regions or {}).items()), mode)
    hit = _cache.pop(key, None)
    if hit is not None and hit[0] is owner:
        _cache[key] = hit  # the most recently used last
        return hit[1]
    session = subject if isinstance(subject, Session) else Session(subject)
    made = Pictures(session, expanded, rankdir, regions, mode)
    while len(_cache) >= CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (owner, made)  # holding the owner keeps its id from being reused
    return made


def scene_at(
    subject: Session | Graph,
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    step: int | None = None,
    inner: int | None = None,
    overlay: Mode | str | None = None,
) -> tuple[Pictures, Scene]:
    """The pictures and the scene at `step` (and its inner step `inner`, counted from 0), else
    at a session's cursor, else at a graph's last step. Stepped into a window of an expanded
    composite, the drawing shows the region of windows that holds it."""
    expanded = expanded_names(expanded)
    pics = pictures(subject, expanded, rankdir, overlay=overlay)
    position, k = _stop(subject, pics, step, inner)
    tl = pics.timeline
    regions = regions_at(tl, tl.at(position, k), expanded)
    if regions:
        pics = pictures(subject, expanded, rankdir, regions, overlay)
    return pics, pics.scene(position, k)


def expanded_names(expanded: Iterable[str]) -> frozenset[str]:
    """The composites to draw expanded: one node's name, or any collection of names."""
    if isinstance(expanded, str):
        return frozenset((expanded,))
    try:
        names: frozenset[object] | None = frozenset(expanded)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise GraphstepError(
            f"expanded is a collection of node names, not {excerpt(repr(expanded))}",
            hint="e.g. expanded=['c1']",
        )
    return frozenset(str(n) for n in names)


def _stop(
    subject: Session | Graph, pics: Pictures, step: int | None, inner: int | None
) -> tuple[int, int | None]:
    if step is None:
        if inner is not None:
            raise GraphstepError("an inner step needs its step", hint="e.g. step=5, inner=2")
        if isinstance(subject, Session):
            return subject.position, subject.inner
        return pics.last, None
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= pics.last:
        raise GraphstepError(
            f"step {step!r} does not exist",
            hint=f"the steps of {pics.graph.name} are 0 to {pics.last}",
        )
    if inner is None:
        return step, None
    count = len(pics.timeline.inner_steps(step))
    if count == 0:
        raise GraphstepError(
            f"step {step} has no inner steps",
            hint="conv, pool and block call steps have them: 'graphstep run FILE --steps "
            "--into' lists them",
        )
    if isinstance(inner, bool) or not isinstance(inner, int) or not 0 <= inner < count:
        which = f"{step}.{inner + 1}" if isinstance(inner, int) else repr(inner)
        raise GraphstepError(
            f"step {step} has no inner step {which}",
            hint=f"its inner steps are {step}.1 to {step}.{count} (counted from 0: 0 to "
            f"{count - 1})",
        )
    return step, inner


def to_svg(
    subject: Session | Graph,
    *,
    step: int | None = None,
    inner: int | None = None,
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    caption: bool = True,
    overlay: Mode | str | None = None,
) -> str:
    """The diagram as SVG text: a session at its cursor (or at `step`, `inner`), a graph at its
    last step."""
    pics, scene = scene_at(subject, expanded, rankdir, step, inner, overlay)
    return pics.svg(scene, caption)


def export_svg(
    subject: Session | Graph,
    path: str | os.PathLike[str],
    step: int | None = None,
    format: str = "svg",
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    inner: int | None = None,
    overlay: Mode | str | None = None,
) -> Path:
    """Write the diagram at one step (default: a session's cursor, a graph's last step)
    as `format` svg, png or dot. The file appears whole or not at all."""
    if format not in ("svg", "png", "dot"):
        raise GraphstepError(f"unknown format '{format}'", hint="use svg, png or dot")
    path = output_path(path)
    pics, scene = scene_at(subject, expanded, rankdir, step, inner, overlay)
    if format == "dot":
        data = pics.dot(scene).encode()
    elif format == "svg":
        data = pics.svg(scene).encode()
    else:
        data = svg_to_png(pics.svg(scene))
    write_atomic(path, data)
    return path


class ExportTooLarge(GraphstepError):
    """Every step's SVG together would pass the budget (pictures grow as steps × nodes)."""

    def __init__(self, total: int, count: int, budget: int) -> None:
        each = data_size(total / count)
        super().__init__(
            f"{count:,} SVGs of about {each} each would write {data_size(total)}, "
            f"more than the budget of {data_size(budget)}"
        )
        self.total = total


def stops(
    subject: Session | Graph,
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    into: bool = False,
    overlay: Mode | str | None = None,
) -> tuple[Pictures, list[Scene], list[str]]:
    """The scenes an export shows: every step; with `into`, each expanded composite's inner
    steps too (see scene.inner_stops); and notes on the windows left out."""
    pics = pictures(subject, expanded, rankdir, overlay=overlay)
    start = pics.scene(0)
    if not into:
        return pics, [start.moved(i) for i in range(pics.last + 1)], []
    found, notes = inner_stops(start)
    return pics, [start.moved(i, k) for i, k in found], notes


def file_name(scene: Scene, digits: int) -> str:
    """`007.svg`, and `007_03.svg` for its third inner step: in order when sorted by name."""
    name = f"{scene.position:0{digits}d}"
    if scene.inner is not None:
        name += f"_{scene.inner + 1:02d}"
    return name + ".svg"


def export_all_steps(
    subject: Session | Graph,
    directory: str | os.PathLike[str],
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    steps: range | None = None,
    budget: int | None = None,
    into: bool = False,
    overlay: Mode | str | None = None,
) -> list[Path]:
    """One SVG per step into `directory`, `000.svg` (the start) to the last, for slide builds;
    with `into`, the inner steps of expanded composites too (`005_01.svg`, …). `steps` picks
    a range of steps. Past `budget` bytes (estimated from the first, middle and last picture
    before anything is written), ExportTooLarge.

    Every picture has the same size, so the graph stays put from slide to slide.
    The pictures are written to a temporary directory and moved in when all are
    done: an error or Ctrl-C leaves no half-written file. Numbered SVGs of an
    earlier export that this one does not overwrite are removed.
    """
    pics, scenes, _ = stops(subject, expanded, rankdir, into, overlay)
    if steps is not None:
        if not steps:
            raise GraphstepError("no steps to export: the range is empty")
        for end in (steps[0], steps[-1]):
            _stop(subject, pics, end, None)  # a missing step is refused
        scenes = [scene for scene in scenes if scene.position in steps]
    lines = max(len(pics.caption(scene)) for scene in scenes)
    if budget is not None:
        probes = {0: scenes[0], 1: scenes[len(scenes) // 2], 2: scenes[-1]}.values()
        each = max(len(pics.svg(scene, True, lines).encode()) for scene in probes)
        if each * len(scenes) > budget:
            raise ExportTooLarge(each * len(scenes), len(scenes), budget)
    digits = max(3, len(str(pics.last)))
    names = [file_name(scene, digits) for scene in scenes]
    directory = output_path(directory)
    with writing(directory):
        if directory.exists() and not directory.is_dir():
            raise GraphstepError(
                f"'{directory}' is not a directory", hint="name a directory to fill"
            )
        fresh = not directory.exists() or not any(directory.iterdir())
        for name in names:  # what would stop the move half-way is refused before writing
            if (directory / name).exists() and not (directory / name).is_file():
                raise GraphstepError(
                    f"'{directory / name}' is in the way: it is not a file",
                    hint="move it, or export into another directory",
                )
        (directory.parent if fresh else directory).mkdir(parents=True, exist_ok=True)
        stage = Path(
            tempfile.mkdtemp(prefix=TEMPORARY, dir=directory.parent if fresh else directory)
        )
        try:
            for scene, name in zip(scenes, names, strict=True):
                (stage / name).write_text(pics.svg(scene, True, lines), encoding="utf-8")
            if fresh:
                os.chmod(stage, 0o777 & ~umask())
                os.replace(stage, directory)  # the whole directory at once
            else:
                for name in names:
                    os.replace(stage / name, directory / name)
                for old in directory.iterdir():
                    if NUMBERED.fullmatch(old.name) and old.name not in names:
                        old.unlink()
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return [directory / name for name in names]


NUMBERED = re.compile(r"\d{3,}(?:_\d{2,})?\.svg")


def output_path(path: object) -> Path:
    """Where to write, given as text or a path; anything else is a GraphstepError."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise GraphstepError(f"a file name is text or a Path, not {path!r}")
    return Path(path)
