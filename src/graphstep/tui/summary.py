"""The terminal UI of a graph too big to compute: its summary from shapes, and why.

`graphstep graphs/fc_vs_conv.yaml` opens here, on the same counts `graphstep
summary` prints, instead of refusing: the counts are the point of such a graph.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.widgets import Static

from ..format import visible
from ..graph import Graph
from ..summary import summary_lines
from .key_bar import KeyBar


class SummaryApp(App[None]):
    """Shapes, element counts and parameters of every node; q quits."""

    CSS_PATH = "summary.tcss"
    TITLE = "graphstep"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "quit")]

    def __init__(self, graph: Graph, reason: str) -> None:
        super().__init__()
        self.graph = graph
        self.reason = reason

    def compose(self) -> ComposeResult:
        lines = summary_lines(self.graph)
        heading = Text(visible(lines[0]) + "\n", style="bold")
        heading.append(visible(self.reason), style="yellow")
        yield Static(heading, id="reason")
        with ScrollableContainer(id="summary-box"):
            yield Static(Text("\n".join(visible(line) for line in lines[1:])), id="summary")
        yield KeyBar()
