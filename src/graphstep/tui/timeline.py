"""The timeline: every step, forward then backward, one line each, on the Line API.

The current step is marked, breakpoints carry a red dot; steps not reached
yet say what they will compute, not its numbers. Only visible lines
are drawn, and a step's text is built when its line is first shown, so a
2,000-step timeline costs no more to move along than a 10-step one.
Clicking a line, or Enter on the timeline's own cursor, asks to jump there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.strip import Strip

from ..steps import Phase, Timeline
from .line_view import PLAIN, LineView

PHASE_TAG = {Phase.START: "start", Phase.FORWARD: "fwd", Phase.BACKWARD: "bwd"}
PHASE_STYLE = {
    Phase.START: Style(color="cyan"),
    Phase.FORWARD: Style(color="green"),
    Phase.BACKWARD: Style(color="red"),
}
CURRENT = Style(reverse=True, bold=True)
CURSOR = Style(underline=True)
BREAKPOINT = Style(color="bright_red", bold=True)


class TimelineView(LineView, can_focus=True, inherit_bindings=False):
    """All steps; the app tells it where the session is, it tells the app where to jump."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor_to(0)", "first", show=False),
        Binding("end", "cursor_to(-1)", "last", show=False),
        Binding("enter", "jump", "jump here"),
    ]

    class Jump(Message):
        """The user chose a step: by clicking it or pressing Enter on it."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    cursor: var[int] = var(0)  # watch_cursor repaints the two lines concerned

    def __init__(
        self, timeline: Timeline, breakpoint_at: Callable[[int], bool], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._timeline = timeline
        self._breakpoint_at = breakpoint_at
        self._position = 0
        self._inner = ""
        self.virtual_size = Size(0, len(timeline))

    def show_timeline(self, timeline: Timeline) -> None:
        """New values (an input set, a training step): the same steps, new texts."""
        self._timeline = timeline
        self.virtual_size = Size(0, len(timeline))
        self.refresh()

    def show_position(self, position: int, inner: str = "") -> None:
        """The session moved: mark the new step and keep it in view; `inner` is a window's text."""
        if (position, inner) != (self._position, self._inner):
            # the lines between the two positions show their numbers now, or no longer
            lo, hi = sorted((self._position, position))
            top, height = self.scroll_offset.y, self.scrollable_content_region.height
            self.refresh_rows(y - top for y in range(max(lo, top), min(hi + 1, top + height)))
        self._position = position
        self._inner = inner
        if self.cursor == position:
            self._scroll_to_line(position)
        else:
            self.cursor = position  # its watcher scrolls

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_line(new)  # first: a line's row counts from the offset scrolled to
        self.refresh_line(old)
        self.refresh_line(new)

    def _scroll_to_line(self, line: int) -> None:
        """Keep the line in view by pages, as a pager does: one that leaves the view at the
        bottom comes in near the top (the step before it still in sight), one that leaves it
        at the top comes in near the bottom. A step scrolls the timeline once a page, not
        every time: scrolling repaints every line of it."""
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if height <= 0 or top <= line < top + height:
            return
        context = 1 if height > 2 else 0
        y = line - context if line >= top + height else line - height + 1 + context
        self.scroll_to(y=max(0, y), animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.cursor = min(max(self.cursor + delta, 0), len(self._timeline) - 1)

    def action_page(self, pages: int) -> None:
        """The view and the cursor move by a page less one line: the last line of one page is
        the first of the next, and no step is passed unseen."""
        lines = pages * max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=self.scroll_offset.y + lines, animate=False, immediate=True)
        self.action_cursor(lines)

    def on_resize(self) -> None:
        self.call_after_refresh(self._scroll_to_line, self.cursor)  # a shorter view keeps it

    def action_cursor_to(self, line: int) -> None:
        self.cursor = line % len(self._timeline)

    def action_jump(self) -> None:
        self.post_message(self.Jump(self.cursor))

    def on_click(self, event: events.Click) -> None:
        line = event.y + self.scroll_offset.y
        if 0 <= line < len(self._timeline):
            self.cursor = line
            self.post_message(self.Jump(line))

    def _text(self, i: int) -> str:
        """A step's explanation; a step not reached yet shows what it computes, not the numbers."""
        timeline = self._timeline
        if i == self._position and self._inner:
            return self._inner
        if i <= self._position:
            return timeline.steps[i].text
        node = timeline.node_at(i) or ""
        graph = timeline.graph
        if timeline.phase(i) is Phase.FORWARD:
            return f"{node} = {graph.formula(node)}"
        return f"∂{graph.output}/∂{node}"

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        i = y + self.scroll_offset.y
        if i >= len(self._timeline):
            return Strip.blank(width, PLAIN)
        timeline = self._timeline
        phase = timeline.phase(i)
        mark = Segment("●", BREAKPOINT) if self._breakpoint_at(i) else Segment(" ", PLAIN)
        pointer = "▶" if i == self._position else " "
        text = self._text(i)
        segments = [
            mark,
            Segment(f"{pointer}{i:>4} ", PLAIN),
            Segment(f"{PHASE_TAG[phase]:<5}", PHASE_STYLE[phase]),
            Segment(f" {timeline.node_at(i) or '':<10.10} ", Style(bold=True)),
            Segment(text, PLAIN),
        ]
        strip = Strip(segments)
        if i == self._position:
            strip = strip.apply_style(CURRENT)
        elif i == self.cursor and self.has_focus:
            strip = strip.apply_style(CURSOR)
        left = self.scroll_offset.x
        return strip.crop(left, left + width).extend_cell_length(width, PLAIN)
