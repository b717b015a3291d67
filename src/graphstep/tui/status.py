"""The status bar: the graph's name, the phase, step k / N, anomalies, and the loss history."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from ..format import number


class StatusBar(Horizontal):
    """One line; the sparkline appears once a gradient-descent step has been taken."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-text")
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
        self.query_one("#status-text", Static).update(text, layout=False)

    def show_losses(self, losses: Sequence[float]) -> None:
        sparkline = self.query_one(Sparkline)
        sparkline.data = list(losses)
        sparkline.display = len(losses) > 1
        sparkline.tooltip = f"loss {number(losses[-1])}" if losses else None
        label = self.query_one("#loss", Static)
        label.update(f" loss {number(losses[-1])} " if len(losses) > 1 else "")
        label.display = len(losses) > 1
