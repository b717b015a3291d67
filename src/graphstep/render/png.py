"""PNG: the step's SVG, rasterized by librsvg's rsvg-convert, so the PNG is the SVG.

`make demo` and `make test` install rsvg-convert with Graphviz (Debian's
librsvg2-bin). A big diagram is scaled down so that its longer side stays at
most MAX_SIDE pixels: librsvg refuses images past 32,767 pixels a side, and a
picture that large is no use on a slide anyway.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from ..errors import GraphstepError

ZOOM = 2.0  # pixels per SVG pixel: sharp on a slide and on a high-density screen
MAX_SIDE = 8192  # pixels: the longer side of a big diagram is scaled down to this
TIMEOUT = 120.0  # seconds
INSTALL_HINT = (
    "PNG needs librsvg's rsvg-convert: apt-get install librsvg2-bin (brew install librsvg)"
)
_POINTS = {"pt": 4 / 3, "px": 1.0, "": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 9.6 / 2.54}
_SIZE = re.compile(r'\b(width|height)="([\d.]+)(pt|px|in|cm|mm|)"')


class RsvgMissing(GraphstepError):
    """rsvg-convert is not installed (or not on PATH)."""

    def __init__(self) -> None:
        super().__init__("librsvg's 'rsvg-convert' program was not found", hint=INSTALL_HINT)


def zoom(svg: str) -> float:
    """ZOOM, or less for a diagram whose longer side would pass MAX_SIDE pixels."""
    root = svg[svg.find("<svg") : svg.find(">", svg.find("<svg")) + 1]
    sides = [float(n) * _POINTS[unit] for _, n, unit in _SIZE.findall(root)]
    longest = max(sides, default=0.0)
    if longest * ZOOM <= MAX_SIDE:
        return ZOOM
    return MAX_SIDE / longest


def svg_to_png(svg: str) -> bytes:
    """The SVG as PNG on white, at ZOOM or scaled to fit MAX_SIDE."""
    exe = shutil.which("rsvg-convert")
    if exe is None:
        raise RsvgMissing()
    try:
        done = subprocess.run(
            [exe, "--zoom", f"{zoom(svg):.4f}", "--background-color", "white", "--format", "png"],
            input=svg.encode(),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphstepError(
            f"rsvg-convert took more than {TIMEOUT:.0f} s", hint="export SVG instead"
        ) from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode(errors="replace").split())
        raise GraphstepError(f"rsvg-convert failed: {message}", hint="export SVG instead")
    return done.stdout
