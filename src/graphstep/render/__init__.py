"""Pictures of a graph at a step: DOT (dot.py), one cached layout (layout.py), SVG per step
(svg.py) and a self-contained HTML player (html.py).

`layout()` itself is imported from `graphstep.render.layout`, so that name stays the module.
"""

from .html import export_html
from .layout import Box, Cluster, EdgeRoute, GraphvizMissing, Layout
from .svg import export_all_steps, export_svg, stops, to_svg

__all__ = [
    "Box",
    "Cluster",
    "EdgeRoute",
    "GraphvizMissing",
    "Layout",
    "export_all_steps",
    "export_html",
    "export_svg",
    "stops",
    "to_svg",
]
