"""Benchmark: the gradient doctor against one trace of the same graph, side by side in one run.

A layered scalar DAG of 10,000 nodes (params, products, sums, relu, tanh,
sigmoid). Targets: `diagnose` (all six kinds of finding, the per-node
gradient check included) ≤ 3× one `Graph.trace()`; `provenance` (`--why W`)
for the top 10 paths ≤ 1 s.

Run: .venv/bin/python bench/doctor.py
"""

from __future__ import annotations

import gc

from timing import best_of

import graphstep
from graphstep.doctor import diagnose, provenance

WIDTH = 100
LAYERS = 33  # three nodes per unit and layer: ~10,000 nodes with the leaves
KINDS = ("tanh", "relu", "sigmoid")
ROUNDS = 15


def layered_yaml() -> str:
    lines = ["name: layered", "inputs:"]
    lines += [f"  x{i}: {((i * 37) % 17 - 8) / 5}" for i in range(WIDTH)]
    lines.append("params:")
    lines += [f"  w{i}: {(-1) ** i * (0.8 + 0.04 * ((i * 13) % 10))}" for i in range(WIDTH)]
    lines.append("graph:")
    prev = [f"x{i}" for i in range(WIDTH)]
    for k in range(1, LAYERS + 1):
        kind = KINDS[k % len(KINDS)]
        for i in range(WIDTH):
            a, b = prev[i], prev[(i + 7) % WIDTH]
            lines.append(f"  n{k}_{i}: {kind}({a} * w{i} + {b})")
        prev = [f"n{k}_{i}" for i in range(WIDTH)]
    lines.append(f"  loss: {' + '.join(prev[:2])}")
    for i, name in enumerate(prev[2:], start=1):
        lines.append(f"  s{i}: {'loss' if i == 1 else f's{i - 1}'} + {name}")
    lines[-1] = lines[-1].replace(f"  s{WIDTH - 2}:", "  out:")
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
    finally:
        gc.enable()
    paths = provenance(trace, "w3", top=10).paths
    print(f"doctor on {len(graph):,} nodes")
    print(f"  one trace        {t_trace * 1e3:8.1f} ms")
    ratio = t_doctor / t_trace
    print(f"  diagnose         {t_doctor * 1e3:8.1f} ms   ratio {ratio:.2f} (target ≤ 3)")
    print(f"  --why w3, top 10 {t_why * 1e3:8.1f} ms   ({len(paths)} paths; target ≤ 1000 ms)")


if __name__ == "__main__":
    main()
