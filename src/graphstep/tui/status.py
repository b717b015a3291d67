"""The status bar: the graph's name, the phase, step k / N, anomalies, and the loss history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from ..format import number


class StatusLine(Widget):
    """One line of styled text, drawn from segments made once per step (Line API): a step
    repaints it without the text-to-content conversion a Static does on every update."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._strip = Strip([])

    def show(self, text: Text) -> None:
        self._strip = Strip(text.render(self.app.console))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, base = self.size.width, self.rich_style  # the bar's colours under the text's
        strip = self._strip if y == 0 else Strip([])
        blank = Style(bgcolor=base.bgcolor)
        return strip.crop(0, width).apply_style(base).extend_cell_length(width, blank)


class StatusBar(Horizontal):
    """One line; the sparkline appears once a gradient-descent step has been taken."""

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-text")
        yield Sparkline([], id="losses")
        yield Static(id="loss")

    def show(
        self,
        graph: str,
        phase: str,
        position: int,
        last: int,
        window: str,
        anomaly: str | None,
        selected: str | None,
    ) -> None:
        text = Text.assemble(
            (f" {graph} ", "bold"),
            "│ ",
            (f"{phase:<8}", {"forward": "green", "backward": "red"}.get(phase, "cyan")),
            f" step {position}/{last}",
            (f" {window}" if window else "", "yellow"),
        )
        if selected:
            text.append(f" │ selected {selected}", "bold")
        if anomaly:
            text.append(f" │ ⚠ {anomaly}", "bold bright_red")
        self.query_one(StatusLine).show(text)

    def show_losses(self, losses: Sequence[float]) -> None:
        sparkline = self.query_one(Sparkline)
        sparkline.data = list(losses)
        sparkline.display = len(losses) > 1
        sparkline.tooltip = f"loss {number(losses[-1])}" if losses else None
        label = self.query_one("#loss", Static)
        label.update(f" loss {number(losses[-1])} " if len(losses) > 1 else "")
        label.display = len(losses) > 1
