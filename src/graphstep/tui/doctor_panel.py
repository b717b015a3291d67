"""The doctor panel: the gradient doctor's findings, worst first; Enter jumps to one.

It answers with the chosen Finding (None when closed with Escape); the app
moves the session to the finding's step and selects its node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList

from ..doctor import Finding, Severity

SHOWN = 500  # findings listed; the command line's --json has them all
STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def finding_text(f: Finding) -> Text:
    """`error nonfinite y · step 2` on one line, the reason below; names are never markup."""
    step = "no step" if f.step is None else f"step {f.step}"
    text = Text()
    text.append(f"{f.severity:<8}", style=STYLES[f.severity])
    text.append(f"{f.kind} ", style="bold")
    text.append(f.node)
    text.append(f" · {step}\n", style="dim")
    text.append(f"  {f.reason}")
    return text


class DoctorScreen(ModalScreen[Finding | None]):
    """The findings of `graphstep doctor` for the session's current values."""

    CSS_PATH = "doctor_panel.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,d", "dismiss", "close")]

    def __init__(self, findings: Sequence[Finding]) -> None:
        super().__init__()
        self._findings = list(findings[:SHOWN])
        self._more = len(findings) - len(self._findings)

    def compose(self) -> ComposeResult:
        count = len(self._findings) + self._more
        with Vertical(id="dialog"):
            yield Label(
                f"Gradient doctor — {count} finding{'s' if count != 1 else ''}", classes="title"
            )
            if self._findings:
                yield OptionList(*(finding_text(f) for f in self._findings))
            else:
                yield Label("every gradient is finite, checked and flows")
            more = f" · {self._more} more: graphstep doctor FILE --json" if self._more else ""
            yield Label(f"Enter jumps to the node and its step · Esc closes{more}", classes="hint")

    def on_mount(self) -> None:
        if self._findings:
            self.query_one(OptionList).highlighted = 0

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._findings[event.option_index])
