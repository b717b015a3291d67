"""One self-contained HTML page that steps through every step of a trace.

The page holds the diagram's pieces once, each in its variants (svg.py), and
the steps as a reel: every `every` steps a keyframe, a string choosing one
variant per piece, and for each step the pieces whose variant it changes
(the scene's delta), with the step's explanation. player.js seeks to a step
from the keyframe before it and swaps in only the pieces that differ, so the
page grows with pieces + steps, not their product. Nothing is fetched: the
script, the styles and the data are inline, and the fonts are the reader's own.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import write_atomic
from ..overlay import Mode
from ..scene import Scene
from .dot import escape
from .legend import legend_picture
from .svg import Changes, Pictures, Piece, output_path, stops

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
    parts, steps = fragments(pics.pieces), reel(pics, scenes)
    data = {
        # no namespace attribute: the HTML parser puts <svg> in the SVG namespace itself
        "open": f'<svg width="{width:.0f}pt" height="{height:.0f}pt" '
        f'viewBox="0 0 {width:.2f} {height:.2f}">',
        "head": pics.head,
        "shared": parts.shared,
        "pieces": parts.pieces,
        "every": steps.every,
        "keyframes": steps.keyframes,
        "deltas": steps.deltas,
        "steps": [
            {
                "text": scene.caption,
                "phase": str(scene.step.phase),
                "node": scene.step.node or "",  # the player keeps this node in view
                # a conv or pool window outlined on the pictures, where the step has one
                **({"marks": marks} if (marks := pics.marks(scene)) else {}),
            }
            for scene in scenes
        ],
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


# where a line of a variant is cut: before the attributes in which the variants of one piece
# differ (its class, its pen) or that all of them share (its outline)
_MARKS = (' class="', ' d="', ' points="')


@dataclass(frozen=True)
class Fragments:
    """The pieces' variants with each repeated string stored once.

    The variants of a piece differ in a few attributes and texts and share the rest
    (its outline, its labels); pieces share their pens. Each variant is cut into
    fragments: those of more than one piece go into `shared` (the most common first),
    the others stay with their piece. `pieces[k]` is `[own fragments, variants]`, a
    variant being a list of fragment numbers: `n >= 0` is the piece's own `n`, `n < 0`
    the shared `-1 - n`.
    """

    shared: list[str]
    pieces: list[tuple[list[str], list[list[int]]]]


def fragments(pieces: Sequence[Piece]) -> Fragments:
    """The variants of every piece, cut and numbered (see Fragments)."""
    cut = [[_cut(v) for v in p.variants] for p in pieces]
    counts = Counter(f for variants in cut for f in {f for v in variants for f in v})
    shared = [f for f, n in counts.most_common() if n > 1]
    number = {f: -1 - k for k, f in enumerate(shared)}
    packed: list[tuple[list[str], list[list[int]]]] = []
    for variants in cut:
        own: dict[str, int] = {}
        for v in variants:
            for f in v:
                if f not in number and f not in own:
                    own[f] = len(own)
        packed.append(
            (list(own), [[number[f] if f in number else own[f] for f in v] for v in variants])
        )
    return Fragments(shared, packed)


def _cut(variant: str) -> list[str]:
    """A variant in fragments: its lines, each cut before the first of the marks it holds."""
    out: list[str] = []
    for line in variant.splitlines(keepends=True):
        for mark in _MARKS:
            at = line.find(mark)
            if at > 0:
                out += (line[:at], line[at:])
                break
        else:
            out.append(line)
    return out


@dataclass(frozen=True)
class Reel:
    """The variant of every piece at every step, as the page stores it.

    `keyframes[j]` is the code string of step `j * every` (a digit per piece, its
    variant: one per Look or Flow, five at most); `deltas[i]` lists the pieces step i
    changes from step i - 1, as flat pairs `piece, variant` (empty for step 0).
    """

    every: int
    keyframes: list[str]
    deltas: list[list[int]]


def reel(pics: Pictures, scenes: Sequence[Scene]) -> Reel:
    """The scenes' codes as keyframes and deltas.

    The interval is chosen so that the keyframes hold about as many codes as the
    deltas: `every` = pieces / changes per step. Then the keyframes add no more than
    the deltas to the page, whatever its size, and a seek reads one keyframe and at
    most `every` deltas, about as many codes again: twice a keyframe's work, never
    more than drawing the picture whole costs anyway.
    """
    index = {p.id: k for k, p in enumerate(pics.pieces) if p.changes is not Changes.STATIC}
    deltas: list[list[int]] = [[]]
    for before, scene in pairwise(scenes):
        delta = scene.delta(before)
        changed = sorted(
            (index[key], int(code))
            for key, code in (*delta.looks.items(), *delta.flows.items())
            if key in index
        )
        deltas.append([number for pair in changed for number in pair])
    changes = sum(len(d) for d in deltas) // 2
    every = max(1, min(len(scenes), len(pics.pieces) * len(scenes) // max(1, changes)))
    keyframes = [
        "".join(str(c) for c in pics.codes(scenes[i])) for i in range(0, len(scenes), every)
    ]
    return Reel(every, keyframes, deltas)


def prose(text: str) -> str:
    """A description as HTML, read as Markdown reads it: a line break is a space, a blank line
    ends a paragraph (a <br> here, inside the page's one <p>), `code` spans are <code>; the
    rest escaped."""
    blocks = re.split(r"\n(?:[ \t]*\n)+", text.replace("\r", ""))
    paragraphs = (" ".join(line.strip() for line in b.split("\n")).strip() for b in blocks)
    return "<br>".join(_spans(p) for p in paragraphs if p)


def _spans(text: str) -> str:
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
