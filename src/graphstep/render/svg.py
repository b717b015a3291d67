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
import subprocess
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..composite import Region
from ..errors import GraphstepError, excerpt
from .dot import (
    FONT,
    GRAD_COLOR,
    INK,
    LINES,
    PENS,
    TEMPLATE,
    THIN_LINES,
    VALUE_COLOR,
    Diagram,
    Flow,
    Line,
    Look,
    Paint,
    Sentinel,
    diagram,
    escape,
    flows,
    to_dot,
)
from .layout import Layout, parse_json, remember, render_png, run_graphviz

if TYPE_CHECKING:
    from ..graph import Graph
    from ..session import Session
    from ..steps import Timeline
    from ..trace import Trace

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
GRAPHVIZ_FONT = f"{FONT},sans-Serif"  # how Graphviz names the font in SVG
CAPTION_SIZE = 12
CAPTION_LINE = 16
CAPTION_CHAR = 0.56  # a caption character's width in ems, for wrapping
CAPTION_CHARS = 60  # the shortest caption line

_TEXT = re.compile(r'<text\b[^>]*\bfill="(#fe000[34])"[^>]*>[^<]*</text>\n?')


@dataclass(frozen=True)
class Piece:
    """One node or edge of the template, in each of its variants (or one, if it never changes)."""

    id: str
    kind: str  # node, edge, static
    variants: tuple[str, ...]


class Pictures:
    """Every step of one trace as SVG. Graphviz runs once, here, for all of them."""

    def __init__(
        self,
        session: Session,
        expanded: Iterable[str] = (),
        rankdir: str = "TB",
        regions: Mapping[str, Region] | None = None,
    ) -> None:
        self.graph: Graph = session.graph
        self.trace: Trace = session.trace
        self.timeline: Timeline = session.timeline
        self.expanded = frozenset(expanded)
        self.rankdir = rankdir
        self.diagram: Diagram = diagram(self.graph, self.trace, self.expanded, regions=regions)
        svg, layout_json = run_graphviz(to_dot(self.diagram, TEMPLATE, rankdir), ["svg", "json0"])
        self.layout: Layout = parse_json(layout_json, self.diagram, rankdir)
        remember(self.graph, self.expanded, rankdir, self.layout, regions)
        self.head, self.pieces, self.size = _cut(svg, self.diagram, rankdir)

    @property
    def last(self) -> int:
        return len(self.timeline) - 1

    def looks(self, position: int, inner: int | None = None) -> dict[str, Look]:
        """Each part's look at a step, read off the timeline's indexes: the same at any step."""
        fwd, bwd = self.timeline.forward_index, self.timeline.backward_index

        def look(name: str) -> Look:
            b = bwd.get(name)
            if b is not None and b < position:
                return Look.GRAD
            if b == position and position > 0:
                return Look.BACKWARD
            f = fwd.get(name, 0)
            if f == position and position > 0:
                return Look.FORWARD
            return Look.COMPUTED if f < position or f == 0 else Look.PENDING

        by_node: dict[str, Look] = {}
        out: dict[str, Look] = {}
        in_call = inner is not None and bool(self.timeline.members(position))
        for pid, part in self.diagram.parts.items():
            if part.source not in by_node:
                by_node[part.source] = look(part.source)
            base = by_node[part.source]
            if inner is not None and part.window is not None and not in_call:
                wins = self.timeline.windows(part.source)
                base = _inner_look(base, wins.ordinal(part.window) if wins else 0, inner)
            elif in_call:
                k = self.timeline.member_index(position, part.source)
                if k is not None:
                    base = _inner_look(base, k, inner)
            out[pid] = base
        return out

    def codes(self, position: int, inner: int | None = None) -> list[int]:
        """The variant of every piece at a step."""
        looks = self.looks(position, inner)
        wire_flows = flows(self.diagram, looks)
        return [
            int(looks[p.id])
            if p.kind == "node"
            else int(wire_flows[p.id])
            if p.kind == "edge"
            else 0
            for p in self.pieces
        ]

    def svg(
        self,
        position: int,
        inner: int | None = None,
        caption: str | None = None,
        caption_lines: int = 0,
    ) -> str:
        """The SVG at a step, with `caption` below the graph (room for `caption_lines` at least)."""
        codes = self.codes(position, inner)
        width, height = self.size
        if caption is not None:  # room for a line of 60 characters, however narrow the graph
            width = max(width, 16 + CAPTION_CHARS * CAPTION_SIZE * CAPTION_CHAR)
        lines = wrap(caption, width) if caption else []
        rows = max(len(lines), caption_lines)
        total = height + (rows * CAPTION_LINE + 8 if rows else 0)
        parts = [
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            f'<svg xmlns="{SVG_NS}" width="{width:.0f}pt" height="{total:.0f}pt" '
            f'viewBox="0 0 {width:.2f} {total:.2f}">\n'
            f"<title>{escape(self.graph.name)}</title>\n",
            self.head,
            *(p.variants[c] for p, c in zip(self.pieces, codes, strict=True)),
            "</g>\n",
            *(
                f'<text x="8" y="{height + CAPTION_LINE * (i + 1):.1f}" font-family="{FONT},'
                f'Arial,sans-serif" font-size="{CAPTION_SIZE}" fill="{INK}">{escape(line)}'
                "</text>\n"
                for i, line in enumerate(lines)
            ),
            "</svg>\n",
        ]
        return "".join(parts)

    def dot(self, position: int, inner: int | None = None) -> str:
        """The DOT of a step: the template's drawing in the step's colours, every number known
        so far in it; Graphviz lays it out as the template, its cells being the same."""
        looks = self.looks(position, inner)
        return to_dot(self.diagram, Paint(looks, flows(self.diagram, looks)), self.rankdir)

    def caption(self, position: int, inner: int | None = None) -> str:
        """`7/7 backward x: ∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4`; inner steps are `1.2/11`."""
        tl = self.timeline
        step = tl.steps[position] if inner is None else tl.inner_steps(position)[inner]
        number = f"{step.index}" if step.inner is None else f"{step.index}.{step.inner + 1}"
        if step.index == 0:
            return f"{number}/{self.last} start: {step.text}"
        return f"{number}/{self.last} {step.phase} {step.node}: {step.text}"


def _inner_look(base: Look, k: int, inner: int) -> Look:
    """Stepped into a composite (or a block call): the parts before the current one are
    done, those after it not yet."""
    if base == Look.FORWARD:
        return Look.COMPUTED if k < inner else Look.FORWARD if k == inner else Look.PENDING
    if base == Look.BACKWARD:
        return Look.GRAD if k < inner else Look.BACKWARD if k == inner else Look.COMPUTED
    return base


def wrap(text: str, width: float) -> list[str]:
    """A caption cut into lines that fit `width` points (at least 60 characters a line)."""
    chars = max(CAPTION_CHARS, int((width - 16) / (CAPTION_SIZE * CAPTION_CHAR)))
    return textwrap.wrap(text, chars, break_long_words=True, break_on_hyphens=False) or [""]


# --- cutting the template


def _cut(svg: str, d: Diagram, rankdir: str) -> tuple[str, list[Piece], tuple[float, float]]:
    """The template → (the opening of the drawing, its pieces, its size in points)."""
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
    kinds = {pid: ("static" if p.kind == "const" else "node") for pid, p in d.parts.items()}
    kinds.update({w.id: "edge" for w in d.wires})
    thin = {w.id for w in d.wires if not w.labelled}
    names = {
        **{p.id: p.name for p in d.parts.values()},
        **{w.id: f"{w.tail_name} → {w.head_name}" for w in d.wires},
        **{b.id: b.name for b in d.boxes},
    }
    for child in graph0:
        tag = child.tag.split("}")[-1]
        if tag == "title":
            continue
        cid = child.attrib.get("id", "")
        kind = kinds.get(cid, "static")
        title = child.find(f"{{{SVG_NS}}}title")
        if title is not None and cid in names:
            title.text = names[cid]
        if kind == "edge" and rankdir == "LR":
            _straddle(child)
        text = ET.tostring(child, encoding="unicode").replace(f' xmlns="{SVG_NS}"', "", 1)
        for default in (f' font-family="{GRAPHVIZ_FONT}"', ' text-anchor="start"'):
            text = text.replace(default, "")
        if kind == "static":
            pieces.append(Piece(cid, kind, (text,)))
        elif kind == "node":
            pieces.append(Piece(cid, kind, tuple(_node_variant(text, look) for look in Look)))
        else:
            lines = THIN_LINES if cid in thin else LINES
            pieces.append(Piece(cid, kind, tuple(_edge_variant(text, lines[f], f) for f in Flow)))
    return head, _merge_static(pieces), size


def _merge_static(pieces: list[Piece]) -> list[Piece]:
    """Neighbouring static pieces as one, so a step joins fewer strings."""
    out: list[Piece] = []
    for p in pieces:
        if p.kind == "static" and out and out[-1].kind == "static":
            out[-1] = Piece(out[-1].id, "static", (out[-1].variants[0] + p.variants[0],))
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


def _node_variant(text: str, look: Look) -> str:
    text = text.replace(f'fill="{Sentinel.FILL}" stroke="{Sentinel.BORDER}"', PENS[look].svg())
    return _texts(text, look != Look.PENDING, look in (Look.GRAD, Look.BACKWARD))


def _edge_variant(text: str, line: Line, flow: Flow) -> str:
    text = text.replace(f'fill="none" stroke="{Sentinel.EDGE}"', f'fill="none" {line.svg()}')
    arrow = Line(line.color, line.width)  # an arrowhead is never dashed
    text = text.replace(
        f'fill="{Sentinel.EDGE}" stroke="{Sentinel.EDGE}"', f'fill="{line.color}" {arrow.svg()}'
    )
    return _texts(text, flow != Flow.PENDING, flow in (Flow.GRAD, Flow.GRAD_ACTIVE))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _curve(d: str) -> list[tuple[float, float]]:
    """Points along a Graphviz edge path (`M p C p p p p p p …`), a few per Bézier segment."""
    coords = [float(v) for v in _NUMBER.findall(d)]
    pts = list(zip(coords[0::2], coords[1::2], strict=False))
    out = pts[:1]
    for i in range(1, len(pts) - 2, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts[i - 1 : i + 3]
        for k in range(1, 9):
            t = k / 8
            a, b, c, e = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            out.append((a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3))
    return out


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
) -> Pictures:
    """The Pictures of a session's trace, or of a graph's own, kept for the next call."""
    expanded = expanded_names(expanded)
    if not isinstance(rankdir, str):
        raise GraphstepError(f"unknown rankdir {rankdir!r}", hint="use TB (top to bottom) or LR")
    owner: object = subject.trace if _is_session(subject) else subject  # type: ignore[union-attr]
    key = (id(owner), frozenset(expanded), rankdir, frozenset((regions or {}).items()))
    hit = _cache.pop(key, None)
    if hit is not None and hit[0] is owner:
        _cache[key] = hit  # the most recently used last
        return hit[1]
    session = subject if _is_session(subject) else subject.session()  # type: ignore[union-attr]
    made = Pictures(session, expanded, rankdir, regions)
    while len(_cache) >= CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (owner, made)  # holding the owner keeps its id from being reused
    return made


def regions_at(session: Session, expanded: Iterable[str]) -> dict[str, Region]:
    """Inside a window of an expanded composite, the region of windows around it, so the
    drawing shows the window being stepped (one layout per region, not per step)."""
    step = session.current
    if step.window is None or step.node not in expanded_names(expanded):
        return {}
    wins = session.timeline.windows(step.node)
    return {} if wins is None else {step.node: Region.around(wins, step.window)}


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


def _following(
    subject: Session | Graph, expanded: Iterable[str], step: int | None
) -> dict[str, Region]:
    if step is not None or not _is_session(subject):
        return {}
    return regions_at(subject, expanded)  # type: ignore[arg-type]


def _is_session(subject: Session | Graph) -> bool:
    from ..graph import Graph

    if not hasattr(subject, "timeline") and not isinstance(subject, Graph):
        raise GraphstepError(
            f"a diagram is of a Graph or a Session, not {type(subject).__name__}",
            hint="graphstep.load(...), or its .session()",
        )
    return hasattr(subject, "timeline")


def _position(subject: Session | Graph, pics: Pictures, step: int | None) -> tuple[int, int | None]:
    """The step to draw: `step`, else a session's cursor, else a graph's last step."""
    if step is None:
        if _is_session(subject):
            return subject.position, subject.inner  # type: ignore[union-attr]
        return pics.last, None
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= pics.last:
        raise GraphstepError(
            f"step {step} does not exist",
            hint=f"the steps of {pics.graph.name} are 0 to {pics.last}",
        )
    return step, None


def to_svg(
    subject: Session | Graph,
    *,
    step: int | None = None,
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    caption: bool = True,
) -> str:
    """The diagram as SVG text: a session at its cursor (or at `step`), a graph at its last step."""
    pics = pictures(subject, expanded, rankdir, _following(subject, expanded, step))
    position, inner = _position(subject, pics, step)
    text = pics.caption(position, inner) if caption else None
    return pics.svg(position, inner, text)


def export_svg(
    subject: Session | Graph,
    path: str | os.PathLike[str],
    step: int | None = None,
    format: str = "svg",
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
) -> Path:
    """Write the diagram at one step (default: a session's cursor, a graph's last step)
    as `format` svg, png or dot. The file appears whole or not at all."""
    if format not in ("svg", "png", "dot"):
        raise GraphstepError(f"unknown format '{format}'", hint="use svg, png or dot")
    path = output_path(path)
    pics = pictures(subject, expanded, rankdir, _following(subject, expanded, step))
    position, inner = _position(subject, pics, step)
    if format == "dot":
        data = pics.dot(position, inner).encode()
    elif format == "svg":
        data = pics.svg(position, inner, pics.caption(position, inner)).encode()
    else:
        svg = pics.svg(position, inner, pics.caption(position, inner))
        data = svg_to_png(svg, lambda: pics.dot(position, inner))
    write_atomic(path, data)
    return path


def export_all_steps(
    subject: Session | Graph,
    directory: str | os.PathLike[str],
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
) -> list[Path]:
    """One SVG per step into `directory`, `000.svg` (the start) to the last, for slide builds.

    Every picture has the same size, so the graph stays put from slide to slide.
    The pictures are written to a temporary directory and moved in when all are
    done: an error or Ctrl-C leaves no half-written file. Numbered SVGs of an
    earlier export that this one does not overwrite are removed.
    """
    pics = pictures(subject, expanded, rankdir)
    count = pics.last + 1
    captions = [pics.caption(i) for i in range(count)]
    lines = max(len(wrap(c, pics.size[0])) for c in captions)
    digits = max(3, len(str(count - 1)))
    names = [f"{i:0{digits}d}.svg" for i in range(count)]
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
            for i, name in enumerate(names):
                (stage / name).write_text(pics.svg(i, None, captions[i], lines), encoding="utf-8")
            if fresh:
                os.chmod(stage, 0o777 & ~_umask())
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


NUMBERED = re.compile(r"\d{3,}\.svg")
TEMPORARY = ".graphstep-"  # short: a temporary beside a 250-byte name stays within the limit


def output_path(path: object) -> Path:
    """Where to write, given as text or a path; anything else is a GraphstepError."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise GraphstepError(f"a file name is text or a Path, not {path!r}")
    return Path(path)


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """A file system error as a GraphstepError that names the path."""
    try:
        yield
    except (OSError, ValueError) as e:  # ValueError: a NUL in a name given from Python
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise GraphstepError(f"cannot write '{path}': {reason}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, then os.replace.

    Only a regular file is replaced. A symbolic link is followed (its target is
    replaced, the link stays); a device such as /dev/null, a fifo or a directory
    is refused, since renaming a file over it would destroy it.
    """
    with writing(path):
        if path.is_symlink():
            path = path.resolve()
        if path.exists() and not path.is_file():
            raise GraphstepError(
                f"'{path}' is not a regular file", hint="give the name of a file to write"
            )
        fd, tmp = tempfile.mkstemp(prefix=TEMPORARY, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def svg_to_png(svg: str, dot_source: Callable[[], str]) -> bytes:
    """PNG at twice the size: the SVG through rsvg-convert (librsvg) when it is installed,
    else the step's DOT through Graphviz (the same picture, Graphviz placing the numbers)."""
    exe = shutil.which("rsvg-convert")
    if exe is None:
        return render_png(dot_source())
    done = subprocess.run(
        [exe, "--zoom", "2", "--background-color", "white", "--format", "png"],
        input=svg.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise GraphstepError("rsvg-convert failed: " + done.stderr.decode(errors="replace").strip())
    return done.stdout
