"""The bottom line: the keys of what has focus, as Textual's Footer shows them, in one widget.

Textual's Footer is a container of one widget per key (ten here). Every
frame whose repainted rows reach the bottom line renders all of them, and
every message round through the screen visits each: at 10,000 nodes a
frame cost a tenth more for a line that changes only when the focus does.
This bar is one widget: the same keys, descriptions and colours, a key
under the mouse lit up with its tooltip shown, a click on a key presses
it. It repaints when the screen's bindings change, and never on a step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget


@dataclass(frozen=True)
class Key:
    """One key shown: where it sits on the line, and what pressing it does."""

    start: int
    end: int  # one past its last cell
    binding: Binding
    display: str
    enabled: bool
    tooltip: str  # the binding's own, or none: the key's description is on the bar already


class KeyBar(Widget, can_focus=False):
    """The focused widget's keys and the app's, one line, docked at the bottom."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-bar--key",
        "key-bar--description",
        "key-bar--hover",
    }
    DEFAULT_CSS = """
    KeyBar {
        split: bottom;
        height: 1;
        text-wrap: nowrap;
        text-overflow: clip;
        pointer: pointer;
        color: $footer-foreground;
        background: $footer-background;
        .key-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-bar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-bar--hover {
            background: $block-hover-background;
        }
    }
    """

    hover: var[int] = var(-1)  # the index of the key under the mouse, -1 for none
    _keys: list[Key] | None = None  # worked out on first use after the bindings change

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self._keys = None
        self.hover = -1
        self.refresh()

    @property
    def keys(self) -> list[Key]:
        """The keys shown, left to right: one per action (its first key), as the Footer."""
        if self._keys is None:
            by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values():
                if binding.show:
                    by_action[binding.action].append((binding, enabled, tooltip))
            keys, x = [], 0
            for (binding, enabled, tooltip), *_ in by_action.values():
                display = self.app.get_key_display(binding)
                end = x + cell_len(display) + 1 + cell_len(binding.description)
                keys.append(Key(x, end, binding, display, enabled, tooltip))
                x = end + 1
            self._keys = keys
        return self._keys

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")
        hover_style = Style(bgcolor=self.get_component_rich_style("key-bar--hover").bgcolor)
        text = Text(no_wrap=True, overflow="crop", end="")
        for index, key in enumerate(self.keys):
            if index:
                text.append(" ")
            start = len(text)
            text.append(key.display, key_style)
            text.append(f" {key.binding.description}", description_style)
            if not key.enabled:
                text.stylize("dim", start)
            if index == self.hover:
                text.stylize(hover_style, start)
        return text

    def key_at(self, x: int) -> int:
        """The index of the key at column `x`, or -1 between and after them."""
        return next((i for i, key in enumerate(self.keys) if key.start <= x < key.end), -1)

    def watch_hover(self, hover: int) -> None:
        keys = self.keys
        self.tooltip = (keys[hover].tooltip or None) if 0 <= hover < len(keys) else None
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self.hover = self.key_at(event.x)

    def on_leave(self) -> None:
        self.hover = -1

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self.key_at(event.x)
        if index < 0:
            return
        key = self.keys[index]
        if key.enabled:
            self.app.simulate_key(key.binding.key)
        else:
            self.app.bell()
