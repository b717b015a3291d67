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

from .errors import GraphstepError, did_you_mean
from .graph import Graph, Node, build
from .importers import is_onnx, model_options
from .session import Session
from .spec import expression_spec, read_spec
from .trace import Anomaly, Trace

__all__ = [
    "Anomaly",
    "Graph",
    "GraphstepError",
    "Node",
    "Session",
    "Trace",
    "from_torch",
    "load",
    "parse",
    "show",
    "to_svg",
]
__version__ = "0.1.0"


def load(
    source: str | Path, *, loss: str | None = None, dims: Mapping[str, int] | None = None
) -> Graph:
    """A graph from a file path, graph text (YAML) or an expression, told apart as on the
    command line (`graphstep.spec.source_kind`): a mistyped path is a missing file.

    An ONNX model (recognised by its content) takes `loss`, an expression over its outputs
    (`output` is the first), and `dims`, the sizes of its dynamic dimensions (default 1).
    """
    if not isinstance(source, str | Path):
        raise GraphstepError(f"load takes a path or YAML text, not {type(source).__name__}")
    if (isinstance(source, Path) or "\n" not in source) and is_onnx(str(source)):
        from .importers.onnx import load_onnx

        return load_onnx(str(source), model_options(loss, dims)).graph()
    if loss is not None or dims:
        raise GraphstepError("loss and dims are for ONNX models; a graph file names its output")
    return build(read_spec(str(source)))


def parse(expression: str, **values: Any) -> Graph:
    """A graph from one expression; its free names are inputs, valued from `values` (else 0)."""
    return build(expression_spec(expression, values))


def show(subject: Any, **options: Any) -> Any:
    """The interactive player of a graph or a session, for Jupyter: buttons, ←/→, a slider,
    all inside the output cell and nothing served. Options: expanded, rankdir.

    Jupyter displays the returned object (`_repr_html_`) when it ends a cell;
    elsewhere, `IPython.display.display(graphstep.show(g))`.
    """
    from .render.notebook import Player, player_cell

    return Player(player_cell(subject, **options))


TO_SVG_OPTIONS = ("step", "inner", "expanded", "rankdir", "caption", "overlay")


def to_svg(subject: Graph | Session, **options: Any) -> str:
    """The diagram of a session at its cursor (or of a graph at its last step), as SVG text.

    Options as `graphstep.render.to_svg`: step, inner, expanded, rankdir, caption, overlay.
    """
    if not isinstance(subject, Graph | Session):
        raise GraphstepError(f"to_svg draws a Graph or a Session, not {type(subject).__name__}")
    from .render import to_svg as render

    for name in options:
        if name not in TO_SVG_OPTIONS:
            raise GraphstepError(
                f"to_svg has no option '{name}'",
                hint=did_you_mean(name, TO_SVG_OPTIONS)
                or f"its options: {', '.join(TO_SVG_OPTIONS)}",
            )
    return render(subject, **options)


def from_torch(model: Any, example_inputs: Any, loss: Any = None) -> Graph:
    """A PyTorch module as a graph, through torch.export, run in float64 on a copy.

    `loss` is a function of the model's output (`lambda out: F.cross_entropy(out, y)`), an
    expression over its outputs' names (`'sum(output)'`), or None for a default. The module
    hierarchy becomes the graph's groups. Needs `pip install 'graphstep[torch]'`.
    """
    from .importers.torch import from_torch as convert

    return convert(model, example_inputs, loss)


def _trace(self: Graph, values: Mapping[str, Any] | None = None) -> Trace:
    """Forward and backward once; `values` overrides leaves (inputs or params)."""
    if values is not None and not isinstance(values, Mapping):
        raise GraphstepError(
            f"values are a mapping of leaf names to values, not {type(values).__name__}",
            hint="e.g. graph.trace({'x': 3.0})",
        )
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


def _repr_html_(session: Session) -> str | None:
    """Jupyter shows a session as the interactive player (else falls back to the SVG)."""
    from .render.notebook import player_cell

    try:
        return player_cell(session)
    except GraphstepError:  # too big to trace, or no Graphviz
        return None


Graph.trace = _trace  # type: ignore[method-assign]
Graph.session = _session  # type: ignore[method-assign]
Graph._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
Session._repr_svg_ = _repr_svg_  # type: ignore[attr-defined]
Session._repr_html_ = _repr_html_  # type: ignore[attr-defined]
