"""graphstep: a step-through debugger and visualizer for computational graphs.

This package's top gives the core its conveniences that reach up the layers:
`Graph.trace()`, `Graph.session()`, and the diagrams Jupyter shows for a
`Graph` and a `Session`. Defined here, above every layer, they keep each
module's imports running one way (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import GraphstepError
from .graph import Graph, Node, build
from .session import Session
from .spec import expression_spec, load_spec, read_source
from .trace import Anomaly, Trace

__all__ = [
    "Anomaly",
    "Graph",
    "GraphstepError",
    "Node",
    "Session",
    "Trace",
    "load",
    "parse",
    "to_svg",
]
__version__ = "0.1.0"


def load(source: str | Path) -> Graph:
    """A graph from a file path, or from YAML text (anything with a newline or a colon)."""
    if isinstance(source, str) and ("\n" in source or (":" in source and not _is_file(source))):
        return build(load_spec(source, "<string>", name="graph"))
    path = str(source)
    return build(load_spec(read_source(path), path))


def parse(expression: str, **values: Any) -> Graph:
    """A graph from one expression; its free names are inputs, valued from `values` (else 0)."""
    return build(expression_spec(expression, values))


def to_svg(subject: Graph | Session, **options: Any) -> str:
    """The diagram of a session at its cursor (or of a graph at its last step), as SVG text.

    Options as `graphstep.render.to_svg`: step, inner, expanded, rankdir, caption.
    """
    if not isinstance(subject, Graph | Session):
        raise GraphstepError(f"to_svg draws a Graph or a Session, not {type(subject).__name__}")
    from .render import to_svg as render

    return render(subject, **options)


def _trace(self: Graph, values: Mapping[str, Any] | None = None) -> Trace:
    """Forward and backward once; `values` overrides leaves (inputs or params)."""
    return Trace.compute(self, values)


def _session(self: Graph) -> Session:
    """A cursor over the timeline of this graph's trace."""
    return Session(self)


def _repr_svg_(subject: Graph | Session) -> str | None:
    """Jupyter shows a graph as its diagram at the last step, a session at its cursor (a graph
    too big to trace, or no Graphviz: Jupyter falls back to the repr)."""
    try:
        return to_svg(subject)
    except GraphstepError:
        return None


Graph.trace = _trace  # type: ignore[method-assign]
Graph.session = _session  # type: ignore[method-assign]
Graph._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
Session._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:
        return False
