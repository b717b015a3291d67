"""An overlay's legend in SVG: its title, a colour bar between the numbers at its ends, and what
the colours and the neutral grey mean. The SVG export draws it under the caption; the HTML
player shows the same picture above its diagram."""

from __future__ import annotations

import textwrap

from ..overlay import NEUTRAL, Legend
from .dot import FONT, INK, MUTED, escape

SIZE = 10  # points, the legend's text
LINE = 14  # points between its lines
SWATCH = 12  # a colour of the bar, in points across
CHAR = 0.56  # a character's width in ems, for wrapping
MIN_CHARS = 60
LEFT = 8


def legend_svg(legend: Legend, width: float) -> tuple[str, float]:
    """The legend as SVG elements from (0, 0) down, its text wrapped to `width` points, and
    its height."""
    chars = max(MIN_CHARS, int((width - 2 * LEFT) / (SIZE * CHAR)))
    font = f'font-family="{FONT},Arial,sans-serif" font-size="{SIZE}"'

    def text(x: float, y: float, words: str, extra: str = "") -> str:
        return f'<text x="{x:.1f}" y="{y:.1f}" {font} fill="{INK}"{extra}>{escape(words)}</text>\n'

    y = LINE
    out = [text(LEFT, y, legend.title, ' font-weight="bold"')]
    y += LINE
    low_width = len(legend.low) * SIZE * 0.62 + 4
    out.append(text(LEFT, y, legend.low))
    x = LEFT + low_width
    for colour in legend.bar:
        out.append(
            f'<rect x="{x:.1f}" y="{y - SIZE + 1:.1f}" width="{SWATCH}" height="{SIZE}" '
            f'fill="{colour}" class="overlay-bar"/>\n'
        )
        x += SWATCH
    out.append(
        f'<rect x="{LEFT + low_width:.1f}" y="{y - SIZE + 1:.1f}" '
        f'width="{SWATCH * len(legend.bar)}" height="{SIZE}" fill="none" stroke="{MUTED}" '
        'stroke-width="0.5"/>\n'
    )
    out.append(text(x + 4, y, legend.high))
    for line in textwrap.wrap(legend.meaning, chars):
        y += LINE
        out.append(text(LEFT, y, line))
    y += LINE
    out.append(
        f'<rect x="{LEFT}" y="{y - SIZE + 1:.1f}" width="{SWATCH}" height="{SIZE}" '
        f'fill="{NEUTRAL}" stroke="{MUTED}" stroke-width="0.5"/>\n'
    )
    for k, line in enumerate(textwrap.wrap(legend.neutral, chars - 3)):
        if k:
            y += LINE
        out.append(text(LEFT + SWATCH + 4, y, line))
    return "".join(out), y + LINE / 2


def legend_picture(legend: Legend, width: float = 640) -> str:
    """The legend as a picture of its own, for an HTML page."""
    body, height = legend_svg(legend, width)
    return (
        f'<svg class="overlay-legend" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">\n{body}</svg>\n'
    )
