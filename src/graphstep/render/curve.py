"""Graphviz's edge splines as polylines, for the SVG's label placement and the terminal."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def bezier(points: Sequence[Point], steps: int) -> list[Point]:
    """A spline of 1 + 3k control points (then maybe the arrow's tip) as a polyline of `steps`
    points per cubic segment; anything else as it is."""
    tip: list[Point] = []
    if len(points) % 3 == 2:
        points, tip = points[:-1], [points[-1]]
    if len(points) < 4 or len(points) % 3 != 1:
        return [*points, *tip]
    out = [points[0]]
    for k in range(0, len(points) - 1, 3):
        p0, p1, p2, p3 = points[k : k + 4]
        for s in range(1, steps + 1):
            t = s / steps
            u = 1 - t
            a, b, c, d = u**3, 3 * u * u * t, 3 * u * t * t, t**3
            out.append(
                (
                    a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                )
            )
    return out + tip
