"""A graph's shapes, element counts and parameters, from shapes alone.

Nothing here allocates a tensor, so it describes any graph, also one far too
big to compute (graphs/fc_vs_conv.yaml: 1.6 billion parameters). Every view
that cannot compute a graph shows this summary instead, with `not_computed`
saying why.
"""

from __future__ import annotations

import math

from . import format as fmt
from .errors import GraphstepError
from .graph import Graph


def count(n: int) -> str:
    """`1,600,000,000 (1.6 billion)`: digits grouped, and big counts in words."""
    text = f"{n:,}"
    for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million")):
        if n >= 1000 * size:
            return f"{text} ({n // size:,} {word})"  # whole numbers: a float would overflow
        if n >= size:
            return f"{text} ({n / size:.3g} {word})"
    return text


def filters_note(graph: Graph, node_name: str) -> str:
    """`6 filters × 76` for a conv2d or local2d node whose weights are params."""
    node = graph.nodes[node_name]
    if node.op not in ("conv2d", "local2d") or graph.nodes[node.inputs[1]].op != "param":
        return ""
    w = graph.nodes[node.inputs[1]].shape
    filters = math.prod(w[:-3])
    per = math.prod(w[-3:])
    if len(node.inputs) > 2 and graph.nodes[node.inputs[2]].op == "param":
        per += 1
    return f"{filters:,} filter{'s' if filters != 1 else ''} × {per:,}"


def summary_rows(graph: Graph) -> list[list[str]]:
    rows = [["node", "op", "shape", "numbers", "parameters"]]
    for node in graph:
        if node.op == "param":
            params = count(node.size)
        else:
            used = [i for i in dict.fromkeys(node.inputs) if graph.nodes[i].op == "param"]
            params = ""
            if used:
                total = sum(graph.nodes[i].size for i in used)
                note = filters_note(graph, node.name)
                params = f"{count(total)} ({', '.join(used)}{': ' + note if note else ''})"
        rows.append([node.name, node.op, fmt.shape(node.shape), count(node.size), params])
    return rows


def summary_lines(graph: Graph) -> list[str]:
    """What `graphstep summary` prints: the table, the parameters, the size of a trace."""
    lines = [f"{graph.name}: {len(graph)} nodes, output {graph.output}"]
    lines += fmt.table(summary_rows(graph))
    parts = ", ".join(f"{p} {graph.nodes[p].size:,}" for p in graph.params)
    lines.append("")
    lines.append(f"parameters: {count(graph.parameter_count())}" + (f" ({parts})" if parts else ""))
    numbers = 2 * sum(node.size for node in graph)
    size = fmt.data_size(8 * numbers)
    lines.append(f"a trace holds {count(numbers)} numbers (values and gradients, {size})")
    return lines


def not_computed(graph: Graph) -> str | None:
    """Why the graph is too big to compute (the line shown under its summary), or None."""
    try:
        graph.check_size_once()
    except GraphstepError as e:
        return f"not computed: {e.message}, so only the counts from shapes alone are shown"
    return None
