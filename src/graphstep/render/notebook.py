"""The HTML player inside a Jupyter output cell: `Session._repr_html_` and `graphstep.show`.

The player page (html.py) goes into the cell whole, as the `srcdoc` of a
sandboxed iframe: its ids, styles, keys and script stay out of the notebook's
page and the notebook's stay out of it; nothing is served or fetched, so a
saved notebook still steps when it is opened again.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .dot import escape
from .html import page
from .svg import stops

if TYPE_CHECKING:
    from ..graph import Graph
    from ..session import Session

HEIGHT = 720  # pixels: the diagram gets what the player's text leaves of it


def player_cell(subject: Session | Graph, expanded: Iterable[str] = (), rankdir: str = "TB") -> str:
    """The self-contained player as HTML for an output cell: an iframe holding the page."""
    pics, scenes, _ = stops(subject, expanded, rankdir)
    return (
        f'<iframe class="graphstep-player" title="graphstep: {escape(pics.graph.name)}" '
        f'sandbox="allow-scripts" srcdoc="{html.escape(page(pics, scenes), quote=True)}" '
        f'style="width: 100%; height: {HEIGHT}px; border: 1px solid #ddd; border-radius: 4px">'
        "</iframe>"
    )


class Player:
    """What `graphstep.show` returns: the player, shown by Jupyter through `_repr_html_`."""

    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html
