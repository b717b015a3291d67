"""Every node of a graph in one list, narrowed as one types: the rows drawn are only those on
screen (Textual's Line API), so 10,000 nodes scroll and filter without a pause.

`NodeIndex` is built once per graph: each node's name, its step and what it is.
`NodeList` shows the matches of a query; the find screen (dialogs.py) drives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..format import visible
from ..graph import Graph
from ..steps import Timeline
from .line_view import PLAIN

CURSOR = Style(reverse=True, bold=True)
MUTED = Style(dim=True)


@dataclass(frozen=True)
class NodeIndex:
    """The graph's nodes in topological order: names, lower-cased names for matching, the
    forward step of each (0 for a leaf), and a few words on each (op, formula)."""

    names: tuple[str, ...]
    folded: tuple[str, ...]
    steps: tuple[int, ...]
    about: tuple[str, ...]

    def matches(self, query: str) -> list[int]:
        """The rows whose name holds `query` (any case): exact first, then prefixes, then
        the rest, each in topological order; every row for an empty query."""
        text = query.strip().lower()
        if not text:
            return list(range(len(self.names)))
        exact: list[int] = []
        starts: list[int] = []
        inside: list[int] = []
        for k, name in enumerate(self.folded):
            if text in name:
                (exact if name == text else starts if name.startswith(text) else inside).append(k)
        return exact + starts + inside


def node_index(graph: Graph, timeline: Timeline) -> NodeIndex:
    names = tuple(graph.order)
    about = []
    for name in names:
        node = graph.nodes[name]
        about.append(node.op if node.is_leaf else f"{node.op}: {graph.formula(name)}")
    return NodeIndex(
        names,
        tuple(n.lower() for n in names),
        tuple(timeline.forward_index.get(n, 0) for n in names),
        tuple(about),
    )


class NodeList(ScrollView, can_focus=False):
    """The matching rows, one line each: step, name and what the node is; one highlighted."""

    class Chosen(Message):
        """A row was clicked."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, index: NodeIndex, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.rows: list[int] = []  # indexes into `index`
        self.cursor = 0

    def show(self, rows: list[int]) -> None:
        self.rows = rows
        self.cursor = 0
        self.virtual_size = Size(0, len(rows))
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    @property
    def highlighted(self) -> str | None:
        return self.index.names[self.rows[self.cursor]] if self.rows else None

    def move(self, delta: int) -> None:
        if not self.rows:
            return
        self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))
        self.scroll_to_region(Region(0, self.cursor, 1, 1), animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = y + self.scroll_offset.y
        if row >= len(self.rows):
            return Strip.blank(width, PLAIN)
        k = self.rows[row]
        index = self.index
        step = f"{index.steps[k]:>6}  " if index.steps[k] else "     ·  "
        name = visible(index.names[k])
        about = "  " + visible(index.about[k])
        highlight = row == self.cursor
        segments = [
            Segment(step, CURSOR if highlight else MUTED),
            Segment(name, CURSOR if highlight else PLAIN),
            Segment(about, CURSOR if highlight else MUTED),
        ]
        return Strip(segments).crop_extend(0, width, CURSOR if highlight else PLAIN)

    def on_click(self, event: events.Click) -> None:
        row = event.y + self.scroll_offset.y
        if row < len(self.rows):
            self.cursor = row
            self.post_message(self.Chosen(row))
