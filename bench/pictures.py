"""Benchmark: what pictures of images cost, with them against without, side by side in one run.

On graphs/conv_32x32x3.yaml (a 3×32×32 image, six 5×5×3 filters and 6×28×28
maps, with their gradients: 38 pictures) and graphs/rcnn.yaml (66 nodes, five
24×24 images and four 3×3×3 filters, with their gradients: 18 pictures):

1. The pictures of a trace (one Graphviz run, the template cut into pieces,
   every bitmap encoded once), from a fresh graph, with pictures and with
   none (MAX_PICTURE_PIXELS at 0), best of 3. Reported.
2. Every step's SVG from those pictures (a step is a join of prepared
   pieces, the bitmaps already inside them), best of 20, and its bytes. A
   step then costs what its bytes cost: no bitmap is encoded per step.
   Target: the time per byte of a step, with pictures / without, ≤ 1.5 (the
   time itself grows with the bytes: conv_32x32x3's pictures are most of it).

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
TARGET = 1.5
REPEATS = 3
STEP_REPEATS = 20


def built(name: str, budget: int) -> tuple[float, svg_module.Pictures]:
    """Seconds to make the pictures of a fresh graph under `budget` (best of REPEATS), and
    them."""
    drawing.MAX_PICTURE_PIXELS = budget

    def fresh() -> svg_module.Pictures:
        svg_module._cache.clear()
        return svg_module.pictures(graphstep.load(GRAPHS / f"{name}.yaml"))

    return best_of(fresh, REPEATS), fresh()


def main() -> None:
    budget = drawing.MAX_PICTURE_PIXELS
    worst = 0.0
    gc.disable()
    try:
        for name in ("conv_32x32x3", "rcnn"):
            with_made, with_pics = built(name, budget)
            none_made, none_pics = built(name, 0)
            each = {}
            for label, pics in (("with", with_pics), ("none", none_pics)):
                scenes = [pics.scene(k) for k in range(pics.last + 1)]
                each[label] = (
                    lambda pics=pics, scenes=scenes: [pics.svg(scene) for scene in scenes],
                    sum(len(pics.svg(scene).encode()) for scene in scenes),
                )
            best = {"with": float("inf"), "none": float("inf")}
            for _ in range(STEP_REPEATS):  # side by side: both see the same noise
                for label, (steps, _) in each.items():
                    best[label] = min(best[label], best_of(steps))
            with_bytes, none_bytes = each["with"][1], each["none"][1]
            ratio = (best["with"] / with_bytes) / (best["none"] / none_bytes)
            worst = max(worst, ratio)
            print(
                f"{name}: pictures of a trace {with_made * 1000:.0f} ms with, "
                f"{none_made * 1000:.0f} ms without ({with_made / none_made:.2f}×); "
                f"every step's SVG {best['with'] * 1000:.2f} ms with, "
                f"{best['none'] * 1000:.2f} ms without ({best['with'] / best['none']:.2f}×) "
                f"for {with_bytes:,} bytes with, {none_bytes:,} without: per byte {ratio:.2f}×"
            )
    finally:
        gc.enable()
        drawing.MAX_PICTURE_PIXELS = budget
    print(f"a step's time per byte, with pictures / without: {worst:.2f}× (target ≤ {TARGET}×)")
    if worst > TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
