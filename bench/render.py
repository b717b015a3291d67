"""Benchmark: every step's diagram against one step's, and the layout of a 1,000-node graph.

1. A layered scalar graph of about 150 nodes (some 300 steps): exporting the
   SVG of every step, against exporting the SVG of one step, each from a fresh
   graph (nothing cached), side by side in one run. Graphviz lays the graph out
   once either way; every step is then a join of prepared pieces. Best of 5.
   Target: every step costs at most 3× one step.
2. The Graphviz layout of a layered graph of about 1,000 nodes (reported).
3. Step → scene: a move of the session and the scene at its cursor, with the
   delta from the scene before, on graphs of about 50 and about 1,000 nodes,
   side by side in one run (GC off, best of 5). A scene is made in constant
   time and a delta looks only at the steps moved over, so the cost per step
   must not grow with the graph. Target: 1,000 nodes / 50 nodes ≤ 1.5.

Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable
from pathlib import Path

from shapes import layered_yaml
from timing import best_of

import graphstep
from graphstep.drawing import diagram
from graphstep.render import export_all_steps, export_svg
from graphstep.render.layout import layout
from graphstep.scene import scene_of

TARGET = 3.0
SCENE_TARGET = 1.5
SCENE_STEPS = 100  # the same walk on both graphs: forward from the start
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
    scenes()


def walk(text: str) -> tuple[int, Callable[[], None]]:
    """Nodes, and a walk of SCENE_STEPS steps: `step()`, the scene at the cursor, its delta."""
    graph = graphstep.load(text)
    session = graph.session()
    d = diagram(graph, session.trace)

    def run() -> None:
        session.goto(0)
        scene = scene_of(session, d)
        for _ in range(SCENE_STEPS):
            session.step()
            after = scene_of(session, d)
            after.delta(scene)
            scene = after

    run()  # warm up: the timeline builds its step texts once
    return len(graph.nodes), run


def scenes() -> None:
    """The two walks timed in turns, so the machine's load falls on both alike."""
    (small_nodes, small_walk), (big_nodes, big_walk) = (
        walk(layered_yaml(width=5, layers=9)),
        walk(layered_yaml(width=25, layers=39)),
    )
    small = big = float("inf")
    gc.disable()
    try:
        for _ in range(10 * REPEATS):
            small = min(small, best_of(small_walk) / SCENE_STEPS)
            big = min(big, best_of(big_walk) / SCENE_STEPS)
    finally:
        gc.enable()
    ratio = big / small
    verdict = "ok" if ratio <= SCENE_TARGET else "TOO SLOW"
    print(f"step → scene, {small_nodes:>5,} nodes: {small * 1e6:7.1f} µs per step")
    print(f"step → scene, {big_nodes:>5,} nodes: {big * 1e6:7.1f} µs per step")
    print(f"ratio:      {ratio:8.2f}    (target ≤ {SCENE_TARGET:g}: {verdict})")


if __name__ == "__main__":
    main()
