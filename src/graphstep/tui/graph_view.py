"""The graph view: the terminal picture of the layout (render/raster.py), on Textual's Line API.

The raster is made once per layout, in a worker; a move makes the scene at the
new cursor and repaints what changed. Each visible run is shown as the scene
says (`render.raster.shown`) and styled here, with the selection and the
breakpoints marked.

A big drawing (more than twice NEIGHBOURHOOD_PARTS boxes) shows the
neighbourhood of the current node first, laid out on its own in a fraction
of a second, while a child process lays out and rasterizes the whole; a move
out of the neighbourhood lays out the one around the new node. Whole layouts
are kept, so collapsing what was expanded shows the earlier one at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Region as TextualRegion
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.style import Style as TextualStyle
from textual.worker import get_current_worker

from ..composite import Region
from ..drawing import Diagram, diagram, neighbourhood
from ..errors import GraphstepError
from ..limits import NEIGHBOURHOOD_PARTS, NEIGHBOURHOOD_STEPS
from ..overlay import Overlay
from ..render.layout import Layout, layout_of
from ..render.raster import (
    Ink,
    Laid,
    Raster,
    Role,
    Run,
    overview,
    rasterize,
    rasterize_apart,
    shown,
    tint,
)
from ..scene import Delta, Flow, Scene, regions_at, scene_of
from ..session import NodeState, Session
from .line_view import PLAIN, LineView
from .painted_rows import PaintedRows

OVERLAY_INK = "#1a1a1a"  # text on an overlay's colours, all of them light
EDGE_ROLES = frozenset((Role.EDGE, Role.ARROW, Role.EDGE_VALUE, Role.EDGE_GRAD))  # wires' runs
KEPT_LAYOUTS = 8  # whole layouts kept, by expansion and values
LOOK_AHEAD = 6  # steps: one this near outside the neighbourhood drawn lays out the next
# what a layout is of: expanded, folded, the values' version, the regions of composites
Key = tuple[frozenset[str], bool, int, frozenset[tuple[str, Region]]]


@dataclass(frozen=True)
class Palette:
    """The styles of runs, by role and state; NO_COLOR keeps the bold / dim / reverse cues."""

    border: dict[NodeState, Style]
    name: dict[NodeState, Style]
    ink: dict[Ink, Style]
    edge: dict[Flow, Style]
    breakpoint: Style
    selected: Style


def palette() -> Palette:
    """Colours by state, and attributes that tell the states apart without them (NO_COLOR):
    pending is dim, computed plain, gradient known bold, current reversed."""
    return Palette(
        border={
            NodeState.PENDING: Style(color="grey50", dim=True),
            NodeState.CURRENT: Style(color="yellow", bold=True),
            NodeState.COMPUTED: Style(color="green"),
            NodeState.GRAD: Style(color="red", bold=True),
        },
        name={
            NodeState.PENDING: Style(color="grey62", dim=True),
            NodeState.CURRENT: Style(color="yellow", bold=True, reverse=True),
            NodeState.COMPUTED: Style(color="bright_green"),
            NodeState.GRAD: Style(color="bright_red", bold=True),
        },
        ink={
            Ink.FORMULA: Style(color="grey70", italic=True),
            Ink.VALUE: Style(color="bright_green"),
            Ink.GRAD: Style(color="bright_red"),
            Ink.MASKED: Style(color="grey42", dim=True),
            Ink.ANOMALY: Style(color="bright_magenta", bold=True, reverse=True),
            Ink.CLUSTER: Style(color="cyan", dim=True),
        },
        edge={
            Flow.PENDING: Style(color="grey42", dim=True),
            Flow.VALUE: Style(color="green"),
            Flow.VALUE_ACTIVE: Style(color="bright_green", bold=True),
            Flow.GRAD: Style(color="red"),
            Flow.GRAD_ACTIVE: Style(color="bright_red", bold=True),
        },
        breakpoint=Style(color="bright_red", bold=True),
        selected=Style(underline=True, bold=True),
    )


class GraphView(LineView, can_focus=True, inherit_bindings=False):
    """The graph, scrolled so the current node is in view; a click selects a node."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "pan(0, -3)", "pan up", show=False),
        Binding("down", "pan(0, 3)", "pan down", show=False),
    ]

    class NodeClicked(Message):
        """A node's box was clicked: `node` is the graph's node (a composite for its windows)."""

        def __init__(self, node: str) -> None:
            super().__init__()
            self.node = node

    class LayoutStarted(Message):
        """Graphviz and the rasterizer are at work (a big graph takes seconds)."""

    class LayoutReady(Message):
        """A new layout is drawn; `note` says what is not as asked (a neighbourhood only, or
        graphstep's own layout in place of Graphviz's), empty when it is all dot's."""

        def __init__(self, note: str) -> None:
            super().__init__()
            self.note = note

    class LayoutFailed(Message):
        """No layout: Graphviz is missing or failed."""

        def __init__(self, error: GraphstepError) -> None:
            super().__init__()
            self.error = error

    overview_mode: reactive[bool] = reactive(False)

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.laid: Laid | None = None  # what is drawn: a neighbourhood's, or the whole's
        self.whole = False  # is it the whole drawing's
        self._kept: dict[Key, tuple[Diagram, Laid]] = {}
        self._shown: Key | None = None  # the layout drawn
        self._around = ""  # the node a neighbourhood drawn is around
        self._centring = False  # a neighbourhood is being laid out: one at a time
        self._near_at = 0  # the position whose neighbourhood was asked for last
        self.expanded: frozenset[str] = frozenset()
        self.folded = False
        self.regions: dict[str, Region] = {}  # which windows of each expanded composite are drawn
        self.scene: Scene | None = None  # the drawing at the cursor, once a layout is ready
        self._detail: Raster | None = None
        self._overview: Raster | None = None
        self._selected: str | None = None
        self._marked: frozenset[str] = frozenset()  # the boxes drawn for the selected node
        self._breakpoints: frozenset[str] = frozenset()
        self._palette = palette()
        self._drag: tuple[int, int, bool] | None = None  # where a drag is, and whether it moved
        self._wanted: Key | None = None  # the layout last asked for
        self.overlay: Overlay | None = None  # the doctor's colours behind the boxes, if on
        self._frame: tuple[int, int] | None = None  # width and indent, while a frame is drawn
        self._rows: PaintedRows | None = None  # the rows of the raster shown, as painted

    def _regions(self, expanded: frozenset[str]) -> dict[str, Region]:
        return regions_at(self.session.timeline, self.session.current, expanded)

    def lay_out(self, expanded: frozenset[str], folded: bool) -> None:
        """Lay the graph out again (new values, a composite expanded, folds), in a thread; a
        layout made before for the same expansion, folds and values is shown at once."""
        regions = {n: r for n, r in self.regions.items() if n in expanded}
        regions.update(self._regions(expanded))
        key: Key = (expanded, folded, self.session.version, frozenset(regions.items()))
        self._wanted, self._near_at = key, self.session.position
        if key in self._kept:
            self._show_layout(key, *self._kept[key], whole=True)
            return
        self.post_message(self.LayoutStarted())
        self._lay_out(key, regions)

    def follow(self) -> None:
        """After a move: when the window stepped to lies outside the drawn region of its
        expanded composite, lay out the region that holds it (one layout per region)."""
        wanted = self._regions(self.expanded)
        if any(self.regions.get(n) != r for n, r in wanted.items()):
            self.lay_out(self.expanded, self.folded)

    @property
    def graph_layout(self) -> Layout | None:
        return None if self.laid is None else self.laid.layout

    @work(thread=True, exclusive=True, group="layout")
    def _lay_out(self, key: Key, regions: dict[str, Region]) -> None:
        """The drawing, laid out (Graphviz within its budget, else graphstep's own layers) and
        rasterized once for the terminal; a big one's neighbourhood first, then the whole in
        a child process."""
        session, worker = self.session, get_current_worker()
        graph, (expanded, folded, *_) = session.graph, key
        try:
            if len(graph.nodes) <= 2 * NEIGHBOURHOOD_PARTS:
                drawing = diagram(graph, session.trace, expanded, regions=regions, folded=folded)
                laid = layout_of(drawing)
                whole = Laid(rasterize(laid, drawing), laid.fallback, laid)
            else:
                self._near(key, regions, self._centre())
                apart = rasterize_apart(
                    session.graph,
                    session.trace,
                    expanded,
                    regions,
                    folded,
                    lambda: worker.is_cancelled,
                )
                if apart is None:
                    return  # asked for another layout meanwhile
                whole = apart
                drawing = diagram(graph, session.trace, expanded, regions=regions, folded=folded)
        except GraphstepError as error:
            self.post_message(self.LayoutFailed(error))
            return
        self.app.call_from_thread(self._show_layout, key, drawing, whole, whole=True)

    def _centre(self) -> str:
        """The node a neighbourhood is laid out around first: the current step's, or at the
        start the first step's."""
        timeline = self.session.timeline
        node = self.session.current.node or (timeline.node_at(1) if len(timeline) > 1 else None)
        return node or self.session.graph.order[0]

    def _near(self, key: Key, regions: dict[str, Region], centre: str) -> None:
        """Lay out and show the neighbourhood of `centre` (a bounded number of boxes): its
        cost does not grow with the graph."""
        session, (expanded, folded, *_) = self.session, key
        timeline, position = session.timeline, session.position
        first = max(0, position - NEIGHBOURHOOD_STEPS // 2)
        last = min(len(timeline), position + NEIGHBOURHOOD_STEPS)
        steps = [timeline.node_at(k) for k in range(first, last)]
        seeds = [centre, *(n for n in steps if n is not None)]
        graph, trace = session.graph, session.trace
        only = neighbourhood(graph, expanded, folded, seeds, NEIGHBOURHOOD_PARTS)
        # laid out and rasterized apart: this thread would take the interpreter's lock from
        # the screen for a tenth of a second, and each frame meanwhile would take twice as long
        laid = rasterize_apart(graph, trace, expanded, regions, folded, lambda: False, only)
        assert laid is not None  # not cancellable: one neighbourhood at a time (`_centring`)
        near = diagram(graph, trace, expanded, regions=regions, only=only, folded=folded)
        self.app.call_from_thread(self._show_layout, key, near, laid, whole=False, around=centre)

    @work(thread=True, exclusive=True, group="near")
    def _recentre(self, key: Key, centre: str) -> None:
        try:
            self._near(key, dict(key[3]), centre)
        except GraphstepError as error:
            self.post_message(self.LayoutFailed(error))
        finally:
            self.app.call_from_thread(self._centred)

    def _centred(self) -> None:
        """A neighbourhood is in: if the cursor went on beyond it meanwhile, the next one."""
        self._centring = False
        if self.scene is not None:
            self.scroll_to_node(self._selected or self.scene.current)

    def _show_layout(
        self,
        key: Key,
        drawing: Diagram,
        laid: Laid,
        *,
        whole: bool,
        around: str = "",
    ) -> None:
        if key != self._wanted or (self.whole and not whole and self._shown == key):
            return  # asked for again meanwhile, or the whole is here already
        expanded, folded, _, regions = key
        if whole:
            self._kept[key] = (drawing, laid)
            while len(self._kept) > KEPT_LAYOUTS:
                self._kept.pop(next(iter(self._kept)))
        self.laid, self.whole, self._shown, self._around = laid, whole, key, around
        self.expanded, self.folded, self.regions = expanded, folded, dict(regions)
        self.scene = scene_of(self.session, drawing)
        self._detail = laid.raster
        self._overview = None
        self._sync_size()
        # a scrollbar that appears or goes takes its place at the next layout: scroll after it
        self.call_after_refresh(self.scroll_to_node, self.scene.current)
        self.post_message(self.LayoutReady(self.note))

    @property
    def note(self) -> str:
        """What the screen says about the layout shown, when it is not all Graphviz's."""
        if self.laid is None or self.scene is None:
            return ""
        if not self.whole:
            drawn, total = len(self.scene.diagram.parts), len(self.session.graph.nodes)
            return (
                f"around {self._around}: {drawn} boxes of a graph of {total:,} nodes; "
                "laying out the rest…"
            )
        return self.laid.fallback

    def shown_as(self, node: str) -> str:
        """The box a graph node is drawn in: its own, or its collapsed block call's."""
        if self.scene is None:
            return node
        return self.scene.diagram.shown_as.get(node, node)

    def drawn_for(self, node: str) -> list[str]:
        """The boxes that draw a graph node in the drawing shown (a shared leaf: one per use)."""
        if self.scene is None:
            return []
        drawing = self.scene.diagram
        return drawing.drawn_for(drawing.shown_as.get(node, node))

    @property
    def raster(self) -> Raster | None:
        return self._overview if self.overview_mode else self._detail

    def show_step(self, selected: str | None, breakpoints: frozenset[str]) -> None:
        """A step or a selection: only colours change, so only the rows on screen that hold
        what changed are drawn again; the current node is scrolled into view."""
        marked = frozenset(self.drawn_for(selected) if selected else ())
        flipped = (marked ^ self._marked) | (breakpoints ^ self._breakpoints)
        self._marked, self._selected, self._breakpoints = marked, selected, breakpoints
        before = self.scene
        if before is None or before.timeline is not self.session.timeline:
            return  # new values: their layout is on its way
        self.scene = scene_of(self.session, before.diagram)
        self._repaint(self.scene.delta(before), flipped)
        self.scroll_to_node(self.scene.current)
        self._look_ahead()

    def _repaint(self, delta: Delta, flipped: frozenset[str]) -> None:
        """Forget the painted rows with a run whose look or flow the move changed, or whose
        box was selected, deselected or got or lost a breakpoint, wherever they are; repaint
        those on screen: a step repaints a few rows, not the view (scrolling, when it
        follows, repaints the rest from the rows kept)."""
        rows = self._painted()
        if rows is None:
            self.refresh()
            return
        keys = [("look", part) for part in delta.looks]
        keys += [("flow", wire) for wire in delta.flows]
        keys += [("name", name) for name in flipped]
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        self.refresh_rows(y - top for y in rows.forget(keys) if top <= y < top + height)

    def scroll_to_node(self, node: str | None) -> None:
        """Bring a node's box (or the top left of a composite's frame) into view.

        A box already in view stays where it is; one out of view comes to the
        middle, with its inputs above and its consumers below in sight.
        """
        raster = self.raster
        if node is None or raster is None:
            return
        box = raster.boxes.get(node) or raster.frames.get(node)
        if box is None:
            self._off_neighbourhood(node)
            return
        view = self.scrollable_content_region.size
        target = TextualRegion(
            box.x, box.y, min(box.width, view.width - 4), min(box.height, view.height - 2)
        )
        visible = TextualRegion(*self.scroll_offset, *view)
        if not visible.contains_region(target):
            self.scroll_to_region(target, center=True, animate=False, immediate=True)

    def _off_neighbourhood(self, node: str) -> None:
        """A node outside the neighbourhood shown, before the whole layout is ready: lay out
        the neighbourhood around it."""
        key, raster = self._shown, self.raster
        if (
            self.whole
            or key is None
            or self._centring
            or node not in self.session.graph.nodes
            or (raster is not None and self.shown_as(node) in raster.boxes)
        ):
            return  # drawn already (in its collapsed call's box), or one is on its way
        self._centre_on(key, node)

    def _centre_on(self, key: Key, node: str) -> None:
        self._centring, self._near_at = True, self.session.position
        self._recentre(key, node)

    def _look_ahead(self) -> None:
        """Before the whole layout is in: when a step LOOK_AHEAD or fewer ahead of the cursor
        (or behind it) is not in the neighbourhood drawn, lay out the one around the current
        node now, so that it is in before a step leaves the one shown. Once per neighbourhood
        and stretch of steps: a step that no neighbourhood draws does not ask again and again."""
        key, raster, current = self._shown, self.raster, self.session.current.node
        if self.whole or key is None or self._centring or raster is None or current is None:
            return
        timeline, position = self.session.timeline, self.session.position
        if abs(position - self._near_at) <= LOOK_AHEAD:
            return
        near = range(max(0, position - LOOK_AHEAD), min(len(timeline), position + LOOK_AHEAD + 1))
        for k in near:
            node = timeline.node_at(k)
            if node in self.session.graph.nodes and self.shown_as(node) not in raster.boxes:
                self._centre_on(key, current)
                return

    def _sync_size(self) -> None:
        raster = self.raster
        self.resize_content(Size(raster.width, raster.height) if raster else Size(0, 0))
        self.refresh()

    def watch_overview_mode(self) -> None:
        self._make_overview()
        self._sync_size()
        if not self.overview_mode:
            current = self.scene.current if self.scene is not None else None
            self.call_after_refresh(self.scroll_to_node, self._selected or current)

    def on_resize(self) -> None:
        if self.overview_mode:
            self._make_overview()
            self._sync_size()

    def _make_overview(self) -> None:
        if self.overview_mode and self.graph_layout is not None and self.scene is not None:
            size = self.scrollable_content_region.size
            self._overview = overview(
                self.graph_layout, self.scene.diagram, size.width, size.height
            )

    def action_toggle_overview(self) -> None:
        self.overview_mode = not self.overview_mode

    def action_pan(self, dx: int, dy: int) -> None:
        self.scroll_relative(dx, dy, animate=False)

    def _columns(self) -> tuple[int, int]:
        """The view's width, and the columns left blank so that a graph narrower than the
        view sits in its middle."""
        raster = self.raster
        width = self.scrollable_content_region.width
        return width, max(0, (width - raster.width) // 2) if raster is not None else 0

    @property
    def indent(self) -> int:
        return self._columns()[1]

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._drag = (event.screen_x, event.screen_y, False)
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is None:
            return
        x, y, _ = self._drag
        dx, dy = x - event.screen_x, y - event.screen_y
        if dx or dy:
            self.scroll_relative(dx, dy, animate=False, immediate=True)
            self._drag = (event.screen_x, event.screen_y, True)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self.release_mouse()

    def on_click(self, event: events.Click) -> None:
        dragged = self._drag is not None and self._drag[2]
        self._drag = None
        raster = self.raster
        if raster is None or dragged:
            return
        x = event.x + self.scroll_offset.x - self.indent
        drawn = raster.node_at(x, event.y + self.scroll_offset.y)
        if drawn is not None:
            if self.overview_mode:
                self.overview_mode = False
            if self.scene is not None:  # a window or pixel of a composite: its graph node
                d = self.scene.diagram
                drawn = d.parts[d.ids[drawn]].source
            self.post_message(self.NodeClicked(drawn))

    def render_lines(self, crop: TextualRegion) -> list[Strip]:
        """The rows on screen, cropped from the painted rows; what Textual's own styling of a
        line would give (tests/test_tui.py compares the two), without its cost per line."""
        rows = self._painted()
        if rows is None:  # the overview (its ◆ moves with every step), or nothing drawn yet
            self._frame = self._columns()
            try:
                return super().render_lines(crop)
            finally:
                self._frame = None
        width, indent = self._columns()
        full, height = self.size  # the column under the vertical scrollbar is Textual's too
        base, background = self.background_colors
        inner = TextualStyle(background=base + background).rich_style
        under_bar = [rows.blank(full - width, inner)] if full > width else []
        sx, sy = self.scroll_offset
        lines = []
        for y in crop.line_range:
            row = y + sy
            if y >= height:
                lines.append(Strip([rows.blank(full, inner)], full))
                continue
            segments = [rows.blank(indent, PLAIN)] if indent else []
            if row < rows.raster.height:
                segments += rows.cells(row, sx, sx + width)
            cells = Strip(segments).cell_length
            if cells < width:
                segments.append(rows.blank(width - cells, PLAIN))
            line = Strip(segments + under_bar, max(cells, width) + full - width)
            lines.append(line if cells <= width else line.crop(0, full))  # wide characters
        if crop.column_span != (0, full):
            return [line.crop(*crop.column_span) for line in lines]
        return lines

    def refresh(
        self,
        *regions: TextualRegion,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        """A refresh of the whole view paints its rows afresh (new values, an overlay, a new
        layout); one of some rows repaints them from the rows kept."""
        if repaint and not regions:
            self._rows = None
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _painted(self) -> PaintedRows | None:
        """The painted rows of the raster shown, kept while the raster, the line filters and
        the background stay; none in the overview."""
        raster, scene = self.raster, self.scene
        if self.overview_mode or raster is None or scene is None:
            return None
        filters, background = tuple(self.get_line_filters()), self.background_colors[1]
        rows = self._rows
        if (
            rows is None
            or rows.raster is not raster
            or rows.filters != filters
            or rows.background != background
        ):
            rows = self._rows = PaintedRows(
                raster, self._run_style, self._run_keys, filters, background
            )
        return rows

    def _run_style(self, run: Run) -> tuple[str, Style]:
        scene = self.scene
        assert scene is not None  # rows are painted only while a scene is shown
        text, style = self._styled(run, scene)
        if self.overlay is not None:
            style = self._tinted(run, scene, style, self.overlay)
        return text, style

    def _run_keys(self, run: Run) -> tuple[tuple[str, str], ...]:
        """How a change to what a run shows is told (`_repaint`): by its wire's flow, or its
        part's look; and a box's selection or breakpoint by its node's name."""
        if run.role in EDGE_ROLES:
            return (("flow", run.owner),)
        assert self.scene is not None
        part = self.scene.diagram.ids.get(run.owner)
        named = ("name", run.owner)
        return (named,) if part is None else (named, ("look", part))

    def render_line(self, y: int) -> Strip:
        width, indent = self._frame or self._columns()
        raster, scene = self.raster, self.scene
        sx, sy = self.scroll_offset
        row = y + sy
        if raster is None or scene is None or row >= raster.height:
            return Strip.blank(width, PLAIN)
        segments: list[Segment] = [Segment(" " * indent, PLAIN)] if indent else []
        x = sx
        for run in raster.runs(row, sx, sx + width):
            if run.start > x:
                segments.append(Segment(" " * (run.start - x), PLAIN))
            text, style = self._styled(run, scene)
            if self.overlay is not None:
                style = self._tinted(run, scene, style, self.overlay)
            lo = max(0, x - run.start)
            hi = min(len(text), sx + width - run.start)
            segments.append(Segment(text[lo:hi], style))
            x = run.start + hi
        strip = Strip(segments).extend_cell_length(width, PLAIN)
        if self.overview_mode:
            strip = self._mark(strip, row, indent - sx, width)
        return strip

    def _mark(self, strip: Strip, row: int, shift: int, width: int) -> Strip:
        """In the overview, blocks overlap: a ◆ keeps the current node in sight."""
        raster, scene = self.raster, self.scene
        current = scene.current if scene is not None else None
        box = raster.boxes.get(current or "") if raster is not None else None
        if box is None or box.y != row:
            return strip
        x = box.x + box.width // 2 + shift
        if not 0 <= x < width:
            return strip
        mark = Strip([Segment("◆", self._palette.name[NodeState.CURRENT])])
        return Strip.join([strip.crop(0, x), mark, strip.crop(x + 1, width)])

    def show_overlay(self, overlay: Overlay | None) -> None:
        self.overlay = overlay
        self.refresh()

    def _tinted(self, run: Run, scene: Scene, style: Style, overlay: Overlay) -> Style:
        """A box on its overlay colour (render.raster.tint), its text dark; a block of the
        overview in it. A nan or inf and a breakpoint's mark keep their own colours."""
        colour = tint(run, scene, overlay)
        if colour is None:
            return style
        if run.role is Role.BLOCK:
            return style + Style(color=colour)
        marked = run.role is Role.MARK and run.owner in self._breakpoints
        if marked or style == self._palette.ink[Ink.ANOMALY]:
            return style + Style(bgcolor=colour)
        return style + Style(color=OVERLAY_INK, bgcolor=colour)

    def _styled(self, run: Run, scene: Scene) -> tuple[str, Style]:
        """The scene decides what a run shows (render.raster.shown); here it gets its style,
        and the marks of the selection and the breakpoints."""
        p = self._palette
        text, ink = shown(run, scene)
        if isinstance(ink, Ink):
            return text, p.ink[ink]
        if isinstance(ink, Flow):
            return text, p.edge[ink]
        role, owner = run.role, run.owner
        if role is Role.MARK and owner in self._breakpoints:
            return "●", p.breakpoint
        if role in (Role.MARK, Role.BORDER):
            return text, p.border[ink]
        style = p.name[ink]
        if role is Role.BLOCK and ink is NodeState.PENDING:
            style = p.border[ink]
        if owner in self._marked:
            style += p.selected
        if owner in self._breakpoints and role is Role.BLOCK:
            style += p.breakpoint
        return text, style
