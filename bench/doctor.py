"""Benchmark: the gradient doctor against one trace of the same graph, side by side in one run.

A layered scalar DAG of 10,000 nodes (params, products, sums, relu, tanh,
sigmoid). Targets: `diagnose` (all six kinds of finding, the per-node
gradient check included) ≤ 3× one `Graph.trace()`; `provenance` (`--why W`)
for the top 10 paths ≤ 1 s.

The overlay (`export --overlay`, the TUI's O): its numbers and scale from a
diagnosis, next to the diagnosis (target ≤ 0.1×); on a smaller graph of the
same kind (330 nodes, laid out by Graphviz), a terminal repaint of every run
with the overlay's colours next to one without (≤ 2×: a few lookups more per
run), and a step's SVG with the overlay next to one without (≤ 1.5×, the same
work within the machine's noise: the colours are chosen once, in the pieces'
variants, and the legend is drawn once).

Run: .venv/bin/python bench/doctor.py
"""

from __future__ import annotations

import gc

from timing import best_of

import graphstep
from graphstep.doctor import diagnose, provenance
from graphstep.drawing import diagram
from graphstep.overlay import Mode, colour_by
from graphstep.render.layout import layout
from graphstep.render.raster import rasterize, shown, tint
from graphstep.render.svg import pictures

WIDTH = 100
LAYERS = 33  # three nodes per unit and layer: ~10,000 nodes with the leaves
KINDS = ("tanh", "relu", "sigmoid")
ROUNDS = 15


def layered_yaml(width: int = WIDTH, layers: int = LAYERS) -> str:
    lines = ["name: layered", "inputs:"]
    lines += [f"  x{i}: {((i * 37) % 17 - 8) / 5}" for i in range(width)]
    lines.append("params:")
    lines += [f"  w{i}: {(-1) ** i * (0.8 + 0.04 * ((i * 13) % 10))}" for i in range(width)]
    lines.append("graph:")
    prev = [f"x{i}" for i in range(width)]
    for k in range(1, layers + 1):
        kind = KINDS[k % len(KINDS)]
        for i in range(width):
            a, b = prev[i], prev[(i + 7) % width]
            lines.append(f"  n{k}_{i}: {kind}({a} * w{i} + {b})")
        prev = [f"n{k}_{i}" for i in range(width)]
    lines.append(f"  loss: {' + '.join(prev[:2])}")
    for i, name in enumerate(prev[2:], start=1):
        lines.append(f"  s{i}: {'loss' if i == 1 else f's{i - 1}'} + {name}")
    lines[-1] = lines[-1].replace(f"  s{width - 2}:", "  out:")
    lines.append("output: out")
    return "\n".join(lines) + "\n"


def main() -> None:
    graph = graphstep.load(layered_yaml())
    trace = graph.trace()
    gc.disable()
    try:  # interleaved, so that a busy machine slows both sides alike
        t_trace = t_doctor = t_why = float("inf")
        for _ in range(ROUNDS):
            t_trace = min(t_trace, best_of(graph.trace))
            t_doctor = min(t_doctor, best_of(lambda: diagnose(trace)))
            t_why = min(t_why, best_of(lambda: provenance(trace, "w3", top=10)))
        d = diagnose(trace)
    finally:
        gc.enable()
    paths = provenance(trace, "w3", top=10).paths
    print(f"doctor on {len(graph):,} nodes")
    print(f"  one trace        {t_trace * 1e3:8.1f} ms")
    ratio = t_doctor / t_trace
    print(f"  diagnose         {t_doctor * 1e3:8.1f} ms   ratio {ratio:.2f} (target ≤ 3)")
    print(f"  --why w3, top 10 {t_why * 1e3:8.1f} ms   ({len(paths)} paths; target ≤ 1000 ms)")
    t_overlay = min(best_of(lambda: colour_by(Mode.GAIN, trace, d)) for _ in range(ROUNDS))
    ratio = t_overlay / t_doctor
    print(f"  overlay (gain)   {t_overlay * 1e3:8.1f} ms   ratio to diagnose {ratio:.3f} (≤ 0.1)")
    overlay_views()


def overlay_views() -> None:
    """A repaint of the terminal picture and a step's SVG, with the overlay and without."""
    graph = graphstep.load(layered_yaml(width=10, layers=10))
    session = graph.session()
    session.goto(len(session.timeline) // 2)  # half the gradients known
    trace = session.trace
    ov = colour_by(Mode.GAIN, trace)
    d = diagram(graph, trace)
    raster = rasterize(layout(graph, frozenset(), trace=trace), d)
    runs = [run for row in raster.rows for run in row]
    pics = pictures(session)
    coloured = pictures(session, overlay=Mode.GAIN)
    scene = pics.scene(session.position)

    def paint() -> None:
        at = scene.moved(session.position)  # a fresh scene: no look cached
        for run in runs:
            shown(run, at)

    def paint_coloured() -> None:
        at = scene.moved(session.position)
        for run in runs:
            shown(run, at)
            tint(run, at, ov)

    gc.disable()
    try:
        t_paint = t_tinted = t_svg = t_svg_overlay = float("inf")
        for _ in range(ROUNDS):
            t_paint = min(t_paint, best_of(paint, 3))
            t_tinted = min(t_tinted, best_of(paint_coloured, 3))
            t_svg = min(t_svg, best_of(lambda: pics.svg(scene), 10))
            t_svg_overlay = min(t_svg_overlay, best_of(lambda: coloured.svg(scene), 10))
    finally:
        gc.enable()
    print(f"overlay on {len(graph):,} nodes ({len(runs):,} terminal runs)")
    print(f"  terminal repaint {t_paint * 1e3:8.2f} ms")
    ratio = t_tinted / t_paint
    print(f"  … with overlay   {t_tinted * 1e3:8.2f} ms   ratio {ratio:.2f} (target ≤ 2)")
    print(f"  a step's SVG     {t_svg * 1e3:8.2f} ms")
    ratio = t_svg_overlay / t_svg
    print(f"  … with overlay   {t_svg_overlay * 1e3:8.2f} ms   ratio {ratio:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
