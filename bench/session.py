"""Benchmark: a step costs the same whatever the size of the graph.

Two layered scalar graphs, about 50 and about 1,000 nodes, each node reading
two nodes of the layer before (so every node has two consumers, and every
backward step sums two terms). A fresh session steps through the whole
timeline forward (building each step's explanation on first sight) and then
back to the start (reading it again). The time per step is the best of
several runs; the ratio per-step(1,000) / per-step(50) must be at most 2.

Run: .venv/bin/python bench/session.py
"""

from __future__ import annotations

import sys
import time

import graphstep
from graphstep.session import Session

TARGET = 2.0
MOVES = 40_000  # about as many moves for each graph, so both runs last long enough to time


def layered(width: int, layers: int) -> str:
    """YAML text: `width` inputs, then `layers` layers of tanh(a + b), then the sum of the last."""
    lines = ["inputs:"]
    lines += [f"  x0_{j}: {0.1 * (j + 1) * (-1) ** j:.2f}" for j in range(width)]
    lines.append("graph:")
    for k in range(1, layers + 1):
        for j in range(width):
            a, b = f"x{k - 1}_{j}", f"x{k - 1}_{(j + 1) % width}"
            lines.append(f"  x{k}_{j}: tanh({a} + {b})")
    lines.append("  out: " + " + ".join(f"x{layers}_{j}" for j in range(width)))
    lines.append("output: out")
    return "\n".join(lines) + "\n"


def walk(session: Session) -> int:
    """Every step forward, then every step back; the number of moves."""
    moves = 0
    while not session.at_end:
        session.step()
        moves += 1
    while session.position:
        session.back()
        moves += 1
    return moves


def per_step(graph: graphstep.Graph) -> tuple[float, int]:
    """The best time per move over fresh sessions, and the timeline's length."""
    length = len(graph.session().timeline)
    runs = max(3, MOVES // (2 * length))
    best = float("inf")
    for _ in range(runs):
        session = graph.session()
        start = time.perf_counter()
        moves = walk(session)
        best = min(best, (time.perf_counter() - start) / moves)
    return best, length


def main() -> int:
    small = graphstep.load(layered(width=5, layers=4))
    large = graphstep.load(layered(width=10, layers=49))
    rows = []
    for label, graph in (("small", small), ("large", large)):
        seconds, length = per_step(graph)
        start = time.perf_counter()
        graph.session()
        made = time.perf_counter() - start
        rows.append((label, len(graph), length, seconds, made))
    print("graphstep session benchmark: time per step (forward through the timeline, then back)")
    print(f"{'graph':<6} {'nodes':>6} {'steps':>6} {'per step':>11} {'new session':>12}")
    for label, nodes, length, seconds, made in rows:
        print(f"{label:<6} {nodes:>6} {length:>6} {seconds * 1e6:>8.2f} µs {made * 1e3:>9.2f} ms")
    ratio = rows[1][3] / rows[0][3]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"ratio per-step({rows[1][1]}) / per-step({rows[0][1]}) = {ratio:.2f} "
        f"(target ≤ {TARGET:g}): {verdict}"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
