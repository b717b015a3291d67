"""Benchmark: what pictures of images cost, with them against without, side by side in one run.

On graphs/conv_32x32x3.yaml (a 3×32×32 image, six 5×5×3 filters, 6×28×28
maps: 38 pictures) and graphs/rcnn.yaml (66 nodes, 14 pictures):

1. The pictures of a trace (one Graphviz run, the template cut into pieces,
   every bitmap encoded once), from a fresh graph, with pictures and with
   none (MAX_PICTURE_PIXELS at 0), best of 3. Reported.
2. One step's SVG from those pictures: a join of prepared pieces, the
   bitmaps already inside them. Target: with pictures ≤ 2× without, since no
   bitmap is encoded per step.
3. The bytes of one step's SVG, with and without (reported).

GC is off while timing. Run: .venv/bin/python bench/pictures.py
"""

from __future__ import annotations

import gc
from pathlib import Path

from timing import best_of

import graphstep
from graphstep import drawing
from graphstep.render import svg as svg_module

GRAPHS = Path(__file__).parent.parent / "graphs"
TARGET = 2.0
REPEATS = 3
STEP_REPEATS = 20


def measure(name: str, budget: int) -> tuple[float, float, int]:
    """(seconds for the pictures, seconds for one step's SVG, its bytes) under `budget`."""
    drawing.MAX_PICTURE_PIXELS = budget

    def fresh() -> svg_module.Pictures:
        svg_module._cache.clear()
        return svg_module.pictures(graphstep.load(GRAPHS / f"{name}.yaml"))

    made = best_of(fresh, REPEATS)
    pics = fresh()
    scene = pics.scene(pics.last)
    step = best_of(lambda: pics.svg(scene), STEP_REPEATS)
    return made, step, len(pics.svg(scene).encode())


def main() -> None:
    budget = drawing.MAX_PICTURE_PIXELS
    worst = 0.0
    gc.disable()
    try:
        for name in ("conv_32x32x3", "rcnn"):
            with_made, with_step, with_bytes = measure(name, budget)
            none_made, none_step, none_bytes = measure(name, 0)
            ratio = with_step / none_step
            worst = max(worst, ratio)
            print(
                f"{name}: pictures of a trace {with_made * 1000:.0f} ms with, "
                f"{none_made * 1000:.0f} ms without ({with_made / none_made:.2f}×); "
                f"one step's SVG {with_step * 1000:.2f} ms with, {none_step * 1000:.2f} ms "
                f"without ({ratio:.2f}×); {with_bytes:,} bytes with, {none_bytes:,} without"
            )
    finally:
        gc.enable()
        drawing.MAX_PICTURE_PIXELS = budget
    print(f"one step with pictures / without: {worst:.2f}× (target ≤ {TARGET:.0f}×)")
    if worst > TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
