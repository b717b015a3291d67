"""Benchmark: every step's diagram against one step's, and the layout of a 1,000-node graph.

1. A layered scalar graph of about 150 nodes (some 300 steps): exporting the
   SVG of every step, against exporting the SVG of one step, each from a fresh
   graph (nothing cached), side by side in one run. Graphviz lays the graph out
   once either way; every step is then a join of prepared pieces. Best of 5.
   Target: every step costs at most 3× one step.
2. The Graphviz layout of a layered graph of about 1,000 nodes (reported).

Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from shapes import layered_yaml
from timing import best_of

import graphstep
from graphstep.render import export_all_steps, export_svg
from graphstep.render.layout import layout

TARGET = 3.0
REPEATS = 5  # each from a freshly loaded graph: nothing is cached between runs


def main() -> None:
    text = layered_yaml(width=10, layers=13)
    probe = graphstep.load(text)
    steps = len(probe.session().timeline)
    print(f"graph: {len(probe.nodes)} nodes, {steps} pictures (the start and {steps - 1} steps)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # warm up imports and the OS's cache of the dot binary on another graph
        export_svg(
            graphstep.load("name: w\ninputs: {x: 1}\ngraph: {f: x + x}\noutput: f\n"), out / "w.svg"
        )
        one = best_of(
            lambda: export_svg(graphstep.load(text), out / "one.svg", step=steps // 2), REPEATS
        )
        every = best_of(lambda: export_all_steps(graphstep.load(text), out / "all"), REPEATS)
        files = len(list((out / "all").iterdir()))
    ratio = every / one
    verdict = "ok" if ratio <= TARGET else "TOO SLOW"
    print(f"one step:   {one * 1000:8.1f} ms  (load, trace, layout, one SVG)")
    print(f"every step: {every * 1000:8.1f} ms  ({files} SVGs; same load, trace and layout)")
    print(f"ratio:      {ratio:8.2f}    (target ≤ {TARGET:g}: {verdict})")

    big = graphstep.load(layered_yaml(width=25, layers=39))
    wall = best_of(lambda: layout(big))
    result = layout(big)
    print(
        f"layout of a {len(big.nodes):,}-node graph ({len(result.edges):,} edges): "
        f"dot {result.seconds:.2f} s, {wall:.2f} s with building and parsing"
    )


if __name__ == "__main__":
    main()
