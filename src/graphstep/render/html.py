"""One self-contained HTML page that steps through every step of a trace.

The page holds the diagram's pieces once, each in its variants (svg.py), and
for every step a string choosing one variant per piece, with the step's
explanation; player.js joins them. Nothing is fetched: the script, the styles
and the data are inline, and the fonts are the reader's own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from ..overlay import Mode
from ..scene import Scene
from .dot import escape
from .legend import legend_picture
from .svg import Pictures, output_path, stops, write_atomic

if TYPE_CHECKING:
    from ..graph import Graph
    from ..session import Session

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="graphstep">
<title>{title} · graphstep</title>
<style>
{css}</style>
</head>
<body>
<h1>{title}</h1>
<p class="description">{description}</p>
<div class="controls">
<button id="prev" type="button" title="previous step (←)">←</button>
<input id="slider" type="range" min="0" max="0" value="0" aria-label="step">
<button id="next" type="button" title="next step (→)">→</button>
<span id="counter"></span>
<span class="zoom">
<button id="zoom-out" type="button" title="zoom out (−; or the wheel over the diagram)">−</button>
<button id="fit" type="button" title="fit the diagram, labels kept readable (f)">fit</button>
<button id="zoom-in" type="button" title="zoom in (+; drag the diagram to pan)">+</button>
</span>
</div>
<div id="step-text" class="step-text"></div>
<div class="legend">
<span class="pending">pending</span><span class="current">current step</span>
<span class="computed">value computed</span><span class="grad">gradient known</span>
<span class="value">value (green, above)</span>
<span class="gradient">gradient (orange, below)</span>
<span class="norm">‖·‖ on an edge: a tensor's L2 norm</span>
</div>
{overlay}<div id="diagram" class="diagram"></div>
<script type="application/json" id="graphstep-data">{data}</script>
<script>
{js}</script>
</body>
</html>
"""


def page(pics: Pictures, scenes: Sequence[Scene]) -> str:
    """The player page for the scenes of one trace (every step, and inner steps if asked)."""
    width, height = pics.size
    steps = [
        {
            "codes": "".join(str(c) for c in pics.codes(scene)),
            "text": scene.caption,
            "phase": str(scene.step.phase),
            "node": scene.step.node or "",  # the player keeps this node in view
            "marks": pics.marks(scene),  # a conv or pool window outlined on the pictures
        }
        for scene in scenes
    ]
    data = {
        # no namespace attribute: the HTML parser puts <svg> in the SVG namespace itself
        "open": f'<svg width="{width:.0f}pt" height="{height:.0f}pt" '
        f'viewBox="0 0 {width:.2f} {height:.2f}">',
        "head": pics.head,
        "pieces": [list(p.variants) for p in pics.pieces],
        "steps": steps,
    }
    graph = pics.graph
    return PAGE.format(
        title=escape(graph.name),
        description=prose(graph.description.strip()),
        css=_asset("player.css"),
        js=_asset("player.js"),
        data=script_json(data),
        overlay=legend_picture(pics.overlay.legend) if pics.overlay else "",
    )


def prose(text: str) -> str:
    """A description as HTML: escaped, with Markdown's `code` spans set as <code>."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick is a character, not markup
        return escape(text)
    return "".join(
        f"<code>{escape(part)}</code>" if k % 2 else escape(part) for k, part in enumerate(parts)
    )


def script_json(value: object) -> str:
    """JSON that can sit inside a <script> element: no `</script>`, no `<!--`, no `&`."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _asset(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def export_html(
    subject: Session | Graph,
    path: str | os.PathLike[str],
    expanded: Iterable[str] = (),
    rankdir: str = "TB",
    into: bool = False,
    overlay: Mode | str | None = None,
) -> Path:
    """Write the player page: every step (with `into`, the inner steps of expanded composites
    too), ←/→ and a slider, no network; with an overlay, the nodes in its colours and its
    legend above the diagram. Whole or not at all."""
    path = output_path(path)
    pics, scenes, _ = stops(subject, expanded, rankdir, into, overlay)
    write_atomic(path, page(pics, scenes).encode())
    return path
