"""The overlay's legend: under the graph while the doctor's overlay colours it (key O)."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ..overlay import NEUTRAL, Overlay


class OverlayLegend(Static):
    """The mode, the colour bar between the numbers at its ends, and what the colours and the
    neutral grey mean; hidden while the overlay is off."""

    def show(self, overlay: Overlay | None) -> None:
        self.display = overlay is not None
        if overlay is None:
            self.update("")
            return
        legend = overlay.legend
        text = Text.assemble(
            (f"overlay {overlay.mode}", "bold"),
            f"  {legend.low} ",
            *((" ", Style(bgcolor=c)) for c in legend.bar),
            f" {legend.high}  {legend.title}  ",
            ("(O: next)", "dim"),
            f"\n{legend.meaning}\n",
            ("  ", Style(bgcolor=NEUTRAL)),
            f" {legend.neutral}",
        )
        self.update(text)
