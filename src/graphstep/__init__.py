"""graphstep: a step-through debugger and visualizer for computational graphs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import GraphstepError
from .graph import Graph, Node, build
from .importers import ModelOptions, is_onnx
from .spec import expression_spec, load_spec, read_source
from .trace import Anomaly, Trace

__all__ = [
    "Anomaly",
    "Graph",
    "GraphstepError",
    "Node",
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
    """A graph from a file path, or from YAML text (anything with a newline or a colon).

    An ONNX model (recognised by its content) takes `loss`, an expression over its outputs
    (`output` is the first), and `dims`, the sizes of its dynamic dimensions (default 1).
    """
    if (isinstance(source, Path) or "\n" not in source) and is_onnx(str(source)):
        from .importers.onnx import load_onnx

        options = ModelOptions(loss, tuple((dims or {}).items()))
        return build(load_onnx(str(source), options))
    if loss is not None or dims:
        raise GraphstepError("loss and dims are for ONNX models; a graph file names its output")
    if isinstance(source, str) and ("\n" in source or (":" in source and not _is_file(source))):
        return build(load_spec(source, "<string>", name="graph"))
    path = str(source)
    return build(load_spec(read_source(path), path))


def parse(expression: str, **values: Any) -> Graph:
    """A graph from one expression; its free names are inputs, valued from `values` (else 0)."""
    return build(expression_spec(expression, values))


def to_svg(subject: Any, **options: Any) -> str:
    """The diagram of a session at its cursor (or of a graph at its last step), as SVG text.

    Options as `graphstep.render.to_svg`: step, expanded, rankdir, caption.
    """
    from .render import to_svg as render

    return render(subject, **options)


def from_torch(model: Any, example_inputs: Any, loss: Any = None) -> Graph:
    """A PyTorch module as a graph, through torch.export, run in float64 on a copy.

    `loss` is a function of the model's output (`lambda out: F.cross_entropy(out, y)`), an
    expression over its outputs' names (`'sum(output)'`), or None for a default. The module
    hierarchy becomes the graph's groups. Needs `pip install 'graphstep[torch]'`.
    """
    from .importers.torch import from_torch as convert

    return convert(model, example_inputs, loss)


def show(graph: Graph) -> None:
    """Step through `graph` in the terminal UI."""
    from .tui import run_tui

    run_tui(graph)


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:
        return False
