"""The modal screens: help, go to a step, find a node, set an input's value.

Each returns its answer through `dismiss` (None when cancelled with Escape);
the app decides what the answer does to the session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from .node_list import NodeIndex, NodeList


class HelpScreen(ModalScreen[None]):
    """Every key, with what it does; scrolls when the terminal is small."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close"),
        Binding("up,k", "scroll(-1)", "up", show=False),
        Binding("down,j", "scroll(1)", "down", show=False),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does", ratio=1)
        for key, text in self._keys:
            table.add_row(key, text)
        with Vertical(id="dialog"):
            yield Label("graphstep — keys", classes="title")
            with VerticalScroll():
                yield Static(table)
            yield Label("Esc closes", classes="hint")

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)


class GotoScreen(ModalScreen[int | None]):
    """A step number, 0 (the start) to N."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "cancel")]

    def __init__(self, last: int) -> None:
        super().__init__()
        self._last = last

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Go to step (0–{self._last})", classes="title")
            yield Input(placeholder=f"0–{self._last}", type="integer")
            yield Label("", classes="error")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        try:
            n = int(event.value)
        except ValueError:
            n = -1
        if not 0 <= n <= self._last:
            self.query_one(".error", Label).update(f"a step from 0 to {self._last}")
            return
        self.dismiss(n)


class FindScreen(ModalScreen[str | None]):
    """Every node, narrowed as one types; the highlighted one is shown in the graph as the
    list moves (`preview`), Enter picks it, Escape goes back to where one was."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "cancel"),
        Binding("down", "move(1)", "next", show=False),
        Binding("up", "move(-1)", "previous", show=False),
        Binding("pagedown", "move(10)", "page down", show=False),
        Binding("pageup", "move(-10)", "page up", show=False),
    ]

    def __init__(self, index: NodeIndex, preview: Callable[[str], None]) -> None:
        super().__init__()
        self._index = index
        self._preview = preview

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Find a node ({len(self._index.names):,})", classes="title")
            yield Input(placeholder="name, or part of it")
            yield NodeList(self._index)
            yield Label("", classes="hint")

    def on_mount(self) -> None:
        self._narrow("")  # every node; the graph stays as it is until one types or moves

    @on(Input.Changed)
    def narrow(self, event: Input.Changed) -> None:
        self._narrow(event.value)
        self._show()

    def _narrow(self, text: str) -> None:
        rows = self._index.matches(text)
        self.query_one(NodeList).show(rows)
        self.query_one(".hint", Label).update(
            f"{len(rows):,} of {len(self._index.names):,} · ↑ ↓ move · Enter jumps · Esc"
        )

    def _show(self) -> None:
        name = self.query_one(NodeList).highlighted
        if name is not None:
            self._preview(name)

    def action_move(self, delta: int) -> None:
        self.query_one(NodeList).move(delta)
        self._show()

    @on(Input.Submitted)
    def submit(self) -> None:
        name = self.query_one(NodeList).highlighted
        if name is not None:
            self.dismiss(name)

    @on(NodeList.Chosen)
    def chosen(self) -> None:
        self.submit()


class SetInputScreen(ModalScreen[None]):
    """`NAME = VALUE` for an input or a param; the value is read as YAML (a number or a list).

    `apply` sets it and returns an error message, or None when it took; the
    dialog stays open on an error so the user can correct the text.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "cancel")]

    def __init__(self, leaves: Sequence[str], start: str, apply: Callable[[str, str], str | None]):
        super().__init__()
        self._leaves = leaves
        self._start = start
        self._apply = apply

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Set an input's value", classes="title")
            yield Input(value=self._start, placeholder="x = 3   or   x = [[1, 2], [3, 4]]")
            yield Label("leaves: " + ", ".join(self._leaves), classes="hint")
            yield Label("", classes="error")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        name, sep, value = event.value.partition("=")
        if not sep or not name.strip() or not value.strip():
            self.query_one(".error", Label).update("write NAME = VALUE")
            return
        error = self._apply(name.strip(), value.strip())
        if error is not None:
            self.query_one(".error", Label).update(error)
            return
        self.dismiss(None)
