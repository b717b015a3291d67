"""The Textual app: the keys of a debugger over one Session, and the widgets that show it.

State flows down: the session is the one source of truth; the app's reactive
attributes (`cursor`, `selected`, `expanded`, `version`) mirror what changed,
and their watchers hand the new state to the widgets. Messages flow up: a
click on a node or on a step bubbles to the app, which moves the session.
The graph view lays the graph out (Graphviz, then rasterizing) in a thread
worker and says so with messages, so a big graph never blocks the keys.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.widgets import Static

from ..doctor import Diagnosis, Finding, diagnose
from ..errors import GraphstepError
from ..format import file_stem, index, number, tensor, visible
from ..graph import Graph
from ..overlay import Mode, colour_by
from ..render.svg import export_all_steps, export_svg
from ..session import Breakpoint, Session, untrainable
from ..spec import read_value
from ..steps import Step
from ..summary import not_computed
from .dialogs import FindScreen, GotoScreen, HelpScreen, SetInputScreen
from .doctor_panel import DoctorScreen
from .graph_view import GraphView
from .inspector import Inspector
from .key_bar import KeyBar
from .legend import OverlayLegend
from .node_list import NodeIndex, node_index
from .status import StatusBar
from .summary import SummaryApp
from .timeline import TimelineView

DEFAULT_LR = 0.1
# Keys not in BINDINGS that the help screen lists too: the widgets' own, and the mouse.
MORE_KEYS = (
    ("h j k l  ⇧← ⇧↓ ⇧↑ ⇧→", "pan the graph (↑ ↓ too, when the graph has focus)"),
    ("tab", "move the focus between the graph and the timeline"),
    ("↑ ↓ Enter", "on the timeline: move its cursor, jump to that step"),
    ("click", "a node: select it (in the overview: zoom back to it); a step: jump to it"),
    ("drag, wheel", "pan the graph (shift+wheel: sideways)"),
)


class GraphstepApp(App[None]):
    """Step through one graph's forward and backward pass."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "dialogs.tcss"]
    TITLE = "graphstep"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,right", "step", "next", tooltip="next step (→ too)"),
        Binding("p,left", "step_back", "back", tooltip="previous step (← too)"),
        Binding("s", "step_into", "into", tooltip="step into a conv or pool: window by window"),
        Binding("o", "step_out", "out", tooltip="step out of the conv or pool"),
        Binding(
            "c",
            "continue",
            "continue",
            tooltip="continue to a breakpoint, an anomaly or the end of the phase",
        ),
        Binding(
            "C",
            "reverse_continue",
            "reverse",
            key_display="C",
            show=False,
            tooltip="reverse continue: back to a breakpoint or the start of the phase",
        ),
        Binding("b", "toggle_breakpoint", "break", tooltip="toggle a breakpoint on the node"),
        Binding("g", "goto", "go to", show=False, tooltip="go to step N"),
        Binding(
            "slash",
            "find",
            "find",
            key_display="/",
            tooltip="find a node in the list of all; Enter jumps to its step",
        ),
        Binding("x", "expand", "expand", tooltip="expand or collapse a conv or pool node"),
        Binding(
            "f",
            "fold",
            "fold",
            show=False,
            tooltip="fold repeated block calls into one box × N; again: unfold",
        ),
        Binding("e", "export", "export", show=False, tooltip="export the current step as SVG"),
        Binding(
            "E",
            "export_all",
            "export all",
            key_display="E",
            show=False,
            tooltip="export every step as SVG, numbered, into NAME-steps/",
        ),
        Binding("i", "set_input", "set", show=False, tooltip="set an input's (or param's) value"),
        Binding(
            "t",
            "train",
            "train",
            show=False,
            tooltip="one gradient-descent step on the params (loss sparkline on top)",
        ),
        Binding(
            "left_square_bracket",
            "select(-1)",
            "previous node",
            key_display="[",
            show=False,
            tooltip="select the previous node (topological order)",
        ),
        Binding(
            "right_square_bracket",
            "select(1)",
            "next node",
            key_display="]",
            show=False,
            tooltip="select the next node",
        ),
        Binding(
            "escape",
            "select_none",
            "deselect",
            show=False,
            tooltip="clear the selection: b, x and i act on the current node again",
        ),
        Binding("h,shift+left", "pan(-8, 0)", "pan left", show=False),
        Binding("l,shift+right", "pan(8, 0)", "pan right", show=False),
        Binding("k,shift+up", "pan(0, -3)", "pan up", show=False),
        Binding("j,shift+down", "pan(0, 3)", "pan down", show=False),
        Binding("z", "overview", "overview", show=False, tooltip="overview: the whole graph"),
        Binding(
            "d",
            "doctor",
            "doctor",
            show=False,
            tooltip="the gradient doctor: findings, worst first; Enter jumps to the node and step",
        ),
        Binding(
            "O",
            "overlay",
            "overlay",
            key_display="O",
            show=False,
            tooltip="overlay: nodes coloured by |gradient|, then gain, dead fraction, off",
        ),
        Binding("question_mark", "help", "help", key_display="?", tooltip="this help"),
        Binding("q", "quit", "quit", tooltip="quit"),
    ]

    # The state the screen shows. `var`s: their watchers redraw just the widgets concerned,
    # where a plain reactive on the app would repaint the whole screen on every step.
    cursor: var[tuple[int, int | None]] = var((0, None), init=False)
    selected: var[str | None] = var(None, init=False)
    expanded: var[frozenset[str]] = var(frozenset(), init=False)
    folded: var[bool] = var(False, init=False)
    version: var[int] = var(0, init=False)
    overlay_mode: var[Mode | None] = var(None, init=False)

    def __init__(self, graph: Graph, export_dir: Path | None = None) -> None:
        # NO_COLOR: Textual's ANSI mode drops colours altogether (not just to greys);
        # node states stay apart by weight (dim, plain, bold, reversed).
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        self.session = Session(graph)
        self.export_dir = export_dir or Path.cwd()
        self._diagnosis: tuple[int, Diagnosis] | None = None  # by the session's version
        self._index: NodeIndex | None = None  # the node list's, built on the first /
        self._note, self._note_height = Text(), 1  # the line under the graph, and its height

    # -- the screen

    def compose(self) -> ComposeResult:
        # no containers: each box takes its edge of what the ones before it left (app.tcss)
        yield KeyBar()
        yield TimelineView(self.session.timeline, self.breakpoint_at, id="timeline")
        yield OverlayLegend(id="overlay-legend")
        yield StatusBar(id="status")
        yield Inspector(id="inspector")
        yield Static(id="layout-note")
        yield GraphView(self.session, id="graph")

    def on_mount(self) -> None:
        self.query_one(GraphView).focus()
        self.query_one(GraphView).lay_out(self.expanded, self.folded)
        self.show_step()
        self.query_one(StatusBar).show_losses(self.session.losses)

    def on_resize(self, event: events.Resize) -> None:
        self.screen.set_class(event.size.width < 100, "narrow")  # self.size is the old size
        self.screen.set_class(event.size.height < 30, "short")
        self.call_after_refresh(self._fit_note)  # to the graph's column, once laid out

    # The graph's spinner covers the view (set_loading) without setting its `loading`,
    # which would take the focus away from it, and its keys, until the layout is in.

    @on(GraphView.LayoutStarted)
    def layout_started(self) -> None:
        self.query_one(GraphView).set_loading(True)

    @on(GraphView.LayoutReady)
    def layout_ready(self, event: GraphView.LayoutReady) -> None:
        self.query_one(GraphView).set_loading(False)
        note = self.query_one("#layout-note", Static)
        self._note = Text(visible(event.note))
        note.update(self._note, layout=False)  # its height is _fit_note's
        note.display = bool(event.note)
        self._fit_note()
        self.show_step()

    def _fit_note(self) -> None:
        """The note under the graph as high as its text wrapped to the graph's column (one or
        two lines): a box that splits its edge off the screen (app.tcss) would wrap its text
        to the screen's width. A new neighbourhood's note keeps the height: no new layout."""
        width = self.query_one(GraphView).outer_size.width
        lines = len(self._note.wrap(self.console, width)) if width and self._note else 1
        height = min(max(lines, 1), 2)
        if height != self._note_height:
            self._note_height = height
            self.query_one("#layout-note", Static).styles.height = height

    @on(GraphView.LayoutFailed)
    def layout_failed(self, event: GraphView.LayoutFailed) -> None:
        self.query_one(GraphView).set_loading(False)
        self.notify(str(event.error), title="no layout", severity="error", timeout=10)

    def breakpoint_at(self, position: int) -> bool:
        node = self.session.timeline.node_at(position)
        phase = self.session.timeline.phase(position)
        return any(bp.node == node and bp.phase in (None, phase) for bp in self.session.breakpoints)

    @property
    def target(self) -> str | None:
        """The node that b, x and i act on: the selected one, else the current step's."""
        return self.selected or self.session.current.node

    # -- state flows down

    def show_step(self) -> None:
        session = self.session
        step = session.current
        marks = frozenset(bp.node for bp in session.breakpoints)
        self.query_one(GraphView).show_step(self.selected, marks)
        self.query_one(Inspector).show(session, self.selected)
        window = ""
        if step.window is not None:
            total = len(session.timeline.inner_steps(session.position))
            window = f"· window {index(step.window)} ({(step.inner or 0) + 1}/{total})"
        inner = step.text if step.window is not None else ""
        self.query_one(TimelineView).show_position(session.position, inner)
        anomaly = session.trace.anomaly
        self.query_one(StatusBar).show(
            visible(session.graph.name),
            str(session.phase),
            session.position,
            session.timeline.end,
            window,
            None if anomaly is None else str(anomaly),
            self.selected,
        )

    def watch_cursor(self) -> None:
        self.show_step()
        self.query_one(GraphView).follow()

    def watch_selected(self) -> None:
        self.show_step()
        if self.selected is not None:
            self.query_one(GraphView).scroll_to_node(self.selected)

    def watch_folded(self) -> None:
        self.query_one(GraphView).lay_out(self.expanded, self.folded)

    def action_fold(self) -> None:
        self.folded = not self.folded
        self.notify(
            "identical consecutive block calls folded into one box × N"
            if self.folded
            else "every block call drawn on its own",
            timeout=2,
        )

    def watch_expanded(self) -> None:
        self.query_one(GraphView).lay_out(self.expanded, self.folded)

    def watch_version(self) -> None:
        self.query_one(TimelineView).show_timeline(self.session.timeline)
        self.query_one(StatusBar).show_losses(self.session.losses)
        self.query_one(GraphView).lay_out(self.expanded, self.folded)
        self.show_step()
        self.show_overlay()

    def sync(self) -> None:
        """Mirror the session's cursor in the reactive state (the watchers redraw)."""
        self.cursor = (self.session.position, self.session.inner)

    def move(self, how: Callable[[], Step]) -> None:
        before = self.cursor
        how()
        self.sync()
        if self.cursor == before:
            self.bell()

    # -- the keys

    def action_step(self) -> None:
        self.move(self.session.step)

    def action_step_back(self) -> None:
        self.move(self.session.back)

    def action_step_into(self) -> None:
        self.move(self.session.step_into)

    def action_step_out(self) -> None:
        self.move(self.session.step_out)

    def action_continue(self) -> None:
        self.move(self.session.continue_)
        self.report_stop(reverse=False)

    def action_reverse_continue(self) -> None:
        self.move(self.session.reverse_continue)
        self.report_stop(reverse=True)

    def report_stop(self, reverse: bool) -> None:
        reason = self.session.stopped_by
        if isinstance(reason, Breakpoint):
            self.notify(f"breakpoint: {reason}", timeout=3)
        elif reason is not None:
            self.notify(f"anomaly: {reason}", severity="warning", timeout=5)
        else:
            self.notify(stop_message(self.session, reverse), timeout=2)

    def action_toggle_breakpoint(self) -> None:
        node = self.target
        if node is None:
            self.notify("select a node first (click it, or / to find it)", severity="warning")
            return
        on_now = self.session.toggle_breakpoint(node)
        self.notify(f"breakpoint {'set on' if on_now else 'removed from'} {node}", timeout=2)
        self.query_one(TimelineView).refresh()
        self.show_step()

    def action_goto(self) -> None:
        def go(n: int | None) -> None:
            if n is not None:
                self.move(lambda: self.session.goto(n))

        self.push_screen(GotoScreen(self.session.timeline.end), go)

    def action_find(self) -> None:
        """The node list: the highlighted node is selected as one types; Enter jumps to its
        step (a leaf has none: it stays selected), Escape restores the selection."""
        before = self.selected

        def found(name: str | None) -> None:
            if name is None:
                self.selected = before
                return
            step = self.session.timeline.forward_index.get(name, 0)
            if step:
                self.session.goto(step)
                self.sync()
            self.selected = name
            uses = len(self.query_one(GraphView).drawn_for(name))
            if uses > 1:
                self.notify(f"{name} is drawn beside each of its {uses} uses", timeout=3)

        def preview(name: str) -> None:
            self.selected = name

        if self._index is None:
            self._index = node_index(self.session.graph, self.session.timeline)
        self.push_screen(FindScreen(self._index, preview), found)

    def action_select(self, delta: int) -> None:
        order = self.session.graph.order
        start = self.target
        i = order.index(start) if start in order else (-1 if delta > 0 else 0)
        self.selected = order[(i + delta) % len(order)]

    def action_select_none(self) -> None:
        self.selected = None

    def action_expand(self) -> None:
        node = self.target
        graph = self.session.graph
        view = self.query_one(GraphView)
        node = view.shown_as(node) if node is not None else None
        if node is None or (node not in graph.groups and not graph.nodes[node].is_composite):
            what = "nothing is selected" if node is None else f"{node} is {graph.nodes[node].op}"
            self.notify(
                f"x expands conv and pool nodes and block calls; {what}", severity="warning"
            )
            return
        self.expanded = self.expanded ^ {node}

    def action_pan(self, dx: int, dy: int) -> None:
        self.query_one(GraphView).action_pan(dx, dy)

    def action_overview(self) -> None:
        self.query_one(GraphView).action_toggle_overview()

    def action_help(self) -> None:
        keys = [
            (_key_names(b.key), b.tooltip or b.description)
            for b in self.BINDINGS
            if isinstance(b, Binding) and not b.action.startswith("pan")
        ]
        self.push_screen(HelpScreen([*keys, *MORE_KEYS]))

    def action_set_input(self) -> None:
        graph = self.session.graph
        leaves = graph.inputs + graph.params
        if not leaves:
            self.notify(f"{visible(graph.name)} has no inputs to set", severity="warning")
            return
        name = self.target if self.target in leaves else leaves[0]
        value = self.session.trace.value(name)
        start = f"{name} = {tensor(value, limit=64)}" if value.size <= 64 else f"{name} = "
        self.push_screen(SetInputScreen(leaves, start, self.set_input))

    def set_input(self, name: str, text: str) -> str | None:
        """Give a leaf the value written as YAML; an error message if it does not take."""
        try:
            self.session.set_input(name, read_value(text))
        except GraphstepError as error:
            return error.message + (f" ({error.hint})" if error.hint else "")
        self.version = self.session.version
        self.notify(f"{name} = {text}; loss {number(self.session.trace.loss)}", timeout=3)
        return None

    def action_train(self) -> None:
        graph = self.session.graph
        if not graph.params:
            self.notify(untrainable(graph).message, severity="warning")
            return
        lr = float(graph.train.get("lr", DEFAULT_LR))
        before = self.session.trace.loss
        loss = self.session.train_step(lr)
        self.version = self.session.version
        self.notify(
            f"gradient step (lr {number(lr)}): loss {number(before)} → {number(loss)}", timeout=2
        )

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification as plain text with control characters made visible: a name
        from a graph file such as `[@click=app.quit]` must read literally, not act."""
        message, title = visible(message), visible(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_export(self) -> None:
        self.export(all_steps=False)

    def action_export_all(self) -> None:
        self.export(all_steps=True)

    @work(thread=True, group="export")
    def export(self, all_steps: bool) -> None:
        """SVG files named after the graph, in the directory the app was started in."""
        session = self.session
        stem = file_stem(session.graph.name)
        try:
            if all_steps:
                folder = self.export_dir / f"{stem}-steps"
                paths = export_all_steps(
                    session, folder, expanded=self.expanded, overlay=self.overlay_mode
                )
                message = f"wrote {len(paths)} diagrams to {folder}"
            else:
                inner = "" if session.inner is None else f".{session.inner + 1}"
                path = self.export_dir / f"{stem}-step{session.position:03d}{inner}.svg"
                export_svg(session, path, expanded=self.expanded, overlay=self.overlay_mode)
                message = f"wrote {path}"
        except (GraphstepError, OSError) as error:
            self.call_from_thread(self.notify, str(error), severity="error")
            return
        self.call_from_thread(self.notify, message, timeout=4)

    def diagnosis(self) -> Diagnosis:
        """The doctor's diagnosis of the session's values, made once per version."""
        session = self.session
        if self._diagnosis is None or self._diagnosis[0] != session.version:
            self._diagnosis = (session.version, diagnose(session.trace, session.timeline))
        return self._diagnosis[1]

    def action_doctor(self) -> None:
        session = self.session
        findings = self.diagnosis().findings

        def jump(finding: Finding | None) -> None:
            if finding is not None:
                if finding.step is not None:
                    self.move(lambda: session.goto(finding.step or 0))
                self.selected = finding.node

        self.push_screen(DoctorScreen(findings), jump)

    def action_overlay(self) -> None:
        """Off → |grad| → gain → dead → off."""
        modes = [None, *Mode]
        self.overlay_mode = modes[(modes.index(self.overlay_mode) + 1) % len(modes)]

    def watch_overlay_mode(self) -> None:
        self.show_overlay()

    def show_overlay(self) -> None:
        """The overlay of the current values (a node coloured once the cursor knows its number;
        overlay.py decides) on the graph, and its legend."""
        mode = self.overlay_mode
        shown = None
        if mode is not None:
            shown = colour_by(mode, self.session.trace, self.diagnosis())
        self.query_one(GraphView).show_overlay(shown)
        self.query_one(OverlayLegend).show(shown)

    # -- messages bubble up

    @on(GraphView.NodeClicked)
    def node_clicked(self, event: GraphView.NodeClicked) -> None:
        self.selected = event.node

    @on(TimelineView.Jump)
    def jump(self, event: TimelineView.Jump) -> None:
        self.move(lambda: self.session.goto(event.index))


KEY_NAMES = {
    "right": "→",
    "left": "←",
    "up": "↑",
    "down": "↓",
    "slash": "/",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "escape": "Esc",
}


def stop_message(session: Session, reverse: bool) -> str:
    """Where a continue that met no breakpoint stopped: `end of the forward phase (step 2)`."""
    p = session.position
    if p == 0:
        return "back at the start (step 0)"
    edge = "start" if reverse else "end"
    return f"{edge} of the {session.phase} phase (step {p})"


def _key_names(keys: str) -> str:
    """`n,right` as the help screen shows it: `n →`."""
    names = []
    for key in keys.split(","):
        shift = key.startswith("shift+")
        key = key.removeprefix("shift+")
        names.append(("⇧" if shift else "") + KEY_NAMES.get(key, key))
    return " ".join(names)


def run_tui(graph: Graph) -> None:
    """Open the terminal UI on an already loaded graph; returns when the user quits.

    A graph too big to compute opens on its summary instead.
    """
    served = "TEXTUAL_DRIVER" in os.environ  # textual-serve drives it through a web socket
    if not served and not (sys.stdin.isatty() and sys.stderr.isatty()):  # reads one, draws on one
        raise GraphstepError(
            "the terminal UI needs a terminal", hint="graphstep run FILE prints it as text"
        )
    reason = not_computed(graph)
    if reason is not None:
        SummaryApp(graph, reason).run()
    else:
        GraphstepApp(graph).run()
