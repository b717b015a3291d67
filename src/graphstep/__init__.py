"""graphstep: a step-through debugger and visualizer for computational graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import GraphstepError, did_you_mean
from .graph import Graph, Node, build
from .spec import expression_spec, load_spec, read_source
from .trace import Anomaly, Trace

__all__ = ["Anomaly", "Graph", "GraphstepError", "Node", "Trace", "load", "parse", "to_svg"]
__version__ = "0.1.0"


def load(source: str | Path) -> Graph:
    """A graph from a file path, or from YAML text (anything with a newline or a colon)."""
    if not isinstance(source, str | Path):
        raise GraphstepError(f"load takes a path or YAML text, not {type(source).__name__}")
    if isinstance(source, str) and ("\n" in source or (":" in source and not _is_file(source))):
        return build(load_spec(source, "<string>", name="graph"))
    path = str(source)
    return build(load_spec(read_source(path), path))


def parse(expression: str, **values: Any) -> Graph:
    """A graph from one expression; its free names are inputs, valued from `values` (else 0)."""
    return build(expression_spec(expression, values))


TO_SVG_OPTIONS = ("step", "expanded", "rankdir", "caption")


def to_svg(subject: Any, **options: Any) -> str:
    """The diagram of a session at its cursor (or of a graph at its last step), as SVG text.

    Options as `graphstep.render.to_svg`: step, expanded, rankdir, caption.
    """
    from .render import to_svg as render

    for name in options:
        if name not in TO_SVG_OPTIONS:
            raise GraphstepError(
                f"to_svg has no option '{name}'",
                hint=did_you_mean(name, TO_SVG_OPTIONS)
                or f"its options: {', '.join(TO_SVG_OPTIONS)}",
            )
    return render(subject, **options)


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False
