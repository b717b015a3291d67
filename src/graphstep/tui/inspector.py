"""The inspector: the current step — its formula, the chain rule with numbers, its inputs.

Tensors are heatmaps; inside a conv or pool the window of the current inner
step is outlined in the input, and the output element it makes in the
output, so stepping into a conv shows the filter sliding over the image.
Everything shown is read from the session's trace; nothing is computed here
but slices of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip

from ..composite import Windows
from ..format import index, shape, tensor, visible
from ..session import Session
from ..steps import Phase, Step
from .heatmap import Plane, grid, planes
from .line_view import PLAIN, LineView

KEPT_STEPS = 64  # steps whose lines the inspector keeps, for stepping back and forth
TITLE = Style(bold=True)
LABEL = Style(dim=True)


@dataclass(frozen=True)
class Shown:
    """One tensor of the inspector: its title and the planes to draw."""

    title: str
    planes: list[Plane]


@dataclass(frozen=True)
class Made:
    """What the inspector shows at one step: its texts and tensors, and their lines wrapped
    to each width asked for."""

    texts: tuple[Text, Text]
    tensors: list[Shown]
    lines: dict[int, list[Strip]]


class Inspector(LineView, can_focus=False):
    """What the current step computes, and from what: text, then heatmaps, on the Line API.

    The lines are built once per step (and again when the width changes), so
    a step repaints the inspector without laying out the screen again; those of
    the last KEPT_STEPS steps are kept, so stepping back builds nothing.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._made: dict[tuple[object, ...], Made] = {}  # by step, the latest last
        self._shown = Made((Text(), Text()), [], {})
        self._lines: list[Strip] = []
        self._built_for = -1

    def show(self, session: Session, selected: str | None) -> None:
        step = session.current
        pick = selected if selected and selected != step.node else None
        key = (session.version, session.position, session.inner, pick)
        made = self._made.pop(key, None)
        if made is None:
            chosen = _selected_text(session, pick) if pick else Text()
            made = Made((_step_text(session, step), chosen), _tensors(session, step), {})
        self._made[key] = self._shown = made
        if len(self._made) > KEPT_STEPS:
            del self._made[next(iter(self._made))]
        before = self._lines
        self._build()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._refresh_changed(before)

    def on_resize(self) -> None:
        if self.scrollable_content_region.width != self._built_for:
            self._build()
            self.refresh()  # the lines wrapped for the old width may already be on the screen

    def _build(self) -> None:
        region = self.scrollable_content_region
        if region.width <= 0:
            return
        lines = self._wrapped(region.width)
        if not self.show_vertical_scrollbar and len(lines) > region.height:
            # the scrollbar about to appear takes columns: wrap short of them, not under them
            lines = self._wrapped(max(1, region.width - self.styles.scrollbar_size_vertical))
        self._lines = lines
        self._built_for = region.width
        self.resize_content(Size(region.width, len(lines)))

    def _wrapped(self, width: int) -> list[Strip]:
        made = self._shown
        if width not in made.lines:
            made.lines[width] = self._wrap(made, width)
        return made.lines[width]

    def _wrap(self, made: Made, width: int) -> list[Strip]:
        console = self.app.console
        options = console.options.update_width(width)
        lines: list[Strip] = []
        step_text, chosen = made.texts
        for segments in console.render_lines(step_text, options, pad=False):
            lines.append(Strip(segments))
        for shown in made.tensors:
            lines.append(Strip.blank(width, PLAIN))
            lines.append(Strip([Segment(shown.title[:width], TITLE)]))
            for plane in shown.planes:
                if plane.label:
                    lines.append(Strip([Segment(plane.label, LABEL)]))
                lines.extend(grid(plane, width, colour=not self.app.no_color))
        if chosen:
            lines.append(Strip.blank(width, PLAIN))
            for segments in console.render_lines(chosen, options, pad=False):
                lines.append(Strip(segments))
        return lines

    def _refresh_changed(self, before: list[Strip]) -> None:
        """Mark dirty only the lines on screen that differ from the step before's: a step
        that keeps the inspector's shape repaints a few lines, not all of them."""
        height, sy, lines = self.scrollable_content_region.height, self.scroll_offset.y, self._lines
        self.refresh_rows(
            y - sy
            for y in range(sy, sy + height)
            if (lines[y] if y < len(lines) else None) != (before[y] if y < len(before) else None)
        )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        sx, sy = self.scroll_offset
        if y + sy >= len(self._lines):
            return Strip.blank(width, PLAIN)
        return self._lines[y + sy].crop(sx, sx + width).extend_cell_length(width, PLAIN)


def _call(session: Session, step: Step) -> tuple[str, tuple[str, ...]] | None:
    """A collapsed block call's step: the block and the call's arguments."""
    if step.inner is not None or not session.timeline.members(step.index):
        return None
    return session.graph.calls.get(step.node or "")


def _step_text(session: Session, step: Step) -> Text:
    graph, trace = session.graph, session.trace
    text = Text()
    if step.phase is Phase.START:
        text.append("start", "bold cyan")
        text.append(f" · {visible(graph.name)}\n", "bold")
        if graph.description:
            if session.changed:
                text.append(
                    "the file's description, written for the file's values "
                    f"(changed since: {', '.join(session.changed)}):\n",
                    "yellow",
                )
            text.append(visible(" ".join(graph.description.split())) + "\n", "italic grey70")
        text.append("\n" + step.text + "\n")
        return text
    node = graph.nodes[step.node] if step.node else None
    call = _call(session, step)
    colour = "green" if step.phase is Phase.FORWARD else "red"
    text.append(f"{step.phase}", f"bold {colour}")
    text.append(f" · {step.node}", "bold")
    if node is not None:
        what = f"block {call[0]}" if call else node.op
        text.append(f"  {what} {shape(node.shape) if node.shape else ''}", "grey70")
        source = graph.sources.get(node.entry)
        if source is not None:
            text.append(f"\nin the model: {visible(source)}", "grey50")
    if step.window is not None:
        wins = session.timeline.windows(step.node) if step.node else None
        total = len(wins) if wins is not None else 0
        text.append(
            f"\nwindow {index(step.window)}  ({(step.inner or 0) + 1} of {total})", "yellow"
        )
    text.append("\n\n")
    body = step.text.split("  ⚠ ")[0]
    text.append(body + "\n", "bold")
    if step.note:
        text.append(f"⚠ {step.note}\n", "yellow")
    if step.node is None or step.window is not None:
        return text
    text.append("\n")
    if step.phase is Phase.FORWARD:
        for name in call[1] if call else graph.nodes[step.node].inputs:
            text.append(f"{graph.display(name)}", "bold")
            text.append(f" = {tensor(trace.value(name))}\n")
    else:
        for consumer, position in graph.consumers[step.node]:
            if trace.contribution(consumer, position) is None:
                continue
            text.append(f"∂{graph.output}/∂{consumer}", "bold red")
            text.append(f" = {tensor(trace.grad(consumer))}")
            part = trace.contribution(consumer, position)
            text.append(f"   sends {tensor(part)}\n", "grey70")
    return text


def _tensors(session: Session, step: Step) -> list[Shown]:
    """The tensors of a step worth a heatmap: more than one number each."""
    if step.node is None:
        return []
    graph, trace = session.graph, session.trace
    node = graph.nodes[step.node]
    if step.window is not None:
        wins = session.timeline.windows(step.node)
        if wins is not None:
            return _window_tensors(session, step, wins)
    shown: list[Shown] = []
    call = _call(session, step)
    if step.phase is Phase.FORWARD:
        for name in call[1] if call else node.inputs:
            value = trace.value(name)
            if value.size > 1:
                shown.append(Shown(f"{name} {shape(value.shape)}", planes(value)))
        value = trace.value(step.node)
        if value.size > 1:
            shown.append(Shown(f"{step.node} {shape(value.shape)}", planes(value)))
    else:
        grad = trace.grad(step.node)
        if grad is not None and grad.size > 1:
            title = f"∂{graph.output}/∂{step.node} {shape(grad.shape)}"
            shown.append(Shown(title, planes(grad, gradient=True)))
    return shown


def _window_tensors(session: Session, step: Step, wins: Windows) -> list[Shown]:
    """The input with the window outlined (padding drawn as zeros), the filter, the output cell."""
    graph, trace = session.graph, session.trace
    node = graph.nodes[step.node or ""]
    position = step.window or ()
    rows, cols = wins.span(position)
    ph, pw = wins.pad
    window = (slice(rows.start + ph, rows.stop + ph), slice(cols.start + pw, cols.stop + pw))
    x = trace.value(node.inputs[0])[wins.lead(position)]
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    x_name = graph.display(node.inputs[0])
    padded = f", padded by {ph}" if ph or pw else ""
    shown = [Shown(f"{x_name} {shape(x.shape)}{padded}", planes(x, window))]
    if not wins.pooling:
        f = wins.filter_index(position)
        w = trace.value(node.inputs[1])[f]
        shown.append(Shown(f"{graph.display(node.inputs[1])}{index(f)}", planes(w)))
    cell = (slice(position[-2], position[-2] + 1), slice(position[-1], position[-1] + 1))
    channel = position[:-2]
    if step.phase is Phase.FORWARD:
        # the windows stepped through so far; the others are not computed yet
        ho, wo = wins.grid
        first = wins.ordinal((*channel, 0, 0))
        done = np.arange(ho * wo).reshape(ho, wo) <= (step.inner or 0) - first
        out = trace.value(step.node or "")[channel]
        title = f"{step.node}{index(channel) if channel else ''}"
        shown.append(Shown(title, planes(out, cell, done)))
    else:
        grad = trace.grad(step.node or "")
        out = np.zeros(wins.grid) if grad is None else grad[channel]
        title = f"∂{graph.output}/∂{step.node}{index(channel) if channel else ''}"
        shown.append(Shown(title, planes(out, cell, gradient=True)))
    return shown


def _selected_text(session: Session, name: str) -> Text:
    graph, trace = session.graph, session.trace
    node = graph.nodes[name]
    text = Text("\n")
    text.append("selected ", "grey70")
    text.append(name, "bold underline")
    text.append(f"  {node.op} {shape(node.shape)}\n", "grey70")
    if not node.is_leaf:
        text.append(f"{name} = {graph.formula(name)}\n", "italic")
    if session.value_known(name):
        text.append(f"value {tensor(trace.value(name))}\n", "green")
    else:
        text.append("value not yet computed\n", "grey50")
    grad = trace.grad(name)
    if grad is not None and session.grad_known(name):
        text.append(f"∂{graph.output}/∂{name} = {tensor(grad)}\n", "red")
    return text
